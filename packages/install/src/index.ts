/**
 * `@belay/install`: MicroPython packages on the board, from mip's index and manifests, with
 * project dependencies, a lock file and a local cache. The public API, by concept.
 */

// ---- Install, uninstall, list ----
export {
  type BoardInstallError,
  type BoardInstallOptions,
  boardMpyVersion,
  type InstallEvent,
  type InstalledPackage,
  type InstallReport,
  installedPackages,
  installResolution,
  RECORD_FILE,
  type UninstallReport,
  uninstallPackage,
} from "./BoardPackages.js"
// ---- Errors ----
export {
  DownloadError,
  HashMismatchError,
  InstallConflictError,
  InvalidSpecError,
  ManifestError,
  NotInstalledError,
  PackageNotFoundError,
  ProjectError,
} from "./errors.js"
export { type FetchOptions, makeFetcher } from "./Fetcher.js"
export { type InstallError, type InstallOptions, type InstallResult, installPackages } from "./Install.js"
// ---- Manifests, sources, resolving ----
export { type PackageManifest, parseManifest } from "./Manifest.js"
// ---- Cache ----
export { defaultCacheDir, type PackageCache, packageCache } from "./PackageCache.js"
export {
  dependencySource,
  formatSource,
  type PackageSource,
  parsePackageSpec,
  rewriteUrl,
  sourceName,
} from "./PackageSpec.js"
// ---- Project and lock file ----
export {
  LOCK_FILE,
  type LockFile,
  lockMatches,
  type Project,
  readLockFile,
  readProject,
  saveDependencies,
  writeLockFile,
} from "./Project.js"
export {
  checkPaths,
  DEFAULT_INDEX,
  type Request,
  type Resolution,
  type ResolvedFile,
  type ResolvedPackage,
  type ResolveError,
  type ResolveOptions,
  resolvePackages,
} from "./Resolve.js"

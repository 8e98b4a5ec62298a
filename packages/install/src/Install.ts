/**
 * `install` as one call: the packages named (or the project's declared dependencies, through its
 * lock file), resolved for the board's `.mpy` version, downloaded through the cache, and put on
 * the board, only what differs.
 */
import type { CapabilityMissingError, DeviceSession, SessionError } from "@belay/core"
import { boardFileSystem, type FileSystemOptions } from "@belay/filesystem"
import type { ProtocolError, PythonError } from "@belay/transport"
import { Effect } from "effect"
import {
  type BoardInstallError,
  boardMpyVersion,
  type InstallEvent,
  type InstallReport,
  installResolution,
} from "./BoardPackages.js"
import { ProjectError } from "./errors.js"
import { type FetchOptions, makeFetcher } from "./Fetcher.js"
import { packageCache } from "./PackageCache.js"
import { dependencySource, formatSource, parsePackageSpec, sourceName } from "./PackageSpec.js"
import {
  LOCK_FILE,
  lockMatches,
  type Project,
  readLockFile,
  readProject,
  saveDependencies,
  writeLockFile,
} from "./Project.js"
import {
  DEFAULT_INDEX,
  type Request,
  type Resolution,
  type ResolveError,
  resolvePackages,
} from "./Resolve.js"

/**
 * Options of {@link installPackages}.
 *
 * @example
 * const options: InstallOptions = { specs: ["aioble"], target: "/lib", dryRun: true }
 *
 * @since 0.1.0
 */
export interface InstallOptions extends FetchOptions {
  /** What to install; empty or missing: the project's declared dependencies. */
  readonly specs?: ReadonlyArray<string>
  /** The project folder (its `package.json` and `belay-lock.json`); default the working directory. */
  readonly projectDir?: string
  /** Board directory (default: the project's `target`, else `/lib`). */
  readonly target?: string
  /** Index URL or folder (default: the project's `index`, else {@link DEFAULT_INDEX}). */
  readonly index?: string
  /** Ask the index for the board's `.mpy` files (default true); false: `.py` files only. */
  readonly mpy?: boolean
  /** Compare with the board and report, change nothing (neither the board nor the lock file). */
  readonly dryRun?: boolean
  /** With `specs`: also declare them in the project's `package.json` (and lock them). */
  readonly save?: boolean
  /** Fail when the lock file is missing or does not match the declared dependencies, instead of resolving again. */
  readonly frozen?: boolean
  /** The download cache's folder (default {@link defaultCacheDir}). */
  readonly cacheDir?: string
  readonly fileSystem?: FileSystemOptions
  readonly onEvent?: (event: InstallEvent) => void
}

/**
 * {@link InstallReport}, with where the files came from: `resolved` (manifests read), `locked`
 * (the lock file's exact files), and whether the lock file was written.
 *
 * @since 0.1.0
 */
export interface InstallResult extends InstallReport {
  readonly mpy: string
  readonly from: "resolved" | "locked"
  readonly lockFile: string | undefined
}

/**
 * Everything {@link installPackages} can fail with.
 *
 * @since 0.1.0
 */
export type InstallError =
  | ResolveError
  | BoardInstallError
  | ProjectError
  | ProtocolError
  | PythonError
  | SessionError
  | CapabilityMissingError

const lockResolution = (lock: {
  index: string
  mpy: string
  packages: Resolution["packages"]
}): Resolution => ({
  index: lock.index,
  mpy: lock.mpy,
  packages: lock.packages,
})

const projectRequests = (project: Project) =>
  Effect.forEach(Object.entries(project.dependencies), ([name, value]) =>
    Effect.map(dependencySource(name, value, project.dir), (source): Request => ({ source, name })),
  )

/**
 * Install packages on the board of `session`: `specs` when given (an index name with an optional
 * `@version`, `github:org/repo[/path][@ref]`, `gitlab:...`, an `http(s)` URL, a local folder,
 * manifest or file), else the project's declared dependencies, from its lock file when that
 * matches them (no manifest is read: the same bytes as on the machine that wrote it), else
 * resolved and locked.
 *
 * @example
 * const result = yield* installPackages(session, { specs: ["github:org/repo/sensors@v1.2"] })
 * // result.uploaded: [{ path: "/lib/sensors/__init__.py", bytes: 812, package: "sensors" }]
 *
 * @since 0.1.0
 */
export const installPackages = (
  session: DeviceSession,
  options: InstallOptions = {},
): Effect.Effect<InstallResult, InstallError> =>
  Effect.gen(function* () {
    const dir = options.projectDir ?? process.cwd()
    const fs = boardFileSystem(session, options.fileSystem)
    const fetcher = makeFetcher(packageCache(options.cacheDir), options)
    const mpy = options.mpy === false ? "py" : yield* boardMpyVersion(session)
    const specs = options.specs ?? []
    let project = yield* readProject(dir)
    const index = options.index ?? project?.index ?? DEFAULT_INDEX
    const target = options.target ?? project?.target ?? "/lib"
    const board = {
      target,
      ...(options.dryRun !== undefined && { dryRun: options.dryRun }),
      ...(options.onEvent && { onEvent: options.onEvent }),
    }

    if (specs.length > 0 && options.save !== true) {
      const requests = yield* Effect.forEach(specs, (spec) =>
        Effect.map(parsePackageSpec(spec, dir), (source): Request => ({ source })),
      )
      const resolution = yield* resolvePackages(requests, { index, mpy, fetcher })
      const report = yield* installResolution(fs, resolution, fetcher, board)
      return { ...report, mpy, from: "resolved" as const, lockFile: undefined }
    }
    if (specs.length > 0) {
      const added: Record<string, string> = {}
      for (const spec of specs) {
        const source = yield* parsePackageSpec(spec, dir)
        added[sourceName(source)] =
          source.kind === "index"
            ? (source.version ?? "latest")
            : source.kind === "local"
              ? spec
              : formatSource(source)
      }
      if (options.dryRun !== true) {
        yield* saveDependencies(dir, added)
        project = yield* readProject(dir)
      } else {
        project = {
          dir,
          dependencies: { ...project?.dependencies, ...added },
          index: project?.index,
          target: project?.target,
        }
      }
    }
    if (project === undefined)
      return yield* new ProjectError({
        path: `${dir}/package.json`,
        reason:
          'no "micropython" section declares dependencies: name the packages to install, or declare them ({ "micropython": { "dependencies": { "name": "latest" } } })',
      })
    const lock = yield* readLockFile(dir)
    const lockFile = `${dir}/${LOCK_FILE}`
    if (lock !== undefined && lockMatches(lock, project, mpy, index)) {
      const report = yield* installResolution(fs, lockResolution(lock), fetcher, board)
      return { ...report, mpy, from: "locked" as const, lockFile }
    }
    if (options.frozen === true)
      return yield* new ProjectError({
        path: lockFile,
        reason:
          lock === undefined
            ? "no lock file, and frozen: run belay install without --frozen once to write it"
            : `the lock file does not match the declared dependencies, index or .mpy version (${mpy}), and frozen`,
      })
    const resolution = yield* resolvePackages(yield* projectRequests(project), { index, mpy, fetcher })
    const report = yield* installResolution(fs, resolution, fetcher, board)
    if (options.dryRun !== true) yield* writeLockFile(project, resolution)
    return {
      ...report,
      mpy,
      from: "resolved" as const,
      lockFile: options.dryRun === true ? undefined : lockFile,
    }
  }).pipe(
    Effect.withSpan("belay.install", {
      attributes: { specs: (options.specs ?? []).join(" "), dryRun: options.dryRun === true },
    }),
  )

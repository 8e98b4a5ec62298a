/**
 * From sources to exact files: each package's manifest is found (in the index for the board's
 * `.mpy` version, else its `.py` form; at a URL; in a folder), its files downloaded and hashed,
 * its `deps` followed recursively. The result names every file by its path in the target, where
 * it came from and its SHA-256: what the lock file records and the upload needs.
 */
import { stat } from "node:fs/promises"
import path from "node:path"
import { Effect } from "effect"
import {
  type DownloadError,
  type HashMismatchError,
  InstallConflictError,
  type InvalidSpecError,
  type ManifestError,
  PackageNotFoundError,
} from "./errors.js"
import { type Fetcher, isNotFound } from "./Fetcher.js"
import { type PackageManifest, parseManifest } from "./Manifest.js"
import { sha256Hex } from "./PackageCache.js"
import {
  formatSource,
  isSingleFile,
  isUrl,
  manifestLocation,
  type PackageSource,
  parsePackageSpec,
  rewriteUrl,
  sourceName,
} from "./PackageSpec.js"

/**
 * The index mip uses by default (micropython-lib's packages).
 *
 * @example
 * resolvePackages([{ name: "aioble", source }], { index: DEFAULT_INDEX, mpy: "6", fetcher })
 *
 * @since 0.1.0
 */
export const DEFAULT_INDEX = "https://micropython.org/pi/v2"

/**
 * One file of a resolved package.
 *
 * @since 0.1.0
 */
export interface ResolvedFile {
  /** Where it goes, relative to the install target (`aioble/core.mpy`). */
  readonly path: string
  /** Where it comes from: a URL, or a local path. */
  readonly location: string
  readonly sha256: string
  readonly size: number
}

/**
 * A package with its exact version and files.
 *
 * @since 0.1.0
 */
export interface ResolvedPackage {
  readonly name: string
  /** The manifest's `version`, else the ref (`HEAD`) or `local`. */
  readonly version: string
  /** The source as a spec (`aioble@latest`, `github:org/repo/pkg@v1`, a path). */
  readonly source: string
  readonly files: ReadonlyArray<ResolvedFile>
  /** Names of the packages its manifest depends on. */
  readonly deps: ReadonlyArray<string>
}

/**
 * Everything one install puts on the board.
 *
 * @since 0.1.0
 */
export interface Resolution {
  readonly index: string
  /** The `.mpy` version asked of the index (`"6"`), or `"py"`. */
  readonly mpy: string
  /** Each package after its dependencies. */
  readonly packages: ReadonlyArray<ResolvedPackage>
}

/**
 * What to resolve against.
 *
 * @since 0.1.0
 */
export interface ResolveOptions {
  /** An index in mip's layout: a URL or a local folder (default {@link DEFAULT_INDEX}). */
  readonly index?: string
  /** The board's `.mpy` version (`sys.implementation._mpy & 0xff`), or `"py"` for source files only. */
  readonly mpy: string
  readonly fetcher: Fetcher
}

/**
 * What can go wrong while resolving.
 *
 * @since 0.1.0
 */
export type ResolveError =
  | DownloadError
  | HashMismatchError
  | ManifestError
  | PackageNotFoundError
  | InstallConflictError
  | InvalidSpecError

/**
 * A package to resolve: a source, and the name it installs under (default: the source's).
 *
 * @since 0.1.0
 */
export interface Request {
  readonly source: PackageSource
  readonly name?: string
}

const isLatest = (version: string | undefined) => version === undefined || version === "latest"

/** The folder or URL a manifest's relative `urls` are taken from. */
const relativeTo = (manifest: string, url: string) =>
  manifest.startsWith("http://") || manifest.startsWith("https://")
    ? new URL(url, manifest).toString()
    : path.resolve(path.dirname(manifest), url)

/** A missing manifest or file is a missing package. */
const notFoundAs =
  (spec: string, at: string) =>
  <A, E>(
    effect: Effect.Effect<A, E | DownloadError>,
  ): Effect.Effect<A, E | DownloadError | PackageNotFoundError> =>
    Effect.catchIf(
      effect,
      (e): e is DownloadError =>
        (e as { _tag?: string })._tag === "DownloadError" && isNotFound(e as DownloadError),
      () => Effect.fail(new PackageNotFoundError({ spec, tried: [at] })),
    )

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/**
 * Resolve `requests` and their dependencies to exact files, downloading (through the fetcher's
 * cache) and checking every file's hash on the way.
 *
 * @example
 * const resolution = yield* resolvePackages(
 *   [{ source: { kind: "index", name: "aioble", version: undefined } }],
 *   { index: "http://127.0.0.1:8000", mpy: "6", fetcher: makeFetcher(packageCache()) },
 * )
 *
 * @since 0.1.0
 */
export const resolvePackages = (
  requests: ReadonlyArray<Request>,
  options: ResolveOptions,
): Effect.Effect<Resolution, ResolveError> =>
  Effect.gen(function* () {
    const index = (options.index ?? DEFAULT_INDEX).replace(/\/+$/, "")
    const { fetcher, mpy } = options
    const done = new Map<string, { source: PackageSource; pkg: ResolvedPackage | undefined }>()
    const order: ResolvedPackage[] = []

    const fileOf = (filePath: string, location: string, bytes: Uint8Array): ResolvedFile => ({
      path: filePath,
      location,
      sha256: sha256Hex(bytes),
      size: bytes.length,
    })

    const filesOf = (manifest: PackageManifest, manifestAt: string, ref: string | undefined) =>
      Effect.gen(function* () {
        const files: ResolvedFile[] = []
        for (const [filePath, hash] of manifest.hashes) {
          const location = `${index}/file/${hash.slice(0, 2)}/${hash}`
          const bytes = yield* fetcher.get(location, {
            mutable: false,
            expect: { prefix: hash, label: filePath },
          })
          files.push(fileOf(filePath, location, bytes))
        }
        for (const [filePath, url] of manifest.urls) {
          const location = isUrl(url) ? rewriteUrl(url, ref) : relativeTo(manifestAt, url)
          const bytes = yield* fetcher.get(location, { mutable: true })
          files.push(fileOf(filePath, location, bytes))
        }
        return files
      })

    /** The manifest of `source`, where it was found, and the ref its URLs use. */
    const findManifest = (source: PackageSource, spec: string) =>
      Effect.gen(function* () {
        if (source.kind === "index") {
          const version = source.version ?? "latest"
          const tried: string[] = []
          for (const m of mpy === "py" ? ["py"] : [mpy, "py"]) {
            const at = `${index}/package/${m}/${source.name}/${version}.json`
            tried.push(at)
            const found = yield* fetcher.get(at, { mutable: true }).pipe(
              Effect.map((b): Uint8Array | undefined => b),
              Effect.catchTag("DownloadError", (e) =>
                isNotFound(e) ? Effect.succeed(undefined) : Effect.fail(e),
              ),
            )
            if (found !== undefined) return { at, text: decode(found), ref: source.version }
          }
          return yield* new PackageNotFoundError({ spec, tried })
        }
        let at: string
        let ref: string | undefined
        if (source.kind === "url") {
          at = rewriteUrl(manifestLocation(source.url), source.ref)
          ref = source.ref
        } else {
          const isDir = yield* Effect.promise(() =>
            stat(source.path).then(
              (s) => s.isDirectory(),
              () => false,
            ),
          )
          at = isDir ? path.join(source.path, "package.json") : source.path
          ref = undefined
        }
        const bytes = yield* fetcher.get(at, { mutable: true }).pipe(notFoundAs(spec, at))
        return { at, text: decode(bytes), ref }
      })

    const depSource = (dep: string, version: string | undefined, manifestAt: string) =>
      isUrl(dep)
        ? parsePackageSpec(dep).pipe(
            Effect.map(
              (s): PackageSource =>
                s.kind === "url" && version !== undefined && version !== "" ? { ...s, ref: version } : s,
            ),
          )
        : dep.startsWith("./") || dep.startsWith("../")
          ? Effect.succeed<PackageSource>({
              kind: "local",
              path: manifestAt.startsWith("http") ? dep : path.resolve(path.dirname(manifestAt), dep),
            })
          : Effect.map(
              parsePackageSpec(dep),
              (s): PackageSource =>
                s.kind === "index" ? { ...s, version: isLatest(version) ? s.version : version } : s,
            )

    const sameSource = (a: PackageSource, b: PackageSource) => {
      if (a.kind === "index" && b.kind === "index")
        return a.name === b.name && (isLatest(a.version) || isLatest(b.version) || a.version === b.version)
      return formatSource(a) === formatSource(b)
    }

    const visit = (source: PackageSource, name: string): Effect.Effect<void, ResolveError> =>
      Effect.gen(function* () {
        const seen = done.get(name)
        if (seen !== undefined) {
          if (!sameSource(seen.source, source))
            return yield* new InstallConflictError({
              what: `package ${name}`,
              first: formatSource(seen.source),
              second: formatSource(source),
            })
          return
        }
        done.set(name, { source, pkg: undefined })
        const spec = formatSource(source)
        const single =
          (source.kind === "url" && isSingleFile(source.url)) ||
          (source.kind === "local" && isSingleFile(source.path))
        if (single) {
          const location =
            source.kind === "url" ? rewriteUrl(source.url, source.ref) : (source as { path: string }).path
          const bytes = yield* fetcher.get(location, { mutable: true }).pipe(notFoundAs(spec, location))
          const base = location.split(/[\\/]/).at(-1) ?? location
          const pkg: ResolvedPackage = {
            name,
            version: source.kind === "url" ? (source.ref ?? "HEAD") : "local",
            source: spec,
            files: [fileOf(base, location, bytes)],
            deps: [],
          }
          done.set(name, { source, pkg })
          order.push(pkg)
          return
        }
        const { at, text, ref } = yield* findManifest(source, spec)
        const manifest = yield* parseManifest(text, at)
        const files = yield* filesOf(manifest, at, ref)
        const deps: string[] = []
        for (const [dep, version] of manifest.deps) {
          const depSpec = yield* depSource(dep, version, at)
          const depName = sourceName(depSpec)
          deps.push(depName)
          yield* visit(depSpec, depName)
        }
        const pkg: ResolvedPackage = {
          name,
          version:
            manifest.version ??
            (source.kind === "index"
              ? (source.version ?? "latest")
              : source.kind === "url"
                ? (ref ?? "HEAD")
                : "local"),
          source: spec,
          files,
          deps,
        }
        done.set(name, { source, pkg })
        order.push(pkg)
      })

    for (const request of requests) yield* visit(request.source, request.name ?? sourceName(request.source))
    yield* checkPaths(order)
    return { index, mpy, packages: order }
  }).pipe(
    Effect.withSpan("belay.install.resolve", { attributes: { packages: requests.length, mpy: options.mpy } }),
  )

/**
 * Two packages may ship the same file only with the same content.
 *
 * @example
 * yield* checkPaths(resolution.packages)
 *
 * @since 0.1.0
 */
export const checkPaths = (
  packages: ReadonlyArray<ResolvedPackage>,
): Effect.Effect<void, InstallConflictError> =>
  Effect.suspend(() => {
    const owners = new Map<string, { pkg: string; sha256: string }>()
    for (const pkg of packages) {
      for (const file of pkg.files) {
        const owner = owners.get(file.path)
        if (owner !== undefined && owner.sha256 !== file.sha256)
          return Effect.fail(
            new InstallConflictError({ what: `file ${file.path}`, first: owner.pkg, second: pkg.name }),
          )
        owners.set(file.path, { pkg: pkg.name, sha256: file.sha256 })
      }
    }
    return Effect.void
  })

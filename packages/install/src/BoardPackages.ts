/**
 * The board side of installing: resolved files uploaded into the target through
 * `@belay/filesystem`'s verified, atomic writes, only where the board's copy differs (the board
 * hashes its files and compares, nothing is downloaded); files an older version had and the new
 * one lacks removed; and a record of what is installed kept on the board
 * (`<target>/.belay-packages.json`), so that `list` and `uninstall` work from any host.
 */
import type { CapabilityMissingError, DeviceSession } from "@belay/core"
import {
  type BoardFileSystem,
  boardParent,
  digestHex,
  type FileSystemError,
  InvalidPathError,
  joinBoardPath,
  normalizeBoardPath,
} from "@belay/filesystem"
import { Effect, Result, Schedule } from "effect"
import { type DownloadError, type HashMismatchError, NotInstalledError } from "./errors.js"
import type { Fetcher } from "./Fetcher.js"
import type { Resolution } from "./Resolve.js"

/**
 * The record's name in the target directory.
 *
 * @example
 * joinBoardPath("/lib", RECORD_FILE) // "/lib/.belay-packages.json"
 *
 * @since 0.1.0
 */
export const RECORD_FILE = ".belay-packages.json"

/**
 * A package as the board's record lists it.
 *
 * @since 0.1.0
 */
export interface InstalledPackage {
  readonly name: string
  readonly version: string
  readonly source: string
  /** Paths relative to the target, with their SHA-256 and size. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly sha256: string; readonly size: number }>
}

/**
 * What `install` did (or, with `dryRun`, would do) on the board.
 *
 * @since 0.1.0
 */
export interface InstallReport {
  readonly target: string
  readonly dryRun: boolean
  readonly packages: ReadonlyArray<{ readonly name: string; readonly version: string }>
  /** Board paths written, with their size and package. */
  readonly uploaded: ReadonlyArray<{
    readonly path: string
    readonly bytes: number
    readonly package: string
  }>
  /** Board paths already holding the right content. */
  readonly unchanged: ReadonlyArray<string>
  /** Board paths removed: files an earlier version of a package had and this one has not. */
  readonly removed: ReadonlyArray<string>
}

/**
 * Progress of an install on the board.
 *
 * @since 0.1.0
 */
export type InstallEvent =
  | { readonly type: "planned"; readonly upload: number; readonly unchanged: number; readonly remove: number }
  | { readonly type: "upload"; readonly path: string; readonly bytes: number }
  | { readonly type: "remove"; readonly path: string }

/**
 * How the board side of an install runs.
 *
 * @since 0.1.0
 */
export interface BoardInstallOptions {
  /** The board directory packages go into (default `/lib`; `/` on a board with a flat filesystem). */
  readonly target?: string
  /** Plan only: compare with the board, change nothing. */
  readonly dryRun?: boolean
  readonly onEvent?: (event: InstallEvent) => void
}

/**
 * What can go wrong on the board side.
 *
 * @since 0.1.0
 */
export type BoardInstallError = FileSystemError | CapabilityMissingError | DownloadError | HashMismatchError

/**
 * A write whose reply arrived damaged (a lossy link under load) is sent again: writes are atomic
 * and verified, so writing the same bytes twice is harmless.
 */
const writeAgainOnDamage = <A, E extends { readonly _tag: string }>(write: Effect.Effect<A, E>) =>
  Effect.retry(write, {
    schedule: Schedule.spaced("100 millis"),
    times: 2,
    while: (e) => e._tag === "UnexpectedBoardReplyError",
  })

const targetOf = (target: string | undefined) =>
  Effect.fromResult(normalizeBoardPath(target ?? "/lib")).pipe(Effect.mapError((e): FileSystemError => e))

const recordPath = (target: string) => joinBoardPath(target, RECORD_FILE)

const parseRecord = (text: string): Record<string, InstalledPackage> => {
  try {
    const json = JSON.parse(text) as { packages?: Record<string, InstalledPackage> }
    return typeof json.packages === "object" && json.packages !== null ? json.packages : {}
  } catch {
    return {}
  }
}

/**
 * The board's record of installed packages in `target` (default `/lib`): empty when there is none.
 *
 * @example
 * const installed = yield* installedPackages(boardFileSystem(session), "/lib")
 *
 * @since 0.1.0
 */
export const installedPackages = (
  fs: BoardFileSystem,
  target?: string,
): Effect.Effect<ReadonlyArray<InstalledPackage>, FileSystemError | CapabilityMissingError> =>
  Effect.map(readRecord(fs, target), ({ packages }) => Object.values(packages))

const readRecord = (fs: BoardFileSystem, target?: string) =>
  Effect.gen(function* () {
    const at = yield* targetOf(target)
    const file = recordPath(at)
    const text = yield* fs.readText(file).pipe(
      Effect.map((t): string | undefined => t),
      Effect.catchTags({
        FileNotFoundError: () => Effect.succeed(undefined),
        NotADirectoryError: () => Effect.succeed(undefined),
      }),
    )
    return { at, file, text, packages: text === undefined ? {} : parseRecord(text) }
  })

const recordText = (packages: Record<string, InstalledPackage>) =>
  `${JSON.stringify({ version: 1, packages })}\n`

/** Write the record, unless it already says this (a repeat install writes nothing). */
const writeRecord = (
  fs: BoardFileSystem,
  file: string,
  old: string | undefined,
  packages: Record<string, InstalledPackage>,
) => {
  const text = recordText(packages)
  return text === old
    ? Effect.void
    : Effect.asVoid(writeAgainOnDamage(fs.write(file, text, { parents: true })))
}

const inside = (at: string, rel: string) =>
  Effect.fromResult(
    Result.flatMap(normalizeBoardPath(joinBoardPath(at, rel)), (p) =>
      p.startsWith(at === "/" ? "/" : `${at}/`)
        ? Result.succeed(p)
        : Result.fail(new InvalidPathError({ path: rel, reason: `outside the target ${at}` })),
    ),
  )

/** Files of `name` no other package of `packages` has (relative paths). */
const ownedOnlyBy = (packages: Record<string, InstalledPackage>, name: string, keep: ReadonlySet<string>) => {
  const others = new Set<string>(keep)
  for (const [n, p] of Object.entries(packages)) if (n !== name) for (const f of p.files) others.add(f.path)
  return (packages[name]?.files ?? []).map((f) => f.path).filter((p) => !others.has(p))
}

/**
 * Put the files of `resolution` into the board's `target`: fetched through `fetcher` (from its
 * cache when the resolve just downloaded them) and checked against their SHA-256, compared with
 * the board's copies on the board, and only the differing ones written (verified, atomic). Files
 * that an earlier install of the same package left and that no package now has are removed. The
 * board's record is updated last.
 *
 * @example
 * const report = yield* installResolution(boardFileSystem(session), resolution, fetcher, { target: "/lib" })
 *
 * @since 0.1.0
 */
export const installResolution = (
  fs: BoardFileSystem,
  resolution: Resolution,
  fetcher: Fetcher,
  options: BoardInstallOptions = {},
): Effect.Effect<InstallReport, BoardInstallError> =>
  Effect.gen(function* () {
    const { at, file: record, text: old, packages: before } = yield* readRecord(fs, options.target)
    const files: Array<{ path: string; rel: string; bytes: Uint8Array; pkg: string }> = []
    const seen = new Set<string>()
    for (const pkg of resolution.packages) {
      for (const f of pkg.files) {
        if (seen.has(f.path)) continue
        seen.add(f.path)
        const bytes = yield* fetcher.get(f.location, {
          mutable: false,
          expect: { sha256: f.sha256, label: f.path },
        })
        files.push({ path: yield* inside(at, f.path), rel: f.path, bytes, pkg: pkg.name })
      }
    }
    const algorithm = files.length === 0 ? "sha256" : (yield* fs.info).hashAlgorithm
    const same =
      files.length === 0
        ? []
        : yield* fs.sameContent(files.map((f) => ({ path: f.path, digest: digestHex(algorithm, f.bytes) })))
    const uploads = files.filter((_, i) => same[i] !== true)
    const unchanged = files.filter((_, i) => same[i] === true).map((f) => f.path)
    const stale: string[] = []
    for (const pkg of resolution.packages) {
      for (const rel of ownedOnlyBy(before, pkg.name, seen)) stale.push(yield* inside(at, rel))
    }
    options.onEvent?.({
      type: "planned",
      upload: uploads.length,
      unchanged: unchanged.length,
      remove: stale.length,
    })
    if (options.dryRun !== true) {
      for (const f of uploads) {
        options.onEvent?.({ type: "upload", path: f.path, bytes: f.bytes.length })
        yield* writeAgainOnDamage(fs.write(f.path, f.bytes, { parents: true }))
      }
      for (const p of stale) {
        options.onEvent?.({ type: "remove", path: p })
        yield* fs.remove(p).pipe(Effect.catchTag("FileNotFoundError", () => Effect.void))
      }
      const after = { ...before }
      for (const pkg of resolution.packages) {
        after[pkg.name] = {
          name: pkg.name,
          version: pkg.version,
          source: pkg.source,
          files: pkg.files.map((f) => ({ path: f.path, sha256: f.sha256, size: f.size })),
        }
      }
      yield* writeRecord(fs, record, old, after)
    }
    return {
      target: at,
      dryRun: options.dryRun === true,
      packages: resolution.packages.map((p) => ({ name: p.name, version: p.version })),
      uploaded: uploads.map((f) => ({ path: f.path, bytes: f.bytes.length, package: f.pkg })),
      unchanged,
      removed: stale,
    }
  }).pipe(Effect.withSpan("belay.install.upload", { attributes: { target: options.target ?? "/lib" } }))

/**
 * What `uninstall` removed.
 *
 * @since 0.1.0
 */
export interface UninstallReport {
  readonly name: string
  readonly target: string
  /** Board paths removed (files, then directories left empty). */
  readonly removed: ReadonlyArray<string>
  /** Files kept because another installed package has them too. */
  readonly kept: ReadonlyArray<string>
}

/**
 * Remove package `name` from the board's `target`: its files that no other installed package
 * has, the directories that leaves empty, and its entry in the board's record.
 *
 * @example
 * const { removed } = yield* uninstallPackage(boardFileSystem(session), "sensors", { target: "/lib" })
 *
 * @since 0.1.0
 */
export const uninstallPackage = (
  fs: BoardFileSystem,
  name: string,
  options: { readonly target?: string; readonly dryRun?: boolean } = {},
): Effect.Effect<UninstallReport, FileSystemError | CapabilityMissingError | NotInstalledError> =>
  Effect.gen(function* () {
    const { at, file: record, text: old, packages } = yield* readRecord(fs, options.target)
    const pkg = packages[name]
    if (pkg === undefined) return yield* new NotInstalledError({ packageName: name, target: at })
    const own = ownedOnlyBy(packages, name, new Set())
    const kept = pkg.files.map((f) => f.path).filter((p) => !own.includes(p))
    const removed: string[] = []
    const dirs = new Set<string>()
    for (const rel of own) {
      const p = yield* inside(at, rel)
      if (options.dryRun !== true)
        yield* fs.remove(p).pipe(Effect.catchTag("FileNotFoundError", () => Effect.void))
      removed.push(p)
      for (let d = boardParent(p); d !== at && d.startsWith(at); d = boardParent(d)) dirs.add(d)
    }
    // Deepest first; a directory that still holds something stays.
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
      if (options.dryRun === true) continue
      const gone = yield* fs.removeDirectory(d).pipe(
        Effect.as(true),
        Effect.catchTags({
          DirectoryNotEmptyError: () => Effect.succeed(false),
          FileNotFoundError: () => Effect.succeed(false),
        }),
      )
      if (gone) removed.push(d)
    }
    if (options.dryRun !== true) {
      const { [name]: _, ...rest } = packages
      yield* writeRecord(fs, record, old, rest)
    }
    return { name, target: at, removed, kept: kept.map((rel) => joinBoardPath(at, rel)) }
  })

/**
 * The board's `.mpy` version (`sys.implementation._mpy & 0xff`, as mip asks), or `"py"` on a
 * board that has none (it cannot load `.mpy` files from the index).
 *
 * @example
 * const mpy = yield* boardMpyVersion(session) // "6" on MicroPython 1.20 to 1.27
 *
 * @since 0.1.0
 */
export const boardMpyVersion = (session: DeviceSession) =>
  session
    .use(
      // `__import__`: no `sys` global is left in the person's namespace.
      session.device.eval("getattr(__import__('sys').implementation,'_mpy',0)&255"),
    )
    .pipe(Effect.map((text) => (/^[1-9][0-9]*$/.test(text.trim()) ? text.trim() : "py")))

import path from "node:path"
import { Effect, Result } from "effect"
import type { BoardFileSystem } from "./BoardFileSystem.js"
import { boardBaseName, isTemporaryName, normalizeBoardPath } from "./BoardPath.js"
import { PathTraversalError, type TreeTransferError } from "./errors.js"
import type { FileEntry } from "./FileSystemContext.js"
import { gitignore } from "./Gitignore.js"
import { lstatOrUndefined, makeLocalDirectory, writeLocalAtomic } from "./LocalFiles.js"

/**
 * Options of `download`.
 *
 * @example
 * downloadDirectory(fs, "/", "./backup", { ignore: ["*.tmp"] })
 *
 * @since 0.1.0
 */
export interface DownloadOptions {
  /** gitignore patterns (relative to the board directory) of what not to download. */
  readonly ignore?: string | ReadonlyArray<string>
  /** Replace local files that exist. Default true. */
  readonly overwrite?: boolean
  readonly onEvent?: (event: DownloadEvent) => void
}

/**
 * What `download` is doing, as it happens.
 *
 * @since 0.1.0
 */
export type DownloadEvent =
  | { readonly type: "planned"; readonly files: number; readonly bytes: number }
  | {
      readonly type: "progress"
      readonly path: string
      readonly bytesDone: number
      readonly bytesTotal: number
    }
  | { readonly type: "downloaded"; readonly path: string; readonly localPath: string; readonly bytes: number }
  | { readonly type: "skipped"; readonly path: string; readonly localPath: string; readonly reason: "exists" }

/**
 * What `download` wrote.
 *
 * @since 0.1.0
 */
export interface DownloadReport {
  readonly files: ReadonlyArray<{ readonly path: string; readonly localPath: string; readonly bytes: number }>
  readonly directories: ReadonlyArray<string>
  readonly skipped: ReadonlyArray<string>
  readonly bytes: number
}

const isWindows = path.sep === "\\"

/**
 * Where the board path `boardPath` (an entry of the listing of `boardRoot`) lands under the local
 * directory `destination`, or a `PathTraversalError` when it would land anywhere else: a path not
 * under `boardRoot`, an empty, `.` or `..` component, a NUL, a drive or (on Windows) a backslash.
 * The board's text is checked as it came, before any normalization.
 *
 * @example
 * resolveDownloadPath("/tmp/out", "/", "/lib/x.py")      // Result.succeed("/tmp/out/lib/x.py")
 * resolveDownloadPath("/tmp/out", "/", "/../etc/passwd") // Result.fail(PathTraversalError)
 */
export const resolveDownloadPath = (
  destination: string,
  boardRoot: string,
  boardPath: string,
): Result.Result<string, PathTraversalError> => {
  const refuse = (reason: string) => Result.fail(new PathTraversalError({ boardPath, destination, reason }))
  const prefix = boardRoot === "/" ? "/" : `${boardRoot}/`
  if (!boardPath.startsWith(prefix)) return refuse(`it is not under ${boardRoot}`)
  const rel = boardPath.slice(prefix.length)
  if (rel === "") return refuse("it names the directory itself")
  if (rel.includes("\u0000")) return refuse("it contains a NUL character")
  if (isWindows && (rel.includes("\\") || rel.includes(":")))
    return refuse("it contains a Windows path separator or drive")
  const parts = rel.split("/")
  for (const part of parts) {
    if (part === "") return refuse("it has an empty component (an absolute path or '//')")
    if (part === "." || part === "..") return refuse(`it has a '${part}' component`)
  }
  const base = path.resolve(destination)
  const target = path.resolve(base, ...parts)
  const back = path.relative(base, target)
  if (back === "" || back.startsWith("..") || path.isAbsolute(back))
    return refuse("it resolves outside the destination")
  return Result.succeed(target)
}

/** Refuse when anything between `destination` and `target` already exists as a symlink. */
const checkNoSymlinks = (destination: string, target: string, boardPath: string) =>
  Effect.gen(function* () {
    const base = path.resolve(destination)
    const parts = path.relative(base, target).split(path.sep)
    let at = base
    for (const part of parts) {
      at = path.join(at, part)
      const info = yield* lstatOrUndefined(at)
      if (info === undefined) return
      if (info.isSymbolicLink()) {
        return yield* new PathTraversalError({
          boardPath,
          destination,
          reason: `${path.relative(base, at)} is a symlink on the host`,
        })
      }
    }
  })

/**
 * Copy a board directory (or one file) to the host. Every board path is checked before anything
 * is written: one that would escape `localDir` (`..`, absolute paths, separators, an existing
 * symlink on the way) fails the whole download with `PathTraversalError`. Each file is read
 * verified (hash computed on the board against the bytes received) and written atomically.
 *
 * @example
 * const report = yield* downloadDirectory(boardFileSystem(session), "/", "./board-backup")
 *
 * @since 0.1.0
 */
export const downloadDirectory = (
  fs: BoardFileSystem,
  remotePath: string,
  localDir: string,
  options: DownloadOptions = {},
): Effect.Effect<DownloadReport, TreeTransferError> =>
  Effect.gen(function* () {
    const root = yield* Effect.fromResult(normalizeBoardPath(remotePath))
    const ignore = gitignore(options.ignore === undefined ? [] : options.ignore)
    const top = yield* fs.stat(root)
    // A single file lands as `<localDir>/<name>`: treat its directory as the root.
    const listRoot = top.type === "file" ? root.slice(0, root.lastIndexOf("/")) || "/" : root
    const entries: ReadonlyArray<FileEntry> =
      top.type === "file" ? [top] : yield* fs.list(root, { recursive: true })
    const plan: Array<{ entry: FileEntry; target: string }> = []
    for (const entry of entries) {
      const target = yield* Effect.fromResult(resolveDownloadPath(localDir, listRoot, entry.path))
      const rel = path.relative(path.resolve(localDir), target).split(path.sep).join("/")
      if (isTemporaryName(boardBaseName(entry.path)) || ignore.ignores(rel, entry.type === "dir")) continue
      yield* checkNoSymlinks(localDir, target, entry.path)
      plan.push({ entry, target })
    }
    const files = plan.filter((p) => p.entry.type === "file")
    options.onEvent?.({
      type: "planned",
      files: files.length,
      bytes: files.reduce((n, p) => n + p.entry.size, 0),
    })
    yield* makeLocalDirectory(path.resolve(localDir))
    const directories: string[] = []
    for (const { entry, target } of plan) {
      if (entry.type !== "dir") continue
      yield* makeLocalDirectory(target)
      directories.push(target)
    }
    const written: Array<{ path: string; localPath: string; bytes: number }> = []
    const skipped: string[] = []
    let bytes = 0
    for (const { entry, target } of files) {
      if (options.overwrite === false && (yield* lstatOrUndefined(target)) !== undefined) {
        skipped.push(target)
        options.onEvent?.({ type: "skipped", path: entry.path, localPath: target, reason: "exists" })
        continue
      }
      yield* makeLocalDirectory(path.dirname(target))
      const data = yield* fs.readBytes(entry.path, {
        onProgress: (p) =>
          options.onEvent?.({
            type: "progress",
            path: p.path,
            bytesDone: p.bytesDone,
            bytesTotal: p.bytesTotal,
          }),
      })
      // Checked again right before writing: a symlink may have appeared meanwhile.
      yield* checkNoSymlinks(localDir, target, entry.path)
      yield* writeLocalAtomic(target, data)
      written.push({ path: entry.path, localPath: target, bytes: data.length })
      bytes += data.length
      options.onEvent?.({ type: "downloaded", path: entry.path, localPath: target, bytes: data.length })
    }
    return { files: written, directories, skipped, bytes }
  }).pipe(Effect.withSpan("belay.fs.download", { attributes: { remotePath, localDir } }))

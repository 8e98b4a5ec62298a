import path from "node:path"
import { CapabilityMissingError } from "@belay/core"
import { Effect } from "effect"
import type { BoardFileSystem } from "./BoardFileSystem.js"
import {
  boardBaseName,
  boardRelative,
  isTemporaryName,
  joinBoardPath,
  normalizeBoardPath,
} from "./BoardPath.js"
import { digestHex } from "./Checksum.js"
import { FileExistsError, IsADirectoryError, type TreeTransferError } from "./errors.js"
import type { FileEntry } from "./FileSystemContext.js"
import { gitignore, type IgnoreMatcher } from "./Gitignore.js"
import { type LocalFile, readLocal, readLocalText, walkLocal } from "./LocalFiles.js"

/**
 * Options of `sync`.
 *
 * @example
 * syncDirectory(fs, "./src", "/app", { delete: true, ignore: ["*.pyc", "__pycache__/"], dryRun: true })
 *
 * @since 0.1.0
 */
export interface SyncOptions {
  /** Remove board files and directories under the target that are not in the local tree (and not ignored). Default false. */
  readonly delete?: boolean
  /** gitignore patterns, applied to both sides (ignored board files are never deleted). */
  readonly ignore?: string | ReadonlyArray<string>
  /** Local ignore files, relative to the local directory, whose patterns are added (e.g. `[".gitignore"]`). */
  readonly ignoreFiles?: ReadonlyArray<string>
  /** Work out and report what would change; change nothing. Default false. */
  readonly dryRun?: boolean
  /**
   * Write each file atomically (default true); `false` writes in place, still verified: see
   * `WriteOptions.atomic`.
   */
  readonly atomic?: boolean
  readonly onEvent?: (event: SyncEvent) => void
}

/**
 * One planned or done upload.
 *
 * @since 0.1.0
 */
export interface SyncUpload {
  /** Board path. */
  readonly path: string
  readonly bytes: number
  readonly reason: "new" | "changed"
}

/**
 * What `sync` changed (or, in a dry run, would change).
 *
 * @since 0.1.0
 */
export interface SyncReport {
  readonly dryRun: boolean
  readonly uploaded: ReadonlyArray<SyncUpload>
  /** Board paths whose content already matched (by size and a hash computed on the board). */
  readonly unchanged: ReadonlyArray<string>
  readonly deleted: ReadonlyArray<string>
  readonly createdDirectories: ReadonlyArray<string>
  /** File bytes uploaded (0 in a dry run). */
  readonly bytesUploaded: number
  /** Files whose board-side hash was compared. */
  readonly hashedOnBoard: number
  /** Local symlinks and special files left out. */
  readonly skipped: ReadonlyArray<string>
}

/**
 * What `sync` is doing, as it happens.
 *
 * @example
 * onEvent: (e) => e.type === "progress" && console.log(e.path, e.bytesDone, e.bytesTotal)
 *
 * @since 0.1.0
 */
export type SyncEvent =
  | {
      readonly type: "planned"
      readonly uploads: ReadonlyArray<SyncUpload>
      readonly deletes: ReadonlyArray<string>
      readonly directories: ReadonlyArray<string>
      readonly unchanged: number
    }
  | { readonly type: "mkdir"; readonly path: string }
  | {
      readonly type: "upload"
      readonly path: string
      readonly bytes: number
      readonly reason: "new" | "changed"
    }
  | {
      readonly type: "progress"
      readonly path: string
      readonly bytesDone: number
      readonly bytesTotal: number
    }
  | { readonly type: "uploaded"; readonly path: string; readonly bytes: number }
  | { readonly type: "delete"; readonly path: string; readonly entry: "file" | "dir" }
  | { readonly type: "done"; readonly report: SyncReport }

const loadIgnore = (
  localDir: string,
  options: SyncOptions,
): Effect.Effect<IgnoreMatcher, TreeTransferError> =>
  Effect.gen(function* () {
    const patterns: string[] = []
    if (options.ignore !== undefined)
      patterns.push(...(typeof options.ignore === "string" ? [options.ignore] : options.ignore))
    for (const file of options.ignoreFiles ?? [])
      patterns.push(yield* readLocalText(path.join(localDir, file)))
    return gitignore(patterns)
  })

/**
 * Make the board directory `remoteDir` hold what the local directory `localDir` holds: upload
 * only files that are new or changed (same size and a hash computed on the board, batched, count
 * as unchanged: nothing is downloaded), create missing directories, and with `delete` remove what
 * the local tree lacks. Every upload is an atomic, verified write. A second run over an unchanged
 * tree uploads nothing.
 *
 * On a board without directories (the micro:bit), `remoteDir` must be `/` and the local tree flat;
 * otherwise it is refused before anything is sent.
 *
 * @example
 * const report = yield* syncDirectory(boardFileSystem(session), "./app", "/", { delete: true })
 * console.log(report.uploaded.map((u) => u.path))
 *
 * @since 0.1.0
 */
export const syncDirectory = (
  fs: BoardFileSystem,
  localDir: string,
  remoteDir: string,
  options: SyncOptions = {},
): Effect.Effect<SyncReport, TreeTransferError> =>
  Effect.gen(function* () {
    const emit = (event: SyncEvent) => options.onEvent?.(event)
    // What the board's filesystem offers, from the file system itself (not its session), so that
    // a file system whose operations go elsewhere (a fleet board's runner) syncs the same way.
    const info = yield* fs.info
    const flat = !info.directories
    const root = yield* Effect.fromResult(normalizeBoardPath(remoteDir))
    const ignore = yield* loadIgnore(localDir, options)
    const tree = yield* walkLocal(localDir, ignore)
    if (flat) {
      const nested =
        tree.files.find((f) => f.rel.includes("/")) ??
        (tree.directories.length > 0 ? { rel: tree.directories[0]! } : undefined)
      if (root !== "/" || nested !== undefined) {
        return yield* new CapabilityMissingError({
          operation: `sync ${root === "/" ? nested?.rel : root}`,
          missing: "directories (its filesystem is flat: os has no mkdir)",
        })
      }
    }
    const boardPath = (rel: string) => (rel === "" ? root : joinBoardPath(root, rel))

    // The board side: one listing of the whole target tree (missing: everything is new).
    const listing = yield* fs.list(root, { recursive: true }).pipe(
      Effect.map((entries): ReadonlyArray<FileEntry> | undefined => entries),
      Effect.catchTag("FileNotFoundError", () => Effect.succeed(undefined)),
    )
    const rootEntry = listing === undefined ? undefined : { type: "dir" as const }
    const remote = new Map<string, FileEntry>()
    for (const entry of listing ?? []) {
      const rel = boardRelative(root, entry.path)
      if (rel === undefined || rel === "") continue
      if (isTemporaryName(boardBaseName(entry.path))) continue
      if (ignore.ignores(rel, entry.type === "dir")) continue
      remote.set(rel, entry)
    }

    // Same size: the board hashes its file and compares with the local file's hash (batched; it
    // replies only for files that differ). Nothing is downloaded.
    const candidates = tree.files.filter((f) => {
      const r = remote.get(f.rel)
      return r !== undefined && r.type === "file" && r.size === f.size
    })
    const algorithm = info.hashAlgorithm
    const matching = new Set<string>()
    if (candidates.length > 0) {
      const digests = yield* Effect.forEach(candidates, (c) =>
        Effect.map(readLocal(c.abs), (data) => ({
          path: boardPath(c.rel),
          digest: digestHex(algorithm, data),
        })),
      )
      const same = yield* fs.sameContent(digests)
      same.forEach((s, i) => {
        if (s) matching.add(digests[i]!.path)
      })
    }
    const uploads: Array<SyncUpload & { readonly file: LocalFile }> = []
    const unchanged: string[] = []
    for (const file of tree.files) {
      const target = boardPath(file.rel)
      const existing = remote.get(file.rel)
      if (existing === undefined) {
        uploads.push({ path: target, bytes: file.size, reason: "new", file })
        continue
      }
      if (existing.type === "dir") {
        if (options.delete !== true) return yield* new IsADirectoryError({ operation: "sync", path: target })
        uploads.push({ path: target, bytes: file.size, reason: "changed", file })
        continue
      }
      if (matching.has(target)) {
        unchanged.push(target)
        continue
      }
      uploads.push({ path: target, bytes: file.size, reason: "changed", file })
    }
    const localDirs = new Set(tree.directories)
    const localFiles = new Set(tree.files.map((f) => f.rel))
    const directories: string[] = []
    if (!flat && rootEntry === undefined && root !== "/") directories.push(root)
    for (const dir of tree.directories) {
      const existing = remote.get(dir)
      if (existing?.type === "dir") continue
      if (existing?.type === "file" && options.delete !== true) {
        return yield* new FileExistsError({ operation: "sync", path: boardPath(dir) })
      }
      directories.push(boardPath(dir))
    }
    // Deletions: what the local tree lacks, or holds as the other type; a removed directory takes its contents.
    const deletes: Array<{ rel: string; entry: "file" | "dir" }> = []
    if (options.delete === true) {
      const removedDirs: string[] = []
      const sorted = [...remote.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      for (const [rel, entry] of sorted) {
        if (removedDirs.some((d) => rel.startsWith(`${d}/`))) continue
        const keep = entry.type === "dir" ? localDirs.has(rel) : localFiles.has(rel)
        if (keep) continue
        deletes.push({ rel, entry: entry.type })
        if (entry.type === "dir") removedDirs.push(rel)
      }
    }
    emit({
      type: "planned",
      uploads: uploads.map(({ file: _, ...u }) => u),
      deletes: deletes.map((d) => boardPath(d.rel)),
      directories,
      unchanged: unchanged.length,
    })
    const report = (bytesUploaded: number): SyncReport => ({
      dryRun: options.dryRun === true,
      uploaded: uploads.map(({ file: _, ...u }) => u),
      unchanged,
      deleted: deletes.map((d) => boardPath(d.rel)),
      createdDirectories: directories,
      bytesUploaded,
      hashedOnBoard: candidates.length,
      skipped: tree.skipped,
    })
    if (options.dryRun === true) {
      const done = report(0)
      emit({ type: "done", report: done })
      return done
    }

    // Type conflicts go first (a file where a directory goes, or the reverse), then directories,
    // files, and the remaining deletions.
    const conflicts = deletes.filter(
      (d) => (d.entry === "dir" && localFiles.has(d.rel)) || (d.entry === "file" && localDirs.has(d.rel)),
    )
    for (const d of conflicts) {
      emit({ type: "delete", path: boardPath(d.rel), entry: d.entry })
      yield* fs.remove(boardPath(d.rel), { recursive: true })
    }
    for (const dir of directories) {
      emit({ type: "mkdir", path: dir })
      yield* fs.mkdir(dir, { parents: true })
    }
    let bytesUploaded = 0
    for (const upload of uploads) {
      emit({ type: "upload", path: upload.path, bytes: upload.bytes, reason: upload.reason })
      const data = yield* readLocal(upload.file.abs)
      yield* fs.write(upload.path, data, {
        atomic: options.atomic !== false,
        onProgress: (p) =>
          emit({ type: "progress", path: p.path, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }),
      })
      bytesUploaded += data.length
      emit({ type: "uploaded", path: upload.path, bytes: data.length })
    }
    for (const d of deletes) {
      if (conflicts.includes(d)) continue
      emit({ type: "delete", path: boardPath(d.rel), entry: d.entry })
      yield* fs.remove(boardPath(d.rel), { recursive: d.entry === "dir" })
    }
    const done = report(bytesUploaded)
    emit({ type: "done", report: done })
    return done
  }).pipe(Effect.withSpan("belay.fs.sync", { attributes: { localDir, remoteDir } }))

import { CapabilityMissingError, type DeviceSession } from "@belay/core"
import type { PythonValue } from "@belay/transport"
import { Cause, Effect, Exit, Metric } from "effect"
import {
  copyRenameCode,
  getcwdCode,
  listCode,
  mkdirCode,
  removeCode,
  renameCode,
  rmdirCode,
  statCode,
  statvfsCode,
} from "./BoardCode.js"
import { asNumber, type FsRuntime, mapBoardErrors, runFramed, unexpected } from "./BoardExchange.js"
import { type BoardHashResult, compareMany, hashMany } from "./BoardHash.js"
import {
  boardAncestors,
  boardParent,
  boardRelative,
  checkNameLength,
  normalizeBoardPath,
  toNativePath,
} from "./BoardPath.js"
import { chooseEncoding, dialectOf, ensureProbe, profileOf, type TransferProbe } from "./BoardProfile.js"
import { chooseHashAlgorithm, type FileHash, type HashAlgorithm } from "./Checksum.js"
import { download } from "./Download.js"
import type { UploadEncoding } from "./Encoding.js"
import {
  FileExistsError,
  type FileSystemError,
  InvalidPathError,
  IsADirectoryError,
  type TreeTransferError,
} from "./errors.js"
import {
  type FileEntry,
  type FileOperation,
  type FileSystemState,
  fileSystemContext,
} from "./FileSystemContext.js"
import { FileSystemMetrics } from "./FileSystemMetrics.js"
import { type SyncOptions, type SyncReport, syncDirectory } from "./Sync.js"
import { type CleanReport, cleanTemporaryFiles, removeNotedTemporaryFiles } from "./TemporaryFiles.js"
import type { TransferProgress } from "./TransferProgress.js"
import { type DownloadOptions, type DownloadReport, downloadDirectory } from "./TreeDownload.js"
import { checkUploadFits, isTransientFailure, upload, type WriteResult } from "./Upload.js"

/**
 * Settings of a board filesystem handle.
 *
 * @example
 * boardFileSystem(session, { linkBytesPerSecond: 11_520, verifyRetries: 1 })
 *
 * @since 0.1.0
 */
export interface FileSystemOptions {
  /** Upload encoding; `auto` (default) takes the densest the board and its link handle (`raw`, `base64`, `repr`). */
  readonly encoding?: UploadEncoding | "auto"
  /** Upper bound on the code bytes of one upload exchange. Default 16384. */
  readonly maxChunkBytes?: number
  /** Link time one upload exchange may take at the link's rate, in ms. Default 2000. */
  readonly exchangeMs?: number
  /** The link's speed in bytes per second (11520 at 115200 baud), used until it is measured. */
  readonly linkBytesPerSecond?: number
  /** Full repeats of a transfer whose end-to-end check failed. Default 2. */
  readonly verifyRetries?: number
}

/**
 * Options of `list`.
 *
 * @since 0.1.0
 */
export interface ListOptions {
  /** Walk the whole tree under the path (one exchange). Default false. */
  readonly recursive?: boolean
  /** Answer from the session's cache when it holds a complete listing of the directory. Default false. */
  readonly cached?: boolean
}

/**
 * Options of `stat` and `exists`.
 *
 * @since 0.1.0
 */
export interface StatOptions {
  /** Answer from the session's cache when it knows the path. Default false. */
  readonly cached?: boolean
}

/**
 * Options of `write` and `append`.
 *
 * @since 0.1.0
 */
export interface WriteOptions {
  /**
   * Write to a temporary file, verify it, then commit it under the real name (default true).
   * `false` writes the real file directly (half a file if it fails): for files too large to
   * exist twice on the board.
   */
  readonly atomic?: boolean
  /** Create missing parent directories first. Default false. */
  readonly parents?: boolean
  readonly onProgress?: (progress: TransferProgress) => void
}

/**
 * Options of `readBytes` and `readText`.
 *
 * @since 0.1.0
 */
export interface ReadOptions {
  readonly onProgress?: (progress: TransferProgress) => void
}

/**
 * Options of `mkdir`.
 *
 * @since 0.1.0
 */
export interface MkdirOptions {
  /** Create missing parents too, and accept an existing directory (`mkdir -p`). Default false. */
  readonly parents?: boolean
}

/**
 * Options of `remove`.
 *
 * @since 0.1.0
 */
export interface RemoveOptions {
  /** Remove a directory with everything in it. Default false (only files and empty directories). */
  readonly recursive?: boolean
}

/**
 * Space on the board's filesystem, from `os.statvfs`.
 *
 * @since 0.1.0
 */
export interface DiskUsage {
  readonly path: string
  readonly blockSize: number
  readonly totalBytes: number
  readonly freeBytes: number
  readonly usedBytes: number
}

/**
 * What file operations can do on this board, and how.
 *
 * @example
 * const info = yield* fs.info // { directories: false, commit: "copy", hashAlgorithm: "adler32", ... }
 *
 * @since 0.1.0
 */
export interface FileSystemInfo {
  /** The filesystem has directories (`os.mkdir`). */
  readonly directories: boolean
  /** How atomic writes land: `rename` (`os.rename`), or `copy` (on-board copy of a verified temporary file). */
  readonly commit: "rename" | "copy"
  readonly hashAlgorithm: HashAlgorithm
  readonly encoding: UploadEncoding
  readonly diskUsage: boolean
  readonly rawPaste: boolean
  /** What the transfer probe found. */
  readonly probe: TransferProbe
}

/**
 * File operations on the board of one session: every operation is logged in the session's operation log, keeps the
 * session's cache current (writes invalidate, listings fill it), and removes its temporary files
 * (at once, or when the session ends). Paths are board paths: `/main.py`, `/lib/util.py`.
 *
 * @example
 * const fs = boardFileSystem(session)
 * yield* fs.write("/lib/util.py", "def f():\n    return 1\n", { parents: true })
 * const text = yield* fs.readText("/lib/util.py")
 * const entries = yield* fs.list("/", { recursive: true })
 *
 * @since 0.1.0
 */
export interface BoardFileSystem {
  readonly session: DeviceSession
  /** What this board allows (runs the one-time transfer probe if needed). */
  readonly info: Effect.Effect<FileSystemInfo, FileSystemError>
  /** Entries under a directory (default `/`), with types and sizes; `recursive` walks the tree. */
  readonly list: (
    path?: string,
    options?: ListOptions,
  ) => Effect.Effect<ReadonlyArray<FileEntry>, FileSystemError>
  readonly stat: (path: string, options?: StatOptions) => Effect.Effect<FileEntry, FileSystemError>
  readonly exists: (path: string, options?: StatOptions) => Effect.Effect<boolean, FileSystemError>
  readonly readBytes: (path: string, options?: ReadOptions) => Effect.Effect<Uint8Array, FileSystemError>
  /** Read and decode as UTF-8 (invalid sequences become U+FFFD). */
  readonly readText: (path: string, options?: ReadOptions) => Effect.Effect<string, FileSystemError>
  /** Write a file (strings as UTF-8): atomic and verified end to end by default. */
  readonly write: (
    path: string,
    data: Uint8Array | string,
    options?: WriteOptions,
  ) => Effect.Effect<WriteResult, FileSystemError>
  /** Append to a file (created when missing): atomic and verified, like `write`. */
  readonly append: (
    path: string,
    data: Uint8Array | string,
    options?: Omit<WriteOptions, "atomic">,
  ) => Effect.Effect<WriteResult, FileSystemError>
  readonly mkdir: (path: string, options?: MkdirOptions) => Effect.Effect<void, FileSystemError>
  readonly remove: (path: string, options?: RemoveOptions) => Effect.Effect<void, FileSystemError>
  /** Remove an empty directory (`rmdir`): a file is `NotADirectoryError`, a full one `DirectoryNotEmptyError`. */
  readonly removeDirectory: (path: string) => Effect.Effect<void, FileSystemError>
  /**
   * Create an empty file when nothing is at `path` (verified, like `write`); a file already there
   * is left as it is; a directory there is `IsADirectoryError`.
   */
  readonly touch: (path: string) => Effect.Effect<void, FileSystemError>
  /**
   * The board's working directory (`os.getcwd()`), normalized: where a relative path a person
   * types starts (see `resolveBoardPath`). `/` on a flat filesystem or without `os.getcwd`.
   */
  readonly workingDirectory: Effect.Effect<string, FileSystemError>
  /** Rename (replacing `to` if it exists); on boards without `os.rename`, an on-board copy then remove. */
  readonly rename: (from: string, to: string) => Effect.Effect<void, FileSystemError>
  /** The file's hash, computed on the board. */
  readonly hash: (path: string) => Effect.Effect<FileHash, FileSystemError>
  /** Hash many files on the board in few exchanges; each result is a hash or that file's error. */
  readonly hashMany: (
    paths: ReadonlyArray<string>,
  ) => Effect.Effect<ReadonlyArray<BoardHashResult>, FileSystemError>
  /**
   * Make the board directory `remoteDir` hold what the local directory holds, uploading only what
   * changed (compared by size and a hash computed on the board). See {@link syncDirectory}.
   */
  readonly sync: (
    localDir: string,
    remoteDir: string,
    options?: SyncOptions,
  ) => Effect.Effect<SyncReport, TreeTransferError>
  /**
   * Copy a board directory (or file) to the host, refusing any board path that would escape
   * `localDir`. See {@link downloadDirectory}.
   */
  readonly download: (
    remotePath: string,
    localDir: string,
    options?: DownloadOptions,
  ) => Effect.Effect<DownloadReport, TreeTransferError>
  /**
   * Remove the temporary files (`.belay-*.tmp`) under `dir` (default `/`, the whole tree) that
   * uploads left behind and that can no longer finish: their host process was killed, or the board
   * reset since. Uploads in flight (of any session, connection or running process) are kept and
   * reported with the reason. A connection does this by itself for the root at its first file
   * operation, and for a directory at its first upload there; see `TemporaryFiles` for how a dead
   * file is told from a live one.
   *
   * @example
   * const { removed, kept } = yield* fs.cleanTemporaryFiles("/")
   */
  readonly cleanTemporaryFiles: (dir?: string) => Effect.Effect<CleanReport, FileSystemError>
  /** {@link BoardFileSystem.cleanTemporaryFiles}, returning the paths removed. */
  readonly removeStaleTemporaryFiles: (dir?: string) => Effect.Effect<ReadonlyArray<string>, FileSystemError>
  /**
   * Which board files hold the given content, decided on the board: it hashes each file and
   * compares with `digest` (hex, in the board's algorithm: see `info.hashAlgorithm`), replying
   * only for files that differ. `true` where the file matches; a missing file is `false`.
   */
  readonly sameContent: (
    files: ReadonlyArray<{ readonly path: string; readonly digest: string }>,
  ) => Effect.Effect<ReadonlyArray<boolean>, FileSystemError>
  /** Free and total space (needs `os.statvfs`). */
  readonly diskUsage: (path?: string) => Effect.Effect<DiskUsage, FileSystemError>
  /** The session's cached view of the board's tree. */
  readonly state: Effect.Effect<FileSystemState>
  readonly invalidateCache: (path: string) => Effect.Effect<void>
  /** The session's operation log, oldest first. */
  readonly operations: Effect.Effect<ReadonlyArray<FileOperation>>
}

// 16 KB chunks: on the board one exchange costs more than linearly in its size (compiling a long
// literal; the cause is not pinned down). Measured on the virtual board (256 KB, random bytes, raw
// encoding): 48 KB chunks 740-1170 KB/s in process and 330-410 KB/s over a pty; 16 KB chunks
// 1190-1290 and 420-470 KB/s. Small boards are bounded lower by their free memory anyway.
const DEFAULTS = { maxChunkBytes: 16384, exchangeMs: 2000, verifyRetries: 2 }

const encoder = new TextEncoder()

type Kind = FileOperation["kind"]

/**
 * The file operations on `session`'s board.
 *
 * @example
 * const program = manager.executeInSession((session) =>
 *   Effect.gen(function* () {
 *     const fs = boardFileSystem(session)
 *     const result = yield* fs.write("/main.py", "print('hello')\n")
 *     return result.hash?.digest
 *   }),
 * )
 *
 * @since 0.1.0
 */
export const boardFileSystem = (session: DeviceSession, options: FileSystemOptions = {}): BoardFileSystem => {
  const device = session.device
  const capabilities = session.deviceContext.capabilities
  const flat = !capabilities.osFunctions.includes("mkdir")
  const profile = profileOf(device, capabilities)
  const fsContext = fileSystemContext(session)

  /**
   * Remove the dead temporary files found so far (see `TemporaryFiles`), sending the exchange again
   * when it is lost or damaged on the way; never fails the operation (what stays queued goes next
   * time).
   */
  const settleTemporaryFiles = (rt: FsRuntime) =>
    Effect.suspend(() =>
      profile.deadTemporaryFiles === undefined
        ? Effect.void
        : removeNotedTemporaryFiles(rt).pipe(
            Effect.retry({ times: 3, while: isTransientFailure }),
            Effect.catchCause((cause) =>
              Effect.logWarning("Could not remove dead temporary files; a later scan finds them again").pipe(
                Effect.annotateLogs({ cause: Cause.pretty(cause) }),
              ),
            ),
            Effect.asVoid,
          ),
    )

  /** The connection's runtime, probed; see {@link runtime}. */
  const probed: Effect.Effect<FsRuntime, FileSystemError> = Effect.gen(function* () {
    const probe = yield* ensureProbe(device, profile, flat)
    const protocol = yield* device.protocolCapabilities
    const rt: FsRuntime = {
      session,
      device,
      capabilities,
      profile,
      probe,
      dialect: dialectOf(capabilities, probe, profile.freeMemory),
      encoding: chooseEncoding(options.encoding, capabilities, probe),
      sizing: {
        maxChunkBytes: options.maxChunkBytes ?? DEFAULTS.maxChunkBytes,
        exchangeMs: options.exchangeMs ?? DEFAULTS.exchangeMs,
        linkBytesPerSecond: options.linkBytesPerSecond,
      },
      verifyRetries: options.verifyRetries ?? DEFAULTS.verifyRetries,
      // Length-only guards only where the link is known to be plain raw (small boards): while the
      // mode is not known yet (no exchange negotiated it on this connection), check the sum too.
      guarded: protocol.rawPaste === false,
    }
    return rt
  })

  /** {@link probed}; what the connection's probe found dead (a host killed mid-upload) goes first. */
  const runtime: Effect.Effect<FsRuntime, FileSystemError> = Effect.tap(probed, settleTemporaryFiles)

  /** Normalize, and map to the board's own path form; refused (nothing sent) on a flat board. */
  const resolve = (path: string, operation: string) =>
    Effect.flatMap(Effect.fromResult(normalizeBoardPath(path)), (normalized) =>
      Effect.map(Effect.fromResult(toNativePath(normalized, flat, operation)), (native) => ({
        path: normalized,
        native,
      })),
    )

  /** Log the operation (outcome, duration, bytes) in the session, with a span and annotated logs. */
  const logged =
    <A>(kind: Kind, path: string, bytes?: (a: A) => number | undefined) =>
    <E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.gen(function* () {
        const at = new Date()
        const started = performance.now()
        const exit = yield* Effect.exit(effect)
        const durationMs = performance.now() - started
        const count = Exit.isSuccess(exit) && bytes ? bytes(exit.value) : undefined
        const error = Exit.isFailure(exit) ? errorText(exit.cause) : undefined
        yield* fsContext.registerFileOperation({
          kind,
          path,
          at,
          durationMs,
          outcome: Exit.isSuccess(exit) ? "ok" : "error",
          ...(count !== undefined && { bytes: count }),
          ...(error !== undefined && { error }),
        })
        yield* Metric.update(
          Metric.withAttributes(FileSystemMetrics.operations, {
            kind,
            outcome: Exit.isSuccess(exit) ? "ok" : "error",
          }),
          1,
        )
        if (Exit.isFailure(exit)) {
          yield* Effect.logDebug("File operation failed").pipe(Effect.annotateLogs({ kind, error }))
        }
        return yield* exit
      }).pipe(
        Effect.withSpan(`belay.fs.${kind}`, { attributes: { path, sessionId: session.sessionId } }),
        Effect.annotateLogs({ sessionId: session.sessionId, path }),
      )

  const parseEntries = (values: ReadonlyArray<PythonValue>, operation: string, path: string) =>
    Effect.forEach(values, (value) => {
      if (!Array.isArray(value) || typeof value[0] !== "string") {
        return Effect.fail(unexpected(operation, path, "not an entry", value))
      }
      const entry: FileEntry = {
        path: value[0],
        type: value[1] === 1 ? "dir" : "file",
        size: asNumber(value[2]) ?? 0,
      }
      return Effect.succeed(entry)
    })

  const list = (path = "/", listOptions: ListOptions = {}) =>
    Effect.gen(function* () {
      const target = yield* resolve(path, "list")
      if (flat && target.path !== "/") {
        return yield* new CapabilityMissingError({
          operation: `list ${target.path}`,
          missing: "directories (its filesystem is flat: os has no mkdir)",
        })
      }
      const recursive = listOptions.recursive === true
      if (listOptions.cached === true && !recursive) {
        const state = yield* fsContext.getState
        if (state.listedDirectories.has(target.path)) {
          return [...state.entries.values()].filter(
            (e) => e.path !== target.path && boardParent(e.path) === target.path,
          )
        }
      }
      const rt = yield* runtime
      const values = yield* runFramed(rt, listCode(rt.dialect, target.native, recursive), {
        operation: "list",
        path: target.path,
        readOnly: true,
        timeoutMs: 120_000,
      }).pipe(mapBoardErrors("list", target.path, rt.probe))
      const entries = yield* parseEntries(values, "list", target.path)
      yield* fsContext.updateCache(entries, target.path)
      if (recursive) {
        for (const entry of entries) if (entry.type === "dir") yield* fsContext.updateCache([], entry.path)
      }
      return entries as ReadonlyArray<FileEntry>
    }).pipe(logged("list", path))

  const statNow = (path: string, statOptions: StatOptions = {}, operation = "stat") =>
    Effect.gen(function* () {
      const target = yield* resolve(path, operation)
      if (statOptions.cached === true) {
        const state = yield* fsContext.getState
        const known = state.entries.get(target.path)
        if (known !== undefined) return known
      }
      if (target.path === "/") return { path: "/", type: "dir", size: 0 } satisfies FileEntry
      const rt = yield* runtime
      const values = yield* runFramed(rt, statCode(rt.dialect, target.native), {
        operation,
        path: target.path,
        readOnly: true,
      }).pipe(mapBoardErrors(operation, target.path, rt.probe))
      const value = values.at(-1)
      if (values.length !== 1 || !Array.isArray(value))
        return yield* unexpected("stat", target.path, "not one tuple", JSON.stringify(values.map(String)))
      const entry: FileEntry = {
        path: target.path,
        type: value[0] === 1 ? "dir" : "file",
        size: asNumber(value[1]) ?? 0,
      }
      yield* fsContext.updateCache([entry])
      return entry
    })

  const stat = (path: string, statOptions?: StatOptions) =>
    statNow(path, statOptions).pipe(logged("stat", path))

  const exists = (path: string, statOptions?: StatOptions) =>
    statNow(path, statOptions).pipe(
      Effect.as(true),
      Effect.catchTags({
        FileNotFoundError: () => Effect.succeed(false),
        NotADirectoryError: () => Effect.succeed(false),
      }),
      logged("stat", path),
    )

  const readBytesNow = (path: string, readOptions: ReadOptions = {}) =>
    Effect.gen(function* () {
      const target = yield* resolve(path, "read")
      const info = yield* statNow(path, {}, "read")
      if (info.type === "dir") return yield* new IsADirectoryError({ operation: "read", path: target.path })
      const rt = yield* runtime
      return yield* download(rt, {
        path: target.path,
        native: target.native,
        size: info.size,
        onProgress: readOptions.onProgress,
      })
    })

  const readBytes = (path: string, readOptions?: ReadOptions) =>
    readBytesNow(path, readOptions).pipe(logged("read", path, (data) => data.length))

  const readText = (path: string, readOptions?: ReadOptions) =>
    Effect.map(readBytes(path, readOptions), (bytes) => new TextDecoder().decode(bytes))

  const mkdirNow = (path: string, mkdirOptions: MkdirOptions = {}) =>
    Effect.gen(function* () {
      const normalized = yield* Effect.fromResult(normalizeBoardPath(path))
      if (flat) {
        if (normalized === "/" && mkdirOptions.parents === true) return
        return yield* new CapabilityMissingError({
          operation: `mkdir ${normalized}`,
          missing: "directories (its filesystem is flat: os has no mkdir)",
        })
      }
      if (normalized === "/") {
        if (mkdirOptions.parents === true) return
        return yield* new FileExistsError({ operation: "mkdir", path: "/" })
      }
      const paths = mkdirOptions.parents === true ? [...boardAncestors(normalized), normalized] : [normalized]
      yield* Effect.fromResult(checkNameLength(normalized, capabilities.platform, "mkdir"))
      const rt = yield* runtime
      yield* runFramed(rt, mkdirCode(rt.dialect, paths, mkdirOptions.parents === true), {
        operation: "mkdir",
        path: normalized,
        readOnly: false,
      }).pipe(mapBoardErrors("mkdir", normalized, rt.probe))
      yield* fsContext.invalidateCache(normalized)
    })

  const mkdir = (path: string, mkdirOptions?: MkdirOptions) =>
    mkdirNow(path, mkdirOptions).pipe(logged("mkdir", path))

  const writeWith =
    (operation: "write" | "append") =>
    (path: string, data: Uint8Array | string, writeOptions: WriteOptions = {}) =>
      Effect.gen(function* () {
        const target = yield* resolve(path, operation)
        if (target.path === "/") {
          return yield* new InvalidPathError({ path, reason: "the root is a directory" })
        }
        const bytes = typeof data === "string" ? encoder.encode(data) : data
        if (writeOptions.parents === true && !flat && boardParent(target.path) !== "/") {
          yield* mkdirNow(boardParent(target.path), { parents: true })
        }
        yield* Effect.fromResult(checkNameLength(target.path, capabilities.platform, operation))
        const rt = yield* runtime
        const request = {
          operation,
          path: target.path,
          native: target.native,
          data: bytes,
          atomic: operation === "append" || writeOptions.atomic !== false,
          onProgress: writeOptions.onProgress,
        }
        yield* checkUploadFits(rt, request)
        const dir = flat ? "/" : boardParent(target.path)
        if (!profile.roomy && !profile.scannedDirectories.has(dir)) {
          // A small board: the directory's dead temporary files go first, making room for this one.
          yield* cleanTemporaryFiles(
            rt,
            { path: dir, native: flat ? "" : boardParent(target.native) },
            false,
          ).pipe(
            Effect.catchCause((cause) =>
              Effect.logWarning("Could not look for dead temporary files").pipe(
                Effect.annotateLogs({ dir, cause: Cause.pretty(cause) }),
              ),
            ),
          )
        }
        // Dead temporary files the upload found in its directory go after it.
        return yield* upload(rt, request).pipe(Effect.ensuring(settleTemporaryFiles(rt)))
      }).pipe(
        logged(operation, path, (r) => r.bytesWritten),
        Effect.tap((result) =>
          fsContext.updateCache([
            {
              path: result.path,
              type: "file",
              size: result.size,
              ...(result.hash && { hash: result.hash.digest, hashAlgorithm: result.hash.algorithm }),
            },
          ]),
        ),
      )

  const remove = (path: string, removeOptions: RemoveOptions = {}) =>
    Effect.gen(function* () {
      const target = yield* resolve(path, "remove")
      if (target.path === "/")
        return yield* new InvalidPathError({ path, reason: "the root cannot be removed" })
      const rt = yield* runtime
      yield* runFramed(rt, removeCode(rt.dialect, target.native, removeOptions.recursive === true), {
        operation: "remove",
        path: target.path,
        readOnly: false,
        timeoutMs: 120_000,
      }).pipe(mapBoardErrors("remove", target.path, rt.probe))
    }).pipe(logged("remove", path))

  const removeDirectory = (path: string) =>
    Effect.gen(function* () {
      const target = yield* resolve(path, "rmdir")
      if (target.path === "/")
        return yield* new InvalidPathError({ path, reason: "the root cannot be removed" })
      if (flat) {
        // No directories: whatever the name is, it is not one.
        return yield* new CapabilityMissingError({
          operation: `rmdir ${target.path}`,
          missing: "directories (its filesystem is flat: os has no mkdir)",
        })
      }
      const rt = yield* runtime
      yield* runFramed(rt, rmdirCode(rt.dialect, target.native), {
        operation: "rmdir",
        path: target.path,
        readOnly: false,
      }).pipe(mapBoardErrors("rmdir", target.path, rt.probe))
      yield* fsContext.invalidateCache(target.path)
    }).pipe(logged("remove", path))

  const touch = (path: string) =>
    Effect.gen(function* () {
      const found = yield* statNow(path, {}, "touch").pipe(
        Effect.catchTag("FileNotFoundError", () => Effect.succeed(undefined)),
      )
      if (found?.type === "dir") return yield* new IsADirectoryError({ operation: "touch", path: found.path })
      if (found === undefined) yield* writeWith("write")(path, new Uint8Array(0))
    }).pipe(logged("write", path))

  const workingDirectory = Effect.gen(function* () {
    if (flat || !capabilities.osFunctions.includes("getcwd")) return "/"
    const rt = yield* runtime
    const values = yield* runFramed(rt, getcwdCode(), {
      operation: "getcwd",
      path: "/",
      readOnly: true,
    }).pipe(mapBoardErrors("getcwd", "/", rt.probe))
    const cwd = values.at(-1)
    if (values.length !== 1 || typeof cwd !== "string")
      return yield* unexpected("getcwd", "/", "not one string", JSON.stringify(values.map(String)))
    // An empty answer is the root (some ports say "" before any chdir).
    return yield* Effect.fromResult(normalizeBoardPath(cwd === "" ? "/" : cwd))
  })

  const rename = (from: string, to: string) =>
    Effect.gen(function* () {
      const source = yield* resolve(from, "rename")
      const target = yield* resolve(to, "rename")
      if (source.path === "/" || target.path === "/") {
        return yield* new InvalidPathError({
          path: source.path === "/" ? from : to,
          reason: "the root cannot be renamed",
        })
      }
      if (source.path === target.path) return
      if (boardRelative(source.path, target.path) !== undefined) {
        return yield* new InvalidPathError({ path: to, reason: `it is inside ${source.path}` })
      }
      yield* Effect.fromResult(checkNameLength(target.path, capabilities.platform, "rename"))
      const rt = yield* runtime
      const code = rt.dialect.os.has("rename")
        ? renameCode(source.native, target.native)
        : copyRenameCode(rt.dialect, source.native, target.native)
      yield* runFramed(rt, code, {
        operation: "rename",
        path: source.path,
        readOnly: false,
        timeoutMs: 120_000,
      }).pipe(mapBoardErrors("rename", source.path, rt.probe))
      yield* fsContext.invalidateCache(target.path)
    }).pipe(logged("rename", from))

  const hashManyNow = (paths: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const targets = yield* Effect.forEach(paths, (p) => resolve(p, "hash"))
      const rt = yield* runtime
      const results = yield* hashMany(rt, targets)
      const known: FileEntry[] = []
      for (const r of results) {
        if ("hash" in r) {
          known.push({
            path: r.path,
            type: "file",
            size: r.hash.size,
            hash: r.hash.digest,
            hashAlgorithm: r.hash.algorithm,
          })
        }
      }
      yield* fsContext.updateCache(known)
      return results
    })

  const hash = (path: string) =>
    Effect.gen(function* () {
      const [result] = yield* hashManyNow([path])
      if (result === undefined) return yield* unexpected("hash", path, "no answer", "")
      if ("error" in result) return yield* Effect.fail(result.error)
      return result.hash
    }).pipe(logged("hash", path))

  const diskUsage = (path = "/") =>
    Effect.gen(function* () {
      if (!capabilities.statvfs) {
        return yield* new CapabilityMissingError({ operation: "diskUsage", missing: "os.statvfs" })
      }
      const target = yield* resolve(path, "diskUsage")
      const rt = yield* runtime
      const values = yield* runFramed(rt, statvfsCode(target.native || "/"), {
        operation: "diskUsage",
        path: target.path,
        readOnly: true,
      }).pipe(mapBoardErrors("diskUsage", target.path, rt.probe))
      const value = values.at(-1)
      if (values.length !== 1 || !Array.isArray(value) || value.length < 5)
        return yield* unexpected("diskUsage", target.path, "not one tuple", String(value))
      const [bsize, frsize, blocks, , bavail] = value.map((v) => asNumber(v) ?? 0) as number[]
      const unit = frsize || bsize || 0
      const total = unit * (blocks ?? 0)
      const free = unit * (bavail ?? 0)
      return {
        path: target.path,
        blockSize: unit,
        totalBytes: total,
        freeBytes: free,
        usedBytes: total - free,
      }
    }).pipe(logged("diskUsage", path))

  const cleanNow = (dir: string) =>
    Effect.gen(function* () {
      const target = yield* resolve(dir, "clean")
      // Not `runtime`: what the probe found dead goes with what the scan finds, in its report.
      const rt = yield* probed
      return yield* cleanTemporaryFiles(rt, target)
    })

  const info = Effect.map(runtime, (rt) => {
    const protocolRawPaste = capabilities.rawPaste
    return {
      directories: !flat,
      commit: rt.dialect.os.has("rename") ? "rename" : "copy",
      hashAlgorithm: chooseHashAlgorithm(capabilities.hashAlgorithms),
      encoding: rt.encoding,
      diskUsage: capabilities.statvfs,
      rawPaste: protocolRawPaste,
      probe: rt.probe,
    } satisfies FileSystemInfo
  })

  const self: BoardFileSystem = {
    session,
    info,
    list,
    stat,
    exists,
    readBytes,
    readText,
    write: writeWith("write"),
    append: (path, data, appendOptions) => writeWith("append")(path, data, appendOptions),
    mkdir,
    remove,
    removeDirectory,
    touch,
    workingDirectory,
    rename,
    hash,
    hashMany: (paths) => hashManyNow(paths).pipe(logged("hash", paths[0] ?? "/")),
    diskUsage,
    state: fsContext.getState,
    invalidateCache: fsContext.invalidateCache,
    operations: fsContext.operations,
    sameContent: (files) =>
      Effect.gen(function* () {
        const targets = yield* Effect.forEach(files, (f) =>
          Effect.map(resolve(f.path, "hash"), (t) => ({ ...t, digest: f.digest.toLowerCase() })),
        )
        const rt = yield* runtime
        return yield* compareMany(rt, targets)
      }).pipe(logged("hash", files[0]?.path ?? "/")),
    cleanTemporaryFiles: (dir = "/") => cleanNow(dir).pipe(logged("remove", dir, (r) => r.removed.length)),
    removeStaleTemporaryFiles: (dir = "/") =>
      cleanNow(dir).pipe(
        Effect.map((report) => report.removed),
        logged("remove", dir),
      ),
    sync: (localDir, remoteDir, syncOptions) =>
      syncDirectory(self, localDir, remoteDir, syncOptions).pipe(
        logged("sync", remoteDir, (report) => report.bytesUploaded),
      ),
    download: (remotePath, localDir, downloadOptions) =>
      downloadDirectory(self, remotePath, localDir, downloadOptions).pipe(
        logged("read", remotePath, (report) => report.bytes),
      ),
  }
  return self
}

const errorText = (cause: Cause.Cause<unknown>): string => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail") {
      const error = reason.error as { message?: unknown }
      return typeof error?.message === "string" ? error.message : String(reason.error)
    }
    if (reason._tag === "Interrupt") return "interrupted"
    if (reason._tag === "Die") return `defect: ${String(reason.defect)}`
  }
  return "failed"
}

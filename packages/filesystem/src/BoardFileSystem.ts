/**
 * The file operations on the board of one session, as users see them: the `BoardFileSystem`
 * interface, its options and results. `boardFileSystem` (in `makeBoardFileSystem.ts`) builds one.
 */
import type { DeviceSession } from "@belay/core"
import type { Effect } from "effect"
import type { BoardHashResult } from "./BoardHash.js"
import type { TransferProbe } from "./BoardProfile.js"
import type { FileHash, HashAlgorithm } from "./Checksum.js"
import type { UploadEncoding } from "./Encoding.js"
import type { FileSystemError, TreeTransferError } from "./errors.js"
import type { FileEntry, FileOperation, FileSystemState } from "./FileSystemContext.js"
import type { SyncOptions, SyncReport } from "./Sync.js"
import type { CleanReport } from "./TemporaryFiles.js"
import type { TransferProgress } from "./TransferProgress.js"
import type { DownloadOptions, DownloadReport } from "./TreeDownload.js"
import type { WriteResult } from "./Upload.js"

export { boardFileSystem } from "./makeBoardFileSystem.js"

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
   * Write to a temporary file, verify it, then commit it under the real name (default true). On
   * a board without `os.rename` (the micro:bit) the commit is an on-board copy: about twice the
   * file's size must be free, and a write without that room fails with `NotEnoughSpaceError`
   * before anything is written. `false` writes the real file in place, needing only its growth
   * over the old file, and still checks what the board holds (length and hash); but a power
   * cut, reset or kill mid-write leaves a partial file (a failure after it began is
   * `PartialWriteError`).
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

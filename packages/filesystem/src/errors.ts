import type { CapabilityMissingError, ResourceCleanupError, SessionError } from "@belay/core"
import type { ProtocolError, PythonError } from "@belay/transport"
import { Data } from "effect"

/**
 * The path does not exist on the board (`OSError` `ENOENT`; on the micro:bit `file not found`).
 *
 * @example
 * fs.readText("/main.py").pipe(Effect.catchTag("FileNotFoundError", () => Effect.succeed("")))
 *
 * @since 0.1.0
 */
export class FileNotFoundError extends Data.TaggedError("FileNotFoundError")<{
  readonly operation: string
  readonly path: string
}> {
  override get message() {
    return `${this.operation} ${this.path}: no such file or directory on the board`
  }
}

/**
 * A path component that must be a directory is a file (`ENOTDIR`), e.g. listing a file or
 * creating `/a.txt/b`.
 *
 * @example
 * Effect.catchTag("NotADirectoryError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class NotADirectoryError extends Data.TaggedError("NotADirectoryError")<{
  readonly operation: string
  readonly path: string
}> {
  override get message() {
    return `${this.operation} ${this.path}: not a directory`
  }
}

/**
 * A file was expected and the path is a directory (`EISDIR`), e.g. reading `/lib`.
 *
 * @example
 * Effect.catchTag("IsADirectoryError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class IsADirectoryError extends Data.TaggedError("IsADirectoryError")<{
  readonly operation: string
  readonly path: string
}> {
  override get message() {
    return `${this.operation} ${this.path}: is a directory`
  }
}

/**
 * The path already exists (`EEXIST`), e.g. `mkdir` without `parents` on an existing directory.
 *
 * @example
 * fs.mkdir("/lib").pipe(Effect.catchTag("FileExistsError", () => Effect.void))
 *
 * @since 0.1.0
 */
export class FileExistsError extends Data.TaggedError("FileExistsError")<{
  readonly operation: string
  readonly path: string
}> {
  override get message() {
    return `${this.operation} ${this.path}: already exists`
  }
}

/**
 * A directory is not empty (`ENOTEMPTY`): remove it with `{ recursive: true }`.
 *
 * @example
 * fs.remove("/lib").pipe(Effect.catchTag("DirectoryNotEmptyError", () => fs.remove("/lib", { recursive: true })))
 *
 * @since 0.1.0
 */
export class DirectoryNotEmptyError extends Data.TaggedError("DirectoryNotEmptyError")<{
  readonly operation: string
  readonly path: string
}> {
  override get message() {
    return `${this.operation} ${this.path}: directory not empty`
  }
}

/**
 * The board's filesystem is full (`ENOSPC`, `OSError 28` on the micro:bit). An atomic write needs
 * room for the new content beside the old, so it can fail where a plain write would fit;
 * the file under its real name is untouched either way.
 *
 * @example
 * Effect.catchTag("NoSpaceError", (e) => Console.error(`${e.path}: board full (${e.bytes} bytes to write)`))
 *
 * @since 0.1.0
 */
export class NoSpaceError extends Data.TaggedError("NoSpaceError")<{
  readonly operation: string
  readonly path: string
  /** Bytes the operation tried to store, when known. */
  readonly bytes?: number
}> {
  override get message() {
    const size = this.bytes === undefined ? "" : ` (${this.bytes} bytes)`
    return `${this.operation} ${this.path}${size}: no space left on the board's filesystem`
  }
}

/**
 * The board's filesystem is read-only to code (`OSError` `EROFS`, `[Errno 30] Read-only
 * filesystem`). CircuitPython does this while its CIRCUITPY drive belongs to the computer over USB
 * (the default): code, and so Belay, can write only once boot.py calls `storage.remount("/", False)`
 * and the board was reset, and the computer then sees the drive read-only. On MicroPython, the
 * filesystem was mounted read-only. Nothing was written.
 *
 * @example
 * Effect.catchTag("ReadOnlyFileSystemError", (e) => Console.error(e.message)) // "... storage.remount("/", False) ..."
 *
 * @since 0.1.0
 */
export class ReadOnlyFileSystemError extends Data.TaggedError("ReadOnlyFileSystemError")<{
  readonly operation: string
  readonly path: string
}> {
  override get message() {
    return `${this.operation} ${this.path}: the board's filesystem is read-only to code (OSError 30, EROFS). On CircuitPython the CIRCUITPY drive is the computer's while USB mass storage is on: put \`import storage\` and \`storage.remount("/", False)\` in boot.py (through the drive), then reset the board; code can then write and the computer sees the drive read-only (remove those lines to go back). On MicroPython, remount the filesystem writable`
  }
}

/**
 * Not enough room on the board's filesystem for a write, found before anything was written (the
 * file under its real name is untouched, nothing is left). An atomic write on a board without
 * `os.rename` (the micro:bit) needs the verified temporary file and room to copy it over the old
 * file: about twice the file's size. Writing in place (`atomic: false`) needs only the growth over
 * the old file.
 *
 * @example
 * Effect.catchTag("NotEnoughSpaceError", (e) => Console.error(`${e.needed} bytes needed, ${e.free} free`))
 *
 * @since 0.1.0
 */
export class NotEnoughSpaceError extends Data.TaggedError("NotEnoughSpaceError")<{
  readonly operation: string
  readonly path: string
  /** The new content's size. */
  readonly size: number
  /** The size of the file it replaces (0 when there is none). */
  readonly existing: number
  /** Bytes free the write needs. */
  readonly needed: number
  /** Bytes free: as `os.statvfs` says, or as many as a reservation file could take. */
  readonly free: number
  /** The write was atomic (a temporary file, then a commit); false: in place. */
  readonly atomic: boolean
}> {
  override get message() {
    const old = this.existing > 0 ? ` over the old ${this.existing}-byte file` : ""
    if (!this.atomic) {
      return `${this.operation} ${this.path}: not enough room to write ${this.size} bytes in place${old}: it needs ${this.needed} bytes free and ${this.free} are; nothing was written (free room on the board first)`
    }
    return `${this.operation} ${this.path}: not enough room for an atomic write of ${this.size} bytes${old}: it needs ${this.needed} bytes free (the verified temporary file, then room to copy it over the real name) and ${this.free} are; nothing was written. Free room on the board, or write in place without the copy: the library's \`atomic: false\` option, the CLI's --no-atomic flag (a power cut or kill mid-write then leaves a partial file)`
  }
}

/**
 * A write in place (`atomic: false`) failed after it began: the file under its real name is
 * damaged or incomplete (or gone: the micro:bit drops a file it cannot finish). The content was
 * checked as the atomic path checks it (length and hash); writing it again is safe.
 *
 * @example
 * Effect.catchTag("PartialWriteError", (e) => Console.error(e.message)) // "... the file on the board is damaged or incomplete ..."
 *
 * @since 0.1.0
 */
export class PartialWriteError extends Data.TaggedError("PartialWriteError")<{
  readonly operation: string
  readonly path: string
  readonly size: number
  /** What failed: the check's or the board's message. */
  readonly reason: string
}> {
  override get message() {
    return `${this.operation} ${this.path}: writing ${this.size} bytes in place failed (${this.reason}); the file on the board is damaged or incomplete. Write it again (\`atomic: false\`, or --no-atomic on the command line), or atomically once there is room for a second copy`
  }
}

/**
 * Any other `OSError` the board raised for a file operation, with its errno (or message, on
 * boards that raise messages instead of numbers).
 *
 * @example
 * Effect.catchTag("BoardFileSystemError", (e) => Console.error(e.errno, e.reason))
 *
 * @since 0.1.0
 */
export class BoardFileSystemError extends Data.TaggedError("BoardFileSystemError")<{
  readonly operation: string
  readonly path: string
  readonly errno: number | undefined
  readonly reason: string
}> {
  override get message() {
    return `${this.operation} ${this.path}: ${this.reason}`
  }
}

/**
 * What the board holds after a transfer differs from what was sent (a byte lost or changed on the
 * link, or a failing flash). The file under its real name was not replaced.
 *
 * @example
 * Effect.catchTag("TransferVerificationError", (e) => Console.error(e.expected, e.actual))
 *
 * @since 0.1.0
 */
export class TransferVerificationError extends Data.TaggedError("TransferVerificationError")<{
  readonly operation: string
  readonly path: string
  /** `sha256`, `sha1`, `md5` or `adler32` (computed by Python on boards without hashlib). */
  readonly algorithm: string
  readonly expected: string
  readonly actual: string
  readonly attempts: number
}> {
  override get message() {
    return `${this.operation} ${this.path}: verification failed after ${this.attempts} attempt(s): expected ${this.algorithm} ${this.expected}, the board has ${this.actual}`
  }
}

/**
 * The board did not have enough free memory even for the smallest chunk, or for the code that
 * opens or closes an upload (`chunkBytes` 0), after collecting its heap.
 *
 * @example
 * Effect.catchTag("BoardMemoryError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class BoardMemoryError extends Data.TaggedError("BoardMemoryError")<{
  readonly operation: string
  readonly path: string
  readonly chunkBytes: number
  readonly reason: string
}> {
  override get message() {
    const what =
      this.chunkBytes > 0
        ? `with ${this.chunkBytes}-byte chunks`
        : "for the code that opens or closes the upload, which carries no data"
    return `${this.operation} ${this.path}: the board ran out of memory ${what} (${this.reason})`
  }
}

/**
 * A request the board cannot hold, refused before anything was sent or written: a name longer
 * than its filesystem takes (the micro:bit's takes 120 bytes), or paths so long that the code to
 * commit the upload would not fit in the board's memory. Nothing is left on the board.
 *
 * @example
 * Effect.catchTag("BoardLimitError", (e) => Console.error(e.message)) // "write /...: refused, nothing written: the name is 130 bytes long; ..."
 *
 * @since 0.1.0
 */
export class BoardLimitError extends Data.TaggedError("BoardLimitError")<{
  readonly operation: string
  readonly path: string
  /** Which limit: the length of a name, or the size of an exchange in the board's memory. */
  readonly limit: "name-length" | "exchange-size"
  readonly reason: string
}> {
  override get message() {
    return `${this.operation} ${this.path}: refused, nothing written: ${this.reason}`
  }
}

/**
 * A path is not usable: empty, with a NUL byte, `..` above the root, a temporary-file name, or
 * (on a board with a flat filesystem) more than one component is handled by
 * `CapabilityMissingError` instead.
 *
 * @example
 * Effect.catchTag("InvalidPathError", (e) => Console.error(e.reason))
 *
 * @since 0.1.0
 */
export class InvalidPathError extends Data.TaggedError("InvalidPathError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `invalid board path ${JSON.stringify(this.path)}: ${this.reason}`
  }
}

/**
 * A board path would land outside the download's destination (`..`, an absolute path, a name with
 * a separator, or an existing symlink on the way). Nothing was written.
 *
 * @example
 * Effect.catchTag("PathTraversalError", (e) => Console.error(`refused ${e.boardPath}: ${e.reason}`))
 *
 * @since 0.1.0
 */
export class PathTraversalError extends Data.TaggedError("PathTraversalError")<{
  readonly boardPath: string
  readonly destination: string
  readonly reason: string
}> {
  override get message() {
    return `refused board path ${JSON.stringify(this.boardPath)}: it would escape ${this.destination} (${this.reason})`
  }
}

/**
 * The board answered something this package cannot read (a damaged line, an unexpected shape).
 *
 * @example
 * Effect.catchTag("UnexpectedBoardReplyError", (e) => Console.error(e.reply))
 *
 * @since 0.1.0
 */
export class UnexpectedBoardReplyError extends Data.TaggedError("UnexpectedBoardReplyError")<{
  readonly operation: string
  readonly path: string
  readonly reason: string
  /** The start of the reply. */
  readonly reply: string
}> {
  override get message() {
    return `${this.operation} ${this.path}: unexpected reply from the board (${this.reason}): ${JSON.stringify(this.reply)}`
  }
}

/**
 * A host-side file operation failed during sync or download (reading the local tree, writing the
 * destination).
 *
 * @example
 * Effect.catchTag("LocalFileError", (e) => Console.error(e.path, e.reason))
 *
 * @since 0.1.0
 */
export class LocalFileError extends Data.TaggedError("LocalFileError")<{
  readonly operation: string
  readonly path: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `${this.operation} ${this.path} (host): ${this.reason}`
  }
}

/**
 * Errors of board file operations, besides the transport's.
 *
 * @since 0.1.0
 */
export type BoardFileError =
  | FileNotFoundError
  | NotADirectoryError
  | IsADirectoryError
  | FileExistsError
  | DirectoryNotEmptyError
  | NoSpaceError
  | NotEnoughSpaceError
  | PartialWriteError
  | ReadOnlyFileSystemError
  | BoardFileSystemError
  | BoardMemoryError
  | BoardLimitError
  | InvalidPathError
  | UnexpectedBoardReplyError
  | CapabilityMissingError

/**
 * Everything a board file operation can fail with. `SessionError` comes when the session ended
 * under the operation (its temporary files are then removed at once).
 *
 * @since 0.1.0
 */
export type FileSystemError =
  | BoardFileError
  | TransferVerificationError
  | ProtocolError
  | PythonError
  | SessionError
  | ResourceCleanupError

/**
 * Everything `sync` and `download` can fail with.
 *
 * @since 0.1.0
 */
export type TreeTransferError = FileSystemError | PathTraversalError | LocalFileError

/**
 * `@belay/filesystem`: files on a MicroPython board, session-aware and verified end to end.
 * The public API, by concept; everything else in `src/` is this package's own. This is the Node
 * entry (`@belay/filesystem/node`, and `@belay/filesystem` in Node); the browser entry
 * (`@belay/filesystem/browser`, and `@belay/filesystem` elsewhere) has all of it but what works
 * on host folders: `syncDirectory`, `downloadDirectory` and `mountHostFolder` (a file system's
 * `sync` and `download` fail there with `LocalFileError`).
 */

// ---- Files on the board of one session ----
export {
  type BoardFileSystem,
  boardFileSystem,
  type DiskUsage,
  type FileSystemInfo,
  type FileSystemOptions,
  type ListOptions,
  type MkdirOptions,
  type ReadOptions,
  type RemoveOptions,
  type StatOptions,
  type WriteOptions,
} from "./BoardFileSystem.js"
export { BoardFiles, type BoardFilesShape } from "./BoardFiles.js"
export type { BoardHashResult } from "./BoardHash.js"
// ---- Board paths ----
export {
  boardBaseName,
  boardParent,
  isTemporaryName,
  joinBoardPath,
  normalizeBoardPath,
  resolveBoardPath,
} from "./BoardPath.js"
export { forgetTransferProfile, type TransferProbe } from "./BoardProfile.js"
// ---- Hashes (to compare a board file with a local one) ----
export { digestHex, type FileHash, type HashAlgorithm } from "./Checksum.js"
export type { DownloadEncoding, UploadEncoding } from "./Encoding.js"
// ---- Errors and metrics ----
export {
  type BoardFileError,
  BoardFileSystemError,
  BoardLimitError,
  BoardMemoryError,
  DirectoryNotEmptyError,
  FileExistsError,
  FileNotFoundError,
  type FileSystemError,
  InvalidPathError,
  IsADirectoryError,
  LocalFileError,
  NoSpaceError,
  NotADirectoryError,
  NotEnoughSpaceError,
  PartialWriteError,
  PathTraversalError,
  ReadOnlyFileSystemError,
  TransferVerificationError,
  type TreeTransferError,
  UnexpectedBoardReplyError,
} from "./errors.js"
// ---- The session's file-system context: cache and operation log ----
export {
  type FileEntry,
  type FileOperation,
  type FileSystemContext,
  type FileSystemState,
  fileSystemContext,
} from "./FileSystemContext.js"
export { FileSystemMetrics } from "./FileSystemMetrics.js"
export { gitignore, type IgnoreMatcher } from "./Gitignore.js"
// ---- A host folder mounted on the board ----
export { MountError, type MountedFolder, type MountOptions, mountHostFolder } from "./Mount.js"
export type { MountStats } from "./MountServer.js"
// ---- Trees: sync up, download down ----
export {
  type SyncEvent,
  type SyncOptions,
  type SyncReport,
  type SyncUpload,
  syncDirectory,
} from "./Sync.js"
export type { CleanReport } from "./TemporaryFiles.js"
export type { TransferProgress } from "./TransferProgress.js"
export {
  type DownloadEvent,
  type DownloadOptions,
  type DownloadReport,
  downloadDirectory,
} from "./TreeDownload.js"
export type { WriteResult } from "./Upload.js"

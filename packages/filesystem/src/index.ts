export * from "./BoardFileSystem.js"
export * from "./BoardFiles.js"
export type { BoardHashResult } from "./BoardHash.js"
export {
  boardAncestors,
  boardBaseName,
  boardParent,
  boardRelative,
  isTemporaryName,
  joinBoardPath,
  maxNameBytes,
  normalizeBoardPath,
  toNativePath,
} from "./BoardPath.js"
export { forgetTransferProfile, type TransferProbe } from "./BoardProfile.js"
export * from "./Checksum.js"
export {
  type DownloadEncoding,
  encodeChunk,
  escapeRawOutput,
  expansion,
  RAW_ESCAPED,
  type UploadEncoding,
  unescapeRawOutput,
} from "./Encoding.js"
export * from "./errors.js"
export {
  type FileEntry,
  type FileOperation,
  type FileSystemContext,
  type FileSystemState,
  fileSystemContext,
} from "./FileSystemContext.js"
export * from "./FileSystemMetrics.js"
export { gitignore, type IgnoreMatcher } from "./Gitignore.js"
export * from "./Sync.js"
export type { CleanReport } from "./TemporaryFiles.js"
export type { TransferProgress } from "./TransferProgress.js"
export * from "./TreeDownload.js"
export type { WriteResult } from "./Upload.js"

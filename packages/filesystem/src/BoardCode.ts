/**
 * The Python this package sends to boards, by concept: the dialect and how values travel
 * (`BoardDialect`), self-checking replies (`ReplyFrame`), the probe (`ProbeCode`), the file
 * operations (`FileCode`), uploads and their temporary files (`UploadCode`), downloads
 * (`DownloadCode`); the board-side helpers themselves are Python files in `python/`, minified into
 * `python/embedded.ts` at build time, except the hash and size functions, written per dialect
 * (`CompactHash`). Everything runs on MicroPython 1.9 and later in a few KB of heap: no f-strings,
 * no json, no walrus; helpers are defined inside one exchange and deleted at its end
 * (try/finally), so nothing stays in the board's RAM between operations except the registry entry
 * of an upload in flight (`_bf`, see {@link uploadEntry}). Values travel as Python literals
 * (`toPythonLiteral`), as arguments of the helpers' calls.
 * @internal
 */
export { type BoardDialect, hashCode, hashPiece, OS_IMPORT, py } from "./BoardDialect.js"
export { hashFunction, sizeFunction } from "./CompactHash.js"
export { downloadCode, downloadRawCode } from "./DownloadCode.js"
export {
  compareManyCode,
  copyRenameCode,
  getcwdCode,
  hashManyCode,
  listCode,
  mkdirCode,
  removeCode,
  renameCode,
  rmdirCode,
  statCode,
  statvfsCode,
} from "./FileCode.js"
export { ERRNO_NAMES, probeCode } from "./ProbeCode.js"
export { FRAMED_OS_ERROR, frameCheck, framedReply } from "./ReplyFrame.js"
export {
  type CommitMode,
  copyCommitCode,
  DAMAGED_CHUNK,
  type ExpectedContent,
  finalizeCopyCode,
  guardCode,
  HOLDS,
  removeTemporaryFilesCode,
  renameCommitCode,
  scanTemporaryFilesCode,
  type UploadNames,
  uploadAbortCode,
  uploadChunkCode,
  uploadEntry,
  uploadFinishCode,
  uploadInspectCode,
  uploadOpenCode,
  uploadVerifyCode,
} from "./UploadCode.js"

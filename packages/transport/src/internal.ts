/**
 * `@belay/transport/internal`: what the other packages of this repository share with the
 * transport and users do not need. Not part of the public API: any release may change it.
 *
 * @since 0.1.0
 */

// Bytes.
export { concatBytes, fromBase64, indexOfBytes, latin1String, toBase64 } from "./Bytes.js"
// Checked requests: the builders and how to read their failures.
export {
  checkedEvalRequest,
  checkedExecRequest,
  EXEC_RUNTIME,
  EXEC_RUNTIME_NAME,
  fromCheckedExchange,
  newExchangeNonce,
  RESTORE_PRINT_REQUEST,
} from "./CheckedOutput.js"
// Checked replies: where stdout ends, and the reader of a checked exchange's frames.
export {
  CheckedReplyReader,
  type CheckedReplyVerdict,
  plainStdoutFraming,
  type StdoutFraming,
  type StdoutScan,
} from "./CheckedReplyReader.js"
// The resend policy: send again only while nothing ran.
export {
  type AttemptForm,
  type AttemptOutcome,
  COLLECT_GARBAGE,
  checkedRequest,
  checkedRuntimeRequest,
  checkedTopLevelRequest,
  classifyAttempt,
  fromCheckedRequest,
  isRequestRefused,
  RESENDS,
  resendWhileNothingRan,
} from "./CheckedRequest.js"
// Child processes stopped when the host process exits.
export { isChildRunning, terminateChildProcess, trackChildProcess } from "./ChildProcesses.js"
// Digests computed on the host, the same in Node and in a browser.
export { createDigest, type Digest, type DigestAlgorithm, digestBytes } from "./Digest.js"
export { hexExcerpt } from "./errors.js"
export { FairLock } from "./FairLock.js"
// The host's monotonic clock in ms, without loading Node's performance modules.
export { monotonicMs } from "./MonotonicClock.js"
export { MAX_ENCODE_DEPTH } from "./PythonLiteral.js"
// Tracebacks.
export { isCompileMemoryError, parseTraceback } from "./Traceback.js"

/**
 * `@belay/transport/internal`: what the other packages of this repository share with the
 * transport and users do not need. Not part of the public API: any release may change it.
 *
 * @since 0.1.0
 */

// Checked requests: the builders and how to read their failures.
export {
  CheckedReplyReader,
  type CheckedReplyVerdict,
  checkedEvalRequest,
  checkedExecRequest,
  EXEC_RUNTIME,
  EXEC_RUNTIME_NAME,
  fromCheckedExchange,
  newExchangeNonce,
  plainStdoutFraming,
  RESTORE_PRINT_REQUEST,
  type StdoutFraming,
  type StdoutScan,
} from "./CheckedOutput.js"
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
export { hexExcerpt } from "./errors.js"
export { FairLock } from "./FairLock.js"
export { MAX_ENCODE_DEPTH } from "./PythonLiteral.js"
// Tracebacks.
export { isCompileMemoryError, parseTraceback } from "./Traceback.js"

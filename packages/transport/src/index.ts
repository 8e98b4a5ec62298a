export * from "./ByteLink.js"
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
export * from "./CheckedRequest.js"
export * from "./ChildProcesses.js"
export * from "./DeviceCommunication.js"
export * from "./errors.js"
export * from "./FairLock.js"
export { openProcessLink, type ProcessLink, type ProcessLinkOptions } from "./ProcessLink.js"
export * from "./ProtocolMetrics.js"
export * from "./PythonLiteral.js"
export type { BoardResetEvent, ProtocolCapabilities, RawReplOptions } from "./RawReplEngine.js"
export { StateKey, StateStore } from "./StateStore.js"
export * from "./Traceback.js"

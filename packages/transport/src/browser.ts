/**
 * `@belay/transport/browser` (and `@belay/transport` outside Node): the platform-neutral API, no
 * Node built-in. Byte links to MicroPython boards and the raw REPL protocol engine.
 *
 * The public API, grouped by concept. Helpers that the other packages of this repository share
 * with the transport (checked-request builders, the resend policy, child-process tracking) are
 * at `@belay/transport/internal` and may change in any release; serial ports are at
 * `@belay/transport/serial`, the scripted board and the fault injector at `@belay/transport/testing`.
 *
 * This is the Node entry (`@belay/transport/node`, and `@belay/transport` in Node). The browser
 * entry (`@belay/transport/browser`, and `@belay/transport` elsewhere) has all of it but the links
 * that need Node (processes, TCP, RFC 2217); its links are `@belay/transport/web-serial` and
 * `@belay/transport/webrepl-browser`.
 *
 * @since 0.1.0
 */

// A link's own file transfer (WebREPL's put and get), offered in the connection's state.
export { type BoardFileTransfer, BoardFileTransferKey, TextOnlyLinkKey } from "./BoardFileTransfer.js"
// Links: a byte pipe to a board, and how to build one.
export { type ByteLink, makeReceiveQueue, type ReceiveQueue } from "./ByteLink.js"
// Checked requests: code that runs only if it arrived whole.
export { CHECKED_RUNTIME, type CheckedExecOptions, execChecked, execStreamChecked } from "./CheckedRequest.js"
// The protocol engine as a service.
export {
  BoardLink,
  DeviceCommunication,
  type DeviceCommunicationShape,
  type ExecOptions,
  makeDeviceCommunication,
  type TerminalSession,
} from "./DeviceCommunication.js"
// Typed errors.
export {
  BoardResetError,
  BoardStuckError,
  LinkClosedError,
  type LinkError,
  LinkLostError,
  LinkOpenError,
  OutputDamagedError,
  OutputLimitError,
  type ProtocolError,
  type ProtocolPhase,
  ProtocolTimeoutError,
  PythonError,
  RequestDamagedError,
  UnexpectedBytesError,
} from "./errors.js"
// Requests the board's running code makes over its output, served by a layer above (a mount).
export { type InterceptedOutput, type OutputInterceptor, OutputInterceptorKey } from "./OutputInterceptor.js"
// Metrics.
export { type ProtocolMetrics, TransportMetrics } from "./ProtocolMetrics.js"
// Python values as literals, both ways.
export {
  type PythonDict,
  PythonLiteralEncodeError,
  PythonLiteralError,
  type PythonValue,
  parsePythonLiteral,
  toPythonLiteral,
} from "./PythonLiteral.js"
// Python made smaller before it travels, and the setting that turns that off.
export {
  type MinifiedPython,
  type MinifyOptions,
  MinifyPython,
  minifyPython,
  PythonMinifyError,
  tryMinifyPython,
} from "./PythonMinifier.js"
// Options and events of the engine.
export type { BoardResetEvent, ProtocolCapabilities, RawReplOptions } from "./RawReplEngine.js"
// State that lives as long as a board connection (or a session), under typed keys.
export { StateKey, StateStore } from "./StateStore.js"
export { isWellFormedTraceback } from "./Traceback.js"
// Logging in to a board's WebREPL (the link itself is at `@belay/transport/webrepl`).
export { fitsWebReplHeader, WebReplFileError } from "./webrepl/WebReplFiles.js"
export { WebReplLoginError } from "./webrepl/WebReplLogin.js"
export { WEBREPL_DEFAULT_PORT, webReplTarget } from "./webrepl/WebReplTarget.js"

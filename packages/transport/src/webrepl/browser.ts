/**
 * The WebREPL link for browser pages, over the browser's own `WebSocket` (no `ws`, no Node
 * built-in): the same login, frames and file transfers as `@belay/transport/webrepl`.
 *
 * @example
 * import { openBrowserWebReplLink } from "@belay/transport/webrepl-browser"
 *
 * @module
 */
export {
  type BrowserWebReplLinkOptions,
  type BrowserWebSocket,
  openBrowserWebReplLink,
} from "./BrowserWebReplLink.js"
export {
  fitsWebReplHeader,
  WebReplFileError,
  webReplGetFile,
  webReplPutFile,
  webReplVersion,
} from "./WebReplFiles.js"
export { MAX_PASSWORD_CHARS, WebReplLoginError } from "./WebReplLogin.js"
export { WEBREPL_DEFAULT_PORT, webReplTarget } from "./WebReplTarget.js"
export { type BinaryTaker, MAX_FRAME_BYTES, type WebReplLink } from "./WebReplWire.js"

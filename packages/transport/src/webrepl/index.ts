/**
 * The WebREPL link to network boards, on the `ws` package (loaded only by code that imports this
 * entry point, so that serial-only programs never load it).
 *
 * @example
 * import { openWebReplLink } from "@belay/transport/webrepl"
 *
 * @module
 */

export {
  fitsWebReplHeader,
  WebReplFileError,
  webReplGetFile,
  webReplPutFile,
  webReplVersion,
} from "./WebReplFiles.js"
export { openWebReplLink, type WebReplLinkOptions } from "./WebReplLink.js"
export { MAX_PASSWORD_CHARS, WebReplLoginError } from "./WebReplLogin.js"
export { WEBREPL_DEFAULT_PORT, webReplTarget } from "./WebReplTarget.js"
export { type BinaryTaker, MAX_FRAME_BYTES, type WebReplLink } from "./WebReplWire.js"

/**
 * `@belay/executors/internal`: the board side of the executors' protocol, for fake boards in the
 * tests of this repository. Not part of the public API: any release may change it.
 *
 * @since 0.1.0
 */

// How values come back from the board: frames, their marks and tags.
export {
  checkFrame,
  END_TAG,
  encodeFrame,
  FRAME_RUNTIME,
  MISS_MARK,
  REGISTRY_TAG,
  RESULT_MARK,
} from "./Framing.js"
// The board side of proxies.
export { PROXY_RUNTIME } from "./ProxyRegistry.js"
// The board side of threads.
export { THREAD_RUNTIME } from "./Thread.js"

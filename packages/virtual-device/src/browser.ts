/**
 * `@belay/virtual-device/browser`: the virtual board in a browser page. MicroPython's WebAssembly
 * build runs in a module `Worker` (the page must be cross-origin isolated: `Cross-Origin-Opener-Policy:
 * same-origin` and `Cross-Origin-Embedder-Policy: require-corp`), behind the same firmware as in
 * Node, as a `ByteLink`. The page serves three files and names them in the `assets` option: the
 * worker script (`@belay/virtual-device/worker`, bundled as an ES module), and `micropython.mjs`
 * and `micropython.wasm` of `@micropython/micropython-webassembly-pyscript`. The flash is in
 * memory (no `flashDir`). No Node built-in.
 *
 * @example
 * import { openVirtualBoard } from "@belay/virtual-device/browser"
 * const link = yield* openVirtualBoard({
 *   assets: { worker: "/vboard-worker.js", micropython: "/micropython.mjs", wasm: "/micropython.wasm" },
 * })
 *
 * @since 0.1.0
 */
export { openVirtualBoard, UsbDriveError, type VirtualBoardLink } from "./openVirtualBoard.js"
export type { VirtualBoardOptions } from "./options.js"
export type { VirtualBoardAssets } from "./platform/types.js"
export { VirtualBoard, type VirtualBoardCallbacks, type VirtualBoardStats } from "./VirtualBoard.js"

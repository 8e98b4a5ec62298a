/**
 * What the virtual board needs from the platform it runs on, Node or a browser: a thread for the
 * interpreter, MicroPython's WebAssembly bytes, a host folder for the flash, an id for the board.
 * The package's `#platform` import resolves to `./node.js` under the `node` condition and to
 * `./browser.js` elsewhere; both export {@link Platform}'s members.
 *
 * @internal
 */
import type { WorkerData, WorkerMessage } from "../WorkerMessages.js"

/**
 * Where a browser page serves what the virtual board loads (Node finds them in the packages).
 *
 * @example
 * const assets: VirtualBoardAssets = {
 *   worker: "/assets/virtual-board-worker.js",
 *   micropython: "/assets/micropython.mjs",
 *   wasm: "/assets/micropython.wasm",
 * }
 * @since 0.1.0
 */
export interface VirtualBoardAssets {
  /** The interpreter's worker script: `@belay/virtual-device/worker`, bundled for the browser as an ES module. */
  readonly worker: string | URL
  /** `micropython.mjs` of `@micropython/micropython-webassembly-pyscript`, as the package ships it. */
  readonly micropython: string | URL
  /** `micropython.wasm` of the same package. */
  readonly wasm: string | URL
}

/** An interpreter thread, as its host sees it. */
export interface InterpreterThread {
  readonly postMessage: (message: unknown) => void
  readonly onMessage: (handler: (message: WorkerMessage) => void) => void
  readonly onError: (handler: (error: Error) => void) => void
  readonly onExit: (handler: (code: number) => void) => void
  /** Keep the host process alive for the thread, or not (a spare); nothing to do in a browser. */
  readonly ref: () => void
  readonly unref: () => void
  readonly terminate: () => Promise<void>
}

/** The worker's side: its start data, its channel to the host, and the MicroPython loader. */
export interface WorkerChannel {
  readonly data: WorkerData
  readonly post: (message: WorkerMessage) => void
  readonly onMessage: (handler: (message: unknown) => void) => void
  readonly loadMicroPython: () => Promise<typeof import("@micropython/micropython-webassembly-pyscript")>
}

/** A host folder backing the board's flash. */
export interface FlashFolder {
  /** Every file and directory in it, by board path (`/lib/x.py`), directories as `"dir"`. */
  readonly load: () => Map<string, Uint8Array | "dir">
  readonly remove: (boardPath: string) => void
  readonly mkdir: (boardPath: string) => void
  readonly write: (boardPath: string, data: Uint8Array) => void
}

/** MicroPython's WebAssembly, patched to import shared memory. */
export interface PatchedMicroPython {
  readonly bytes: Uint8Array
  readonly initialPages: number
  readonly maximumPages: number
}

import { warmStandby } from "./interpreter.js"

/**
 * Start a virtual board's interpreter (its worker thread and MicroPython) in the background now,
 * so that the next virtual board this process opens takes it ready instead of waiting for it
 * (about 100 ms). For a program that knows early that it will open one, before it loads the rest
 * of what it needs: the `belay` command calls it first thing when its device is `virtual`. The
 * thread does not keep the process alive until a board takes it; a second call does nothing while
 * one is waiting.
 *
 * @since 0.1.0
 * @example
 * warmUpVirtualBoard()
 * // ... load and set up the rest of the program ...
 * const link = yield* openVirtualBoard() // takes the interpreter started above
 */
export const warmUpVirtualBoard = (): void => warmStandby()

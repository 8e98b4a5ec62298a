import { type ByteLink, LinkOpenError, makeReceiveQueue } from "@belay/transport"
import { Data, Effect, type Scope } from "effect"
import type { VirtualBoardOptions } from "./options.js"
import { VirtualBoard, type VirtualBoardStats } from "./VirtualBoard.js"

/**
 * A `ByteLink` to an in-process virtual board, with a few controls a real cable does not have.
 *
 * @example
 * const board = yield* openVirtualBoard()
 * yield* board.softReset // as if Ctrl-D arrived at the friendly REPL
 * @since 0.1.0
 */
export interface VirtualBoardLink extends ByteLink {
  /** Press the board's reset button: it boots again (banner), RAM is gone, the flash stays. */
  readonly hardReset: Effect.Effect<void>
  /**
   * Soft reset, as if running code called `machine.soft_reset()` or Ctrl-D was pressed at the
   * prompt: whatever runs stops, RAM is gone, the soft-reboot line is printed, boot.py runs, and
   * the board is back in the REPL it was in (raw: the raw banner and `>`). The flash stays.
   */
  readonly softReset: Effect.Effect<void>
  /** Pull the cable: `received` fails with `LinkLostError`, writes fail from then on. */
  readonly unplug: Effect.Effect<void>
  /** Counters: raw-paste overflow, resets, interrupts. */
  readonly stats: Effect.Effect<VirtualBoardStats>
  /** The files on the board's flash, by absolute path (`/main.py`). */
  readonly files: Effect.Effect<ReadonlyMap<string, Uint8Array>>
  /**
   * A board playing CircuitPython (`flavor: "circuitpython"`): a computer writes a file through
   * its CIRCUITPY drive. The board auto-reloads when code.py runs or it waits for a key (`soft
   * reboot`, code.py again); in a REPL nothing happens but the new file.
   */
  readonly usbWrite: (path: string, data: Uint8Array | string) => Effect.Effect<void, UsbDriveError>
}

/**
 * A write through the virtual board's CIRCUITPY drive was refused: the board is not playing
 * CircuitPython, boot.py remounted the flash for code (the drive is then read-only to the computer),
 * or the path's folder does not exist.
 *
 * @example
 * link.usbWrite("/code.py", "print(1)").pipe(Effect.catchTag("UsbDriveError", (e) => Console.error(e.reason)))
 *
 * @since 0.1.0
 */
export class UsbDriveError extends Data.TaggedError("UsbDriveError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `writing ${this.path} through the CIRCUITPY drive: ${this.reason}`
  }
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * Power on a virtual MicroPython 1.27 board (the WebAssembly build, in a worker thread) and
 * connect to it. The board speaks the serial protocol of a real board: boot banner, friendly
 * REPL, raw REPL, raw-paste with flow control, soft reset, Ctrl-C. It is powered off when the
 * scope closes.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { openVirtualBoard } from "@belay/virtual-device"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const link = yield* openVirtualBoard({ rawPasteWindow: 128 })
 *     yield* link.write(new TextEncoder().encode("\r\x01print(1+1)\x04"))
 *     // link.received: banner, "raw REPL; CTRL-B to exit\r\n>", "OK2\r\n\x04\x04>"
 *   }),
 * )
 *
 * @since 0.1.0
 */
export const openVirtualBoard = (
  options?: VirtualBoardOptions,
): Effect.Effect<VirtualBoardLink, LinkOpenError, Scope.Scope> =>
  Effect.gen(function* () {
    const description = "virtual"
    const rx = yield* makeReceiveQueue(description)
    const board = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          VirtualBoard.open(options, {
            onOutput: (bytes) => rx.push(bytes),
            onFatal: (reason) => rx.fail(`the virtual board stopped: ${reason}`),
          }),
        catch: (error) => new LinkOpenError({ link: description, reason: errorText(error), cause: error }),
      }),
      (board) =>
        Effect.promise(() => board.close()).pipe(
          Effect.andThen(Effect.sync(() => rx.end("virtual board closed"))),
        ),
    )
    const link: VirtualBoardLink = {
      description,
      write: (bytes) =>
        Effect.suspend(() => {
          const closed = rx.closedReason()
          return closed === undefined ? Effect.promise(() => board.write(bytes)) : Effect.fail(closed)
        }),
      received: rx.stream,
      isOpen: Effect.sync(() => rx.closedReason() === undefined),
      hardReset: Effect.sync(() => board.hardReset()),
      softReset: Effect.sync(() => board.softReset()),
      unplug: Effect.promise(() => board.close()).pipe(
        Effect.andThen(Effect.sync(() => rx.fail("virtual board unplugged"))),
      ),
      stats: Effect.sync(() => board.stats),
      files: Effect.sync(() => board.files()),
      usbWrite: (path, data) =>
        Effect.try({
          try: () => board.usbWrite(path, typeof data === "string" ? new TextEncoder().encode(data) : data),
          catch: (error) => new UsbDriveError({ path, reason: errorText(error) }),
        }),
    }
    return link
  })

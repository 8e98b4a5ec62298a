import { makeDeviceCommunication } from "@belay/transport"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"
import type { VirtualBoardOptions } from "../src/options.ts"

// The transport's protocol engine against every kind of board the virtual device can be.
const boards: Array<[string, VirtualBoardOptions]> = [
  ["a modern board (raw-paste)", {}],
  ["a board that refuses raw-paste (R\\x00)", { rawPaste: false }],
  ["firmware before 1.14 (no raw-paste)", { firmware: "old" }],
  ["a small board on a 115200-baud line", { rawPasteWindow: 128, bytesPerSecond: 11520 }],
]

describe("the protocol engine of @belay/transport on the virtual board", () => {
  for (const [name, options] of boards) {
    it(`runs, evaluates, reports errors, soft resets and interrupts on ${name}`, {
      timeout: 60_000,
    }, async () => {
      const result = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const link = yield* openVirtualBoard(options)
            const comm = yield* makeDeviceCommunication(link, { integrity: "unchecked" })
            const printed = yield* comm.exec("print(1+1)")
            const evaluated = yield* comm.eval("[1, 'x', None]")
            const big = yield* comm.exec(`s = '${"q".repeat(3000)}'\nprint(len(s))`)
            const error = yield* Effect.flip(comm.exec("1/0"))
            yield* comm.softReset
            const afterReset = yield* comm.exec("print('after')")
            const stopped = yield* comm
              .exec("while True: pass")
              .pipe(Effect.timeout("300 millis"), Effect.flip)
            const alive = yield* comm.exec("print('alive')")
            return { printed, evaluated, big, error: error._tag, afterReset, stopped: stopped._tag, alive }
          }),
        ),
      )
      expect(result).toEqual({
        printed: "2\r\n",
        evaluated: "[1, 'x', None]",
        big: "3000\r\n",
        error: "PythonError",
        afterReset: "after\r\n",
        stopped: "TimeoutError",
        alive: "alive\r\n",
      })
    })
  }
})

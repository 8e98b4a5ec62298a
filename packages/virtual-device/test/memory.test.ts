import { makeDeviceCommunication } from "@belay/transport"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"

// MicroPython's WebAssembly port collects garbage only when the code it runs returns: a program
// that runs on and allocates grows the board's memory to its bound (1 GiB), then fails with
// MemoryError. What must hold: a typed failure, and a board that answers after it, its garbage
// collected (it allocates again), as after a soft reset.

const ALLOCATE_FOREVER = "n = 0\nwhile True:\n    x = bytearray(4000000)\n    n += 1"

describe("memory of the virtual board", () => {
  it("a program that allocates without end fails with MemoryError; the board goes on", {
    timeout: 60_000,
  }, async () => {
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openVirtualBoard()
          const comm = yield* makeDeviceCommunication(link)
          const error = yield* Effect.flip(comm.exec(ALLOCATE_FOREVER))
          // Collected when the program returned: the board allocates again.
          const after = yield* comm.exec(
            "xs = [bytearray(4000000) for i in range(10)]\nprint('alive', n > 100, len(xs))",
          )
          yield* comm.softReset
          const afterReset = yield* comm.exec("xs = [bytearray(4000000) for i in range(10)]\nprint(len(xs))")
          return { error, after, afterReset }
        }),
      ),
    )
    expect(result.error._tag).toBe("PythonError")
    expect(result.error._tag === "PythonError" && result.error.exceptionType).toBe("MemoryError")
    expect(result.after).toBe("alive True 10\n")
    expect(result.afterReset).toBe("10\n")
  })
})

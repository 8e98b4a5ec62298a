import { makeDeviceCommunication } from "@belay/transport"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"
import type { VirtualBoardOptions } from "../src/options.ts"

// MicroPython's WebAssembly port collects garbage only when the code it runs returns: a program
// that runs on and allocates grows the board's memory to its bound (1 GiB), then fails with
// MemoryError. What must hold: a typed failure, and a board that answers after it, its garbage
// collected (it allocates again), as after a soft reset.

const ALLOCATE_FOREVER = "n = 0\nwhile True:\n    x = bytearray(4000000)\n    n += 1"

const allocateUntilMemoryError = (options?: VirtualBoardOptions, againAfterReset = false) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const link = yield* openVirtualBoard(options)
        const comm = yield* makeDeviceCommunication(link)
        const error = yield* Effect.flip(comm.exec(ALLOCATE_FOREVER))
        // Collected when the program returned: the board allocates again.
        const rounds = Number(yield* comm.eval("n"))
        const after = yield* comm.exec("xs = [bytearray(4000000) for i in range(5)]\nprint('alive', len(xs))")
        yield* comm.softReset
        const afterReset = yield* comm.exec("xs = [bytearray(4000000) for i in range(5)]\nprint(len(xs))")
        // The bound holds for the interpreter a reset starts too.
        const roundsAfterReset = againAfterReset
          ? yield* Effect.flatMap(Effect.flip(comm.exec(ALLOCATE_FOREVER)), () => comm.eval("n"))
          : undefined
        return { error, rounds, after, afterReset, roundsAfterReset: Number(roundsAfterReset) }
      }),
    ),
  )

describe("memory of the virtual board", () => {
  it("a program that allocates without end fails with MemoryError; the board goes on", {
    timeout: 60_000,
  }, async () => {
    const result = await allocateUntilMemoryError()
    expect(result.error._tag).toBe("PythonError")
    expect(result.error._tag === "PythonError" && result.error.exceptionType).toBe("MemoryError")
    // 4 MB a round: past 100 rounds, the memory grew well beyond the interpreter's start.
    expect(result.rounds).toBeGreaterThan(100)
    expect(result.after).toBe("alive 5\n")
    expect(result.afterReset).toBe("5\n")
  })

  it("memoryLimit bounds it lower, for this board only, and after a reset too", {
    timeout: 60_000,
  }, async () => {
    const result = await allocateUntilMemoryError({ memoryLimit: 64 * 1024 * 1024 }, true)
    expect(result.error._tag === "PythonError" && result.error.exceptionType).toBe("MemoryError")
    // At most 64 MiB, of which the interpreter's start takes about 16: fewer than 16 rounds of 4 MB.
    expect(result.rounds).toBeLessThan(16)
    expect(result.after).toBe("alive 5\n")
    expect(result.afterReset).toBe("5\n")
    expect(result.roundsAfterReset).toBeLessThan(16)
    const after = await allocateUntilMemoryError()
    expect(after.rounds).toBeGreaterThan(100)
  })

  it.each([16 * 1024 * 1024, 2 * 1024 * 1024 * 1024, 64.5])(
    "refuses memoryLimit %s with what it takes",
    async (memoryLimit) => {
      const error = await Effect.runPromise(Effect.scoped(Effect.flip(openVirtualBoard({ memoryLimit }))))
      expect(error._tag).toBe("LinkOpenError")
      expect(error.reason).toContain(
        "memoryLimit must be a whole number of bytes from 33554432 (32 MiB) to 1073741824 (1 GiB)",
      )
    },
  )
})

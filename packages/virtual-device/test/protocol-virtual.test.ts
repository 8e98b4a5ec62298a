import { type ByteLink, makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { Effect, Fiber, type Scope, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"
import { openVirtualBoardPty } from "../src/pty.ts"

// The protocol engine end to end on the virtual board: in-process, and on a pseudo-terminal
// opened by the real serialport bindings.

const boards: Array<[string, Effect.Effect<ByteLink, unknown, Scope.Scope>]> = [
  ["in-process", openVirtualBoard()],
  ["pty via serialport", Effect.flatMap(openVirtualBoardPty(), (pty) => openSerialLink({ path: pty.path }))],
]

describe.each(boards)("protocol engine on the virtual board (%s)", (_name, open) => {
  const onBoard = <A, E>(
    body: (comm: Effect.Success<ReturnType<typeof makeDeviceCommunication>>) => Effect.Effect<A, E>,
  ) =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* open
          const comm = yield* makeDeviceCommunication(link, { integrity: "unchecked" })
          return yield* body(comm)
        }) as Effect.Effect<A, unknown, Scope.Scope>,
      ),
    )

  it("exec, eval, an exception with its traceback, soft reset", { timeout: 60_000 }, async () => {
    const result = await onBoard((comm) =>
      Effect.gen(function* () {
        const out = yield* comm.exec("print(1 + 1)")
        const value = yield* comm.eval("{'a': [1, 2]}")
        const error = yield* Effect.flip(comm.exec("def f():\n    raise KeyError('k')\nf()"))
        yield* comm.exec("marker = 1")
        yield* comm.softReset
        const gone = yield* Effect.flip(comm.exec("marker"))
        return {
          out,
          value,
          error,
          gone,
          generation: yield* comm.generation,
          caps: yield* comm.protocolCapabilities,
        }
      }),
    )
    expect(result.out).toBe("2\r\n")
    expect(result.value).toBe("{'a': [1, 2]}")
    expect(result.error._tag).toBe("PythonError")
    if (result.error._tag === "PythonError") {
      expect(result.error.exceptionType).toBe("KeyError")
      expect(result.error.traceback).toContain("line 2, in f")
    }
    expect(result.gone._tag).toBe("PythonError")
    expect(result.generation).toBe(1)
    expect(result.caps.rawPaste).toBe(true)
  })

  it("executes 64 KB of source correctly", { timeout: 60_000 }, async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `t += ${i % 97}  # ${"x".repeat(10)}`)
    const code = `t = 0\n${lines.join("\n")}\nprint(t)`
    const expected = Array.from({ length: 3000 }, (_, i) => i % 97).reduce((a, b) => a + b, 0)
    expect(code.length).toBeGreaterThan(64 * 1024)
    expect(await onBoard((comm) => comm.exec(code))).toBe(`${expected}\r\n`)
  })

  it("interrupts while True: pass and answers again", { timeout: 60_000 }, async () => {
    const result = await onBoard((comm) =>
      Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(comm.exec("while True: pass", { timeout: "1 hour" }))
        yield* Effect.sleep("300 millis")
        yield* Fiber.interrupt(fiber)
        return yield* comm.exec("print('alive')")
      }),
    )
    expect(result).toBe("alive\r\n")
  })

  it("serves 100 concurrent callers in order", { timeout: 60_000 }, async () => {
    const outs = await onBoard((comm) =>
      Effect.gen(function* () {
        const fibers = []
        for (let i = 0; i < 100; i++) fibers.push(yield* Effect.forkChild(comm.exec(`print(${i})`)))
        return yield* Fiber.joinAll(fibers)
      }),
    )
    expect(outs).toEqual(Array.from({ length: 100 }, (_, i) => `${i}\r\n`))
  })

  it("streams output while code runs", { timeout: 60_000 }, async () => {
    const chunks = await onBoard((comm) =>
      Stream.runCollect(
        comm.execStream("import time\nfor i in range(3):\n    print(i)\n    time.sleep_ms(50)"),
      ),
    )
    expect(chunks.join("")).toBe("0\r\n1\r\n2\r\n")
    expect(chunks.length).toBeGreaterThan(1)
  })
})

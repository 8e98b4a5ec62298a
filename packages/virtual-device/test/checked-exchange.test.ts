import {
  type ByteLink,
  type DeviceCommunicationShape,
  makeDeviceCommunication,
  type RawReplOptions,
} from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { Cause, Effect, Exit, Fiber, Scope, Stream } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"
import { startQemuMicrobit } from "../src/qemu.ts"

// Plain exec and eval, checked by default, on real MicroPython: the WebAssembly build in-process
// and the micro:bit firmware in QEMU. What the code prints, a \x04 in it included, comes back
// intact; a damaged byte on the way, in either direction, gives a resend or a typed error.

const errorOf = <A, E>(exit: Exit.Exit<A, E>): (E & { _tag?: string }) | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const found = Cause.findErrorOption(exit.cause)
  return found._tag === "Some" ? (found.value as E & { _tag?: string }) : undefined
}

/** A link that damages one byte, when told where, in either direction. */
const aimable = (inner: ByteLink) => {
  let aim:
    | { direction: "toBoard" | "fromBoard"; at: number; kind: "drop" | "duplicate" | "flip"; mask: number }
    | undefined
  let hit = false
  const apply = (direction: "toBoard" | "fromBoard", bytes: Uint8Array): Uint8Array => {
    if (aim === undefined || aim.direction !== direction) return bytes
    if (aim.at >= bytes.length) {
      aim.at -= bytes.length
      return bytes
    }
    const { at: i, kind, mask } = aim
    aim = undefined
    hit = true
    const b = Buffer.from(bytes)
    return kind === "drop"
      ? Buffer.concat([b.subarray(0, i), b.subarray(i + 1)])
      : kind === "duplicate"
        ? Buffer.concat([b.subarray(0, i + 1), b.subarray(i)])
        : Buffer.from(b.map((x, j) => (j === i ? x ^ mask : x)))
  }
  const link: ByteLink = {
    description: inner.description,
    write: (bytes) => inner.write(apply("toBoard", bytes)),
    received: Stream.map(inner.received, (bytes) => apply("fromBoard", bytes)),
    isOpen: inner.isOpen,
  }
  return {
    link,
    aim: (next: typeof aim) => {
      aim = next
      hit = false
    },
    disarm: () => {
      const was = hit
      aim = undefined
      return was
    },
  }
}

describe("checked exec and eval on the virtual board", () => {
  let device: DeviceCommunicationShape
  let aimed: ReturnType<typeof aimable>
  let scope: Scope.Closeable
  const options: RawReplOptions = { replyTimeoutMs: 500, execTimeoutMs: 5000, interruptTimeoutMs: 1000 }

  beforeAll(async () => {
    scope = Effect.runSync(Scope.make())
    device = await Effect.runPromise(
      Scope.provide(
        Effect.gen(function* () {
          aimed = aimable(yield* openVirtualBoard())
          return yield* makeDeviceCommunication(aimed.link, options)
        }),
        scope,
      ),
    )
  }, 60_000)
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromiseExit(effect)

  it("gives back what print wrote, with its own line ends, and values as repr", async () => {
    expect(await run(device.exec("for i in range(3): print(i)"))).toEqual(Exit.succeed("0\n1\n2\n"))
    expect(await run(device.exec("print('é', 'x', sep='-', end='!')"))).toEqual(Exit.succeed("é-x!"))
    expect(await run(device.eval("[x * x for x in range(5)]"))).toEqual(Exit.succeed("[0, 1, 4, 9, 16]"))
    expect(await run(device.eval("'a\\x04b'"))).toEqual(Exit.succeed("'a\\x04b'"))
    // State persists between calls, as in the REPL.
    await run(device.exec("counter = 41"))
    expect(await run(device.eval("counter + 1"))).toEqual(Exit.succeed("42"))
  })

  it("carries a literal \\x04 and \\x03 in the code intact: all of it runs", async () => {
    const exit = await run(device.exec('print("a")\n# \x04 \x03 \x04\nprint("b")'))
    expect(exit).toEqual(Exit.succeed("a\nb\n"))
  })

  it("gives back output holding \\x04, even imitating the end of a reply, and the next call works", async () => {
    const exit = await run(
      device.exec(
        "import sys\nsys.stdout.write('A\\x04\\x04>')\nprint('B\\x04')\nsys.stdout.write('\\x04Traceback (most recent call last):\\nValueError: no\\n\\x04>')\nprint('C')",
      ),
    )
    expect(exit).toEqual(
      Exit.succeed("A\x04\x04>B\x04\n\x04Traceback (most recent call last):\r\nValueError: no\r\n\x04>C\n"),
    )
    expect(await run(device.eval("1 + 1"))).toEqual(Exit.succeed("2"))
  })

  it("reports the code's exceptions as if it had been sent plainly, with what it printed", async () => {
    const exit = await run(device.exec("print('before')\ndef boom():\n    return 1/0\nboom()"))
    const error = errorOf(exit) as { _tag: string; exceptionType: string; traceback: string; stdout: string }
    expect(error._tag).toBe("PythonError")
    expect(error.exceptionType).toBe("ZeroDivisionError")
    expect(error.stdout).toBe("before\n")
    expect(error.traceback).not.toMatch(/_belay|<string>/)
    expect(error.traceback).toMatch(
      /File "<stdin>", line 4, in <module>\r?\n {2}File "<stdin>", line 3, in boom/,
    )
    const syntax = errorOf(await run(device.exec("x = (")))
    expect(syntax).toMatchObject({ _tag: "PythonError", exceptionType: "SyntaxError" })
  })

  it("deploys its runtime again after a soft reset, unseen by the caller", async () => {
    await run(device.softReset)
    expect(await run(device.exec("print('after reset')"))).toEqual(Exit.succeed("after reset\n"))
    // And after a reset the host did not see (the board lost the runtime behind its back).
    await run(device.exec("del _belay_e1", { integrity: "unchecked" }))
    expect(await run(device.eval("6 * 7"))).toEqual(Exit.succeed("42"))
  })

  it("leaves the board's own print in place after a checked call is interrupted", async () => {
    const fiber = Effect.runFork(
      device.exec("import time\nwhile True:\n    print('tick')\n    time.sleep_ms(5)"),
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    await Effect.runPromise(Fiber.interrupt(fiber))
    const plain = await run(
      device.exec("print('plain', print is __import__('builtins').print)", { integrity: "unchecked" }),
    )
    expect(plain).toEqual(Exit.succeed("plain True\r\n"))
    const check = await run(device.exec("print(repr(print))", { integrity: "unchecked" }))
    expect(check).toEqual(Exit.succeed("<function>\r\n"))
  })

  it("stops a flood of output at its limit with a typed error, and the board answers again", async () => {
    const exit = await run(device.exec("while True:\n    print('x' * 1000)", { maxOutputBytes: 256 * 1024 }))
    expect(errorOf(exit)).toMatchObject({
      _tag: "OutputLimitError",
      kind: "collected",
      limitBytes: 256 * 1024,
    })
    expect(await run(device.eval("'still here'"))).toEqual(Exit.succeed("'still here'"))
  })

  it("ends a stream read more slowly than the board prints with OutputLimitError, bounded", async () => {
    const slow = await run(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openVirtualBoard()
          const comm = yield* makeDeviceCommunication(link, { ...options, maxUnreadBytes: 256 * 1024 })
          // A reader far slower than the board: what the board prints meanwhile waits on the
          // host, up to the limit.
          return yield* Stream.runForEach(
            comm.execStream("while True:\n    print('y' * 1000)", { timeout: "30 seconds" }),
            () => Effect.sleep("20 millis"),
          )
        }),
      ),
    )
    expect(errorOf(slow)).toMatchObject({ _tag: "OutputLimitError", kind: "unread" })
  })

  it("says, when a call times out, whether the code was printing or the board was silent", async () => {
    const busy = errorOf(
      await run(
        device.exec("import time\nwhile True:\n    print('.')\n    time.sleep_ms(10)", { timeout: 400 }),
      ),
    )
    expect(busy).toMatchObject({ _tag: "ProtocolTimeoutError", phase: "call" })
    expect((busy as { message: string }).message).toMatch(/still running: it printed/)
    const silent = errorOf(await run(device.exec("while True:\n    pass", { timeout: 400 })))
    expect((silent as { message: string }).message).toMatch(/printed nothing/)
    expect(await run(device.eval("'ok'"))).toEqual(Exit.succeed("'ok'"))
  })

  it("never runs altered code nor gives a wrong value, whatever one byte is damaged, either way (property)", async () => {
    await run(device.exec("_runs = []"))
    let faults = 0
    let typed = 0
    const outcomes = new Map<string, number>()
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 999_999 }),
        fc.constantFrom("exec", "eval"),
        fc.constantFrom("toBoard", "fromBoard"),
        fc.nat({ max: 400 }),
        fc.constantFrom("drop", "duplicate", "flip"),
        fc.integer({ min: 1, max: 255 }),
        async (n, kind, direction, at, fault, mask) => {
          const code =
            kind === "exec"
              ? `_runs.append(${n})\nfor i in range(3): print(${n} * i, 'é')`
              : `(_runs.append(${n}), [${n}, str(${n}), {'k': ${n}}])[1]`
          const expected =
            kind === "exec" ? [0, 1, 2].map((i) => `${n * i} é\n`).join("") : `[${n}, '${n}', {'k': ${n}}]`
          // A damaged byte can reset the board (a Ctrl-D at its empty prompt): its RAM goes,
          // the record of runs with it. Each run starts with one.
          await run(device.exec("_runs = []"))
          aimed.aim({ direction, at, kind: fault, mask })
          const exit = await run(kind === "exec" ? device.exec(code) : device.eval(code))
          if (aimed.disarm()) faults++
          // The fault may have reset the board after the call (a repeated Ctrl-D reaching its
          // prompt): the next call says so once (BoardResetError), then the board answers.
          let runs = await run(device.eval("globals().get('_runs', [])"))
          const lostRecord = Exit.isFailure(runs)
          for (let i = 0; i < 2 && Exit.isFailure(runs); i++)
            runs = await run(device.eval("globals().get('_runs', [])"))
          // The board's own print is back in place, whatever happened to the exchange.
          const own = await run(device.exec("print(repr(print))", { integrity: "unchecked" }))
          expect(own, `after ${kind} ${direction} ${fault}@${at}: ${JSON.stringify(exit)}`).toEqual(
            Exit.succeed("<function>\r\n"),
          )
          expect(
            Exit.isSuccess(runs),
            `after ${kind} ${direction} ${fault}@${at}: ${JSON.stringify(exit)} then ${JSON.stringify(runs)}`,
          ).toBe(true)
          const ran = Exit.isSuccess(runs) ? runs.value : ""
          // The board ran the code as sent, at most once, or not at all.
          expect(["[]", `[${n}]`]).toContain(ran)
          if (Exit.isSuccess(exit)) {
            expect(exit.value).toBe(expected)
            if (!lostRecord) expect(ran).toBe(`[${n}]`)
            outcomes.set("ok", (outcomes.get("ok") ?? 0) + 1)
            return
          }
          const error = errorOf(exit)
          expect(error?._tag).toBeDefined()
          // Never a Python exception the code did not raise (the code raises none).
          expect(error?._tag).not.toBe("PythonError")
          typed++
          outcomes.set(String(error?._tag), (outcomes.get(String(error?._tag)) ?? 0) + 1)
        },
      ),
      { numRuns: 500, seed: 20261202 },
    )
    expect(faults).toBeGreaterThan(150)
    expect(typed).toBeGreaterThan(20)
    expect(outcomes.get("OutputDamagedError") ?? 0).toBeGreaterThan(0)
  }, 300_000)
})

describe("checked exec and eval on the QEMU micro:bit (MicroPython 1.9.2)", () => {
  it("run, evaluate, carry control bytes and report exceptions within a 9 KB heap", async () => {
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const qemu = yield* startQemuMicrobit()
          const link = yield* openSerialLink({ path: qemu.ptyPath })
          const device = yield* makeDeviceCommunication(link, { execTimeoutMs: 20_000 })
          const out = yield* device.exec(
            'print("a")\n# \x04 \x03\ndef f():\n    print("in f", 1)\nf()\nprint("b")',
          )
          const value = yield* device.eval("[x * x for x in range(10)]")
          // Output holding the frame marker, as an executor's frame printed by plain exec.
          const marked = yield* device.exec("print('\\x1eab', 1)\nprint('\\x1e')")
          const error = yield* Effect.flip(device.exec("print('before')\n1/0"))
          const calls = yield* Effect.forEach(
            Array.from({ length: 30 }, (_, i) => i),
            (i) => device.eval(`${i} * 3`),
          )
          const free = yield* device.eval("__import__('gc').collect() or __import__('gc').mem_free()")
          return { out, value, marked, error, calls, free }
        }),
      ),
    )
    // The micro:bit has no stack to spare for the counting print: its output comes as the board
    // wrote it (unchecked), the rest checked.
    expect(result.out).toBe("a\r\nin f 1\r\nb\r\n")
    expect(result.value).toBe("[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]")
    expect(result.marked).toBe("\x1eab 1\r\n\x1e\r\n")
    expect(result.error).toMatchObject({
      _tag: "PythonError",
      exceptionType: "ZeroDivisionError",
      stdout: "before\r\n",
    })
    // The lean runtime travels inside the checked code: lines still count from the caller's.
    expect((result.error as { traceback: string }).traceback).toMatch(/File "<stdin>", line 2, in <module>/)
    expect((result.error as { traceback: string }).traceback).not.toMatch(/_belay/)
    expect(result.calls).toEqual(Array.from({ length: 30 }, (_, i) => String(i * 3)))
    // Thirty calls leave the heap as it was: nothing interned per call.
    expect(Number(result.free)).toBeGreaterThan(3000)
  }, 120_000)
})

import { makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { Effect, Fiber, type Scope, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { startQemuMicrobit } from "../src/qemu.ts"

// The protocol engine against real MicroPython 1.9.2 firmware on the emulated micro:bit, through
// the real serialport bindings. Never skipped: CI installs QEMU.

const onMicrobit = <A, E>(
  body: (comm: Effect.Success<ReturnType<typeof makeDeviceCommunication>>) => Effect.Effect<A, E>,
) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const qemu = yield* startQemuMicrobit()
        const link = yield* openSerialLink({ path: qemu.ptyPath })
        const comm = yield* makeDeviceCommunication(link, { execTimeoutMs: 20_000, integrity: "unchecked" })
        return yield* body(comm)
      }) as Effect.Effect<A, unknown, Scope.Scope>,
    ),
  )

describe("protocol engine on the QEMU micro:bit (MicroPython 1.9.2)", () => {
  it("runs code in plain raw mode after the old-board raw-paste reply, evaluates, and reports exceptions", async () => {
    const result = await onMicrobit((comm) =>
      Effect.gen(function* () {
        const out = yield* comm.exec("print(1 + 1)")
        const value = yield* comm.eval("[x * x for x in range(5)]")
        const error = yield* Effect.flip(comm.exec("print('before')\n1/0"))
        const caps = yield* comm.protocolCapabilities
        const again = yield* comm.exec("print('still fine')")
        return { out, value, error, caps, again }
      }),
    )
    expect(result.out).toBe("2\r\n")
    expect(result.value).toBe("[0, 1, 4, 9, 16]")
    expect(result.caps.rawPaste).toBe(false)
    expect(result.error._tag).toBe("PythonError")
    if (result.error._tag === "PythonError") {
      expect(result.error.exceptionType).toBe("ZeroDivisionError")
      expect(result.error.traceback).toContain("Traceback (most recent call last)")
      expect(result.error.stdout).toBe("before\r\n")
    }
    expect(result.again).toBe("still fine\r\n")
  }, 60_000)

  it("executes the largest source its 9 KB heap takes, byte for byte (paced writes)", async () => {
    // The firmware keeps the whole source in RAM before compiling: about 1.5 KB fits.
    const lines = Array.from({ length: 50 }, (_, i) => `s+=${(i * 7919) % 1000}#${"x".repeat(20)}`)
    const code = `s=0\n${lines.join("\n")}\nprint(s)`
    const expected = Array.from({ length: 50 }, (_, i) => (i * 7919) % 1000).reduce((a, b) => a + b, 0)
    const out = await onMicrobit((comm) => comm.exec(code))
    expect(code.length).toBeGreaterThan(1200)
    expect(out).toBe(`${expected}\r\n`)
  }, 60_000)

  it("interrupts while True: pass when the caller is interrupted, and the board answers again", async () => {
    const result = await onMicrobit((comm) =>
      Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(comm.exec("while True: pass", { timeout: "1 hour" }))
        yield* Effect.sleep("500 millis")
        yield* Fiber.interrupt(fiber)
        const after = yield* comm.exec("print('alive')")
        return { after, metrics: yield* comm.metrics }
      }),
    )
    expect(result.after).toBe("alive\r\n")
    expect(result.metrics.interrupts).toBe(1)
  }, 60_000)

  it("a call timeout stops running code and reports the call phase", async () => {
    const result = await onMicrobit((comm) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(comm.exec("while True: pass", { timeout: "300 millis" }))
        return { error, after: yield* comm.exec("print(3)") }
      }),
    )
    expect(result.error._tag).toBe("ProtocolTimeoutError")
    expect(result.after).toBe("3\r\n")
  }, 60_000)

  it("soft reset clears globals and counts a generation", async () => {
    const result = await onMicrobit((comm) =>
      Effect.gen(function* () {
        yield* comm.exec("marker = 42")
        const before = yield* comm.eval("marker")
        yield* comm.softReset
        const after = yield* Effect.flip(comm.exec("print(marker)"))
        return { before, after, generation: yield* comm.generation }
      }),
    )
    expect(result.before).toBe("42")
    expect(result.after._tag).toBe("PythonError")
    if (result.after._tag === "PythonError") expect(result.after.exceptionType).toBe("NameError")
    expect(result.generation).toBe(1)
  }, 60_000)

  it("serves 100 concurrent callers in order", async () => {
    const outs = await onMicrobit((comm) =>
      Effect.gen(function* () {
        const fibers = []
        for (let i = 0; i < 100; i++) fibers.push(yield* Effect.forkChild(comm.exec(`print(${i})`)))
        return yield* Fiber.joinAll(fibers)
      }),
    )
    expect(outs).toEqual(Array.from({ length: 100 }, (_, i) => `${i}\r\n`))
  }, 120_000)

  it("streams output while code runs", async () => {
    const chunks = await onMicrobit((comm) =>
      Stream.runCollect(comm.execStream("import time\nfor i in range(3):\n print(i)\n time.sleep_ms(100)")),
    )
    expect(chunks.join("")).toBe("0\r\n1\r\n2\r\n")
    expect(chunks.length).toBeGreaterThan(1)
  }, 60_000)
})

import { makeDeviceCommunication } from "@belay/transport"
import { Effect, Fiber, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"
import type { VirtualBoardOptions } from "../src/options.ts"

// The transport's raw REPL engine against the virtual board playing CircuitPython: entering the
// raw REPL when the board waits for a key or runs code.py, soft resets of each version, the
// raw-paste fallback, a fresh VM after the friendly REPL, resets seen mid-output, auto-reload.

const FOREVER = "import time\nprint('code.py runs')\nwhile True:\n    time.sleep(0.01)\n"

/** A board playing CircuitPython with `code` as its code.py (written before it boots), and a link to it. */
const withCircuitPython = <A, E>(
  options: VirtualBoardOptions,
  code: string | undefined,
  body: (
    link: Effect.Success<ReturnType<typeof openVirtualBoard>>,
    comm: Effect.Success<ReturnType<typeof makeDeviceCommunication>>,
  ) => Effect.Effect<A, E>,
) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const link = yield* openVirtualBoard({ flavor: "circuitpython", ...options })
        if (code !== undefined) {
          // The board is booting: it runs the new code.py at once or reloads to run it; wait for it.
          const printed = yield* Stream.runForEach(link.received, () => Effect.void).pipe(Effect.forkChild)
          yield* link.usbWrite("/code.py", code)
          yield* Effect.sleep("300 millis")
          yield* Fiber.interrupt(printed)
        }
        const comm = yield* makeDeviceCommunication(link, { replyTimeoutMs: 5000 })
        return yield* body(link, comm)
      }),
    ),
  )

describe("the raw REPL engine on CircuitPython", () => {
  it(
    "enters the raw REPL while code.py runs (Ctrl-C, then the key the board waits for)",
    { timeout: 30_000 },
    () =>
      withCircuitPython({}, FOREVER, (link, comm) =>
        Effect.gen(function* () {
          const out = yield* comm.eval("__import__('sys').implementation.name")
          const running = yield* comm.exec("print('time' in globals())")
          return { out, running, stats: yield* link.stats }
        }),
      ).then(({ out, running, stats }) => {
        expect(out).toBe("'circuitpython'")
        // A fresh VM for the REPL: nothing of code.py's.
        expect(running).toBe("False\n")
        expect(stats.interrupts).toBeGreaterThan(0)
        expect(stats.hardResets).toBe(0)
      }),
  )

  it("soft-resets on 9.x: soft reboot, the raw banner, RAM gone, a new generation", { timeout: 30_000 }, () =>
    withCircuitPython({}, FOREVER, (_link, comm) =>
      Effect.gen(function* () {
        yield* comm.exec("marker = 1")
        yield* comm.softReset
        return { kept: yield* comm.exec("print('marker' in globals())"), generation: yield* comm.generation }
      }),
    ).then(({ kept, generation }) => {
      expect(kept).toBe("False\n")
      expect(generation).toBe(1)
    }),
  )

  it(
    "soft-resets on 7.0, whose code.py runs after a raw soft reboot: stopped, a key, back in the raw REPL",
    { timeout: 30_000 },
    () =>
      withCircuitPython({ circuitPythonVersion: "7.0.0" }, FOREVER, (link, comm) =>
        Effect.gen(function* () {
          yield* comm.exec("marker = 1")
          yield* comm.softReset
          const after = yield* comm.exec("print('marker' in globals(), 'time' in globals())")
          return { after, stats: yield* link.stats, generation: yield* comm.generation }
        }),
      ).then(({ after, stats, generation }) => {
        expect(after).toBe("False False\n")
        expect(stats.hardResets).toBe(0)
        expect(generation).toBe(1)
      }),
  )

  it("uses raw-paste from 7.0 on and falls back to plain raw before (the banner answer)", {
    timeout: 30_000,
  }, async () => {
    const rawPaste = (version: string) =>
      withCircuitPython({ circuitPythonVersion: version }, undefined, (_link, comm) =>
        Effect.gen(function* () {
          const out = yield* comm.exec(`print(${"1 + ".repeat(200)}1)`)
          return { out, rawPaste: (yield* comm.protocolCapabilities).rawPaste }
        }),
      )
    expect(await rawPaste("9.2.1")).toEqual({ out: "201\n", rawPaste: true })
    expect(await rawPaste("6.3.0")).toEqual({ out: "201\n", rawPaste: false })
  })

  it("the raw-paste refusal (R\\x00) falls back too", { timeout: 30_000 }, () =>
    withCircuitPython({ rawPaste: false }, undefined, (_link, comm) =>
      Effect.gen(function* () {
        const out = yield* comm.exec("print('plain')")
        return { out, rawPaste: (yield* comm.protocolCapabilities).rawPaste }
      }),
    ).then((result) => expect(result).toEqual({ out: "plain\n", rawPaste: false })),
  )

  it(
    "leaving the raw REPL is a reset on CircuitPython (a fresh VM), and the next exchange enters it again",
    { timeout: 30_000 },
    () =>
      withCircuitPython({}, undefined, (_link, comm) =>
        Effect.gen(function* () {
          yield* comm.exec("marker = 1")
          const before = yield* comm.generation
          yield* Effect.scoped(comm.terminal)
          const after = yield* comm.generation
          return { before, after, kept: yield* comm.exec("print('marker' in globals())") }
        }),
      ).then((result) => expect(result).toEqual({ before: 0, after: 1, kept: "False\n" })),
  )

  it(
    "a board reset mid-output (the wait for a key after code.py) fails that call and the next one works",
    { timeout: 30_000 },
    () =>
      withCircuitPython({}, undefined, (link, comm) =>
        Effect.gen(function* () {
          yield* comm.exec("marker = 1")
          const running = yield* comm
            .exec("import time\nprint('going')\nwhile True:\n    time.sleep(0.01)", { timeout: "20 seconds" })
            .pipe(Effect.flip, Effect.forkChild)
          yield* Effect.sleep("300 millis")
          yield* link.hardReset
          const failed = yield* Fiber.join(running)
          const next = yield* comm.exec("print('marker' in globals())")
          return { failed: failed._tag, next, generation: yield* comm.generation }
        }),
      ).then((result) =>
        expect(result).toEqual({ failed: "BoardResetError", next: "False\n", generation: 1 }),
      ),
  )

  it(
    "a file written over USB while a session talks to the raw REPL changes nothing but the file",
    { timeout: 30_000 },
    () =>
      withCircuitPython({}, undefined, (link, comm) =>
        Effect.gen(function* () {
          yield* comm.exec("marker = 1")
          yield* link.usbWrite("/code.py", "print('new code')\n")
          const out = yield* comm.exec("print(marker, open('/code.py').read().strip())")
          return { out, generation: yield* comm.generation, stats: yield* link.stats }
        }),
      ).then(({ out, generation, stats }) => {
        expect(out).toBe("1 print('new code')\n")
        expect(generation).toBe(0)
        expect(stats.softResets).toBe(0)
      }),
  )
})

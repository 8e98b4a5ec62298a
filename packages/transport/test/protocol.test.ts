import { Effect, Fiber, Stream } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { makeDeviceCommunication, type RawReplOptions } from "../src/index.js"
import { type FakeBoardOptions, type FakeBoardPhase, makeFakeBoard } from "../src/testing/index.js"
import { run, runFailure } from "./helpers.js"

const fast: RawReplOptions = {
  replyTimeoutMs: 800,
  enterRawTimeoutMs: 1500,
  interruptTimeoutMs: 1000,
  drainQuietMs: 2,
  plainRawChunkDelayMs: 0,
}

const withBoard = <A, E>(
  options: FakeBoardOptions,
  body: (
    comm: Effect.Success<ReturnType<typeof makeDeviceCommunication>>,
    board: Effect.Success<ReturnType<typeof makeFakeBoard>>,
  ) => Effect.Effect<A, E>,
  protocol: RawReplOptions = fast,
) =>
  Effect.gen(function* () {
    const board = yield* makeFakeBoard(options)
    const comm = yield* makeDeviceCommunication(board.link, { integrity: "unchecked", ...protocol })
    return yield* body(comm, board)
  })

const count = (haystack: Uint8Array, needle: string) => {
  const text = Buffer.from(haystack).toString("latin1")
  return text.split(needle).length - 1
}

describe("raw REPL exchanges", () => {
  it("runs code in raw-paste mode and returns stdout", async () => {
    const out = await run(
      withBoard({ run: (code) => ({ stdout: `ran ${code.length}\r\n` }) }, (comm) => comm.exec("print(1)")),
    )
    expect(out).toBe("ran 8\r\n")
  })

  it("sends code larger than many windows under flow control", async () => {
    const code = "x = 1\n".repeat(5000)
    let received = ""
    const out = await run(
      withBoard(
        {
          rawPasteWindow: 32,
          run: (c) => {
            received = c
            return { stdout: "ok" }
          },
        },
        (comm) => comm.exec(code),
      ),
    )
    expect(out).toBe("ok")
    expect(received).toBe(code)
  })

  it.each(["refuse", "old"] as const)(
    "falls back to plain raw mode when the board answers %s twice in a row, and remembers",
    async (rawPaste) => {
      const result = await run(
        withBoard({ rawPaste, run: (c) => ({ stdout: c.toUpperCase() }) }, (comm, board) =>
          Effect.gen(function* () {
            const a = yield* comm.exec("abc")
            const afterOne = (yield* comm.protocolCapabilities).rawPaste
            const b = yield* comm.exec("def")
            const c = yield* comm.exec("ghi")
            const caps = yield* comm.protocolCapabilities
            const m = yield* comm.metrics
            return { a, b, c, afterOne, caps, negotiations: count(board.written(), "\x05A\x01"), m }
          }),
        ),
      )
      expect([result.a, result.b, result.c]).toEqual(["ABC", "DEF", "GHI"])
      // One "no" is not believed: it may answer a request damaged on the way.
      expect(result.afterOne).not.toBe(false)
      expect(result.caps.rawPaste).toBe(false)
      expect(result.negotiations).toBe(2)
      expect(result.m.plainRawExchanges).toBe(3)
    },
  )

  it("asks a board taken for one without raw-paste again after 64 plain raw exchanges", async () => {
    const negotiations = await run(
      withBoard({ rawPaste: "refuse", run: () => ({ stdout: "ok" }) }, (comm, board) =>
        Effect.gen(function* () {
          const seen: number[] = []
          for (let i = 0; i < 2 + 64 + 2; i++) {
            yield* comm.exec("pass")
            seen.push(count(board.written(), "\x05A\x01"))
          }
          return seen
        }),
      ),
    )
    // Two "no"s, 64 exchanges without asking, then one more question (its "no" believed at once).
    expect(negotiations.slice(0, 2)).toEqual([1, 2])
    expect(negotiations[2 + 63]).toBe(2)
    expect(negotiations[2 + 64]).toBe(3)
    expect(negotiations[2 + 65]).toBe(3)
  })

  it("keeps raw-paste when a board that took it refuses a request damaged on the way", async () => {
    // The board takes raw-paste; the second request reaches it as `\x05B\x01`, which it refuses
    // honestly. That exchange goes plain raw; the next ones go raw-paste again.
    const result = await run(
      Effect.gen(function* () {
        const board = yield* makeFakeBoard({ run: (c) => ({ stdout: c.toUpperCase() }) })
        let requests = 0
        const link = {
          ...board.link,
          write: (bytes: Uint8Array) => {
            const at = Buffer.from(bytes).indexOf("\x05A\x01", 0, "latin1")
            if (at < 0 || ++requests !== 2) return board.link.write(bytes)
            const damaged = bytes.slice()
            damaged[at + 1] = 0x42
            return board.link.write(damaged)
          },
        }
        const comm = yield* makeDeviceCommunication(link, { integrity: "unchecked", ...fast })
        const outs: string[] = []
        for (const code of ["abc", "def", "ghi", "jkl"]) outs.push(yield* comm.exec(code))
        return {
          outs,
          programs: [...board.programs],
          caps: yield* comm.protocolCapabilities,
          m: yield* comm.metrics,
        }
      }),
    )
    expect(result.outs).toEqual(["ABC", "DEF", "GHI", "JKL"])
    expect(result.programs).toEqual(["abc", "def", "ghi", "jkl"])
    expect(result.caps.rawPaste).toBe(true)
    expect(result.m.plainRawExchanges).toBe(1)
    expect(result.m.rawPasteExchanges).toBe(3)
  })

  it("a banner still on its way as the link opens is not taken for an old board's answer", async () => {
    // The first entry does not wait for the line to go quiet before Ctrl-A: a board soft-resetting
    // in raw mode as the link opened sends a banner of its own, which the wait for the banner takes.
    // What follows it (the answers to Ctrl-C and Ctrl-A) must not be read as the answer to the
    // raw-paste request: the entry sees the line did not stay quiet and is made again.
    const result = await run(
      withBoard(
        {
          rawPaste: "accept",
          onOpen: new TextEncoder().encode("soft reboot\r\nraw REPL; CTRL-B to exit\r\n>"),
          run: (c) => ({ stdout: c.toUpperCase() }),
        },
        (comm) =>
          Effect.gen(function* () {
            const a = yield* comm.exec("abc")
            const b = yield* comm.exec("def")
            return { a, b, caps: yield* comm.protocolCapabilities, m: yield* comm.metrics }
          }),
      ),
    )
    expect(result.a).toBe("ABC")
    expect(result.b).toBe("DEF")
    expect(result.caps.rawPaste).toBe(true)
    expect(result.m.rawPasteExchanges).toBe(2)
  })

  it("a terminal's output fails with the link's loss, after what the board printed before it", async () => {
    const { printed, ended } = await run(
      withBoard({}, (comm, board) =>
        Effect.scoped(
          Effect.gen(function* () {
            const term = yield* comm.terminal
            let printed = ""
            const decoder = new TextDecoder()
            const reading = yield* Effect.forkChild(
              Stream.runForEach(term.output, (bytes) =>
                Effect.sync(() => {
                  printed += decoder.decode(bytes)
                }),
              ).pipe(Effect.flip),
            )
            // Ctrl-C at the friendly prompt: the fake board answers with a fresh one.
            yield* term.write(Uint8Array.of(0x03))
            while (!printed.includes("KeyboardInterrupt")) yield* Effect.sleep(5)
            board.disconnect()
            const ended = yield* Fiber.join(reading)
            return { printed, ended }
          }),
        ),
      ),
    )
    expect(printed).toContain("KeyboardInterrupt")
    expect(ended._tag).toBe("LinkLostError")
  })

  it("enters the raw REPL once and stays there across exchanges", async () => {
    const result = await run(
      withBoard({ run: () => ({ stdout: "ok" }) }, (comm, board) =>
        Effect.gen(function* () {
          for (let i = 0; i < 5; i++) yield* comm.exec("x")
          return { enters: count(board.written(), "\r\x01"), interrupts: count(board.written(), "\x03") }
        }),
      ),
    )
    expect(result.enters).toBe(1)
    expect(result.interrupts).toBe(2)
  })

  it("never negotiates raw-paste when told not to", async () => {
    const written = await run(
      withBoard({}, (comm, board) => Effect.as(comm.exec("1"), board.written()), {
        ...fast,
        rawPaste: "never",
      }),
    )
    expect(count(written, "\x05A\x01")).toBe(0)
  })

  it("writes plain raw code in paced chunks", async () => {
    const code = "a".repeat(1000)
    const program = await run(
      withBoard(
        { rawPaste: "refuse" },
        (comm, board) => Effect.map(comm.exec(code), () => board.programs.at(-1)),
        { ...fast, plainRawChunkSize: 64, plainRawChunkDelayMs: 1 },
      ),
    )
    expect(program).toBe(code)
  })

  it("slows plain raw requests after one reached the board damaged, not after the code's own error", async () => {
    const traceback = (last: string) =>
      `Traceback (most recent call last):\r\n  File "<stdin>", line 1\r\n${last}\r\n`
    const board: FakeBoardOptions = {
      rawPaste: "refuse",
      run: (code) =>
        code === "damaged"
          ? { traceback: traceback("SyntaxError: invalid syntax") }
          : code === "refused"
            ? { traceback: traceback("NameError: name '_belay_request_damaged' isn't defined") }
            : code === "own"
              ? { traceback: traceback("ZeroDivisionError: divide by zero") }
              : {},
    }
    const pauses = (delay: number) =>
      run(
        withBoard(
          board,
          (comm) =>
            Effect.gen(function* () {
              const pause = Effect.map(comm.protocolCapabilities, (c) => c.plainRawPauseMs)
              const seen = [yield* pause]
              for (const code of ["own", "damaged", "refused", "pass"]) {
                yield* Effect.ignore(comm.exec(code))
                seen.push(yield* pause)
              }
              for (let i = 0; i < 6; i++) yield* Effect.ignore(comm.exec("damaged"))
              seen.push(yield* pause)
              return seen
            }),
          { ...fast, plainRawChunkDelayMs: delay },
        ),
      )
    // Doubled by each damaged request (a SyntaxError, a refusal), kept by the code's own error and
    // by a request that went through, and never beyond 48 ms.
    expect(await pauses(3)).toEqual([3, 3, 6, 12, 12, 48])
    // A link with no pause (no UART to overrun) stays without one.
    expect(await pauses(0)).toEqual([0, 0, 0, 0, 0, 0])
  })

  it("turns a traceback into a typed PythonError", async () => {
    const traceback =
      'Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\nZeroDivisionError: divide by zero\r\n'
    const error = await runFailure(
      withBoard({ run: () => ({ stdout: "before\r\n", traceback }) }, (comm) => comm.exec("1/0")),
    )
    expect(error._tag).toBe("PythonError")
    if (error._tag !== "PythonError") return
    expect(error.exceptionType).toBe("ZeroDivisionError")
    expect(error.pythonMessage).toBe("divide by zero")
    expect(error.traceback).toBe(traceback)
    expect(error.stdout).toBe("before\r\n")
  })

  it("reports the board's early end of raw-paste data as the SyntaxError it is", async () => {
    const error = await runFailure(
      withBoard({ abortRawPasteAfter: 10, rawPasteWindow: 16 }, (comm) =>
        comm.exec(`def f(:\n${"x".repeat(200)}`),
      ),
    )
    expect(error._tag).toBe("PythonError")
    if (error._tag === "PythonError") expect(error.exceptionType).toBe("SyntaxError")
  })

  it("evaluates an expression to its repr", async () => {
    const out = await run(withBoard({ run: () => ({ stdout: "[1, 2]\r\n" }) }, (comm) => comm.eval("[1, 2]")))
    expect(out).toBe("[1, 2]")
  })
})

describe("fragmentation and noise", () => {
  const traceback = 'Traceback (most recent call last):\r\n  File "<stdin>", line 1\r\nValueError: bad\r\n'
  for (const rawPaste of ["accept", "refuse", "old"] as const) {
    it(`handles every reply split at every byte boundary (${rawPaste})`, async () => {
      for (let cut = 1; cut < 70; cut++) {
        const chunking = (reply: Uint8Array) =>
          reply.length > cut ? [reply.subarray(0, cut), reply.subarray(cut)] : [reply]
        const result = await run(
          withBoard(
            {
              rawPaste,
              chunking,
              run: (c) => (c === "bad" ? { stdout: "x", traceback } : { stdout: "hello\r\n" }),
            },
            (comm) =>
              Effect.gen(function* () {
                const ok = yield* comm.exec("good")
                const bad = yield* Effect.flip(comm.exec("bad"))
                const again = yield* comm.exec("good")
                return { ok, bad, again }
              }),
          ),
        )
        expect(result.ok).toBe("hello\r\n")
        expect(result.again).toBe("hello\r\n")
        expect(result.bad._tag).toBe("PythonError")
      }
    })
  }

  it("skips a late raw REPL banner that arrives before the OK of plain raw mode", async () => {
    let sent = false
    const out = await run(
      withBoard(
        {
          rawPaste: "refuse",
          run: () => ({ stdout: "fine" }),
          fault: (phase) => {
            if (phase !== "raw-ok" || sent) return undefined
            sent = true
            return { _tag: "garbage", bytes: new TextEncoder().encode("raw REPL; CTRL-B to exit\r\n>") }
          },
        },
        (comm) => comm.exec("x"),
      ),
    )
    expect(out).toBe("fine")
  })

  it("handles replies delivered one byte at a time", async () => {
    const chunking = (reply: Uint8Array) => Array.from(reply, (b) => Uint8Array.of(b))
    const out = await run(
      withBoard({ chunking, run: () => ({ stdout: "one byte at a time\r\n" }) }, (comm) => comm.exec("x")),
    )
    expect(out).toBe("one byte at a time\r\n")
  })

  it("skips garbage before the banner", async () => {
    const noise = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff)
    const out = await run(
      withBoard(
        {
          onOpen: noise,
          fault: (phase, n) =>
            phase === "enter-raw" && n === 0 ? { _tag: "garbage", bytes: noise } : undefined,
          run: () => ({ stdout: "clean" }),
        },
        (comm) => comm.exec("x"),
      ),
    )
    expect(out).toBe("clean")
  })

  it("gives back any stdout bytes except 0x04 exactly (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 600 }).map((a) => a.map((b) => (b === 4 ? 5 : b))),
        async (bytes) => {
          const out = await run(withBoard({ run: () => ({ stdout: bytes }) }, (comm) => comm.execBytes("x")))
          expect(Buffer.from(out).equals(Buffer.from(bytes))).toBe(true)
        },
      ),
      { numRuns: 150 },
    )
  })
})

describe("the first exchange after a quick entry", () => {
  // A link's first entry writes Ctrl-C, Ctrl-C and Ctrl-A at once, and the line must then stay
  // quiet for a while after the banner; the first exchange's raw-paste request goes within that
  // time, its answer being the only bytes allowed there.
  const entries = (written: Uint8Array) => count(written, "\r\x01")

  it.each(["accept", "refuse", "old"] as const)(
    "negotiates once and runs the code once (board answers %s)",
    async (rawPaste) => {
      let ran = 0
      const result = await run(
        withBoard(
          {
            rawPaste,
            run: (c) => {
              ran++
              return { stdout: c.toUpperCase() }
            },
          },
          (comm, board) =>
            Effect.gen(function* () {
              const out = yield* comm.exec("abc")
              return { out, written: board.written() }
            }),
        ),
      )
      expect(result.out).toBe("ABC")
      expect(ran).toBe(1)
      expect(count(result.written, "\x05A\x01")).toBe(1)
      expect(entries(result.written)).toBe(1)
    },
  )

  it("bytes after the raw-paste answer make the entry again before any code is sent", async () => {
    let ran = 0
    let fired = false
    const result = await run(
      withBoard(
        {
          rawPaste: "accept",
          run: (c) => {
            ran++
            return { stdout: c.toUpperCase() }
          },
          // Right after its acceptance, before the host could send any code.
          fault: (p) => {
            if (p !== "raw-paste-data" || fired) return undefined
            fired = true
            return { _tag: "garbage", bytes: new TextEncoder().encode("stray output\r\n") }
          },
        },
        (comm, board) =>
          Effect.gen(function* () {
            const out = yield* comm.exec("abc")
            return { out, written: board.written(), caps: yield* comm.protocolCapabilities }
          }),
      ),
    )
    expect(result.out).toBe("ABC")
    expect(ran).toBe(1)
    expect(entries(result.written)).toBe(2)
    expect(result.caps.rawPaste).toBe(true)
  })

  it("a stale banner and raw-paste answer waiting as the link opens are not taken for the answers", async () => {
    let ran = 0
    const result = await run(
      withBoard(
        {
          rawPaste: "accept",
          rawPasteWindow: 64,
          // What an earlier program's entry and raw-paste request left in the board's output.
          onOpen: Uint8Array.of(
            ...new TextEncoder().encode("raw REPL; CTRL-B to exit\r\n>"),
            0x52,
            0x01,
            0x80,
            0x00,
            0x01,
          ),
          run: (c) => {
            ran++
            return { stdout: c.toUpperCase() }
          },
        },
        (comm) =>
          Effect.gen(function* () {
            const out = yield* comm.exec("x".repeat(200))
            return { out, caps: yield* comm.protocolCapabilities }
          }),
      ),
    )
    expect(result.out).toBe("X".repeat(200))
    expect(ran).toBe(1)
    // The window the board announced to this host, not the stale one.
    expect(result.caps.rawPasteWindow).toBe(64)
  })

  it("with the entry made as the link opens, a soft reset first still checks the quiet line", async () => {
    const result = await run(
      withBoard(
        { rawPaste: "accept", run: (c) => ({ stdout: c.toUpperCase() }) },
        (comm) =>
          Effect.gen(function* () {
            yield* comm.softReset
            const out = yield* comm.exec("abc")
            return { out, generation: yield* comm.generation }
          }),
        { ...fast, enterRawOnOpen: true },
      ),
    )
    expect(result.out).toBe("ABC")
    expect(result.generation).toBe(1)
  })
})

describe("faults at every phase end in a typed error, never a hang", () => {
  const phases: FakeBoardPhase[] = ["raw-paste-negotiate", "raw-paste-data", "stdout", "traceback", "prompt"]
  const rawPhases: FakeBoardPhase[] = ["raw-ok", "stdout", "traceback", "prompt"]
  const cases = [
    ...phases.map((p) => ["accept", p] as const),
    ...rawPhases.map((p) => ["refuse", p] as const),
  ]

  it.each(cases)("disconnect (%s) at %s", async (rawPaste, phase) => {
    const error = await runFailure(
      withBoard({ rawPaste, fault: (p) => (p === phase ? { _tag: "disconnect" } : undefined) }, (comm) =>
        comm.exec("print(1)"),
      ),
    )
    expect(error._tag).toBe("LinkLostError")
  })

  it.each(cases)("stall (%s) at %s", async (rawPaste, phase) => {
    const error = await runFailure(
      withBoard({ rawPaste, fault: (p) => (p === phase ? { _tag: "stall" } : undefined) }, (comm) =>
        comm.exec("print(1)", { timeout: "1500 millis" }),
      ),
    )
    expect(["ProtocolTimeoutError", "BoardStuckError"]).toContain(error._tag)
  })

  it.each(cases)("reset (%s) at %s, then service resumes", async (rawPaste, phase) => {
    // On a link's first exchange and on a later one (which pipelines its raw-paste request).
    for (const exchange of ["first", "later"] as const) {
      for (const kind of ["soft", "hard"] as const) {
        let seen = 0
        let ran = 0
        const result = await run(
          withBoard(
            {
              rawPaste,
              run: () => {
                ran++
                return { stdout: "fine" }
              },
              fault: (p) => {
                if (p !== phase) return undefined
                seen++
                return seen === (exchange === "first" ? 1 : 2) ? { _tag: "reset", kind } : undefined
              },
            },
            (comm) =>
              Effect.gen(function* () {
                if (exchange === "later") yield* comm.exec("print(0)")
                const before = ran
                const first = yield* Effect.result(comm.exec("print(1)"))
                const runs = ran - before
                const second = yield* comm.exec("print(1)")
                return { first, runs, second, generation: yield* comm.generation }
              }),
          ),
        )
        if (phase === "prompt") {
          // The code ran to the end: its result stands, and the reset is recorded.
          expect(result.first._tag).toBe("Success")
          expect(result.generation).toBe(1)
        } else if (exchange === "first" && rawPaste === "accept" && phase.startsWith("raw-paste")) {
          // The first exchange's raw-paste answer is read within the quick entry's quiet time: a
          // reset there, before any of the code was sent, makes the entry again, and the code
          // then runs once.
          expect(result.first._tag).toBe("Success")
          expect(result.runs).toBe(1)
        } else {
          expect(result.first._tag).toBe("Failure")
          if (result.first._tag === "Failure") {
            expect(["BoardResetError", "ProtocolTimeoutError", "UnexpectedBytesError"]).toContain(
              result.first.failure._tag,
            )
          }
        }
        expect(result.second).toBe("fine")
      }
    }
  })

  it("names a reset seen in the output as BoardResetError and counts it", async () => {
    const result = await run(
      withBoard(
        { fault: (p, n) => (p === "stdout" && n === 1 ? { _tag: "reset", kind: "soft" } : undefined) },
        (comm) =>
          Effect.gen(function* () {
            const error = yield* Effect.flip(comm.exec("x"))
            return { error, generation: yield* comm.generation }
          }),
      ),
    )
    expect(result.error._tag).toBe("BoardResetError")
    expect(result.generation).toBe(1)
  })

  it("fails with LinkLostError when the board disappears while code runs", async () => {
    const error = await runFailure(
      withBoard({ run: () => ({ hang: true, stdout: "working" }) }, (comm, board) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.forkChild(comm.exec("while True: pass"))
          yield* Effect.sleep("30 millis")
          board.disconnect()
          return yield* Fiber.join(fiber)
        }),
      ),
    )
    expect(error._tag).toBe("LinkLostError")
  })
})

describe("interrupts, timeouts and the lock", () => {
  it("interrupting the caller sends Ctrl-C and leaves the board usable", async () => {
    let calls = 0
    const result = await run(
      withBoard(
        { run: () => (calls++ === 0 ? { hang: true, stdout: "spinning" } : { stdout: "after" }) },
        (comm, board) =>
          Effect.gen(function* () {
            const fiber = yield* Effect.forkChild(comm.exec("while True: pass", { timeout: "1 hour" }))
            // Interrupt once the board runs the code.
            yield* Effect.sleep("1 millis").pipe(
              Effect.repeat({ until: () => board.programs.length > 0 }),
              Effect.timeout("5 seconds"),
            )
            yield* Fiber.interrupt(fiber)
            const after = yield* comm.exec("print('after')")
            return { after, interrupts: board.interrupts(), metrics: yield* comm.metrics }
          }),
      ),
    )
    expect(result.interrupts).toBe(1)
    expect(result.after).toBe("after")
    expect(result.metrics.interrupts).toBe(1)
  })

  it("a Ctrl-C left pending by the interrupted code does not interrupt the next code", async () => {
    // MicroPython can keep a second Ctrl-C that arrived while the interrupted code unwound, and
    // raise it at the next bytecode: the board below does so once, as the QEMU micro:bit did
    // under load. The recovery's own empty exchange takes it.
    let calls = 0
    let pending = false
    const result = await run(
      withBoard(
        {
          run: (code) => {
            if (calls++ === 0) {
              pending = true
              return { hang: true }
            }
            if (pending) {
              pending = false
              return { traceback: "Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n" }
            }
            return { stdout: code.includes("print(3)") ? "3\r\n" : "" }
          },
        },
        (comm) =>
          Effect.gen(function* () {
            const error = yield* Effect.flip(comm.exec("while True: pass", { timeout: "50 millis" }))
            return { error, after: yield* comm.exec("print(3)") }
          }),
      ),
    )
    expect(result.error._tag).toBe("ProtocolTimeoutError")
    expect(result.after).toBe("3\r\n")
  })

  it("a call timeout interrupts the board and reports the call phase", async () => {
    let calls = 0
    const result = await run(
      withBoard({ run: () => (calls++ === 0 ? { hang: true } : { stdout: "next" }) }, (comm) =>
        Effect.gen(function* () {
          const error = yield* Effect.flip(comm.exec("while True: pass", { timeout: "50 millis" }))
          const next = yield* comm.exec("x")
          return { error, next }
        }),
      ),
    )
    expect(result.error._tag).toBe("ProtocolTimeoutError")
    if (result.error._tag === "ProtocolTimeoutError") expect(result.error.phase).toBe("call")
    expect(result.next).toBe("next")
  })

  it("a board that ignores Ctrl-C is reported as stuck", async () => {
    let calls = 0
    const error = await runFailure(
      withBoard(
        { run: () => (calls++ === 0 ? { stdout: "" } : { hang: true, ignoreInterrupt: true }) },
        (comm) =>
          // The first exchange enters the raw REPL, so the short timeout below is spent running code.
          Effect.andThen(comm.exec("pass"), comm.exec("while True: pass", { timeout: "50 millis" })),
      ),
    )
    expect(error._tag).toBe("BoardStuckError")
  })

  it("serves 100 concurrent callers one at a time, in the order they asked", async () => {
    const result = await run(
      withBoard(
        { run: (c) => ({ stdout: c }), chunking: (r) => Array.from(r, (b) => Uint8Array.of(b)) },
        (comm, board) =>
          Effect.gen(function* () {
            const fibers = []
            for (let i = 0; i < 100; i++) fibers.push(yield* Effect.forkChild(comm.exec(`call ${i}`)))
            const outs = yield* Fiber.joinAll(fibers)
            return { outs, programs: board.programs }
          }),
      ),
    )
    expect(result.outs).toEqual(Array.from({ length: 100 }, (_, i) => `call ${i}`))
    expect(result.programs).toEqual(Array.from({ length: 100 }, (_, i) => `call ${i}`))
  })

  it("soft reset returns to the raw prompt, counts a generation and tells subscribers", async () => {
    for (const banner of ["MPY: soft reboot", "soft reboot"]) {
      const result = await run(
        withBoard({ softRebootBanner: banner, run: () => ({ stdout: "ok" }) }, (comm) =>
          Effect.gen(function* () {
            const events = yield* Effect.forkChild(Stream.runCollect(Stream.take(comm.resets, 1)))
            yield* Effect.yieldNow
            yield* comm.exec("x")
            yield* comm.softReset
            const after = yield* comm.exec("x")
            return { after, generation: yield* comm.generation, events: yield* Fiber.join(events) }
          }),
        ),
      )
      expect(result.after).toBe("ok")
      expect(result.generation).toBe(1)
      expect(result.events[0]?.requested).toBe(true)
    }
  })
})

describe("streaming output", () => {
  it("delivers stdout while code runs and stops the code when the consumer stops", async () => {
    const result = await run(
      withBoard({ run: () => ({ hang: true, stdout: "tick\r\n" }) }, (comm, board) =>
        Effect.gen(function* () {
          const first = yield* Stream.runCollect(Stream.take(comm.execStream("while True: print('tick')"), 1))
          const interrupts = board.interrupts()
          return { first, interrupts }
        }),
      ),
    )
    expect(result.first).toEqual(["tick\r\n"])
    expect(result.interrupts).toBe(1)
  })

  it("streams to completion and fails with the PythonError at the end", async () => {
    const traceback = "Traceback (most recent call last):\r\nOSError: [Errno 2] ENOENT\r\n"
    const chunks: string[] = []
    const error = await runFailure(
      withBoard(
        {
          run: () => ({ stdout: "a\r\nb\r\n", traceback }),
          chunking: (r) => Array.from(r, (b) => Uint8Array.of(b)),
        },
        (comm) => Stream.runForEach(comm.execStream("x"), (c) => Effect.sync(() => chunks.push(c))),
      ),
    )
    expect(chunks.join("")).toBe("a\r\nb\r\n")
    expect(error._tag).toBe("PythonError")
  })
})

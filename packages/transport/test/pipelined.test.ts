import { Deferred, Effect, Stream } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type ByteLink, makeReceiveQueue } from "../src/ByteLink.js"
import { makeDeviceCommunication, type RawReplOptions } from "../src/index.js"
import { type FakeBoard, type FakeBoardOptions, makeFakeBoard } from "../src/testing/index.js"
import { run } from "./helpers.js"

const fast: RawReplOptions = {
  replyTimeoutMs: 800,
  enterRawTimeoutMs: 1500,
  interruptTimeoutMs: 1000,
  drainQuietMs: 2,
  plainRawChunkDelayMs: 0,
}

const enc = new TextEncoder()
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
const REQUEST = "\x05A\x01"

/** A link that records each write as one string, in order. */
const recording = (link: ByteLink) => {
  const writes: string[] = []
  const recorded: ByteLink = {
    ...link,
    write: (bytes) =>
      Effect.andThen(
        Effect.sync(() => writes.push(latin1(bytes))),
        link.write(bytes),
      ),
  }
  return { link: recorded, writes }
}

/** The writes that began a raw-paste exchange: the request alone, or the request with code. */
const exchangeStarts = (writes: ReadonlyArray<string>) => writes.filter((w) => w.startsWith(REQUEST))

const withBoard = <A, E>(
  options: FakeBoardOptions,
  body: (
    comm: Effect.Success<ReturnType<typeof makeDeviceCommunication>>,
    board: FakeBoard,
    writes: ReadonlyArray<string>,
  ) => Effect.Effect<A, E>,
  protocol: RawReplOptions = fast,
) =>
  Effect.gen(function* () {
    const board = yield* makeFakeBoard(options)
    const { link, writes } = recording(board.link)
    const comm = yield* makeDeviceCommunication(link, { integrity: "unchecked", ...protocol })
    return yield* body(comm, board, writes)
  })

const traceback = 'Traceback (most recent call last):\r\n  File "<stdin>", line 1\r\nValueError: bad\r\n'
const answer = (code: string) =>
  code === "bad" ? { stdout: "x", traceback } : { stdout: `ran ${code.length}\r\n` }

describe("pipelined raw-paste", () => {
  it("sends the request, the code and the end in one write once raw-paste is known", async () => {
    const result = await run(
      withBoard({ run: answer }, (comm, _board, writes) =>
        Effect.gen(function* () {
          const outputs = [yield* comm.exec("a = 1"), yield* comm.exec("b = 22"), yield* comm.exec("c = 333")]
          return { outputs, starts: exchangeStarts(writes), metrics: yield* comm.metrics }
        }),
      ),
    )
    expect(result.outputs).toEqual(["ran 5\r\n", "ran 6\r\n", "ran 7\r\n"])
    // The first exchange negotiates (request alone); the next ones pipeline.
    expect(result.starts).toEqual([REQUEST, `${REQUEST}b = 22\x04`, `${REQUEST}c = 333\x04`])
    expect(result.metrics.rawPasteExchanges).toBe(3)
  })

  it("sends the first window with the request and the rest under flow control", async () => {
    const code = "x = 1\n".repeat(200)
    const result = await run(
      withBoard({ rawPasteWindow: 32, run: answer }, (comm, board, writes) =>
        Effect.gen(function* () {
          yield* comm.exec("pass")
          const out = yield* comm.exec(code)
          return { out, program: board.programs.at(-1), starts: exchangeStarts(writes) }
        }),
      ),
    )
    expect(result.out).toBe(`ran ${code.length}\r\n`)
    expect(result.program).toBe(code)
    expect(result.starts[1]).toBe(`${REQUEST}${code.slice(0, 32)}`)
  })

  it("handles every reply split at every byte boundary", async () => {
    const long = `# ${"y".repeat(70)}`
    for (let cut = 1; cut < 40; cut++) {
      const chunking = (reply: Uint8Array) =>
        reply.length > cut ? [reply.subarray(0, cut), reply.subarray(cut)] : [reply]
      const result = await run(
        withBoard({ rawPasteWindow: 16, chunking, run: answer }, (comm, _board, writes) =>
          Effect.gen(function* () {
            const first = yield* comm.exec("good")
            const again = yield* comm.exec("good")
            const bad = yield* Effect.flip(comm.exec("bad"))
            const big = yield* comm.exec(long)
            const last = yield* comm.exec("good")
            return { first, again, bad, big, last, pipelined: exchangeStarts(writes).length }
          }),
        ),
      )
      expect(result.first).toBe("ran 4\r\n")
      expect(result.again).toBe("ran 4\r\n")
      expect(result.bad._tag).toBe("PythonError")
      expect(result.big).toBe(`ran ${long.length}\r\n`)
      expect(result.last).toBe("ran 4\r\n")
      expect(result.pipelined).toBe(5)
    }
  })

  it("reads the board's early end of pipelined data as the SyntaxError it is", async () => {
    const error = await run(
      withBoard({ abortRawPasteAfter: 10, rawPasteWindow: 64 }, (comm) =>
        Effect.andThen(comm.exec("pass"), Effect.flip(comm.exec(`def f(:\n${"x".repeat(30)}`))),
      ),
    )
    expect(error._tag).toBe("PythonError")
    if (error._tag === "PythonError") expect(error.exceptionType).toBe("SyntaxError")
  })

  it("keeps the result when the board resets right after pipelined code, and negotiates again", async () => {
    const result = await run(
      withBoard(
        {
          run: answer,
          fault: (phase, exchange) =>
            phase === "prompt" && exchange === 2 ? { _tag: "reset", kind: "soft" } : undefined,
        },
        (comm, _board, writes) =>
          Effect.gen(function* () {
            yield* comm.exec("one")
            const two = yield* comm.exec("two")
            const three = yield* comm.exec("three")
            return { two, three, starts: exchangeStarts(writes), generation: yield* comm.generation }
          }),
      ),
    )
    expect(result.two).toBe("ran 3\r\n")
    expect(result.three).toBe("ran 5\r\n")
    expect(result.generation).toBe(1)
    expect(result.starts).toEqual([REQUEST, `${REQUEST}two\x04`, REQUEST])
  })

  it("does not pipeline after a soft reset, an interrupt, or while unread bytes wait", async () => {
    const result = await run(
      withBoard({ run: answer }, (comm, board, writes) =>
        Effect.gen(function* () {
          yield* comm.exec("a")
          yield* comm.softReset
          yield* comm.exec("b")
          yield* comm.interrupt
          yield* comm.exec("c")
          yield* comm.exec("d")
          // Let the noise reach the receive buffer before the next exchange starts.
          const before = (yield* comm.metrics).bytesIn
          board.emit("noise")
          while ((yield* comm.metrics).bytesIn === before) yield* Effect.yieldNow
          const e = yield* Effect.flip(comm.exec("e"))
          return { starts: exchangeStarts(writes), e, programs: [...board.programs] }
        }),
      ),
    )
    expect(result.starts.slice(0, 4)).toEqual([REQUEST, REQUEST, REQUEST, `${REQUEST}d\x04`])
    // Unread bytes: the exchange negotiates alone (and reports them), the code is never sent.
    expect(result.starts[4]).toBe(REQUEST)
    expect(result.e._tag).toBe("UnexpectedBytesError")
    expect(result.programs).not.toContain("e")
  })

  it("takes any code size, window and reply fragmentation", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: fc.constantFrom("a", "b", " ", "\n", "=", "1"), maxLength: 300 }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 9 }),
        async (codes, window, piece) => {
          const chunking = (reply: Uint8Array) => {
            const out: Uint8Array[] = []
            for (let i = 0; i < reply.length; i += piece) out.push(reply.subarray(i, i + piece))
            return out
          }
          const result = await run(
            withBoard({ rawPasteWindow: window, chunking, run: answer }, (comm, board) =>
              Effect.gen(function* () {
                const outs: string[] = []
                for (const code of ["warm", ...codes]) outs.push(yield* comm.exec(code))
                return { outs, programs: [...board.programs] }
              }),
            ),
          )
          expect(result.programs).toEqual(["warm", ...codes])
          expect(result.outs).toEqual(["warm", ...codes].map((c) => `ran ${c.length}\r\n`))
        },
      ),
      { numRuns: 60 },
    )
  })
})

/**
 * A board that is swapped for another between exchanges (new firmware behind the same link):
 * the first takes raw-paste, the second refuses it or does not know it. Only the current board's
 * output reaches the host; the second is put at its raw prompt before the swap.
 */
const swappingBoard = (first: FakeBoardOptions, second: FakeBoardOptions) =>
  Effect.gen(function* () {
    const a = yield* makeFakeBoard(first)
    const b = yield* makeFakeBoard(second)
    const rx = yield* makeReceiveQueue("swapping")
    let current = a
    let bPrimed = false
    let bSeen = ""
    const bReady = yield* Deferred.make<void>()
    yield* Stream.runForEach(a.link.received, (chunk) =>
      Effect.sync(() => {
        if (current === a) rx.push(chunk)
      }),
    ).pipe(Effect.forkScoped)
    yield* Stream.runForEach(b.link.received, (chunk) => {
      if (!bPrimed) {
        bSeen += latin1(chunk)
        if (!bSeen.endsWith("raw REPL; CTRL-B to exit\r\n>")) return Effect.void
        bPrimed = true
        return Deferred.succeed(bReady, undefined)
      }
      return Effect.sync(() => {
        if (current === b) rx.push(chunk)
      })
    }).pipe(Effect.forkScoped)
    yield* b.link.write(enc.encode("\r\x01"))
    yield* Deferred.await(bReady)
    const link: ByteLink = {
      description: "swapping",
      write: (bytes) => current.link.write(bytes),
      received: rx.stream,
      isOpen: Effect.succeed(true),
    }
    return { link, swap: () => (current = b), second: b }
  })

describe("pipelined raw-paste to a board that no longer takes it", () => {
  for (const rawPaste of ["refuse", "old"] as const) {
    for (const size of ["fits the window", "is larger than the window"] as const) {
      it(`runs the code as plain raw when the board answers ${rawPaste} and the code ${size}`, async () => {
        const code = size === "fits the window" ? "print(7)" : `# ${"z".repeat(100)}`
        for (let cut = 1; cut < 12; cut++) {
          const chunking = (reply: Uint8Array) =>
            reply.length > cut ? [reply.subarray(0, cut), reply.subarray(cut)] : [reply]
          const result = await run(
            Effect.gen(function* () {
              const boards = yield* swappingBoard(
                { rawPasteWindow: 32, run: answer, chunking },
                { rawPaste, run: answer, chunking },
              )
              const comm = yield* makeDeviceCommunication(boards.link, { integrity: "unchecked", ...fast })
              yield* comm.exec("warm")
              boards.swap()
              const out = yield* comm.exec(code)
              const next = yield* comm.exec("after")
              return {
                out,
                next,
                programs: [...boards.second.programs],
                caps: yield* comm.protocolCapabilities,
                metrics: yield* comm.metrics,
              }
            }),
          )
          expect(result.out).toBe(`ran ${code.length}\r\n`)
          expect(result.next).toBe("ran 5\r\n")
          expect(result.programs).toEqual([code, "after"])
          expect(result.caps.rawPaste).toBe(false)
          expect(result.metrics.plainRawExchanges).toBe(2)
        }
      })
    }
  }
})

describe("a raw-paste acceptance damaged on the way back", () => {
  // A 256-byte window answers `R\x01\x00\x01\x01`: with the `\x01` after `R` lost, the host reads
  // `R\x00`, the start of a refusal, while the board runs the code that came with the request. The
  // host must not take it for a refusal and send the code again in plain raw mode: it ran once.
  const dropAcceptanceByte = (reply: Uint8Array): ReadonlyArray<Uint8Array> =>
    reply[0] === 0x52 && reply[1] === 0x01 ? [reply.subarray(0, 1), reply.subarray(2)] : [reply]

  for (const checked of [false, true]) {
    it(`fails typed and runs the code once${checked ? " (a checked request)" : ""}`, async () => {
      let drop = false
      const result = await run(
        withBoard(
          {
            rawPasteWindow: 256,
            run: answer,
            chunking: (reply) => (drop ? dropAcceptanceByte(reply) : [reply]),
          },
          (comm, board) =>
            Effect.gen(function* () {
              yield* comm.exec("pass")
              drop = true
              const damaged = yield* Effect.flip(
                comm.exec("counter.append(1)", checked ? { integrity: "checked" } : undefined),
              )
              drop = false
              const after = yield* comm.exec("after = 1")
              return {
                damaged,
                after,
                runs: board.programs.filter((p) => p.includes("counter.append(1)")).length,
              }
            }),
        ),
      )
      expect(result.damaged._tag).toBe("UnexpectedBytesError")
      expect(result.runs).toBe(1)
      // The link is still usable, and still takes raw-paste.
      expect(result.after).toBe("ran 9\r\n")
    })
  }

  it("still takes a real refusal (R\\x00 and the prompt) for one", async () => {
    const result = await run(
      withBoard({ rawPaste: "refuse", run: answer }, (comm, board) =>
        Effect.gen(function* () {
          const out = yield* comm.exec("x = 1")
          return { out, programs: board.programs, metrics: yield* comm.metrics }
        }),
      ),
    )
    expect(result.out).toBe("ran 5\r\n")
    expect(result.programs).toEqual(["x = 1"])
    expect(result.metrics.rawPasteExchanges).toBe(0)
  })
})

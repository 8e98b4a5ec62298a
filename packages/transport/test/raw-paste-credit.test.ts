/**
 * Raw-paste flow control (issue 18): the host never sends more code than the board granted
 * (two windows at the start, one more per `\x01`), as firmware with a small receive buffer
 * needs; the fake board loses (or loudly refuses) what comes beyond, so an engine whose credit
 * is off by one is caught.
 *
 * Mutations tried (each made by hand in a copy of `RawReplEngine.ts`, then this file run; each
 * was caught by "the engine never sends beyond its window…"):
 * 1. `let credit = window - alreadySent` -> `window - alreadySent + 1` in `sendRawPaste`.
 * 2. `credit += window` -> `credit += window + 1` when a grant arrives.
 * 3. `this.rawPasteWindow = header[0]! | (header[1]! << 8)` -> `... + 1` (the window read off by one).
 * Before the fake board counted grants, all three passed every transport test (it took any
 * number of bytes in raw-paste mode).
 */
import { Effect, Exit, Stream } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { ByteLink } from "../src/ByteLink.js"
import { makeDeviceCommunication, type RawReplOptions } from "../src/index.js"
import { type FakeBoardOptions, makeFakeBoard } from "../src/testing/index.js"
import { run } from "./helpers.js"

const fast: RawReplOptions = {
  replyTimeoutMs: 800,
  enterRawTimeoutMs: 1500,
  interruptTimeoutMs: 1000,
  drainQuietMs: 2,
  plainRawChunkDelayMs: 0,
}

/** Python-ish code of exactly `length` bytes (the fake board runs nothing). */
const codeOf = (length: number, seed = 0) =>
  Array.from({ length }, (_, i) => String.fromCharCode(97 + ((i * 7 + seed) % 26))).join("")

/**
 * The link as a host with a window credit one byte too large sees it: the board's `R\x01` answer
 * announces one byte more than the board takes. An engine reading it over-sends one byte per
 * window it uses up, as an engine with an off-by-one in its credit does.
 */
const windowOneTooLarge = (link: ByteLink): ByteLink => {
  let seen: number[] = []
  return {
    ...link,
    received: Stream.map(link.received, (chunk) => {
      const out = Uint8Array.from(chunk)
      for (let i = 0; i < out.length; i++) {
        seen.push(out[i]!)
        if (seen.length > 4) seen = seen.slice(-4)
        // R \x01 lo hi: bump the window (lo is the byte before this one's position).
        if (seen.length === 4 && seen[0] === 0x52 && seen[1] === 0x01) {
          const window = (seen[2]! | (seen[3]! << 8)) + 1
          if (i >= 1) out[i - 1] = window & 0xff
          out[i] = window >> 8
          seen = []
        }
      }
      return out
    }),
  }
}

/** The board's bytes as a host reading a serial port gets them: a few milliseconds' worth at a time. */
const batched = (link: ByteLink): ByteLink => ({
  ...link,
  received: Stream.map(Stream.groupedWithin(link.received, 1024, "4 millis"), (chunks) => {
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
    let at = 0
    for (const c of chunks) {
      out.set(c, at)
      at += c.length
    }
    return out
  }),
})

const withBoard = <A, E>(
  options: FakeBoardOptions,
  body: (
    comm: Effect.Success<ReturnType<typeof makeDeviceCommunication>>,
    board: Effect.Success<ReturnType<typeof makeFakeBoard>>,
  ) => Effect.Effect<A, E>,
  wrap: (link: ByteLink) => ByteLink = (link) => link,
) =>
  Effect.gen(function* () {
    const board = yield* makeFakeBoard(options)
    const comm = yield* makeDeviceCommunication(wrap(board.link), fast)
    return yield* body(comm, board)
  })

describe("raw-paste window credit", () => {
  it("the fake board takes exactly two windows at the start, and loses the byte after", async () => {
    const result = await run(
      Effect.gen(function* () {
        const board = yield* makeFakeBoard({ rawPasteWindow: 16 })
        const write = (s: string) => board.link.write(new TextEncoder().encode(s))
        yield* write("\r\x01")
        yield* write("\x05A\x01")
        // Two windows in one write: all taken.
        yield* write(codeOf(32))
        const atTwoWindows = board.rawPasteOverruns()
        // One more byte in the same breath (before the host could read a grant).
        yield* write(`${codeOf(16, 1)}x`)
        return { atTwoWindows, after: board.rawPasteOverruns() }
      }),
    )
    // The 32 bytes consumed two windows, so the board granted two more: 16 + 1 fits, none lost.
    expect(result).toEqual({ atTwoWindows: 0, after: 0 })
    const lost = await run(
      Effect.gen(function* () {
        const board = yield* makeFakeBoard({ rawPasteWindow: 16 })
        const write = (s: string) => board.link.write(new TextEncoder().encode(s))
        yield* write("\r\x01")
        yield* write(`\x05A\x01${codeOf(33)}\x04`)
        return { overruns: board.rawPasteOverruns(), program: board.programs[0] }
      }),
    )
    expect(lost.overruns).toBe(1)
    expect(lost.program).toBe(codeOf(32))
  })

  it("the engine never sends beyond its window, first exchange or pipelined, whatever the sizes (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 48 }),
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 4 }),
        async (window, lengths) => {
          const result = await run(
            withBoard({ rawPasteWindow: window, rawPasteOverrun: "fail" }, (comm, board) =>
              Effect.gen(function* () {
                for (const [i, length] of lengths.entries()) yield* comm.execBytes(codeOf(length, i))
                return { overruns: board.rawPasteOverruns(), programs: [...board.programs] }
              }),
            ),
          )
          expect(result.overruns).toBe(0)
          expect(result.programs).toEqual(lengths.map((length, i) => codeOf(length, i)))
        },
      ),
      { numRuns: 60 },
    )
  })

  it("the last of the code and the end of data go in one write when the window has room for both", async () => {
    // The first exchange asks for raw-paste on its own, then sends the code under the window.
    const writesOfFirstExchange = (code: string) =>
      run(
        Effect.gen(function* () {
          const seen: Array<string> = []
          const recording = (link: ByteLink): ByteLink => ({
            ...link,
            write: (bytes) => {
              seen.push(new TextDecoder().decode(bytes))
              return link.write(bytes)
            },
          })
          yield* withBoard({ rawPasteWindow: 64 }, (comm) => comm.execBytes(code), recording)
          return seen.slice(seen.indexOf("\x05A\x01") + 1)
        }),
      )
    expect(await writesOfFirstExchange(codeOf(40))).toEqual([`${codeOf(40)}\x04`])
    // Code that fills the credit (the window, and the grant that comes with the answer): the end
    // of data is a write of its own.
    expect(await writesOfFirstExchange(codeOf(128))).toEqual([codeOf(128), "\x04"])
  })

  it("an engine whose credit is one byte too large is caught: the byte is lost, or the write fails loudly", async () => {
    const window = 32
    // 2 windows + 1: the first exchange's data goes in one write (the window announced and the
    // first grant), one byte beyond what the board granted.
    const first = codeOf(2 * window + 1)
    const dropped = await run(
      withBoard(
        { rawPasteWindow: window },
        (comm, board) =>
          Effect.gen(function* () {
            yield* Effect.exit(comm.execBytes(first))
            return { overruns: board.rawPasteOverruns(), program: board.programs[0] }
          }),
        windowOneTooLarge,
      ),
    )
    expect(dropped.overruns).toBe(1)
    expect(dropped.program).toBe(first.slice(0, 2 * window))

    const loud = await run(
      withBoard(
        { rawPasteWindow: window, rawPasteOverrun: "fail" },
        (comm) => Effect.exit(comm.execBytes(first)),
        windowOneTooLarge,
      ),
    )
    expect(Exit.isFailure(loud)).toBe(true)
    if (Exit.isFailure(loud)) expect(String(loud.cause)).toMatch(/raw-paste overrun/)
  })

  it("pipelined exchanges too: an engine that reads several grants at once spends one byte too many each", async () => {
    const window = 16
    const codes = [codeOf(10), codeOf(30 * window, 3), codeOf(30 * window, 4)]
    const result = await run(
      withBoard(
        { rawPasteWindow: window },
        (comm, board) =>
          Effect.gen(function* () {
            for (const code of codes) yield* Effect.exit(comm.execBytes(code))
            return board.rawPasteOverruns()
          }),
        (link) => batched(windowOneTooLarge(link)),
      ),
    )
    expect(result).toBeGreaterThan(0)
    // The true window, read the same way: nothing lost.
    const honest = await run(
      withBoard(
        { rawPasteWindow: window, rawPasteOverrun: "fail" },
        (comm, board) =>
          Effect.gen(function* () {
            for (const code of codes) yield* comm.execBytes(code)
            return { overruns: board.rawPasteOverruns(), programs: [...board.programs] }
          }),
        batched,
      ),
    )
    expect(honest).toEqual({ overruns: 0, programs: codes })
  })

  it("the same engine with the true window sends everything intact", async () => {
    const window = 32
    const codes = [codeOf(2 * window + 1), codeOf(3 * window + 1, 5), codeOf(10 * window + 7, 9)]
    const result = await run(
      withBoard({ rawPasteWindow: window, rawPasteOverrun: "fail" }, (comm, board) =>
        Effect.gen(function* () {
          for (const code of codes) yield* comm.execBytes(code)
          return { overruns: board.rawPasteOverruns(), programs: [...board.programs] }
        }),
      ),
    )
    expect(result.overruns).toBe(0)
    expect(result.programs).toEqual(codes)
  })
})

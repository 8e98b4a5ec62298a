import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { type ByteLink, makeDeviceCommunication, makeReceiveQueue } from "../src/index.js"
import { ReceiveBuffer } from "../src/ReceiveBuffer.js"
import { makeFakeBoard } from "../src/testing/index.js"
import { run } from "./helpers.js"

// Whatever a board (or a wrong port) sends, the host's memory stays bounded: the receive buffer,
// the output a call collects, the bytes waiting for a slow reader, the search for a banner.

const fast = {
  replyTimeoutMs: 800,
  enterRawTimeoutMs: 1500,
  interruptTimeoutMs: 600,
  drainQuietMs: 2,
  plainRawChunkDelayMs: 0,
  integrity: "unchecked",
} as const

/** A "board" that answers every write with `chunk` bytes of garbage, `times` times over. */
const garbageLink = (chunk: number, times: number) =>
  Effect.gen(function* () {
    const rx = yield* makeReceiveQueue("garbage")
    const noise = new Uint8Array(chunk).map((_, i) => 0x20 + (i % 90))
    let sent = 0
    const link: ByteLink = {
      description: "garbage",
      write: () =>
        Effect.sync(() => {
          const burst = () => {
            if (sent >= times || rx.closedReason() !== undefined) return
            sent++
            rx.push(noise)
            setImmediate(burst)
          }
          burst()
        }),
      received: rx.stream,
      isOpen: Effect.sync(() => rx.closedReason() === undefined),
    }
    return { link, sentBytes: () => sent * chunk }
  })

describe("bounded memory", () => {
  it("the receive buffer keeps at most its limit, dropping (and counting) the oldest bytes", () => {
    const buffer = new ReceiveBuffer(1024)
    for (let i = 0; i < 100; i++) buffer.push(new Uint8Array(100).fill(i))
    expect(buffer.size).toBe(1024)
    expect(buffer.dropped).toBe(100 * 100 - 1024)
    expect(buffer.view().at(-1)).toBe(99)
    buffer.push(new Uint8Array(5000).fill(7))
    expect(buffer.size).toBe(1024)
    expect(buffer.view()[0]).toBe(7)
  })

  it("garbage while entering the raw REPL costs no more than a window: 64 MB of it, a typed error", async () => {
    const before = process.memoryUsage().rss
    const { error, sent } = await run(
      Effect.gen(function* () {
        const board = yield* garbageLink(1024 * 1024, 64)
        const comm = yield* makeDeviceCommunication(board.link, { ...fast, enterRawTimeoutMs: 4000 })
        const error = yield* Effect.flip(comm.exec("print(1)"))
        return { error, sent: board.sentBytes() }
      }),
    )
    const grown = process.memoryUsage().rss - before
    expect(error._tag).toMatch(/ProtocolTimeoutError|OutputLimitError|BoardStuckError/)
    expect(sent).toBeGreaterThan(16 * 1024 * 1024)
    // Before the window, each received byte cost about 200 bytes of host memory here (the whole
    // buffer re-decoded per chunk): 64 MB of garbage would have needed gigabytes.
    expect(grown).toBeLessThan(400 * 1024 * 1024)
  }, 60_000)

  it("exec collects at most maxOutputBytes, then stops the code with OutputLimitError; the board answers again", async () => {
    let calls = 0
    const result = await run(
      Effect.gen(function* () {
        const board = yield* makeFakeBoard({
          run: () => (calls++ === 0 ? { hang: true, stdout: "x".repeat(300_000) } : { stdout: "next\r\n" }),
        })
        const comm = yield* makeDeviceCommunication(board.link, { ...fast, maxOutputBytes: 100_000 })
        const error = yield* Effect.flip(comm.exec("while True: print('x' * 1000)"))
        const next = yield* comm.exec("print('next')")
        return { error, next, interrupts: (yield* comm.metrics).interrupts }
      }),
    )
    expect(result.error).toMatchObject({ _tag: "OutputLimitError", kind: "collected", limitBytes: 100_000 })
    expect(result.interrupts).toBeGreaterThan(0)
    expect(result.next).toBe("next\r\n")
  })
})

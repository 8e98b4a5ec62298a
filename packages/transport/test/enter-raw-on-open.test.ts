/**
 * `enterRawOnOpen`: the raw REPL is entered as the connection is made, so that the board's answer
 * overlaps what the program does before its first call; a failed entry is the first exchange's
 * failure, not a second full wait.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { makeDeviceCommunication, type RawReplOptions } from "../src/index.js"
import { makeFakeBoard } from "../src/testing/index.js"
import { run } from "./helpers.js"

const fast: RawReplOptions = {
  replyTimeoutMs: 500,
  enterRawTimeoutMs: 400,
  interruptTimeoutMs: 400,
  drainQuietMs: 2,
  plainRawChunkDelayMs: 0,
  integrity: "unchecked",
}

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")

describe("entering the raw REPL as the connection opens", () => {
  it("the entry is on its way before the first exchange, which then runs as usual", async () => {
    const result = await run(
      Effect.gen(function* () {
        const board = yield* makeFakeBoard({ run: () => ({ stdout: "ok\r\n" }) })
        const comm = yield* makeDeviceCommunication(board.link, { ...fast, enterRawOnOpen: true })
        // No exchange asked for yet: the entry is sent all the same.
        yield* Effect.sleep("50 millis")
        const before = latin1(board.written())
        const out = yield* comm.exec("x = 1")
        return { before, out, entries: (latin1(board.written()).match(/\x01/g) ?? []).length }
      }),
    )
    expect(result.before).toContain("\r\x01")
    expect(result.out).toBe("ok\r\n")
    // One entry (its Ctrl-A), and the raw-paste request's: no second entry for the exchange.
    expect(result.entries).toBe(2)
  })

  it("without the option, nothing is sent until the first exchange", async () => {
    const before = await run(
      Effect.gen(function* () {
        const board = yield* makeFakeBoard({})
        yield* makeDeviceCommunication(board.link, fast)
        yield* Effect.sleep("50 millis")
        return board.written().length
      }),
    )
    expect(before).toBe(0)
  })

  it("a board that does not answer: the first exchange fails with the entry's error, sending nothing more; the next tries again", async () => {
    const result = await run(
      Effect.gen(function* () {
        const board = yield* makeFakeBoard({
          fault: (phase) => (phase === "enter-raw" ? { _tag: "stall" } : undefined),
        })
        const comm = yield* makeDeviceCommunication(board.link, { ...fast, enterRawOnOpen: true })
        // Past the entry's bound: it has failed by now.
        yield* Effect.sleep("700 millis")
        const afterEntry = board.written().length
        const first = yield* Effect.flip(comm.exec("x = 1"))
        const afterFirst = board.written().length
        const second = yield* Effect.flip(comm.exec("x = 1"))
        return { afterEntry, first, afterFirst, second, afterSecond: board.written().length }
      }),
    )
    expect(result.afterEntry).toBeGreaterThan(0)
    expect(result.first._tag).toBe("ProtocolTimeoutError")
    expect(result.afterFirst).toBe(result.afterEntry)
    expect(result.second._tag).toBe("ProtocolTimeoutError")
    expect(result.afterSecond).toBeGreaterThan(result.afterFirst)
  })
})

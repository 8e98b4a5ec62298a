import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { makeDeviceCommunication, type RawReplOptions } from "../src/index.js"
import { damagedResetBanner, suffixDistance } from "../src/RawReplEngine.js"
import { type LinkFaultKind, makeFakeBoard, makeFaultInjector } from "../src/testing/index.js"
import { run } from "./helpers.js"

const protocol: RawReplOptions = {
  integrity: "unchecked",
  replyTimeoutMs: 200,
  enterRawTimeoutMs: 1500,
  interruptTimeoutMs: 500,
  drainQuietMs: 2,
  plainRawChunkDelayMs: 0,
}

/** Bound of the call that meets the reset: what the filesystem gives its exchanges is 30 s and more. */
const CALL_BOUND_MS = 4000

const SOFT_BANNER = "MPY: soft reboot\r\nraw REPL; CTRL-B to exit\r\n>"
const HARD_BANNER =
  '\r\nMicroPython v1.27.0 on 2026-01-01; fake board with test CPU\r\nType "help()" for more information.\r\n>>> '

/**
 * One exchange that works, then one during which the board resets (its banner is the last thing it
 * sends), then one more; `fault` hits the banner's byte `at` on its way to the host (by the
 * injector's byte count, found by a run without the fault).
 */
const scenario = (kind: "soft" | "hard", fault?: { readonly at: number; readonly kind: LinkFaultKind }) =>
  Effect.gen(function* () {
    const board = yield* makeFakeBoard({
      run: () => ({ stdout: "fine\r\n" }),
      fault: (phase, exchange) =>
        phase === "stdout" && exchange === 2 ? { _tag: "reset", kind } : undefined,
    })
    const bannerStart = fault === undefined ? 0 : yield* bannerOffset(kind)
    const injector = yield* makeFaultInjector(board.link, {
      seed: 1,
      schedule:
        fault === undefined
          ? []
          : [{ direction: "fromBoard", atByte: bannerStart + fault.at, fault: fault.kind }],
    })
    const comm = yield* makeDeviceCommunication(yield* injector.connect, protocol)
    const first = yield* comm.execBytes("print('fine')")
    const started = performance.now()
    const second = yield* Effect.flip(comm.execBytes("print('fine')", { timeout: CALL_BOUND_MS }))
    const tookMs = performance.now() - started
    const third = yield* comm.execBytes("print('fine')")
    const log = yield* injector.log
    return {
      first: Buffer.from(first).toString(),
      second,
      tookMs,
      third: Buffer.from(third).toString(),
      generation: yield* comm.generation,
      faults: log.map((f) => f.kind),
    }
  })

/** Where the reset banner starts in the board's bytes of {@link scenario}. */
const bannerOffset = (kind: "soft" | "hard") =>
  Effect.scoped(
    Effect.gen(function* () {
      const board = yield* makeFakeBoard({
        run: () => ({ stdout: "fine\r\n" }),
        fault: (phase, exchange) =>
          phase === "stdout" && exchange === 2 ? { _tag: "reset", kind } : undefined,
      })
      const injector = yield* makeFaultInjector(board.link, { seed: 1 })
      const comm = yield* makeDeviceCommunication(yield* injector.connect, protocol)
      yield* comm.execBytes("print('fine')")
      yield* Effect.flip(comm.execBytes("print('fine')", { timeout: CALL_BOUND_MS }))
      const { bytesFromBoard } = yield* injector.counts
      return bytesFromBoard - (kind === "soft" ? SOFT_BANNER : HARD_BANNER).length
    }),
  )

describe("a reset whose banner arrives damaged", () => {
  it("an intact banner is a reset at once (the baseline)", async () => {
    const r = await run(scenario("soft"))
    expect(r.second._tag).toBe("BoardResetError")
    expect(r.tookMs).toBeLessThan(1000)
    expect(r.third).toBe("fine\r\n")
  })

  // Seen in the fault campaign: a soft reset while an upload exchange ran, a byte of the banner
  // corrupted on the way; the engine waited for more output until the exchange's bound (32.7 s)
  // ran out, past the campaign's 30 s bound on the whole operation.
  it.each([
    ["soft", "corrupt", "MPY: soft reboot\r\nraw REPL; ".length],
    ["soft", "corrupt", "MPY: soft re".length],
    ["soft", "drop", SOFT_BANNER.length - 1],
    ["soft", "duplicate", SOFT_BANNER.length - 6],
    ["hard", "corrupt", HARD_BANNER.length - 10],
    ["hard", "drop", HARD_BANNER.length - 2],
    ["hard", "corrupt", 5],
  ] as const)(
    "%s reset, %s at byte %i of the banner: a reset within a reply's bound, then service resumes",
    async (kind, fault, at) => {
      const r = await run(scenario(kind, { at, kind: fault }))
      // The fault did hit the banner.
      expect(r.faults).toEqual([fault])
      expect(r.first).toBe("fine\r\n")
      expect(r.second._tag).toBe("BoardResetError")
      expect(r.tookMs).toBeLessThan(CALL_BOUND_MS / 2)
      expect(r.generation).toBe(1)
      expect(r.third).toBe("fine\r\n")
    },
    15_000,
  )

  it("output that only contains a banner, or goes on after one, is output", async () => {
    for (const stdout of [
      `${SOFT_BANNER} and more\r\n`,
      "raw REPL; CTRL-B to exit\r\n> \r\n",
      'Type "help()" for more information.\r\n>>> x\r\n',
    ]) {
      const out = await run(
        Effect.gen(function* () {
          const board = yield* makeFakeBoard({ run: () => ({ stdout }) })
          const comm = yield* makeDeviceCommunication(board.link, protocol)
          return Buffer.from(yield* comm.execBytes("x")).toString()
        }),
      )
      expect(out).toBe(stdout)
    }
  })

  it("the approximate match is anchored at the end and bounded", () => {
    const ending = "raw REPL; CTRL-B to exit\r\n>"
    expect(suffixDistance(`garbage ${ending}`, ending, 4)).toBe(0)
    expect(suffixDistance(`xx${ending.replace("C", "c")}`, ending, 4)).toBe(1)
    expect(suffixDistance(ending.slice(0, -1), ending, 4)).toBe(1)
    expect(suffixDistance(`${ending}!!`, ending, 4)).toBe(2)
    expect(suffixDistance(`${ending} more output`, ending, 4)).toBeGreaterThan(4)
    expect(damagedResetBanner(`stdout\r\nMPY: soft reboot\r\nraw REPL; CTRL-B to exjt\r\n>`)).toBe("soft")
    expect(damagedResetBanner('Type "help()" for more informaton.\r\n>>> ')).toBe("hard")
    expect(damagedResetBanner("hello\r\n")).toBeUndefined()
    expect(damagedResetBanner("")).toBeUndefined()
  })
})

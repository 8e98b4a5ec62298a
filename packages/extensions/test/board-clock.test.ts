import type { DeviceSessionManager } from "@belay/core"
import { DeviceCommunication } from "@belay/transport"
import { ConfigProvider, Effect, Layer } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { planClockSet } from "../src/BoardClock.js"
import {
  BelayLive,
  connect,
  epochMsOfRtcTuple,
  type RtcTuple,
  readBoardClock,
  rtcTupleOf,
  syncTime,
} from "../src/index.js"

// The board's clock, read and set from the host: the tuple arithmetic and the plan of a set as
// properties; reads and sets on the virtual board (whose clock is the host's plus an offset it
// keeps, in milliseconds) and the refusal of boards without machine.RTC, on a stand-in of the
// virtual board and on the micro:bit (MicroPython 1.9.2 has no machine.RTC).

/** 1970 to 2099, what a board's clock holds. */
const moments = fc.integer({ min: 0, max: Date.UTC(2099, 11, 31, 23, 59, 59) })
const HOUR = 3_600_000

/** Run the tests of a block in time zone `zone` (Node reads TZ again when it changes). */
const inTimeZone = (zone: string) => {
  let saved: string | undefined
  beforeAll(() => {
    saved = process.env.TZ
    process.env.TZ = zone
  })
  afterAll(() => {
    if (saved === undefined) delete process.env.TZ
    else process.env.TZ = saved
  })
}

describe("RTC tuples", () => {
  // A zone with daylight saving, so that local tuples meet its changes.
  inTimeZone("America/New_York")
  it("a moment's UTC tuple names its whole second, and reads back as it", () => {
    fc.assert(
      fc.property(moments, (ms) => {
        const tuple = rtcTupleOf(ms, "utc")
        expect(tuple[7]).toBe(0)
        expect(epochMsOfRtcTuple(tuple, "utc")).toBe(Math.floor(ms / 1000) * 1000)
      }),
    )
  })

  it("a local tuple reads back as the same second, away from a daylight-saving change", () => {
    fc.assert(
      fc.property(
        moments.filter((ms) => {
          const offset = new Date(ms).getTimezoneOffset()
          return (
            new Date(ms - 3 * HOUR).getTimezoneOffset() === offset &&
            new Date(ms + 3 * HOUR).getTimezoneOffset() === offset
          )
        }),
        (ms) => {
          expect(epochMsOfRtcTuple(rtcTupleOf(ms, "local"), "local")).toBe(Math.floor(ms / 1000) * 1000)
        },
      ),
    )
  })

  it("the weekday is Monday 0 and moves on by one a day; the weekday given is not read back", () => {
    expect(rtcTupleOf(Date.UTC(2024, 0, 1, 12), "utc")).toEqual([2024, 1, 1, 0, 12, 0, 0, 0])
    expect(rtcTupleOf(Date.UTC(2000, 0, 2), "utc")[3]).toBe(6)
    fc.assert(
      fc.property(moments, fc.integer({ min: 0, max: 6 }), (ms, weekday) => {
        const today = rtcTupleOf(ms, "utc")
        expect(rtcTupleOf(ms + 24 * HOUR, "utc")[3]).toBe((today[3] + 1) % 7)
        const other: RtcTuple = [today[0], today[1], today[2], weekday, today[4], today[5], today[6], 123]
        expect(epochMsOfRtcTuple(other, "utc")).toBe(epochMsOfRtcTuple(today, "utc"))
      }),
    )
  })

  it("years 0 to 99 are not read as 1900 to 1999", () => {
    expect(new Date(epochMsOfRtcTuple([50, 1, 1, 0, 0, 0, 0, 0], "utc")).getUTCFullYear()).toBe(50)
  })
})

describe("planClockSet", () => {
  it("aims at the first whole second the set can reach, sent half a round trip before it", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 4e12, noNaN: true }),
        fc.double({ min: 0, max: 5000, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (now, roundTrip, margin) => {
          const { targetMs, sendAtMs } = planClockSet(now, roundTrip, margin)
          expect(targetMs % 1000).toBe(0)
          expect(targetMs - sendAtMs).toBeCloseTo(roundTrip / 2, 3)
          // Never in the past, with its margin; and not a second later than needed.
          expect(sendAtMs).toBeGreaterThanOrEqual(now + margin - 1e-6)
          expect(targetMs - 1000).toBeLessThan(now + roundTrip / 2 + margin)
        },
      ),
    )
  })
})

/** Run `body` on a fresh virtual board. */
const onVirtual = <A, E>(body: Effect.Effect<A, E, DeviceCommunication | DeviceSessionManager>) =>
  Effect.runPromise(Effect.scoped(body.pipe(Effect.provide(BelayLive({ device: "virtual" })))))

const exec = (code: string) => Effect.flatMap(DeviceCommunication, (d) => d.exec(code))

describe("on the virtual board", () => {
  // A zone away from UTC, without daylight saving: the local and UTC tuples differ by 5.5 hours.
  inTimeZone("Asia/Kolkata")
  it("reads a fresh board's clock (the host's UTC) within its stated bound, and a set one at its offset", async () => {
    const { fresh, moved } = await onVirtual(
      Effect.gen(function* () {
        const fresh = yield* readBoardClock({ zone: "utc" })
        yield* exec("import machine\nmachine.RTC().datetime((2000, 1, 2, 0, 3, 4, 5, 0))")
        const moved = yield* readBoardClock({ zone: "utc" })
        return { fresh, moved }
      }),
    )
    // The virtual clock is the host's, in whole milliseconds: the read's bound holds, busy or not.
    expect(Math.abs(fresh.offsetMs)).toBeLessThanOrEqual(fresh.uncertaintyMs + 2)
    expect(fresh.uncertaintyMs).toBe(fresh.roundTripMs / 2)
    expect(fresh.datetime[7]).toBeLessThan(1_000_000)
    expect(fresh.boardMs % 1000).toBe(0)
    expect(moved.datetime.slice(0, 4)).toEqual([2000, 1, 2, 6])
    // Set to 03:04:05 a moment ago; the read waits for a tick, so it is a second or two later.
    const expected = Date.UTC(2000, 0, 2, 3, 4, 5) - Date.now()
    expect(moved.offsetMs - expected).toBeGreaterThan(-2000)
    expect(moved.offsetMs - expected).toBeLessThan(3000)
  }, 30_000)

  it("syncTime lands the next whole second on the board: its clock then reads the host's", async () => {
    const { before, sync, after } = await onVirtual(
      Effect.gen(function* () {
        yield* exec("import machine\nmachine.RTC().datetime((2000, 1, 2, 0, 3, 4, 5, 0))")
        const before = yield* readBoardClock({ zone: "utc" })
        const sync = yield* syncTime({ zone: "utc" })
        const after = yield* readBoardClock({ zone: "utc" })
        return { before, sync, after }
      }),
    )
    expect(before.offsetMs).toBeLessThan(-1e11)
    expect(sync.datetime[7]).toBe(0)
    expect(sync.targetMs % 1000).toBe(0)
    expect(epochMsOfRtcTuple(sync.datetime, "utc")).toBe(sync.targetMs)
    expect(sync.uncertaintyMs).toBeGreaterThan(0)
    // A set of whole seconds that ignored the link would leave the board up to a second behind;
    // this one aims at the tick, so what is left is the link's jitter and the host's scheduling.
    expect(Math.abs(after.offsetMs)).toBeLessThan(150)
    expect(Math.abs(sync.offsetMs)).toBeLessThan(150)
  }, 30_000)

  it("the local zone sets the host's local time", async () => {
    const { sync, tuple } = await onVirtual(
      Effect.gen(function* () {
        const sync = yield* syncTime()
        const tuple = yield* Effect.flatMap(DeviceCommunication, (d) =>
          d.eval("__import__('machine').RTC().datetime()"),
        )
        return { sync, tuple }
      }),
    )
    const local = new Date(sync.targetMs)
    expect(sync.zone).toBe("local")
    expect(sync.datetime.slice(0, 7)).toEqual([
      local.getFullYear(),
      local.getMonth() + 1,
      local.getDate(),
      (local.getDay() + 6) % 7,
      local.getHours(),
      local.getMinutes(),
      local.getSeconds(),
    ])
    expect(tuple.startsWith(`(${local.getFullYear()}, ${local.getMonth() + 1}, ${local.getDate()},`)).toBe(
      true,
    )
  }, 30_000)

  it("a board without machine.RTC, or an RTC without datetime, is refused before anything is set", async () => {
    const outcome = await onVirtual(
      Effect.gen(function* () {
        yield* exec(
          "import machine\nmachine.RTC().datetime((2000, 1, 2, 0, 3, 4, 5, 0))\n_saved = machine.RTC\ndel machine.RTC",
        )
        const noRtc = yield* Effect.flip(syncTime())
        const noRtcRead = yield* Effect.flip(readBoardClock())
        yield* exec("class _R:\n    pass\nmachine.RTC = _R")
        const noDatetime = yield* Effect.flip(syncTime())
        yield* exec("machine.RTC = _saved")
        const year = yield* Effect.flatMap(DeviceCommunication, (d) =>
          d.eval("__import__('machine').RTC().datetime()[0]"),
        )
        return { noRtc, noRtcRead, noDatetime, year }
      }),
    )
    expect(outcome.noRtc).toMatchObject({
      _tag: "CapabilityMissingError",
      missing: "machine.RTC with datetime()",
    })
    expect(outcome.noRtc.message).toBe(
      "setting the board's clock needs machine.RTC with datetime(), which this board does not have",
    )
    expect(outcome.noRtcRead).toMatchObject({
      _tag: "CapabilityMissingError",
      operation: "reading the board's clock",
    })
    expect(outcome.noDatetime).toMatchObject({ _tag: "CapabilityMissingError" })
    expect(outcome.year).toBe("2000")
  }, 30_000)

  it("a clock that does not run, or answers nonsense, is a BoardClockError, not a hang", async () => {
    const outcome = await onVirtual(
      Effect.gen(function* () {
        yield* exec(
          "import machine\nclass _Stopped:\n    def datetime(self, t=None):\n        return (2000, 1, 1, 5, 0, 0, 0, 0)\nmachine.RTC = _Stopped",
        )
        const stopped = yield* Effect.flip(readBoardClock())
        yield* exec("class _Odd:\n    def datetime(self, t=None):\n        return 'noon'\nmachine.RTC = _Odd")
        const odd = yield* Effect.flip(readBoardClock())
        return { stopped, odd }
      }),
    )
    expect(outcome.stopped).toMatchObject({ _tag: "BoardClockError" })
    expect(outcome.stopped.message).toContain("not running")
    expect(outcome.odd).toMatchObject({ _tag: "BoardClockError" })
    expect(outcome.odd.message).toMatch(/answered \('noon', 0\), not a datetime tuple$/)
  }, 30_000)

  it("leaves nothing in the board's globals", async () => {
    const names = await onVirtual(
      Effect.gen(function* () {
        const before = yield* Effect.flatMap(DeviceCommunication, (d) => d.eval("sorted(globals())"))
        yield* readBoardClock()
        yield* syncTime()
        const after = yield* Effect.flatMap(DeviceCommunication, (d) => d.eval("sorted(globals())"))
        return { before, after }
      }),
    )
    expect(names.after).toBe(names.before)
  }, 30_000)

  it("syncClock sets the clock on connect: BelayLive's option, BELAY_SYNC_CLOCK and connect()", async () => {
    // A fresh virtual board holds UTC; set to the local time (+05:30 here), it reads 5.5 h ahead in UTC.
    const utcOffset = (layer: ReturnType<typeof BelayLive>, env: Record<string, string> = {}) =>
      Effect.runPromise(
        Effect.scoped(
          Effect.map(readBoardClock({ zone: "utc" }), (r) => r.offsetMs).pipe(
            Effect.provide(layer),
            Effect.provide(Layer.succeed(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord(env))),
          ),
        ),
      )
    const KOLKATA = 5.5 * HOUR
    expect(Math.abs(await utcOffset(BelayLive({ device: "virtual" })))).toBeLessThan(150)
    expect(
      Math.abs((await utcOffset(BelayLive({ device: "virtual", syncClock: "local" }))) - KOLKATA),
    ).toBeLessThan(150)
    expect(
      Math.abs((await utcOffset(BelayLive({ device: "virtual" }), { BELAY_SYNC_CLOCK: "true" })) - KOLKATA),
    ).toBeLessThan(150)
    expect(
      Math.abs(await utcOffset(BelayLive({ device: "virtual" }), { BELAY_SYNC_CLOCK: "utc" })),
    ).toBeLessThan(150)
    // The option given in code wins over the environment; off leaves the board's UTC alone.
    expect(
      Math.abs(
        await utcOffset(BelayLive({ device: "virtual", syncClock: undefined }), {
          BELAY_SYNC_CLOCK: "local",
        }),
      ),
    ).toBeLessThan(150)
    const bad = await Effect.runPromise(
      Effect.flip(
        Effect.scoped(
          Effect.asVoid(DeviceCommunication).pipe(
            Effect.provide(BelayLive({ device: "virtual" })),
            Effect.provide(
              Layer.succeed(
                ConfigProvider.ConfigProvider,
                ConfigProvider.fromEnvRecord({ BELAY_SYNC_CLOCK: "sometimes" }),
              ),
            ),
          ),
        ),
      ),
    )
    expect(bad._tag).toBe("ConfigError")
    const belay = await connect({ device: "virtual", syncClock: "local" })
    try {
      const reading = await belay.run(readBoardClock({ zone: "local" }))
      expect(Math.abs(reading.offsetMs)).toBeLessThan(150)
    } finally {
      await belay.close()
    }
  }, 60_000)
})

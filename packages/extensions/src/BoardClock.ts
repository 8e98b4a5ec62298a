/**
 * The board's real-time clock (`machine.RTC().datetime()`), read and set from the host as
 * precisely as the link allows.
 *
 * The tuple's `subseconds` field means something different on every port (microseconds on esp32,
 * always 0 on rp2, a hardware count on others), so neither the read nor the set relies on it:
 *
 * - a read waits on the board for the next tick of its seconds and answers at once, so the
 *   moment the tuple stands for is a whole second, known on the host to within half a round trip;
 * - a set measures a few round trips of the same exchange, then sends the tuple of the next whole
 *   second so that it lands (half the best round trip after it leaves) on that second.
 *
 * What either gives is good to about half a round trip of the link (well under a millisecond on
 * the virtual board, a few milliseconds on a USB board), plus whatever the board's RTC does with a
 * set that comes part-way through its own second (some restart their sub-second count, some do
 * not): a read after a set shows what was reached.
 */
import { CapabilityMissingError } from "@belay/core"
import {
  DeviceCommunication,
  type ProtocolError,
  type PythonError,
  parsePythonLiteral,
} from "@belay/transport"
import { Data, Duration, Effect, Result, Stream } from "effect"

/**
 * The board's clock as `machine.RTC().datetime()` gives and takes it: year, month, day, weekday
 * (Monday 0), hours, minutes, seconds, subseconds (hardware dependent).
 *
 * @example
 * const noon: RtcTuple = [2024, 1, 1, 0, 12, 0, 0, 0]
 * @since 0.1.0
 */
export type RtcTuple = readonly [number, number, number, number, number, number, number, number]

/**
 * How the board's clock reads: `"local"`, the host's local time (what `belay rtc --set`, mpremote
 * and Thonny set), or `"utc"`.
 *
 * @example
 * const zone: ClockZone = "utc"
 * @since 0.1.0
 */
export type ClockZone = "local" | "utc"

/**
 * The moment `epochMs` (milliseconds since 1970, UTC) as the RTC tuple of `zone`, subseconds 0
 * (the tuple names the whole second the moment falls in).
 *
 * @example
 * rtcTupleOf(Date.UTC(2024, 0, 7, 23, 59, 58), "utc") // [2024, 1, 7, 6, 23, 59, 58, 0]
 * @since 0.1.0
 */
export const rtcTupleOf = (epochMs: number, zone: ClockZone): RtcTuple => {
  const d = new Date(Math.floor(epochMs / 1000) * 1000)
  return zone === "utc"
    ? [
        d.getUTCFullYear(),
        d.getUTCMonth() + 1,
        d.getUTCDate(),
        (d.getUTCDay() + 6) % 7,
        d.getUTCHours(),
        d.getUTCMinutes(),
        d.getUTCSeconds(),
        0,
      ]
    : [
        d.getFullYear(),
        d.getMonth() + 1,
        d.getDate(),
        (d.getDay() + 6) % 7,
        d.getHours(),
        d.getMinutes(),
        d.getSeconds(),
        0,
      ]
}

/**
 * The whole second an RTC tuple names, as milliseconds since 1970 (UTC), reading it in `zone`. The
 * weekday and subseconds are not used.
 *
 * @example
 * epochMsOfRtcTuple([2024, 1, 7, 6, 23, 59, 58, 0], "utc") // Date.UTC(2024, 0, 7, 23, 59, 58)
 * @since 0.1.0
 */
export const epochMsOfRtcTuple = (tuple: RtcTuple, zone: ClockZone): number => {
  const [y, mo, d, , h, mi, s] = tuple
  // setFullYear, not the Date constructor, so that years 0-99 are not read as 1900-1999.
  const date = new Date(0)
  if (zone === "utc") {
    date.setUTCFullYear(y, mo - 1, d)
    date.setUTCHours(h, mi, s, 0)
  } else {
    date.setFullYear(y, mo - 1, d)
    date.setHours(h, mi, s, 0)
  }
  return date.getTime()
}

/**
 * The board's clock answered, but not as a running clock does: not a datetime tuple, or one whose
 * seconds did not move in 1.5 s.
 *
 * @example
 * Effect.catchTag("BoardClockError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class BoardClockError extends Data.TaggedError("BoardClockError")<{ readonly reason: string }> {
  override get message(): string {
    return `the board's clock: ${this.reason}`
  }
}

/** The board's RTC wanted: `machine.RTC` whose objects have `datetime`. */
const RTC_NEEDED = "machine.RTC with datetime()"

/**
 * Board code: `_bc(w)` is the clock's tuple, 0 when the board has no RTC with `datetime`; with `w`
 * it first waits (at most 1.5 s) for the seconds to tick, and is None if they do not. Defined,
 * called and deleted in one exchange, so nothing stays in the board's globals.
 */
const readCode = (wait: boolean) =>
  [
    "def _bc(w):",
    " try:",
    "  import machine,time",
    "  r=machine.RTC()",
    "  r.datetime",
    " except (ImportError,AttributeError):",
    "  return 0",
    " a=r.datetime()",
    " if w:",
    "  t=time.ticks_ms()",
    "  while 1:",
    "   b=r.datetime()",
    "   if b[6]!=a[6]:return b",
    "   if time.ticks_diff(time.ticks_ms(),t)>1500:return None",
    " return a",
    `print(repr(_bc(${wait ? 1 : 0})))`,
    "del _bc",
  ].join("\n")

/**
 * Board code that sets the clock to `tuple` and prints `None`, or (`apply` false) the same bytes'
 * worth that sets nothing and prints `0`: the print right after the set times its landing.
 */
const setCode = (tuple: RtcTuple, apply: boolean) =>
  `print(${apply ? 1 : 0} and __import__('machine').RTC().datetime((${tuple.join(",")})))`

/** The host's clock in milliseconds since 1970, to a fraction of a millisecond. */
const hostClock = () => {
  const base = Date.now() - performance.now()
  return () => base + performance.now()
}

/** What `_bc` answered: the tuple, `"missing"` (no RTC), or `"stalled"` (the seconds did not move). */
const parseAnswer = (text: string): Result.Result<RtcTuple | "missing" | "stalled", BoardClockError> => {
  const trimmed = text.trim()
  if (trimmed === "0") return Result.succeed("missing")
  if (trimmed === "None") return Result.succeed("stalled")
  const parsed = parsePythonLiteral(trimmed)
  const value = Result.isSuccess(parsed) ? parsed.success : undefined
  if (
    !Array.isArray(value) ||
    value.length !== 8 ||
    !value.every((v) => typeof v === "number" && Number.isInteger(v))
  )
    return Result.fail(
      new BoardClockError({ reason: `answered ${trimmed.slice(0, 120)}, not a datetime tuple` }),
    )
  return Result.succeed(value as unknown as RtcTuple)
}

/**
 * One timed exchange: its output, when it left, and when its first output arrived (`answered`:
 * the board prints right after what is timed, so the end of the exchange, which can come a while
 * later, does not count).
 */
const timedExec = (device: DeviceCommunication["Service"], code: string, now: () => number) =>
  Effect.gen(function* () {
    let out = ""
    let answered: number | undefined
    const sent = now()
    yield* Stream.runForEach(device.execStream(code), (chunk) =>
      Effect.sync(() => {
        if (answered === undefined && chunk.length > 0) answered = now()
        out += chunk
      }),
    )
    return { out, sent, answered: answered ?? now() }
  })

/** The best (shortest) round trip of `count` runs of `code`. */
const bestRoundTrip = (
  device: DeviceCommunication["Service"],
  code: string,
  count: number,
  now: () => number,
) =>
  Effect.gen(function* () {
    let best = Number.POSITIVE_INFINITY
    for (let i = 0; i < count; i++) {
      const { sent, answered } = yield* timedExec(device, code, now)
      best = Math.min(best, answered - sent)
    }
    return best
  })

/** The clock's tuple now, after checking there is a clock: the capability check every operation starts with. */
const readNow = (device: DeviceCommunication["Service"], operation: string, now: () => number) =>
  Effect.gen(function* () {
    const { out, sent, answered } = yield* timedExec(device, readCode(false), now)
    const answer = yield* Effect.fromResult(parseAnswer(out))
    if (answer === "missing") return yield* new CapabilityMissingError({ operation, missing: RTC_NEEDED })
    if (answer === "stalled") return yield* new BoardClockError({ reason: "answered None to a plain read" })
    return { tuple: answer, roundTripMs: answered - sent }
  })

/**
 * What {@link readBoardClock} found: the board's clock at one of its seconds' ticks, and where that
 * tick fell on the host's clock.
 *
 * @example
 * const { offsetMs, uncertaintyMs } = yield* readBoardClock()
 * console.log(`the board is ${offsetMs} ms ahead (±${uncertaintyMs} ms)`)
 * @since 0.1.0
 */
export interface BoardClockReading {
  /** The tuple the board answered right after its seconds ticked. */
  readonly datetime: RtcTuple
  /** How the tuple was read. */
  readonly zone: ClockZone
  /** The second the tuple names, in milliseconds since 1970 (UTC). */
  readonly boardMs: number
  /** The host's clock at that tick (milliseconds since 1970, UTC), estimated half a round trip before the answer. */
  readonly hostMs: number
  /** `boardMs - hostMs`: positive when the board is ahead of the host, negative when it is behind. */
  readonly offsetMs: number
  /**
   * How far `offsetMs` may be off either way while the link is steady: half the best round trip
   * (an answer held up on its way, by a busy host or link, adds what it was held up by).
   */
  readonly uncertaintyMs: number
  /** The best round trip of the read exchange (of a few). */
  readonly roundTripMs: number
}

/**
 * Options of {@link readBoardClock} and {@link syncTime}.
 *
 * @example
 * const options: BoardClockOptions = { zone: "utc", roundTrips: 8 }
 * @since 0.1.0
 */
export interface BoardClockOptions {
  /** How the board's clock reads; default `"local"`, the host's local time. */
  readonly zone?: ClockZone
  /** Round trips measured to find the best one; default 5 (at least 1). */
  readonly roundTrips?: number
}

const roundTripsOf = (options: BoardClockOptions) => Math.max(1, Math.floor(options.roundTrips ?? 5))

/**
 * Read the board's clock and its offset from the host's. Waits on the board for the next tick of
 * its seconds (at most a second), so the offset is good to half a round trip whatever the
 * board's `subseconds` field means. A board without `machine.RTC().datetime` gets
 * `CapabilityMissingError`; a clock whose seconds do not move, `BoardClockError`. On a session's
 * board: `Effect.provideService(readBoardClock(), DeviceCommunication, session.device)`.
 *
 * @example
 * const reading = yield* readBoardClock({ zone: "utc" })
 * if (Math.abs(reading.offsetMs) > 1000) yield* syncTime({ zone: "utc" })
 * @since 0.1.0
 */
export const readBoardClock = (
  options: BoardClockOptions = {},
): Effect.Effect<
  BoardClockReading,
  CapabilityMissingError | BoardClockError | PythonError | ProtocolError,
  DeviceCommunication
> =>
  Effect.gen(function* () {
    const device = yield* DeviceCommunication
    const zone = options.zone ?? "local"
    const now = hostClock()
    const first = yield* readNow(device, "reading the board's clock", now)
    const best = Math.min(
      first.roundTripMs,
      yield* bestRoundTrip(device, readCode(false), roundTripsOf(options) - 1, now),
    )
    const { out, sent, answered } = yield* timedExec(device, readCode(true), now)
    const answer = yield* Effect.fromResult(parseAnswer(out))
    if (answer === "missing")
      return yield* new CapabilityMissingError({
        operation: "reading the board's clock",
        missing: RTC_NEEDED,
      })
    if (answer === "stalled")
      return yield* new BoardClockError({
        reason: "its seconds did not move in 1.5 s: the clock is not running",
      })
    // The tick came after the code started and the answer left right after it: it lies within
    // the last round trip before the answer arrived.
    const hostMs = Math.max(sent, answered - best / 2)
    const boardMs = epochMsOfRtcTuple(answer, zone)
    return {
      datetime: answer,
      zone,
      boardMs,
      hostMs,
      offsetMs: boardMs - hostMs,
      uncertaintyMs: best / 2,
      roundTripMs: best,
    } satisfies BoardClockReading
  }).pipe(Effect.withSpan("belay.clock.read"))

/** How long before the send the host stops sleeping and watches its clock instead. */
const SPIN_MS = 2
/** The least time between planning a set and sending it (the plan's own work, a sleep's lateness). */
const SET_MARGIN_MS = 20

/**
 * When to send a set, planned at `nowMs` for a link whose best round trip is `roundTripMs`: the
 * next whole second at least half a round trip and a margin away (`targetMs`, what the tuple sent
 * names), and the moment to send it so that it lands then (`sendAtMs`, half a round trip before).
 *
 * @example
 * planClockSet(1_000_300, 10) // { targetMs: 1_001_000, sendAtMs: 1_000_995 }
 */
export const planClockSet = (
  nowMs: number,
  roundTripMs: number,
  marginMs = SET_MARGIN_MS,
): { readonly targetMs: number; readonly sendAtMs: number } => {
  const lead = roundTripMs / 2
  const targetMs = Math.ceil((nowMs + lead + marginMs) / 1000) * 1000
  return { targetMs, sendAtMs: targetMs - lead }
}

/** Wait until the host's clock reads `at`: a sleep, then a short watch for the last milliseconds. */
const waitUntil = (at: number, now: () => number) =>
  Effect.gen(function* () {
    const sleep = at - now() - SPIN_MS
    if (sleep > 0) yield* Effect.sleep(Duration.millis(sleep))
    yield* Effect.sync(() => {
      while (now() < at) {
        // Watching the clock: a sleep this short wakes a millisecond or more late.
      }
    })
  })

/**
 * What {@link syncTime} did: the tuple it set, the host moment that tuple names, and how close the
 * set landed to it.
 *
 * @example
 * const { offsetMs, uncertaintyMs } = yield* syncTime()
 * @since 0.1.0
 */
export interface ClockSync {
  /** The tuple sent (subseconds 0: it names a whole second). */
  readonly datetime: RtcTuple
  readonly zone: ClockZone
  /** The host moment the tuple names, in milliseconds since 1970 (UTC). */
  readonly targetMs: number
  /**
   * The board's offset from the host right after the set, as estimated from the set's own
   * exchange (the tuple's moment minus the middle of the time from sending the set to its
   * answer): positive, ahead.
   */
  readonly offsetMs: number
  /** How far `offsetMs` may be off either way: half the set exchange's own round trip (to its answer). */
  readonly uncertaintyMs: number
  /** The best round trip of the measured exchanges, half of which the send was moved ahead by. */
  readonly roundTripMs: number
}

/**
 * Set the board's clock from the host's, compensating the link: it checks that the board has
 * `machine.RTC().datetime` (`CapabilityMissingError` before anything is set if not), measures a
 * few round trips of the set exchange (doing nothing), then sends the tuple of the next whole
 * second half the best round trip before that second, so that it lands on it. Takes up to a
 * second (the wait for that second). The tuple is the host's local time unless `zone: "utc"`. On a
 * session's board: `Effect.provideService(syncTime(), DeviceCommunication, session.device)`.
 *
 * @example
 * const sync = yield* syncTime({ zone: "utc" })
 * console.log(`set to ${sync.datetime.join(",")}, ±${sync.uncertaintyMs.toFixed(1)} ms`)
 * @since 0.1.0
 */
export const syncTime = (
  options: BoardClockOptions = {},
): Effect.Effect<
  ClockSync,
  CapabilityMissingError | BoardClockError | PythonError | ProtocolError,
  DeviceCommunication
> =>
  Effect.gen(function* () {
    const device = yield* DeviceCommunication
    const zone = options.zone ?? "local"
    const now = hostClock()
    yield* readNow(device, "setting the board's clock", now)
    // The measured exchange is the set's, byte for byte but for `if 0`: a tuple of the same width.
    const roundTripMs = yield* bestRoundTrip(
      device,
      setCode(rtcTupleOf(now() + 1000, zone), false),
      roundTripsOf(options),
      now,
    )
    const { targetMs, sendAtMs } = planClockSet(now(), roundTripMs)
    const datetime = rtcTupleOf(targetMs, zone)
    yield* waitUntil(sendAtMs, now)
    const { sent, answered } = yield* timedExec(device, setCode(datetime, true), now)
    return {
      datetime,
      zone,
      targetMs,
      offsetMs: targetMs - (sent + answered) / 2,
      uncertaintyMs: (answered - sent) / 2,
      roundTripMs,
    } satisfies ClockSync
  }).pipe(Effect.withSpan("belay.clock.sync"))

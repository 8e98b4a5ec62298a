/**
 * The board's real-time clock (`machine.RTC().datetime()`), read and set from the host as
 * precisely as the link allows.
 *
 * The tuple's `subseconds` field means something different on every port (microseconds on esp32,
 * always 0 on rp2, a hardware count on others), so neither the read nor the set relies on it:
 *
 * - a read waits on the board for the next tick of its seconds and answers at once, with how long
 *   it waited, so the moment the tuple stands for is a whole second that the host places between
 *   two moments of its own clock, a round trip (less the wait) apart;
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
import { monotonicMs } from "@belay/transport/internal"
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
 * Board code: `_bc(w)` is 0 when the board has no RTC with `datetime`; else `(tuple, waited)`:
 * without `w` the clock's tuple now (waited 0); with `w` the tuple read right after the seconds
 * ticked (at most 1.5 s on, else None), and `waited`, the microseconds from the start of the wait
 * to the start of the last read before the tick (so the tick came after it). Defined, called and
 * deleted in one exchange, so nothing stays in the board's globals.
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
    " if type(a)!=tuple or len(a)!=8 or not w:return a,0",
    " t=time.ticks_us()",
    " p=0",
    " while 1:",
    "  u=time.ticks_diff(time.ticks_us(),t)",
    "  b=r.datetime()",
    "  if b[6]!=a[6]:return b,p",
    "  if u>1500000:return None",
    "  p=u",
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
  const base = Date.now() - monotonicMs()
  return () => base + monotonicMs()
}

/** What `_bc` answered: the tuple and the wait, `"missing"` (no RTC), or `"stalled"` (the seconds did not move). */
const parseAnswer = (
  text: string,
): Result.Result<
  { readonly tuple: RtcTuple; readonly waitedMs: number } | "missing" | "stalled",
  BoardClockError
> => {
  const trimmed = text.trim()
  if (trimmed === "0") return Result.succeed("missing")
  if (trimmed === "None") return Result.succeed("stalled")
  const parsed = parsePythonLiteral(trimmed)
  const value = Result.isSuccess(parsed) ? parsed.success : undefined
  const [tuple, waited] = Array.isArray(value) && value.length === 2 ? value : []
  if (
    !Array.isArray(tuple) ||
    tuple.length !== 8 ||
    !tuple.every((v) => typeof v === "number" && Number.isInteger(v)) ||
    typeof waited !== "number"
  )
    return Result.fail(
      new BoardClockError({ reason: `answered ${trimmed.slice(0, 120)}, not a datetime tuple` }),
    )
  return Result.succeed({ tuple: tuple as unknown as RtcTuple, waitedMs: waited / 1000 })
}

/**
 * A way of running code on the board and reading its output as it comes: what the clock's
 * exchanges need (`DeviceCommunication.execStream`, or a fleet board's `execStream`).
 *
 * @example
 * const link: BoardClockLink<ProtocolError | PythonError> = (code) => device.execStream(code)
 * @since 0.1.0
 */
export type BoardClockLink<E> = (code: string) => Stream.Stream<string, E>

/**
 * One timed exchange: its output, when it left, and when its first output arrived (`answered`:
 * the board prints right after what is timed, so the end of the exchange, which can come a while
 * later, does not count).
 */
const timedExec = <E>(link: BoardClockLink<E>, code: string, now: () => number) =>
  Effect.gen(function* () {
    let out = ""
    let answered: number | undefined
    const sent = now()
    yield* Stream.runForEach(link(code), (chunk) =>
      Effect.sync(() => {
        if (answered === undefined && chunk.length > 0) answered = now()
        out += chunk
      }),
    )
    return { out, sent, answered: answered ?? now() }
  })

/** The best (shortest) round trip of `count` runs of `code`. */
const bestRoundTrip = <E>(link: BoardClockLink<E>, code: string, count: number, now: () => number) =>
  Effect.gen(function* () {
    let best = Number.POSITIVE_INFINITY
    for (let i = 0; i < count; i++) {
      const { sent, answered } = yield* timedExec(link, code, now)
      best = Math.min(best, answered - sent)
    }
    return best
  })

/** The clock's tuple now, after checking there is a clock: the capability check every operation starts with. */
const readNow = <E>(link: BoardClockLink<E>, operation: string, now: () => number) =>
  Effect.gen(function* () {
    const { out, sent, answered } = yield* timedExec(link, readCode(false), now)
    const answer = yield* Effect.fromResult(parseAnswer(out))
    if (answer === "missing") return yield* new CapabilityMissingError({ operation, missing: RTC_NEEDED })
    if (answer === "stalled") return yield* new BoardClockError({ reason: "answered None to a plain read" })
    return { tuple: answer.tuple, roundTripMs: answered - sent }
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
  /**
   * The host's clock at that tick (milliseconds since 1970, UTC): the middle of the span it must
   * lie in, from the read's sending plus the board's wait before the tick, to its answer.
   */
  readonly hostMs: number
  /** `boardMs - hostMs`: positive when the board is ahead of the host, negative when it is behind. */
  readonly offsetMs: number
  /**
   * How far `offsetMs` can be off either way: half that span, a bound (as good as the host's and
   * the board's clocks keep time over the second of the wait).
   */
  readonly uncertaintyMs: number
  /** That span: the read exchange's round trip less the board's wait for its tick. */
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
  /** `syncTime`: round trips of the set exchange measured first to find the best; default 5 (at least 1). */
  readonly roundTrips?: number
}

const roundTripsOf = (options: BoardClockOptions) => Math.max(1, Math.floor(options.roundTrips ?? 5))

/**
 * Read the board's clock and its offset from the host's, in one exchange: the board waits for
 * the next tick of its seconds (at most a second) and answers at once with how long it waited,
 * which places the tick on the host's clock within the exchange's round trip less that wait. The
 * offset is good to half of that (`uncertaintyMs`, a bound), whatever the board's `subseconds`
 * field means. A board without `machine.RTC().datetime` gets
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
> => Effect.flatMap(DeviceCommunication, (device) => readBoardClockOver(device.execStream, options))

/**
 * {@link readBoardClock} over any way of running code on the board and reading its output as it
 * comes (`link`): a fleet board's `execStream`, say. The offset is from this host's clock, and its
 * uncertainty grows with the link's round trip.
 *
 * @example
 * const reading = yield* readBoardClockOver((code) => board.execStream(code))
 * @since 0.1.0
 */
export const readBoardClockOver = <E>(
  link: BoardClockLink<E>,
  options: BoardClockOptions = {},
): Effect.Effect<BoardClockReading, CapabilityMissingError | BoardClockError | E> =>
  Effect.gen(function* () {
    const zone = options.zone ?? "local"
    const now = hostClock()
    const { out, sent, answered } = yield* timedExec(link, readCode(true), now)
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
    // The code started after it was sent and waited `waitedMs` before its last read of the old
    // second; the answer left after the tick. So the tick lies between those two host moments,
    // however late either end was.
    const earliest = sent + answer.waitedMs
    const latest = Math.max(earliest, answered)
    const hostMs = (earliest + latest) / 2
    const boardMs = epochMsOfRtcTuple(answer.tuple, zone)
    return {
      datetime: answer.tuple,
      zone,
      boardMs,
      hostMs,
      offsetMs: boardMs - hostMs,
      uncertaintyMs: (latest - earliest) / 2,
      roundTripMs: latest - earliest,
    } satisfies BoardClockReading
  }).pipe(Effect.withSpan("belay.clock.read"))

/** How long before the send the host stops sleeping and watches its clock instead (a timer can fire late). */
const SPIN_MS = 10
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
 * second, the wait for that second, which it spends on more of the same exchange (a link left
 * idle answers late). The tuple is the host's local time unless `zone: "utc"`. On a
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
> => Effect.flatMap(DeviceCommunication, (device) => syncTimeOver(device.execStream, options))

/**
 * {@link syncTime} over any way of running code on the board and reading its output as it comes
 * (`link`): a fleet board's `execStream`, say. The set lands as close to the second as the
 * link's round trips allow.
 *
 * @example
 * const sync = yield* syncTimeOver((code) => board.execStream(code), { zone: "utc" })
 * @since 0.1.0
 */
export const syncTimeOver = <E>(
  link: BoardClockLink<E>,
  options: BoardClockOptions = {},
): Effect.Effect<ClockSync, CapabilityMissingError | BoardClockError | E> =>
  Effect.gen(function* () {
    const zone = options.zone ?? "local"
    const now = hostClock()
    yield* readNow(link, "setting the board's clock", now)
    // The measured exchange is the set's, byte for byte but for `0 and`: a tuple of the same width.
    const measure = setCode(rtcTupleOf(now() + 1000, zone), false)
    let roundTripMs = yield* bestRoundTrip(link, measure, roundTripsOf(options), now)
    let { targetMs } = planClockSet(now(), roundTripMs)
    // Until it is nearly time, more of the same exchange rather than a sleep: a link and a board
    // left idle for most of a second answer the next exchange late (a sleeping thread, a USB
    // poll), which would land the set late; and each one may find a better round trip. One that
    // runs past the moment to send (a slow answer) moves the set to the next second.
    for (;;) {
      const left = targetMs - roundTripMs / 2 - now()
      if (left < 0) targetMs = planClockSet(now(), roundTripMs).targetMs
      else if (left <= 3 * roundTripMs + SPIN_MS) break
      else roundTripMs = Math.min(roundTripMs, yield* bestRoundTrip(link, measure, 1, now))
    }
    const datetime = rtcTupleOf(targetMs, zone)
    yield* waitUntil(targetMs - roundTripMs / 2, now)
    const { sent, answered } = yield* timedExec(link, setCode(datetime, true), now)
    return {
      datetime,
      zone,
      targetMs,
      offsetMs: targetMs - (sent + answered) / 2,
      uncertaintyMs: (answered - sent) / 2,
      roundTripMs,
    } satisfies ClockSync
  }).pipe(Effect.withSpan("belay.clock.sync"))

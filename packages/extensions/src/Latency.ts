import { DeviceCommunication, type ProtocolError, type PythonError } from "@belay/transport"
import { monotonicMs } from "@belay/transport/internal"
import { Effect } from "effect"
import { type LatencyStatistics, latencyStatistics, type Samples } from "./LatencyStatistics.js"

/**
 * Options of {@link measureLatency}.
 *
 * @example
 * const options: LatencyOptions = { count: 200, integrity: "unchecked" }
 * @since 0.1.0
 */
export interface LatencyOptions {
  /** Round trips timed; default 100 (at least 1). */
  readonly count?: number
  /** Round trips made first and not timed; default 1 (the first exchange also sets up the connection). */
  readonly warmup?: number
  /**
   * `"checked"` (the request and reply checked end to end, as every call by default) or
   * `"unchecked"` (the bare raw-REPL exchange); default the connection's.
   */
  readonly integrity?: "checked" | "unchecked"
}

/**
 * What {@link measureLatency} measured.
 *
 * @example
 * const { statistics } = yield* measureLatency({ count: 50 })
 * console.log(`median ${statistics.median.toFixed(2)} ms, p99 ${statistics.p99.toFixed(2)} ms`)
 * @since 0.1.0
 */
export interface LatencyMeasurement {
  /** The exchange timed: `exec("pass")`. */
  readonly exchange: string
  /** How it was sent: `"checked"`, `"unchecked"`, or `"default"` (the connection's). */
  readonly integrity: "checked" | "unchecked" | "default"
  /** The board's link, as `DeviceCommunication` describes it (or the fleet board and its runner). */
  readonly link: string
  /** Each round trip in milliseconds, in the order measured. */
  readonly samples: Samples
  readonly statistics: LatencyStatistics
}

/** The exchange timed: the least the board can be asked to run. */
const EXCHANGE = "pass"

/**
 * Time round trips of the least exchange there is: `DeviceCommunication.exec("pass")`, one
 * raw-REPL exchange (the code sent, compiled and run, the end markers and the prompt back), from
 * the call to its result on the host, one after another, after `warmup` untimed ones. With the
 * end-to-end check (the default) the request and reply carry their checks; `integrity:
 * "unchecked"` times the bare exchange.
 *
 * @example
 * const { statistics } = yield* measureLatency({ count: 100 })
 * @since 0.1.0
 */
export const measureLatency = (
  options: LatencyOptions = {},
): Effect.Effect<LatencyMeasurement, PythonError | ProtocolError, DeviceCommunication> =>
  Effect.gen(function* () {
    const device = yield* DeviceCommunication
    const execOptions = options.integrity === undefined ? {} : { integrity: options.integrity }
    const timed = yield* measureRoundTrips(device.exec(EXCHANGE, execOptions), options)
    return {
      exchange: `exec(${JSON.stringify(EXCHANGE)})`,
      integrity: options.integrity ?? "default",
      link: device.description,
      ...timed,
    } satisfies LatencyMeasurement
  }).pipe(Effect.withSpan("belay.latency"))

/**
 * Time `roundTrip` run `count` times one after another (default 100, at least 1), after `warmup`
 * untimed runs (default 1): each run from its start to its end on the host, in ms, and their
 * statistics. What {@link measureLatency} does with the least exchange, for any other way of
 * reaching a board (a fleet board through its runner).
 *
 * @example
 * const { statistics } = yield* measureRoundTrips(board.exec("pass"), { count: 50 })
 * @since 0.1.0
 */
export const measureRoundTrips = <E, R>(
  roundTrip: Effect.Effect<unknown, E, R>,
  options: { readonly count?: number; readonly warmup?: number } = {},
): Effect.Effect<Pick<LatencyMeasurement, "samples" | "statistics">, E, R> =>
  Effect.gen(function* () {
    const count = Math.max(1, Math.floor(options.count ?? 100))
    for (let i = 0; i < Math.max(0, Math.floor(options.warmup ?? 1)); i++) yield* roundTrip
    const samples: Array<number> = []
    for (let i = 0; i < count; i++) {
      const started = monotonicMs()
      yield* roundTrip
      samples.push(monotonicMs() - started)
    }
    const measured = samples as unknown as Samples
    return { samples: measured, statistics: latencyStatistics(measured) }
  })

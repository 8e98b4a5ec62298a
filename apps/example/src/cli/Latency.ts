/**
 * `latency`: round trips of the least exchange (`exec("pass")`, see `measureLatency` in
 * `@belay/extensions`), their statistics and a histogram drawn with Unicode blocks in 80 columns.
 * Imported when the command runs.
 */
import {
  type HistogramBin,
  type LatencyMeasurement,
  latencyHistogram,
  measureLatency,
} from "@belay/extensions"
import * as Effect from "effect/Effect"
import { UsageError } from "./Failure.js"
import { printJson, write } from "./Output.js"

/** The most round trips one run takes (a minute at 1 ms each). */
const MAX_COUNT = 100_000

/** Eighths of a cell, for the bars' ends. */
const EIGHTHS = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"] as const

/** Decimals that show `value`'s size in milliseconds sensibly: 3 below 1 ms, down to 0 from 100 ms. */
const decimalsFor = (value: number) => (value < 1 ? 3 : value < 10 ? 2 : value < 100 ? 1 : 0)

/** Milliseconds with the decimals that suit the largest figure shown beside it. */
const ms = (value: number, largest: number) => value.toFixed(decimalsFor(largest))

/**
 * A bar of `cells` character cells, in eighths: full blocks, then the partial block of what is left.
 *
 * @example
 * bar(2.5) // "██▌"
 */
export const bar = (cells: number): string => {
  const eighths = Math.max(0, Math.round(cells * 8))
  return `${"█".repeat(Math.floor(eighths / 8))}${EIGHTHS[eighths % 8]}`
}

/**
 * The histogram as lines of at most `width` columns: each bin's range in ms, a bar scaled to the
 * fullest bin (a bin with samples shows at least an eighth), and its count. `color` paints the bars
 * (for a terminal; never when output goes elsewhere).
 *
 * @example
 * histogramLines([{ from: 0.2, to: 0.3, count: 4 }, { from: 0.3, to: 0.4, count: 1 }], { width: 40, color: false })
 * // ["0.200–0.300 ms │████████████████████ 4", "0.300–0.400 ms │█████ 1"]
 */
export const histogramLines = (
  bins: ReadonlyArray<HistogramBin>,
  options: { readonly width: number; readonly color: boolean },
): Array<string> => {
  const largest = bins.reduce((m, b) => Math.max(m, Math.abs(b.to), Math.abs(b.from)), 0)
  const labels = bins.map((b) => `${ms(b.from, largest)}–${ms(b.to, largest)} ms`)
  const labelWidth = labels.reduce((m, l) => Math.max(m, l.length), 0)
  const most = bins.reduce((m, b) => Math.max(m, b.count), 0)
  const countWidth = String(most).length
  // label, " │", the bar, " ", the count.
  const room = Math.max(1, options.width - labelWidth - 2 - 1 - countWidth)
  return bins.map((b, i) => {
    const drawn = most === 0 || b.count === 0 ? "" : bar(Math.max(1 / 8, (b.count / most) * room))
    const painted = options.color && drawn !== "" ? `\x1b[36m${drawn}\x1b[39m` : drawn
    return `${(labels[i] as string).padStart(labelWidth)} │${painted} ${b.count}`
  })
}

/**
 * The figures as lines of text: what was measured, then min, median, mean, max, standard
 * deviation and p99 in ms, then the histogram.
 *
 * @example
 * latencyReport(measurement, { width: 80, color: false }).join("\n")
 */
export const latencyReport = (
  measurement: LatencyMeasurement,
  options: { readonly width: number; readonly color: boolean },
): Array<string> => {
  const s = measurement.statistics
  const f = (v: number) => `${ms(v, s.max)} ms`
  return [
    `${s.count} round trips of ${measurement.exchange}, ${measurement.integrity}, on ${measurement.link}`,
    `  min ${f(s.min)}   median ${f(s.median)}   mean ${f(s.mean)}   max ${f(s.max)}`,
    `  std dev ${f(s.stdDev)}   p99 ${f(s.p99)}`,
    "",
    ...histogramLines(latencyHistogram(measurement.samples), options),
  ]
}

/** `-n` checked: a whole number of round trips from 1 to {@link MAX_COUNT}. */
export const checkedCount = (count: number) =>
  Number.isInteger(count) && count >= 1 && count <= MAX_COUNT
    ? Effect.succeed(count)
    : Effect.fail(
        new UsageError(`-n takes a whole number of round trips from 1 to ${MAX_COUNT}, not ${count}`),
      )

/**
 * Print a measurement: the report and its histogram, or with `json` one JSON object with the
 * statistics, the histogram and every sample.
 *
 * @example
 * yield* printLatency(measurement, false)
 */
export const printLatency = (measurement: LatencyMeasurement, json: boolean) =>
  Effect.sync(() => {
    if (json)
      return printJson({
        exchange: measurement.exchange,
        integrity: measurement.integrity,
        link: measurement.link,
        unit: "ms",
        ...measurement.statistics,
        histogram: latencyHistogram(measurement.samples),
        samples: measurement.samples,
      })
    const color = process.stdout.isTTY === true && !process.env.NO_COLOR
    const width = Math.min(80, process.stdout.isTTY === true ? (process.stdout.columns ?? 80) : 80)
    return write(`${latencyReport(measurement, { width, color }).join("\n")}\n`)
  })

/**
 * `latency [-n COUNT]`: measure and print (see {@link printLatency}). `unchecked`: the bare
 * exchange, as `--unchecked` asks.
 *
 * @example
 * yield* runLatency(100, false, false)
 */
export const runLatency = (count: number, json: boolean, unchecked: boolean) =>
  Effect.gen(function* () {
    yield* checkedCount(count)
    const measurement = yield* measureLatency({ count, integrity: unchecked ? "unchecked" : "checked" })
    yield* printLatency(measurement, json)
  })

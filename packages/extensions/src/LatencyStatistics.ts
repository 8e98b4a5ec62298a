/**
 * Summary statistics and a histogram of round-trip times: pure functions of the samples (any
 * unit; the latency measure gives milliseconds).
 */

/**
 * At least one sample.
 *
 * @example
 * const samples: Samples = [0.21, 0.25, 0.24]
 * @since 0.1.0
 */
export type Samples = readonly [number, ...Array<number>]

/**
 * What {@link latencyStatistics} gives.
 *
 * @example
 * const { median, p99 } = latencyStatistics([1, 2, 3])
 * @since 0.1.0
 */
export interface LatencyStatistics {
  readonly count: number
  readonly min: number
  readonly max: number
  readonly mean: number
  /** The middle sample; the mean of the two middle ones for an even count. */
  readonly median: number
  /** Sample standard deviation (divided by count - 1, as Python's `statistics.stdev`); 0 for one sample. */
  readonly stdDev: number
  /** The 99th percentile by nearest rank: the smallest sample at or above 99% of them. */
  readonly p99: number
}

/**
 * The `p`th percentile (0 < p <= 100) of sorted samples by nearest rank: the sample at rank
 * `ceil(p / 100 * count)`.
 *
 * @example
 * percentile([1, 2, 3, 4], 50) // 2
 * @since 0.1.0
 */
export const percentile = (sorted: Samples, p: number): number =>
  sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1] as number

/**
 * Count, min, max, mean, median, sample standard deviation and 99th percentile of `samples`.
 *
 * @example
 * latencyStatistics([2, 4, 4, 4, 5, 5, 7, 9]) // { count: 8, min: 2, max: 9, mean: 5, median: 4.5, stdDev: 2.138..., p99: 9 }
 * @since 0.1.0
 */
export const latencyStatistics = (samples: Samples): LatencyStatistics => {
  const sorted = [...samples].sort((a, b) => a - b) as unknown as Samples
  const count = sorted.length
  // Summed as distances from the smallest, and in two passes (the mean first), so that a large
  // common offset does not eat the precision, and equal samples give their value and no spread.
  const mean = sorted[0] + sorted.reduce((sum, x) => sum + (x - sorted[0]), 0) / count
  const squares = sorted.reduce((sum, x) => sum + (x - mean) ** 2, 0)
  const middle = Math.floor(count / 2)
  return {
    count,
    min: sorted[0],
    max: sorted[count - 1] as number,
    // The mean of the samples can come out a rounding step outside them: keep it within.
    mean: Math.min(sorted[count - 1] as number, Math.max(sorted[0], mean)),
    median:
      count % 2 === 1
        ? (sorted[middle] as number)
        : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2,
    stdDev: count > 1 ? Math.sqrt(squares / (count - 1)) : 0,
    p99: percentile(sorted, 99),
  }
}

/**
 * One bar of a histogram: the samples from `from` up to (not including) `to`; the last bin
 * includes its `to`.
 *
 * @example
 * const bin: HistogramBin = { from: 0.2, to: 0.3, count: 12 }
 * @since 0.1.0
 */
export interface HistogramBin {
  readonly from: number
  readonly to: number
  readonly count: number
}

/** The most bins {@link latencyHistogram} makes by itself. */
const MAX_BINS = 16

/**
 * The samples counted in `bins` equal-width bins from the smallest to the largest (one bin when
 * they are all equal). Default: Sturges' rule, `ceil(log2(count)) + 1`, at most 16.
 *
 * @example
 * latencyHistogram([1, 2, 2, 3], 2) // [{ from: 1, to: 2, count: 1 }, { from: 2, to: 3, count: 3 }]
 * @since 0.1.0
 */
export const latencyHistogram = (samples: Samples, bins?: number): ReadonlyArray<HistogramBin> => {
  let min = samples[0]
  let max = samples[0]
  for (const x of samples) {
    if (x < min) min = x
    if (x > max) max = x
  }
  const wanted = bins ?? Math.min(MAX_BINS, Math.ceil(Math.log2(samples.length)) + 1)
  const n = max > min ? Math.max(1, Math.floor(wanted)) : 1
  const width = (max - min) / n
  // Edges from the index, and the last one exactly the largest sample, so the bins tile the range.
  const edge = (i: number) => (i === n ? max : min + i * width)
  const counts = new Array<number>(n).fill(0)
  for (const x of samples) {
    let at = Math.min(n - 1, Math.max(0, width > 0 ? Math.floor((x - min) / width) : 0))
    // The division and the edges round differently: the edges decide.
    while (at > 0 && x < edge(at)) at--
    while (at < n - 1 && x >= edge(at + 1)) at++
    counts[at] = (counts[at] as number) + 1
  }
  return counts.map((count, i) => ({ from: edge(i), to: edge(i + 1), count }))
}

/**
 * Shared helpers for the benchmarks under packages/*\/bench: timing, heap measurement and result
 * records. Benchmarks print figures; nothing here asserts a time.
 */
import os from "node:os"

export interface BenchResult {
  readonly package: string
  readonly benchmark: string
  /** The board it ran on: `fake`, `virtual`, `virtual@115200`, `qemu-microbit`, ... */
  readonly board: string
  readonly value: number
  readonly unit: string
  /** The target the issue sets, in words, e.g. `< 0.2 ms`. */
  readonly target?: string
  /** Whether `value` meets `target`, where it can be judged. */
  readonly met?: boolean
  readonly note?: string
}

export interface Summary {
  readonly count: number
  readonly median: number
  readonly p99: number
  readonly mean: number
  readonly min: number
  readonly max: number
}

export const summarize = (samples: ReadonlyArray<number>): Summary => {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
  return {
    count: sorted.length,
    median: at(0.5),
    p99: at(0.99),
    mean: sorted.reduce((s, x) => s + x, 0) / Math.max(1, sorted.length),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
  }
}

/** Time `iterations` runs of `fn` (after `warmup` runs); samples in milliseconds. */
export const timeEach = async (
  iterations: number,
  fn: () => Promise<unknown>,
  warmup = 5,
): Promise<number[]> => {
  for (let i = 0; i < warmup; i++) await fn()
  const samples: number[] = []
  for (let i = 0; i < iterations; i++) {
    const t = performance.now()
    await fn()
    samples.push(performance.now() - t)
  }
  return samples
}

const collect = () => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error("run benchmarks with node --expose-gc (pnpm bench does)")
  gc()
  gc()
}

/**
 * Retained heap per item: build `count` items with `make`, keep them alive, and divide the heap
 * growth by `count`.
 */
export const heapPerItem = async <A>(count: number, make: (i: number) => Promise<A> | A): Promise<number> => {
  const keep: A[] = []
  collect()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < count; i++) keep.push(await make(i))
  collect()
  const after = process.memoryUsage().heapUsed
  if (keep.length !== count) throw new Error("unreachable")
  return (after - before) / count
}

/**
 * Retained heap of what one call to `build(count)` keeps alive, divided by `count`: for things
 * made in a batch (one effect run registering many records).
 */
export const heapPerBatchItem = async (
  count: number,
  build: (count: number) => Promise<unknown>,
): Promise<number> => {
  collect()
  const before = process.memoryUsage().heapUsed
  const kept = await build(count)
  collect()
  const after = process.memoryUsage().heapUsed
  void kept
  return (after - before) / count
}

export const machine = () => ({
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
  date: new Date().toISOString(),
})

export interface BenchContext {
  readonly record: (result: BenchResult) => void
  /** A Markdown section appended to the report after the table (details a table row cannot hold). */
  readonly section: (title: string, markdown: string) => void
  /** Fewer iterations (for a quick look): BELAY_BENCH_QUICK=1 */
  readonly quick: boolean
  readonly log: (line: string) => void
}

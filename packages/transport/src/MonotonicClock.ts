/**
 * Milliseconds on the host's monotonic clock, for durations and deadlines, as
 * `performance.now()` gives them (the origin is arbitrary: only differences mean anything).
 *
 * Why not `performance.now()`: in Node, the first use of the global `performance` loads Node's
 * performance modules (`perf_hooks` and nine internal ones, about 1 ms), on every command's start,
 * for a clock `process.hrtime` reads for free. In a browser (no `process`), it is
 * `performance.now()`.
 *
 * Cost: one `process.hrtime.bigint()` call and a subtraction (tens of nanoseconds).
 *
 * @example
 * const started = monotonicMs()
 * // ... an exchange later:
 * const tookMs = monotonicMs() - started // e.g. 2.153
 * @internal
 */
export const monotonicMs: () => number = (() => {
  const hrtime = (globalThis as { process?: { hrtime?: { bigint?: () => bigint } } }).process?.hrtime
  const bigint = hrtime?.bigint
  if (typeof bigint !== "function") return () => performance.now()
  // From a point taken as the module loads, so the number stays small and exact to the nanosecond.
  const origin = bigint()
  return () => Number(bigint() - origin) / 1e6
})()

/**
 * The session soak at full size: 10,000 sessions on one virtual board (1,000 with
 * BELAY_BENCH_QUICK=1), each with a task call, a board thread, an atomic file write and a
 * board-side resource, some failing on purpose. Records the rate, the host heap growth, the
 * spread of the board's free memory after each session and the active handles before and after.
 */
import type { BenchContext } from "../../../scripts/bench-kit.ts"
import { type HandleCounts, runSoak, soakBounds } from "../test/soak.ts"

const total = (counts: HandleCounts) => Object.values(counts).reduce((n, c) => n + c, 0)
const describeHandles = (counts: HandleCounts) =>
  Object.entries(counts)
    .map(([type, n]) => `${type} ${n}`)
    .join(", ")

export default async function bench(ctx: BenchContext) {
  const sessions = ctx.quick ? 1000 : 10_000
  const report = await runSoak({
    sessions,
    onProgress: (done, ms) => ctx.log(`${done} sessions, ${(ms / 1000).toFixed(0)} s`),
  })
  const measured = report.sessions - report.warmUp
  const row = (
    benchmark: string,
    value: number,
    unit: string,
    target?: string,
    met?: boolean,
    note?: string,
  ) =>
    ctx.record({
      package: "extensions",
      benchmark: `soak: ${benchmark}`,
      board: "virtual",
      value,
      unit,
      ...(target === undefined ? {} : { target }),
      ...(met === undefined ? {} : { met }),
      ...(note === undefined ? {} : { note }),
    })
  const full = !ctx.quick
  row(
    "sessions",
    report.sessions,
    "sessions",
    full ? ">= 10000" : undefined,
    full ? report.sessions >= 10_000 : undefined,
  )
  row(
    "session rate",
    (measured * 1000) / report.measuredMs,
    "sessions/s",
    undefined,
    undefined,
    "board checks included",
  )
  // heapUsed includes V8's compiled code, which grows as the JIT keeps optimising: printed, no
  // target. The target is on the program's own values (objects, strings...), from heap snapshots.
  const growth = report.host.heapAfter - report.host.heapBefore
  row("host heapUsed growth after warm-up (V8 code included)", growth, "bytes")
  const programBytes = report.host.programAfter.bytes - report.host.programBefore.bytes
  const programValues = report.host.programAfter.values - report.host.programBefore.values
  row(
    "host program values growth after warm-up",
    programBytes,
    "bytes",
    `< ${soakBounds(sessions).programBytes}`,
    programBytes < soakBounds(sessions).programBytes,
    `${programValues} values (< ${soakBounds(sessions).programValues})`,
  )
  row("host heapUsed growth per 1,000 sessions (V8 code included)", (growth * 1000) / measured, "bytes")
  row(
    "board free memory spread after each session",
    report.board.max - report.board.min,
    "bytes",
    "<= 8192",
    report.board.max - report.board.min <= 8192,
    `baseline ${report.board.baseline} bytes free`,
  )
  row(
    "board free memory drift (last tenth - first tenth)",
    report.board.drift,
    "bytes",
    `within ±${soakBounds(sessions).boardDrift}`,
    Math.abs(report.board.drift) < soakBounds(sessions).boardDrift,
  )
  row("board free memory: worst drop from baseline", report.board.baseline - report.board.min, "bytes")
  row(
    "active handles before",
    total(report.host.handlesBefore),
    "handles",
    undefined,
    undefined,
    describeHandles(report.host.handlesBefore),
  )
  row(
    "active handles after",
    total(report.host.handlesAfter),
    "handles",
    "= before",
    total(report.host.handlesAfter) === total(report.host.handlesBefore),
    describeHandles(report.host.handlesAfter),
  )
  row("problems found", report.problems.length, "findings", "0", report.problems.length === 0)
  for (const line of report.problems.slice(0, 10)) ctx.log(line)
}

/**
 * The fault campaign at full size: 10,000 executor and filesystem operations on the virtual
 * board behind the seeded fault injector (1,000 with BELAY_BENCH_QUICK=1). Records the counts
 * (operations, faults injected, outcomes by type) and the invariants, with the details as a
 * section of the report.
 */
import type { BenchContext } from "../../../scripts/bench-kit.ts"
import { campaignMarkdown, runFaultCampaign } from "../test/faultCampaign.ts"

export default async function bench(ctx: BenchContext) {
  const operations = ctx.quick ? 1000 : 10_000
  const report = await runFaultCampaign({
    seed: 7,
    operations,
    progressEvery: 1000,
    onProgress: (r) =>
      ctx.log(`${r.operations} operations, ${r.faults.total} faults, ${(r.durationMs / 1000).toFixed(0)} s`),
  })
  const row = (benchmark: string, value: number, unit: string, target?: string, met?: boolean) =>
    ctx.record({
      package: "extensions",
      benchmark: `fault campaign: ${benchmark}`,
      board: "virtual+faults",
      value,
      unit,
      ...(target === undefined ? {} : { target }),
      ...(met === undefined ? {} : { met }),
    })
  row("operations", report.operations, "operations", ">= 10000", report.operations >= 10_000)
  row("faults injected", report.faults.total, "faults")
  row("succeeded", report.outcomes.success ?? 0, "operations")
  row("typed errors", report.operations - (report.outcomes.success ?? 0), "operations")
  row("hangs", report.hangs, "operations", "0", report.hangs === 0)
  row("untyped failures", report.untyped.length, "operations", "0", report.untyped.length === 0)
  row("wrong results", report.wrongResults.length, "operations", "0", report.wrongResults.length === 0)
  row(
    "findings after a request damaged on the way to the board (no end-to-end request check)",
    report.damagedRequests.length,
    "operations",
  )
  row("leftovers after an operation", report.leftovers.length, "findings", "0", report.leftovers.length === 0)
  row("half files", report.halfFiles.length, "files", "0", report.halfFiles.length === 0)
  row(
    "reconnects that failed",
    report.reconnectFailures,
    `of ${report.reconnects}`,
    "0",
    report.reconnectFailures === 0,
  )
  row("run time per operation", report.durationMs / report.operations, "ms (mean)")
  row(
    `slowest operation (#${report.slowest.index} ${report.slowest.name})`,
    report.slowest.ms / 1000,
    "s",
    "< 30 (a hang past it)",
    report.slowest.ms < 30_000,
  )
  ctx.section(`Fault campaign (${report.operations} operations)`, campaignMarkdown(report))
  for (const list of [
    report.untyped,
    report.wrongResults,
    report.leftovers,
    report.halfFiles,
    report.damagedRequests,
  ])
    for (const line of list.slice(0, 10)) ctx.log(line)
}

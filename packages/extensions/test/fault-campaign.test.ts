import { describe, expect, it } from "vitest"
import { campaignMarkdown, runFaultCampaign } from "./faultCampaign.js"

// A CI-sized run of the fault campaign (the benchmark runs 10,000 operations and reports them).
// Every executor and filesystem operation, on the virtual board behind the seeded fault
// injector, with soft and hard resets aimed at protocol phases.
const OPERATIONS = Number(process.env.BELAY_CAMPAIGN_OPERATIONS ?? 1500)
const SEED = Number(process.env.BELAY_CAMPAIGN_SEED ?? 20261125)
// BELAY_CAMPAIGN_KINDS=write,append aims a run at those operations only.
const KINDS = process.env.BELAY_CAMPAIGN_KINDS?.split(",")

describe("fault campaign on the virtual board", () => {
  it(
    `${OPERATIONS} operations under injected faults: typed outcomes, no hang, nothing left, no half file`,
    async () => {
      const report = await runFaultCampaign({
        seed: SEED,
        operations: OPERATIONS,
        ...(KINDS === undefined ? {} : { kinds: KINDS }),
      })
      console.log(campaignMarkdown(report))
      for (const l of [
        ...report.hangDetails,
        ...report.leftovers,
        ...report.damagedRequests,
        ...report.wrongResults,
        ...report.halfFiles,
        ...report.untyped,
      ].slice(0, 30))
        console.log(l)
      expect(report.operations).toBe(OPERATIONS)
      expect(report.hangs).toBe(0)
      expect(report.untyped).toEqual([])
      expect(report.wrongResults).toEqual([])
      expect(report.leftovers).toEqual([])
      expect(report.halfFiles).toEqual([])
      expect(report.reconnectFailures).toBe(0)
      // The faults did happen, every kind of them, and the operations saw them.
      for (const kind of ["drop", "duplicate", "corrupt", "delay", "split", "stall", "disconnect"])
        expect(report.faults.byKind[kind] ?? 0, kind).toBeGreaterThan(0)
      expect(
        (report.faults.byKind["reset-soft"] ?? 0) + (report.faults.byKind["reset-hard"] ?? 0),
      ).toBeGreaterThan(0)
      expect(report.reconnects).toBeGreaterThan(0)
      expect(report.outcomes.success ?? 0).toBeGreaterThan(OPERATIONS / 2)
      expect(Object.keys(report.outcomes).length).toBeGreaterThan(2)
      // Every operation kind ran, and succeeded at least once.
      for (const [name, tally] of Object.entries(report.byOperation))
        expect(tally.success, name).toBeGreaterThan(0)
    },
    20 * 60_000,
  )
})

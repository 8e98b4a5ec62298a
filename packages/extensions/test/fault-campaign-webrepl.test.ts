import { describe, expect, it } from "vitest"
import { campaignMarkdown, runFaultCampaign } from "./faultCampaign.js"

// The fault campaign's operation kinds with a real `ws://` WebREPL link under the fault injector:
// the virtual board served on a port of 127.0.0.1 behind the firmware's login, its REPL in
// WebSocket text frames. A short run (the injector's faults and resets as in the main campaign,
// which has the long one). Uploads here are small: they take the raw REPL, as the injector's link
// has no file transfer of its own.
const OPERATIONS = Number(process.env.BELAY_WEBREPL_CAMPAIGN_OPERATIONS ?? 100)
const SEED = Number(process.env.BELAY_CAMPAIGN_SEED ?? 20261202)

/** The campaign's operation kinds, each of which must run at least once over WebREPL. */
const KINDS = [
  "task",
  "task-struct",
  "task-redeploy",
  "generator",
  "generator-early-stop",
  "thread",
  "resource",
  "write",
  "append",
  "read",
  "list",
  "stat-exists-hash",
  "rename",
  "remove",
  "mkdir",
  "sync",
  "download",
]

describe("fault campaign over a ws:// WebREPL link", () => {
  it(
    `${OPERATIONS} operations over WebREPL under injected faults: typed outcomes, no hang, nothing left, no half file`,
    async () => {
      const report = await runFaultCampaign({ seed: SEED, operations: OPERATIONS, overWebRepl: true })
      console.log(campaignMarkdown(report))
      for (const l of [
        ...report.hangDetails,
        ...report.leftovers,
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
      expect(report.outcomes.success ?? 0).toBeGreaterThan(OPERATIONS / 2)
      // Faults did happen on the way, and every operation kind ran over WebREPL.
      expect(Object.values(report.faults.byKind).reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
      expect(Object.keys(report.byOperation)).toEqual(expect.arrayContaining(KINDS))
    },
    10 * 60_000,
  )
})

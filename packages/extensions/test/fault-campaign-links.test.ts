import { describe, expect, it } from "vitest"
import { type CampaignOptions, campaignMarkdown, runFaultCampaign } from "./faultCampaign.js"

// The fault campaign's operation kinds over each network link, with the real link under the fault
// injector and the virtual board served on 127.0.0.1: `tcp:` (sockets), `ws://` (WebREPL: the
// firmware's login, the REPL in WebSocket text frames; uploads take the raw REPL here, as the
// injector's link has no file transfer of its own) and `rfc2217:` through Debian's ser2net (telnet
// with the COM-PORT option, in front of a pseudo-terminal). Short runs: the injector's faults and
// resets are as in the main campaign, which has the long one.
const OPERATIONS = Number(process.env.BELAY_LINK_CAMPAIGN_OPERATIONS ?? 100)
const SEED = Number(process.env.BELAY_CAMPAIGN_SEED ?? 20261202)

/** The campaign's operation kinds, each of which must run at least once over each link. */
const KINDS = [
  "task",
  "task-struct",
  "task-redeploy",
  "generator",
  "generator-early-stop",
  "thread",
  "proxy",
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

const LINKS: ReadonlyArray<readonly [string, Partial<CampaignOptions>]> = [
  ["a tcp: link", { overTcp: true }],
  ["a ws:// WebREPL link", { overWebRepl: true }],
  ["an rfc2217: link through ser2net", { overRfc2217: true }],
]

describe.each(LINKS)("fault campaign over %s", (_name, link) => {
  it(
    `${OPERATIONS} operations under injected faults: typed outcomes, no hang, nothing left, no half file`,
    async () => {
      const report = await runFaultCampaign({ seed: SEED, operations: OPERATIONS, ...link })
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
      // Faults did happen on the way, and every operation kind ran over the link.
      expect(Object.values(report.faults.byKind).reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
      expect(Object.keys(report.byOperation)).toEqual(expect.arrayContaining(KINDS))
    },
    10 * 60_000,
  )
})

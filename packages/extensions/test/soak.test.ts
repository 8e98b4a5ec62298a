import { describe, expect, it } from "vitest"
import { runSoak, soakBounds } from "./soak.js"

// The soak of the issue: 10,000 sessions (BELAY_SOAK_SESSIONS to change) on one virtual board,
// each with a task call, a board thread, an atomic file write and a board-side resource, some
// failing on purpose half way. See ./soak.ts for what each session does and what is checked.
const sessions = Number(process.env.BELAY_SOAK_SESSIONS ?? 10_000)

describe("soak: sessions on the virtual board leave nothing behind", () => {
  it(`${sessions} sessions: board memory, board globals, host heap, handles and stats return to their start`, {
    // About 25 ms per session on a loaded 2-core machine; a generous bound, nothing asserts a time.
    timeout: 120_000 + sessions * 100,
  }, async () => {
    const report = await runSoak({ sessions })

    // Per session: outcomes as planned, nothing tracked after the end, stats and metrics that
    // count what happened, no board reset, and on the board no resource global, no thread entry,
    // no temporary file, the same globals and the same free memory (within 8 KB) as after warm-up.
    expect(report.problems).toEqual([])
    // No trend (see soakBounds).
    expect(Math.abs(report.board.drift)).toBeLessThan(soakBounds(sessions).boardDrift)
    expect(report.stats).toMatchObject({ totalSessions: sessions, created: sessions, ended: sessions })
    // A thread that raised and was left to the session's end fails its cleanup (reported, counted).
    if (sessions >= 100) expect(report.stats.cleanupFailures).toBeGreaterThan(0)
    expect(
      report.outcomes["python-error"] + report.outcomes.timeout + report.outcomes.interrupted,
    ).toBeGreaterThan(0)

    // What stays on the board (the same after every session) is Belay's own state, under its
    // `_belay` prefix (the deployment registry, the thread runtime and registry), the deployed
    // functions, the test's `_thread` stand-in, and modules imported at top level.
    const expected = new Set([
      "__name__",
      "_thread",
      "gc",
      "hashlib",
      "os",
      "sys",
      "soak_step",
      "soak_thread",
    ])
    const unexpected = report.board.globals.filter(
      (name) => !expected.has(name) && !name.startsWith("_belay"),
    )
    expect(unexpected).toEqual([])
    expect(report.board.globals).toEqual(
      expect.arrayContaining(["_belay_r", "_belay_t", "soak_step", "soak_thread"]),
    )

    // Host: the program's own values, in heap snapshots (see soakBounds). (`heapUsed` is printed,
    // not bounded: V8's compiled code and its bookkeeping grew by 0.5 MB over 5,000 sessions as
    // the JIT went on optimising, and by 2.2 MB in one CI run of 10,000.)
    const values = report.host.programAfter.values - report.host.programBefore.values
    const bytes = report.host.programAfter.bytes - report.host.programBefore.bytes
    console.log(
      `host: program values ${values >= 0 ? "+" : ""}${values} (${bytes} bytes); heapUsed ${report.host.heapAfter - report.host.heapBefore} bytes`,
    )
    expect(values).toBeLessThan(soakBounds(sessions).programValues)
    expect(bytes).toBeLessThan(soakBounds(sessions).programBytes)
    expect(report.host.handlesAfter).toEqual(report.host.handlesBefore)
  })
})

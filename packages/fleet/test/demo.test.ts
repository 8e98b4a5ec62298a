/**
 * scripts/fleet-demo.sh end to end (bounded): three runner processes, twelve virtual boards, one
 * runner killed with SIGKILL and started again; its last line counts the calls, and the lost and
 * duplicated ones from the boards' own logs. It must leave no process behind.
 */
import { execFile } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

const run = promisify(execFile)
const script = path.resolve(import.meta.dirname, "../../../scripts/fleet-demo.sh")
const driver = path.resolve(import.meta.dirname, "../../../scripts/fleet-demo-driver.mjs")

/** Processes whose command line names the demo's runners (`fleet runner --name shelfN`). */
const demoRunners = async () => {
  const { stdout } = await run("ps", ["-eo", "pid,args"])
  return stdout.split("\n").filter((l) => /fleet runner --name shelf[123] /.test(l))
}

describe("scripts/fleet-demo.sh", () => {
  it("runs calls on 12 boards across 3 runners, a runner killed and back: 0 lost, 0 duplicated, nothing left running", async () => {
    const before = await demoRunners()
    const { stdout } = await run("bash", [script], {
      timeout: 240_000,
      killSignal: "SIGTERM",
      env: { ...process.env, BELAY_DEMO_ROUNDS: "5" },
      maxBuffer: 10_000_000,
    })
    const lines = stdout.trimEnd().split("\n")
    expect(lines.at(-1)).toBe("fleet: 12 boards on 3 runners, 180 calls, 0 lost, 0 duplicated")
    expect(stdout).toContain("killed runner shelf2 (SIGKILL)")
    expect(stdout).toMatch(/its boards rejoined [\d.]+ s after the start/)
    expect(await demoRunners()).toEqual(before)
  }, 300_000)
})

describe("the demo's counts", () => {
  it("come from the boards' logs: a name logged twice is a duplicate, a name missing or a failed call is lost; a board that started empty again keeps its earlier reading", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "belay-demo-count-"))
    try {
      const call = (board: string, name: string, outcome = "ok") => ({ board, name, outcome, tries: 1 })
      const state = {
        calls: [
          call("a/b0", "p1.0"),
          call("a/b0", "p2.0"),
          call("a/b1", "p1.1"),
          call("a/b1", "p2.1"),
          call("c/b0", "p1.2"),
          call("c/b0", "p2.2", "unreachable"),
          call("c/b0", "p2.3", "unknown (started)"),
        ],
        snapshots: [
          // Before the kill: a/b0 and a/b1 (runner a) had run phase 1; c/b0 too.
          { "a/b0": ["p1.0"], "a/b1": ["p1.1"], "c/b0": ["p1.2"] },
          // After: runner a restarted (its boards started empty); a/b1 ran p2.1 twice; c/b0 ran
          // p2.3 (its answer was lost, but it ran once) and never p2.2.
          { "a/b0": ["p2.0"], "a/b1": ["p2.1", "p2.1"], "c/b0": ["p1.2", "p2.3"] },
        ],
      }
      const file = path.join(dir, "state.json")
      await writeFile(file, JSON.stringify(state))
      const { stdout } = await run(process.execPath, [driver, "report", file], { timeout: 60_000 })
      expect(stdout.trim()).toBe("fleet: 3 boards on 2 runners, 7 calls, 1 lost, 1 duplicated")
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

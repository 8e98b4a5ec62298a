/**
 * Processes this one did not start (or no longer waits on): whether one runs, what it runs, and
 * stopping it, by polling, since only a parent is told when its child exits.
 */
import { readFileSync } from "node:fs"
import { Effect, Schedule } from "effect"

/** How often a wait (QEMU's announcement, a lock, a process's end) looks again. */
export const POLL_MS = 25

/** Bound on a process's end after SIGKILL. */
export const KILL_WAIT_MS = 5_000

/** True while `pid` runs (a zombie, dead but not yet reaped, counts as gone). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z")
  } catch {
    return true // no /proc (not Linux): the signal said it runs
  }
}

/** `pid`'s command line, or undefined where there is no `/proc`. */
export const commandLine = (pid: number): ReadonlyArray<string> | undefined => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
  } catch {
    return undefined
  }
}

/** Wait until `probe` gives a value, up to `withinMs`; undefined when it never did. */
export const pollUntil = <A>(probe: () => A | undefined, withinMs: number): Effect.Effect<A | undefined> =>
  Effect.sync(probe).pipe(
    Effect.repeat({ schedule: Schedule.spaced(POLL_MS), until: (found) => found !== undefined }),
    Effect.timeoutOrElse({ duration: withinMs, orElse: () => Effect.sync(probe) }),
  )

export const signal = (pid: number, name: NodeJS.Signals) => {
  try {
    process.kill(pid, name)
  } catch {
    // already gone
  }
}

/** SIGTERM, SIGKILL after `killTimeoutMs`, and wait (bounded) until `running()` is false. */
export const terminate = (pid: number, running: () => boolean, killTimeoutMs: number) =>
  Effect.gen(function* () {
    if (!running()) return
    signal(pid, "SIGTERM")
    if ((yield* pollUntil(() => (running() ? undefined : true), killTimeoutMs)) === true) return
    signal(pid, "SIGKILL")
    yield* pollUntil(() => (running() ? undefined : true), KILL_WAIT_MS)
  })

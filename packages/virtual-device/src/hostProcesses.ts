/**
 * Processes this one did not start (or no longer waits on): starting one detached, so that it
 * outlives this process; whether one runs, what it runs, and stopping it, by polling, since only a
 * parent is told when its child exits.
 */
import { spawn } from "node:child_process"
import { closeSync, openSync, readFileSync } from "node:fs"
import path from "node:path"
import { Data, Effect, Schedule } from "effect"

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

/** A detached process did not start, or did not say it was ready; `output` is the end of its log. */
export class DetachedStartFailure extends Data.TaggedError("DetachedStartFailure")<{
  readonly reason: string
  readonly output?: string
  readonly cause?: unknown
}> {}

/** What {@link startDetached} runs, and how it tells that the process is ready. */
export interface DetachedProcess<A> {
  readonly command: string
  /** Its name in `argv[0]` (what `ps` shows), when not `command`. */
  readonly argv0?: string
  readonly args: ReadonlyArray<string>
  readonly env?: NodeJS.ProcessEnv
  /** Its stdout and stderr go here (created, mode 0600); its working folder is this file's folder. */
  readonly logFile: string
  /** What it has printed so far (the end of the log) → what says it is ready, or undefined. */
  readonly ready: (output: string) => A | undefined
  /** Bound on `ready`; the process is stopped when it passes. */
  readonly startTimeoutMs: number
  readonly killTimeoutMs: number
  /** What it is called in messages ("QEMU", "the virtual board"). */
  readonly name: string
  /** What it does to be ready, for messages ("open the serial port"). */
  readonly readiness: string
}

/**
 * Start a process in a session of its own (it outlives this one, and a terminal's hang-up does
 * not reach it), its output in a log file; its pid and what `ready` found once it prints that.
 * A process that exits first, or says nothing in time, is stopped and reported with its output.
 */
export const startDetached = <A>(
  options: DetachedProcess<A>,
): Effect.Effect<{ readonly pid: number; readonly ready: A }, DetachedStartFailure> =>
  Effect.gen(function* () {
    const { logFile, name } = options
    const log = openSync(logFile, "w", 0o600)
    const pid = yield* Effect.callback<number, DetachedStartFailure>((resume) => {
      const child = spawn(options.command, [...options.args], {
        detached: true,
        // Not the caller's folder: a long-lived process there would keep it busy (an unmount).
        cwd: path.dirname(logFile),
        stdio: ["ignore", log, log],
        ...(options.env === undefined ? {} : { env: options.env }),
        ...(options.argv0 === undefined ? {} : { argv0: options.argv0 }),
      })
      closeSync(log)
      child.once("spawn", () => {
        child.unref()
        resume(Effect.succeed(child.pid as number))
      })
      child.once("error", (error) => {
        if (child.pid === undefined)
          resume(
            Effect.fail(
              new DetachedStartFailure({
                reason: `${options.command} could not be started: ${error.message}`,
                cause: error,
              }),
            ),
          )
      })
    })
    const output = () => {
      try {
        return readFileSync(logFile, "utf8").slice(-4000)
      } catch {
        return ""
      }
    }
    const found = yield* pollUntil(() => {
      const ready = options.ready(output())
      if (ready !== undefined) return { ready }
      return isAlive(pid) ? undefined : { exited: true as const }
    }, options.startTimeoutMs)
    if (found === undefined || "exited" in found) {
      yield* terminate(pid, () => isAlive(pid), options.killTimeoutMs)
      return yield* new DetachedStartFailure({
        reason:
          found === undefined
            ? `${name} did not ${options.readiness} within ${options.startTimeoutMs} ms`
            : `${name} exited before it could ${options.readiness}`,
        output: output(),
      })
    }
    return { pid, ready: found.ready }
  })

import type { ChildProcess } from "node:child_process"
import { Effect } from "effect"

// Safety net: if this Node.js process exits without closing the scopes (process.exit, a crash),
// do not leave children behind.
const liveChildren = new Set<ChildProcess>()
let exitHookInstalled = false

/**
 * Kill `child` with SIGKILL if this process exits while it still runs. Scopes stop children
 * properly; this covers `process.exit` and crashes.
 *
 * @example
 * const child = spawn("qemu-system-arm", args)
 * trackChildProcess(child)
 */
export const trackChildProcess = (child: ChildProcess): void => {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once("exit", () => {
      for (const orphan of liveChildren) orphan.kill("SIGKILL")
    })
  }
  liveChildren.add(child)
  child.once("exit", () => liveChildren.delete(child))
  child.once("error", () => {
    if (child.pid === undefined) liveChildren.delete(child)
  })
}

/** True while the child has a pid and has not exited. */
export const isChildRunning = (child: ChildProcess): boolean =>
  child.pid !== undefined && child.exitCode === null && child.signalCode === null

/** Wait for the child to exit, up to `ms`; true when it is gone. */
const awaitExit = (child: ChildProcess, ms: number): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    if (!isChildRunning(child)) return resume(Effect.succeed(true))
    const onExit = () => resume(Effect.succeed(true))
    child.once("exit", onExit)
    return Effect.sync(() => child.off("exit", onExit))
  }).pipe(Effect.timeoutOrElse({ duration: ms, orElse: () => Effect.succeed(!isChildRunning(child)) }))

/**
 * SIGTERM, then SIGKILL after `killTimeoutMs`, and wait (bounded) for the process to be gone.
 * `label` names it in the logs.
 *
 * @example
 * yield* Effect.addFinalizer(() => terminateChildProcess(child, "QEMU", 2000))
 */
export const terminateChildProcess = (
  child: ChildProcess,
  label: string,
  killTimeoutMs: number,
): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (!isChildRunning(child)) return
    child.kill("SIGTERM")
    if (yield* awaitExit(child, killTimeoutMs)) return
    yield* Effect.logWarning(
      `${label}: pid ${child.pid} ignored SIGTERM for ${killTimeoutMs} ms; sending SIGKILL`,
    )
    child.kill("SIGKILL")
    if (!(yield* awaitExit(child, 5000))) {
      yield* Effect.logError(`${label}: pid ${child.pid} is still running 5000 ms after SIGKILL`)
    }
  })

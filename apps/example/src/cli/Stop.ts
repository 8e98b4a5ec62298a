import type * as Fiber from "effect/Fiber"
import { writeError } from "./Output.js"

/** The exit code for each signal the CLI stops on: 128 + the signal's number, as a shell reports it. */
export const signalExitCodes = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const

/** The exit code when stdout's reader went away (EPIPE), as a shell reports a SIGPIPE death. */
export const brokenPipeExitCode = 141

/** How long the work gets, after a signal or a closed stdout, to stop and clean up before the process exits anyway. */
export const stopGraceMs = 10_000

/** Why the CLI is stopping. */
export interface StopReason {
  readonly kind: "signal" | "pipe"
  readonly code: number
}

/**
 * Ends work the way interruption does. On SIGINT, SIGTERM or SIGHUP, or when {@link stopOn}'s
 * `stop` is called (stdout closed), the main fiber is interrupted, so every finalizer runs: the
 * board gets Ctrl-C, the session cleans up, temporary files go. A second signal while that runs
 * exits at once with that signal's code; and if the finalizers have not finished after `graceMs`
 * (a board that does not answer), the process exits anyway.
 *
 * Node's own handler would end the process on the spot, leaving the board running the code.
 */
export const stopOn = (fiber: Fiber.Fiber<unknown, unknown>, graceMs = stopGraceMs) => {
  let reason: StopReason | undefined
  let timer: NodeJS.Timeout | undefined

  const stop = (next: StopReason) => {
    if (reason !== undefined || (next.kind === "signal" && fiber.pollUnsafe() !== undefined)) {
      // Already stopping (or the work is over, the output still draining): a signal is the way
      // out now; a closed pipe changes nothing.
      if (next.kind === "signal") process.exit(next.code)
      return
    }
    reason = next
    const code = next.code
    // A referenced timer: it also keeps the process alive while the finalizers wait on the board.
    timer = setTimeout(() => {
      writeError(`belay: the board did not stop within ${graceMs / 1000} s; exiting without waiting\n`)
      process.exit(code)
    }, graceMs)
    fiber.interruptUnsafe(fiber.id)
  }

  const handlers = Object.entries(signalExitCodes).map(([signal, code]) => {
    const handler = () => stop({ kind: "signal", code })
    process.on(signal, handler)
    return [signal, handler] as const
  })

  return {
    /** Stop the work (interrupting it) for `reason`; a second call with a signal exits at once. */
    stop,
    /** Why the work was stopped, if it was. */
    get reason() {
      return reason
    },
    /**
     * The work is over: signals get Node's default handling back (exit at once). The bound stays
     * armed, not holding the process open, in case something else does after a stop.
     */
    done: () => {
      for (const [signal, handler] of handlers) process.off(signal, handler)
      timer?.unref()
    },
  }
}

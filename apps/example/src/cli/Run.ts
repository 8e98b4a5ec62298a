import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import { describeFailure, ExitCode, type Failure, reportFailure } from "./Failure.js"
import { watchOutput } from "./Output.js"
import { brokenPipeExitCode, stopOn } from "./Stop.js"

const awaitExit = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  new Promise<Exit.Exit<A, E>>((resolve) => fiber.addObserver(resolve))

/**
 * Run a command's work to its exit code: 0 success, else the code {@link describeFailure} gives
 * (with its message on stderr, or as JSON on stdout with `json`), or what `failureOf` makes of the
 * failure when it recognizes it first (the argument parser's own errors; `null`: nothing to report,
 * exit 0). SIGINT, SIGTERM, SIGHUP or a closed stdout interrupt the work, so the board gets Ctrl-C
 * and everything is cleaned up first; the code is then the signal's (or 141).
 *
 * @example
 * process.exitCode = await runToExitCode(Effect.sync(() => console.log("hi")))
 */
export const runToExitCode = async <A, E>(
  work: Effect.Effect<A, E>,
  failureOf: (cause: Cause.Cause<E>) => Failure | null | undefined = () => undefined,
  options: {
    readonly json?: boolean
    /** The exit code of work that succeeded (a run on several boards says its own); default 0. */
    readonly codeOf?: (value: A) => number
  } = {},
): Promise<number> => {
  const json = options.json === true
  const fiber = Effect.runFork(
    // stdout carries what the command prints (JSON with --json); logs go to stderr.
    work.pipe(Effect.provideService(Logger.LogToStderr, true)),
  )
  const stopper = stopOn(fiber)
  const output = watchOutput(() => stopper.stop({ kind: "pipe", code: brokenPipeExitCode }))
  const exit = await awaitExit(fiber)
  if (Exit.isFailure(exit) && stopper.reason === undefined && !output.closed) {
    const known = failureOf(exit.cause)
    const failure = known === undefined ? describeFailure(exit.cause) : known
    if (failure !== null) reportFailure(failure, json)
    const delivered = await output.flush()
    stopper.done()
    if (!delivered) return brokenPipeExitCode
    return failure === null ? ExitCode.ok : failure.exitCode
  }
  const delivered = await output.flush()
  stopper.done()
  const stopped = stopper.reason ?? (delivered ? undefined : { kind: "pipe", code: brokenPipeExitCode })
  if (stopped !== undefined) {
    // Stopped on purpose: quiet, unless stopping itself went wrong (a board that did not come back).
    if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) && stopped.kind === "signal") {
      reportFailure(describeFailure(exit.cause), json)
    }
    return stopped.code
  }
  return Exit.isSuccess(exit) && options.codeOf !== undefined ? options.codeOf(exit.value) : ExitCode.ok
}

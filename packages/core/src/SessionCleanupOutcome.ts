import { Cause, Exit } from "effect"
import type { ExecuteOptions } from "./DeviceSessionManager.js"
import { ResourceCleanupError } from "./errors.js"

/** @internal what a failed cleanup of the session a call ended does to the call's result */
export type CleanupMode = NonNullable<ExecuteOptions["cleanupFailures"]>

/**
 * The outcome of an operation whose session this call ended: the operation's exit, with the
 * cleanup's failure as `mode` says.
 */
export const withCleanup = (
  exit: Exit.Exit<unknown, unknown>,
  cleanup: Exit.Exit<void, ResourceCleanupError> | undefined,
  mode: CleanupMode,
): Exit.Exit<unknown, unknown> => {
  let error: ResourceCleanupError | undefined
  if (cleanup !== undefined && Exit.isFailure(cleanup)) {
    const found = Cause.findErrorOption(cleanup.cause)
    if (found._tag === "Some") error = found.value
  }
  if (mode === "carry") {
    return Exit.isSuccess(exit) ? Exit.succeed({ value: exit.value, cleanupError: error }) : exit
  }
  if (mode === "log" || error === undefined) return exit
  if (Exit.isSuccess(exit)) {
    return Exit.fail(
      new ResourceCleanupError({
        sessionId: error.sessionId,
        failures: error.failures,
        operationResult: { value: exit.value },
      }),
    )
  }
  return Exit.failCause(Cause.combine(exit.cause, Cause.fail(error)))
}

import { Cause, Data, type Duration, Effect, Exit, Schedule } from "effect"
import { ResourceCleanupError, type ResourceCleanupFailure } from "./errors.js"
import { isRecoverable } from "./Retry.js"

/**
 * Further tries of a cleanup that failed with a recoverable error (a damaged reply, a timeout),
 * all within its bound: the board-side state must not outlive the session because one reply
 * was damaged, and the next exchange recovers the REPL.
 */
const CLEANUP_RETRIES = 2

/** The retry policy of a cleanup: at once, `CLEANUP_RETRIES` more times, recoverable errors only. */
const cleanupRetries = Schedule.recurs(CLEANUP_RETRIES)

/**
 * A cleanup that did not finish within the cleanup timeout.
 *
 * @example
 * failure.error instanceof CleanupTimeout // the resource's cleanup hung
 *
 * @since 0.1.0
 */
export class CleanupTimeout extends Data.TaggedError("CleanupTimeout")<{ readonly timeoutMs: number }> {
  override get message() {
    return `cleanup did not finish within ${this.timeoutMs} ms`
  }
}

/** Why a cleanup failed, without the resource's name. */
export type CleanupOutcome = Pick<ResourceCleanupFailure, "reason" | "error">

/**
 * Run `cleanup` bounded by `timeout`, tried again on recoverable errors; `undefined` when it
 * worked, else why not. Never fails.
 *
 * @internal
 */
export const boundedCleanup = (
  cleanup: Effect.Effect<void, unknown>,
  timeout: Duration.Duration,
  timeoutMs: number,
): Effect.Effect<CleanupOutcome | undefined> =>
  Effect.exit(
    Effect.timeoutOrElse(
      Effect.retry(
        Effect.suspend(() => cleanup),
        { schedule: cleanupRetries, while: isRecoverable },
      ),
      {
        duration: timeout,
        orElse: () => Effect.fail(new CleanupTimeout({ timeoutMs })),
      },
    ),
  ).pipe(
    Effect.map((exit): CleanupOutcome | undefined => {
      if (Exit.isSuccess(exit)) return undefined
      const failure = Cause.findErrorOption(exit.cause)
      if (failure._tag === "Some") {
        return failure.value instanceof CleanupTimeout
          ? { reason: "timeout", error: failure.value }
          : { reason: "failed", error: failure.value }
      }
      return { reason: "defect", error: Cause.squash(exit.cause) }
    }),
  )

/** @internal one resource's failed cleanup, as the session's cleanup error */
export const failedCleanup = (sessionId: string, failure: ResourceCleanupFailure): ResourceCleanupError =>
  new ResourceCleanupError({ sessionId, failures: [failure] })

/** @internal log a failed cleanup, with the resource and the session */
export const logCleanupFailure = (failure: ResourceCleanupFailure, sessionId: string): Effect.Effect<void> =>
  Effect.logWarning("Failed to clean up resource").pipe(
    Effect.annotateLogs({
      resourceId: failure.resourceId,
      resourceType: failure.resourceType,
      reason: failure.reason,
      error: String(failure.error),
      sessionId,
    }),
  )

import { Duration, Effect } from "effect"
import type { DeviceSession } from "./DeviceSession.js"
import type { DeviceSessionManagerShape, SessionCreationError } from "./DeviceSessionManager.js"

/**
 * Whether trying again in a fresh session can help. Board resets, protocol timeouts, garbled
 * replies and requests that reached the board damaged are worth a retry; Python exceptions, a lost link, a stuck board and missing
 * capabilities are not. A `SessionError` says so itself.
 *
 * @example
 * isRecoverable(new SessionError({ sessionId: "s1", reason: "x", recoverable: true })) // true
 */
export const isRecoverable = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null || !("_tag" in error)) return false
  switch ((error as { _tag: string })._tag) {
    case "SessionError":
      return (error as unknown as { recoverable: boolean }).recoverable === true
    case "BoardResetError":
    case "ProtocolTimeoutError":
    case "UnexpectedBytesError":
    case "RequestDamagedError":
    case "SessionLimitError":
      return true
    default:
      return false
  }
}

/** How `executeWithRetry` retries. */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 3. */
  readonly maxAttempts?: number
  /** Delay before the second attempt; each later delay is `factor` times the previous. Default 1 second. */
  readonly baseDelay?: Duration.Input
  /** Default 2. */
  readonly factor?: number
  /** Cap on a single delay. Default 30 seconds. */
  readonly maxDelay?: Duration.Input
}

/**
 * Run `operation` in a fresh session; when it fails with a recoverable error, wait (exponential
 * backoff) and run it again in another fresh session, up to `maxAttempts` in all. Other errors,
 * and the last attempt's error, reach the caller unchanged.
 *
 * @example
 * const value = yield* executeWithRetry(manager, (s) => s.device.eval("read_sensor()"), { maxAttempts: 5 })
 */
export const executeWithRetry = <A, E, R>(
  manager: DeviceSessionManagerShape,
  operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
  options?: RetryOptions,
): Effect.Effect<A, E | SessionCreationError, R> => {
  const maxAttempts = Math.max(1, options?.maxAttempts ?? 3)
  const base = Duration.toMillis(Duration.fromInputUnsafe(options?.baseDelay ?? "1 second"))
  const factor = options?.factor ?? 2
  const cap = Duration.toMillis(Duration.fromInputUnsafe(options?.maxDelay ?? "30 seconds"))
  const attempt = (n: number): Effect.Effect<A, E | SessionCreationError, R> =>
    Effect.catch(manager.executeInNewSession(operation), (error) => {
      if (n >= maxAttempts || !isRecoverable(error)) return Effect.fail(error)
      const delay = Math.min(cap, base * factor ** (n - 1))
      return Effect.logWarning("Session operation failed; retrying in a fresh session").pipe(
        Effect.annotateLogs({ attempt: n, of: maxAttempts, delayMs: delay, error: String(error) }),
        Effect.andThen(Effect.sleep(Duration.millis(delay))),
        Effect.andThen(attempt(n + 1)),
      )
    })
  return attempt(1)
}

import type { ProtocolError, PythonError } from "@belay/transport"
import { Duration, Effect, Schedule } from "effect"
import type { DeviceSession } from "./DeviceSession.js"
import type { DeviceSessionManagerShape, SessionCreationError } from "./DeviceSessionManager.js"
import { SessionError } from "./errors.js"

/**
 * Whether trying again in a fresh session can help. Board resets, protocol timeouts, garbled
 * replies and requests that reached the board damaged are worth a retry; Python exceptions, a lost link, a stuck board and missing
 * capabilities are not. A `SessionError` says so itself.
 *
 * @example
 * isRecoverable(new SessionError({ sessionId: "s1", reason: "x", recoverable: true })) // true
 *
 * @since 0.1.0
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

const BOARD_ERROR_TAGS: ReadonlySet<string> = new Set([
  "LinkClosedError",
  "LinkLostError",
  "ProtocolTimeoutError",
  "UnexpectedBytesError",
  "BoardResetError",
  "BoardStuckError",
  "RequestDamagedError",
  "OutputDamagedError",
  "OutputLimitError",
  "PythonError",
])

/**
 * A transport or Python error (what a board exchange fails with).
 *
 * @example
 * Effect.catchIf(effect, isBoardError, (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export const isBoardError = (error: unknown): error is ProtocolError | PythonError =>
  typeof error === "object" &&
  error !== null &&
  "_tag" in error &&
  BOARD_ERROR_TAGS.has((error as { _tag: string })._tag)

/**
 * Any error as a `SessionError`, one error type for a caller that only asks "retry or not":
 * `recoverable` says whether a retry in a fresh session can help ({@link isRecoverable}), with the
 * original error as `cause` and its tag and message as `reason`. A `SessionError` is returned as it is.
 *
 * @example
 * const e = toSessionError(new ProtocolTimeoutError({ ... }), session.sessionId)
 * e.recoverable // true
 *
 * @since 0.1.0
 */
export const toSessionError = (error: unknown, sessionId?: string): SessionError => {
  if (error instanceof SessionError) return error
  const tag =
    typeof error === "object" && error !== null && "_tag" in error
      ? String((error as { _tag: unknown })._tag)
      : "Error"
  const message =
    typeof error === "object" && error !== null && "message" in error
      ? String((error as { message: unknown }).message)
      : String(error)
  return new SessionError({
    sessionId,
    reason: `${tag}: ${message}`,
    recoverable: isRecoverable(error),
    cause: error,
  })
}

/**
 * `effect` with its transport and Python errors seen as `SessionError`s (one error type that
 * says whether a retry can help); its other errors are left as they are.
 *
 * @example
 * manager.executeInSession((s) => asSessionErrors(s.device.eval("read()"), s.sessionId)).pipe(
 *   Effect.catchTag("SessionError", (e) => (e.recoverable ? retry : Effect.fail(e))),
 * )
 *
 * @since 0.1.0
 */
export const asSessionErrors = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  sessionId?: string,
): Effect.Effect<A, Exclude<E, ProtocolError | PythonError> | SessionError, R> =>
  Effect.mapError(effect, (error) =>
    isBoardError(error)
      ? toSessionError(error, sessionId)
      : (error as Exclude<E, ProtocolError | PythonError>),
  )

/**
 * How `executeWithRetry` retries.
 *
 * @example
 * executeWithRetry(manager, op, { maxAttempts: 5, baseDelay: "500 millis", factor: 3 })
 *
 * @since 0.1.0
 */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 3. */
  readonly maxAttempts?: number
  /** Delay before the second attempt; each later delay is `factor` times the previous. Default 2 seconds. */
  readonly baseDelay?: Duration.Input
  /** Default 2 (delays of 2 s, then 4 s). */
  readonly factor?: number
  /** Cap on a single delay. Default 30 seconds. */
  readonly maxDelay?: Duration.Input
  /**
   * The delays between attempts, as a `Schedule` (replaces `baseDelay`, `factor` and `maxDelay`;
   * `maxAttempts` still bounds the attempts).
   */
  readonly schedule?: Schedule.Schedule<unknown, unknown>
}

/**
 * The retry backoff as a `Schedule`: `baseDelay` (2 s), then `factor` (2) times the previous
 * delay, each at most `maxDelay` (30 s).
 *
 * @example
 * Effect.retry(effect, { schedule: retrySchedule(), times: 2, while: isRecoverable }) // waits 2 s, then 4 s
 *
 * @since 0.1.0
 */
export const retrySchedule = (
  options?: Pick<RetryOptions, "baseDelay" | "factor" | "maxDelay">,
): Schedule.Schedule<Duration.Duration> => {
  const cap = Duration.fromInputUnsafe(options?.maxDelay ?? "30 seconds")
  return Schedule.exponential(options?.baseDelay ?? "2 seconds", options?.factor ?? 2).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, cap))),
  )
}

/**
 * Run `operation` in a fresh session; when it fails with a recoverable error, wait (by default
 * 2 s, then 4 s, or `schedule`) and run it again in another fresh session, up to
 * `maxAttempts` in all. Other errors, and the last attempt's error, reach the caller unchanged.
 *
 * @example
 * const value = yield* executeWithRetry(manager, (s) => s.device.eval("read_sensor()"), { maxAttempts: 5 })
 *
 * @since 0.1.0
 */
export const executeWithRetry = <A, E, R>(
  manager: Pick<DeviceSessionManagerShape, "executeInNewSession">,
  operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
  options?: RetryOptions,
): Effect.Effect<A, E | SessionCreationError, R> =>
  Effect.suspend(() => {
    const maxAttempts = Math.max(1, options?.maxAttempts ?? 3)
    const schedule = options?.schedule ?? retrySchedule(options)
    let attempt = 0
    const once = Effect.suspend(() => {
      attempt++
      return manager.executeInNewSession(operation)
    }).pipe(
      Effect.tapError((error) =>
        attempt < maxAttempts && isRecoverable(error)
          ? Effect.logWarning("Session operation failed; retrying in a fresh session").pipe(
              Effect.annotateLogs({ attempt, of: maxAttempts, error: String(error) }),
            )
          : Effect.void,
      ),
    )
    return Effect.retry(once, { schedule, times: maxAttempts - 1, while: isRecoverable })
  })

import type { ProtocolError, PythonError } from "@belay/transport"
import { Data } from "effect"

/**
 * The states of a session manager: Inactive until its first session, Active, Shutdown (ending
 * its sessions, refusing new ones), Disposed.
 *
 * @example
 * if ((yield* manager.state) === "Disposed") return
 *
 * @since 0.1.0
 */
export type DeviceSessionState = "Inactive" | "Active" | "Shutdown" | "Disposed"

/**
 * A session could not do what was asked. `recoverable` says whether trying again in a fresh
 * session can help (the retry helper only retries those).
 *
 * @example
 * Effect.catchTag("SessionError", (e) => e.recoverable ? retry : Effect.fail(e))
 *
 * @since 0.1.0
 */
export class SessionError extends Data.TaggedError("SessionError")<{
  readonly sessionId: string | undefined
  readonly reason: string
  readonly recoverable: boolean
  readonly cause?: unknown
}> {
  override get message() {
    return `session ${this.sessionId ?? "(none)"}: ${this.reason}`
  }
}

/**
 * The manager is in a state that does not allow the operation (e.g. creating a session after shutdown).
 *
 * @example
 * Effect.catchTag("SessionManagerStateError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class SessionManagerStateError extends Data.TaggedError("SessionManagerStateError")<{
  readonly state: DeviceSessionState
  readonly attempted: string
}> {
  override get message() {
    return `cannot ${this.attempted} while the session manager is ${this.state}`
  }
}

/**
 * The concurrent-session limit is reached and the options say not to wait.
 *
 * @example
 * Effect.catchTag("SessionLimitError", () => Effect.sleep("1 second"))
 *
 * @since 0.1.0
 */
export class SessionLimitError extends Data.TaggedError("SessionLimitError")<{
  readonly limit: number
}> {
  override get message() {
    return `the limit of ${this.limit} concurrent sessions is reached`
  }
}

/**
 * No live session has this id.
 *
 * @example
 * Effect.catchTag("SessionNotFoundError", () => Effect.void)
 *
 * @since 0.1.0
 */
export class SessionNotFoundError extends Data.TaggedError("SessionNotFoundError")<{
  readonly sessionId: string
}> {
  override get message() {
    return `no live session ${this.sessionId}`
  }
}

/**
 * The capability probe failed or its answer made no sense.
 *
 * @example
 * manager.createSession({ fallbackCapabilities: true }) // use minimal capabilities instead
 *
 * @since 0.1.0
 */
export class DeviceCapabilityError extends Data.TaggedError("DeviceCapabilityError")<{
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `capability detection failed: ${this.reason}`
  }
}

/**
 * The board lacks something an operation needs; nothing was sent.
 *
 * @example
 * Effect.catchTag("CapabilityMissingError", (e) => Console.error(`${e.operation} needs ${e.missing}`))
 *
 * @since 0.1.0
 */
export class CapabilityMissingError extends Data.TaggedError("CapabilityMissingError")<{
  readonly operation: string
  readonly missing: string
}> {
  override get message() {
    return `${this.operation} needs ${this.missing}, which this board does not have`
  }
}

/**
 * One resource whose cleanup failed or timed out.
 *
 * @example
 * error.failures.filter((f) => f.reason === "timeout").map((f) => f.resourceId)
 *
 * @since 0.1.0
 */
export interface ResourceCleanupFailure {
  readonly resourceId: string
  readonly resourceType: string
  readonly reason: "failed" | "timeout" | "defect"
  readonly error: unknown
}

const messageOf = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "message" in error) {
    const message = (error as { message: unknown }).message
    if (typeof message === "string" && message.length > 0) return message
  }
  return String(error)
}

/**
 * Some resources failed to clean up. Every other resource was still cleaned up.
 *
 * When `executeInSession` (or `executeInNewSession`) ends the session its operation ran in and
 * the cleanup fails, it fails with this error even though the operation succeeded; the
 * operation's value is then in `operationResult`.
 *
 * @example
 * Effect.catchTag("ResourceCleanupError", (e) => Effect.logWarning(e.failures.map((f) => f.resourceId)))
 *
 * @since 0.1.0
 */
export class ResourceCleanupError extends Data.TaggedError("ResourceCleanupError")<{
  readonly sessionId: string
  readonly failures: ReadonlyArray<ResourceCleanupFailure>
  /** The value of the operation that succeeded before its session's cleanup failed. */
  readonly operationResult?: { readonly value: unknown }
}> {
  override get message() {
    const list = this.failures
      .map((f) => `${f.resourceType} ${f.resourceId} (${f.reason}: ${messageOf(f.error)})`)
      .join("; ")
    return `session ${this.sessionId}: ${this.failures.length} resource(s) failed to clean up: ${list}`
  }
}

/**
 * What running an operation in a session can fail with, besides the operation's own errors.
 *
 * @example
 * const handle = (e: SessionOperationError) => Console.error(e._tag)
 *
 * @since 0.1.0
 */
export type SessionOperationError =
  | SessionError
  | SessionManagerStateError
  | SessionLimitError
  | DeviceCapabilityError
  | ProtocolError
  | PythonError

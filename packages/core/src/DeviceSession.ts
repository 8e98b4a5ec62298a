import type { DeviceCommunicationShape } from "@belay/transport"
import type { Effect, Scope } from "effect"
import type { DeviceContext } from "./DeviceContext.js"
import type { ResourceCleanupError, SessionError } from "./errors.js"
import type { ResourceTracker } from "./ResourceTracker.js"
import type { ResourceHandle } from "./SessionResource.js"
import type { SessionState } from "./SessionState.js"

/**
 * Why a session ended.
 *
 * @example
 * if (session.endReason === "link-lost") console.log(session.brokenReason)
 *
 * @since 0.1.0
 */
export type SessionEndReason =
  | "ended"
  | "operation-finished"
  | "failed"
  | "interrupted"
  | "idle"
  | "link-lost"
  | "shutdown"

/**
 * Options for a resource acquired through a session.
 *
 * @example
 * yield* session.acquire(open, close, { resourceType: "DeviceTimer", estimatedCost: 50, lostOnReset: true })
 *
 * @since 0.1.0
 */
export interface SessionAcquireOptions {
  readonly resourceType: string
  readonly resourceId?: string
  readonly estimatedCost?: number
  /** The resource lives in board RAM: a board reset ends it without cleanup. */
  readonly lostOnReset?: boolean
}

/**
 * One isolated context for working with a board. A session is a `Scope`: when it ends (asked
 * to, failed, idle, interrupted or its link lost) everything it started is cleaned up, newest
 * first, exactly once: its resources' cleanups (`acquire`, `resources`) are finalizers on that
 * scope, beside what other packages and the caller put there.
 *
 * A session is never ended while an operation holds it: an operation run by `executeInSession`
 * or `session.use`, and every exchange through `session.device`, holds it until it ends. An end
 * asked for meanwhile (`end`, `endSession`, the idle timeout, a lost link, `shutdown`) waits for
 * the holders to leave; only `dispose` (emergency) does not.
 *
 * @example
 * yield* manager.executeInSession((session) =>
 *   Effect.gen(function* () {
 *     const timer = yield* session.acquire(
 *       session.device.exec("from machine import Timer; t = Timer(-1)"),
 *       () => session.device.exec("t.deinit()"),
 *       { resourceType: "DeviceTimer", estimatedCost: 50 },
 *     )
 *   }),
 * )
 *
 * @since 0.1.0
 */
export interface DeviceSession {
  readonly sessionId: string
  readonly createdAt: Date
  /** True from creation until the session starts ending. */
  readonly isActive: boolean
  /** State that lives as long as the session, under typed keys (emptied when it ends). */
  readonly state: SessionState
  /** The session's resources: a view over its scope (stats, early release). */
  readonly resources: ResourceTracker
  readonly deviceContext: DeviceContext
  /**
   * The board this session talks to. Each exchange through it holds the session until the
   * exchange ends (see `use`). One object per board, shared by the board's sessions.
   */
  readonly device: DeviceCommunicationShape
  /**
   * The session's scope: finalizers added here run when the session ends, in their place among
   * the resources' cleanups (newest first).
   */
  readonly scope: Scope.Scope
  /** Board resets seen while this session was live (each ended the session's threads and deployed functions). */
  readonly boardResets: number
  /** Set when the link to the board broke under this session. */
  readonly brokenReason: string | undefined
  readonly endReason: SessionEndReason | undefined
  /** What failed to clean up when the session ended, if anything. */
  readonly cleanupFailure: ResourceCleanupError | undefined
  /** True while an operation or an exchange holds the session. */
  readonly isBusy: boolean
  /**
   * Run `effect` holding this session: the session counts as busy (it neither idles out nor
   * ends) until `effect` ends, and the exchanges `effect` makes through `session.device` are
   * known to be this session's. Fails with `SessionError` when the session has ended or is
   * ending (unless the caller already holds it).
   *
   * @example
   * const s = yield* manager.createSession()
   * yield* s.use(longTask.call(s, 10)) // the session does not idle out while the task runs
   */
  readonly use: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SessionError, R>
  /**
   * Acquire something on the board for the lifetime of the session: `release` runs when the
   * session ends (or when the returned handle's `release` is called), bounded and once.
   */
  readonly acquire: <A, E, R>(
    acquire: Effect.Effect<A, E, R>,
    release: (a: A) => Effect.Effect<unknown, unknown>,
    options: SessionAcquireOptions,
  ) => Effect.Effect<A, E | SessionError | ResourceCleanupError, R>
  /** Like `acquire`, and also returns the handle to release the resource early. */
  readonly acquireWithHandle: <A, E, R>(
    acquire: Effect.Effect<A, E, R>,
    release: (a: A) => Effect.Effect<unknown, unknown>,
    options: SessionAcquireOptions,
  ) => Effect.Effect<readonly [A, ResourceHandle], E | SessionError | ResourceCleanupError, R>
  /**
   * End the session: clean up everything it holds. Waits for operations holding it to leave
   * first (the caller's own holds excepted).
   */
  readonly end: Effect.Effect<void, ResourceCleanupError>
  /** Completes when the session has ended and cleaned up. */
  readonly ended: Effect.Effect<void>
}

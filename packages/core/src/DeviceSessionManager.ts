import { DeviceCommunication, type DeviceCommunicationShape } from "@belay/transport"
import { Context, Effect, Layer, type Scope } from "effect"
import type { ConfigError } from "effect/Config"
import type { DeviceCapabilities } from "./DeviceCapabilities.js"
import type { DeviceSession } from "./DeviceSession.js"
import type {
  DeviceCapabilityError,
  DeviceSessionState,
  ResourceCleanupError,
  SessionError,
  SessionLimitError,
  SessionManagerStateError,
  SessionNotFoundError,
} from "./errors.js"
import { loadSessionManagementOptions, type SessionManagementOptions } from "./SessionManagementOptions.js"
import { makeMultiBoardSessionManager } from "./SessionManagerImpl.js"
/**
 * Counts of sessions.
 *
 * @example
 * const { activeSessionCount, maxSessionCount } = yield* manager.sessionStats
 *
 * @since 0.1.0
 */
export interface SessionStats {
  readonly activeSessionCount: number
  readonly totalSessionCount: number
  /** The most sessions ever live at once. */
  readonly maxSessionCount: number
}

/**
 * Per-call options of session creation.
 *
 * @example
 * const session = yield* manager.createSession({ fallbackCapabilities: true })
 *
 * @since 0.1.0
 */
export interface SessionCreationOptions {
  /** Go on with minimal capabilities if detection fails. */
  readonly fallbackCapabilities?: boolean
}

/**
 * Per-call options of `executeInSession` and `executeInNewSession`.
 *
 * `cleanupFailures` says what a failed cleanup of the session the call ends does to its result:
 * - `"fail"` (default): the call fails with the `ResourceCleanupError` (carrying the operation's
 *   value in `operationResult`); when the operation failed too, its error stays first and the
 *   cleanup error is added to the cause.
 * - `"carry"`: the call succeeds with `{ value, cleanupError }`.
 * - `"log"`: the call's result is the operation's; the failure is only logged and counted.
 *
 * @example
 * yield* manager.executeInSession(op, { fallbackCapabilities: true, cleanupFailures: "carry" })
 *
 * @since 0.1.0
 */
export interface ExecuteOptions extends SessionCreationOptions {
  readonly cleanupFailures?: "fail" | "carry" | "log"
}

/**
 * What `executeInSession(op, { cleanupFailures: "carry" })` succeeds with.
 *
 * @example
 * const { value, cleanupError } = yield* manager.executeInSession(op, { cleanupFailures: "carry" })
 *
 * @since 0.1.0
 */
export interface CarriedResult<A> {
  readonly value: A
  /** The session's cleanup failures, when this call ended the session and some failed. */
  readonly cleanupError: ResourceCleanupError | undefined
}

/**
 * Everything creating a session can fail with.
 *
 * @example
 * manager.createSession().pipe(Effect.catchTag("SessionLimitError", () => Effect.sleep("1 second")))
 *
 * @since 0.1.0
 */
export type SessionStartError =
  | SessionError
  | SessionManagerStateError
  | SessionLimitError
  | DeviceCapabilityError

/**
 * What `executeInSession` and `executeInNewSession` add to an operation's errors by default:
 * creating the session, and, when the call ended it, its cleanup (`ResourceCleanupError`).
 * (The name is older than the cleanup's part in it; `SessionStartError` is creation alone.)
 *
 * @example
 * effect.pipe(Effect.catchTag("ResourceCleanupError", (e) => Effect.succeed(e.operationResult?.value)))
 *
 * @since 0.1.0
 */
export type SessionCreationError = SessionStartError | ResourceCleanupError

/**
 * `executeInSession` and `executeInNewSession` of a manager bound to one board.
 *
 * @example
 * const run: ExecuteInSession = manager.executeInSession
 * const out = yield* run((session) => session.device.exec("print(1)"), { cleanupFailures: "log" })
 *
 * @since 0.1.0
 */
export interface ExecuteInSession {
  <A, E, R>(
    operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
    options: ExecuteOptions & { readonly cleanupFailures: "carry" },
  ): Effect.Effect<CarriedResult<A>, E | SessionStartError, R>
  <A, E, R>(
    operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
    options: ExecuteOptions & { readonly cleanupFailures: "log" },
  ): Effect.Effect<A, E | SessionStartError, R>
  <A, E, R>(
    operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
    options?: ExecuteOptions,
  ): Effect.Effect<A, E | SessionCreationError, R>
}

/**
 * `executeInSession` and `executeInNewSession` of a manager serving several boards.
 *
 * @example
 * const run: ExecuteInSessionOn = manager.executeInSession
 * const out = yield* run(board, (session) => session.device.exec("print(1)"))
 *
 * @since 0.1.0
 */
export interface ExecuteInSessionOn {
  <A, E, R>(
    device: DeviceCommunicationShape,
    operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
    options: ExecuteOptions & { readonly cleanupFailures: "carry" },
  ): Effect.Effect<CarriedResult<A>, E | SessionStartError, R>
  <A, E, R>(
    device: DeviceCommunicationShape,
    operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
    options: ExecuteOptions & { readonly cleanupFailures: "log" },
  ): Effect.Effect<A, E | SessionStartError, R>
  <A, E, R>(
    device: DeviceCommunicationShape,
    operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
    options?: ExecuteOptions,
  ): Effect.Effect<A, E | SessionCreationError, R>
}

/**
 * Coordinates the sessions on one board.
 *
 * `executeInSession(op)` runs `op` in a session that outlives it or in one it owns, never in one
 * that ends under it:
 * - inside an operation that holds a session of this board, in that session;
 * - else in the current session (made by `createSession`, `getOrCreateSession`, or another
 *   call's temporary session), which it holds until `op` ends;
 * - else in a new temporary session, which later calls may join and which ends when its last
 *   user leaves: the call that leaves last ends it and gets its cleanup failures.
 *
 * @example
 * const program = Effect.gen(function* () {
 *   const manager = yield* DeviceSessionManager
 *   const out = yield* manager.executeInSession((session) => session.device.exec("print(42)"))
 *   const stats = yield* manager.sessionStats
 * })
 *
 * @since 0.1.0
 */
export interface DeviceSessionManagerShape {
  readonly currentSessionId: Effect.Effect<string | undefined>
  /** The state of this board's sessions (Inactive, Active, Shutdown, Disposed). */
  readonly state: Effect.Effect<DeviceSessionState>
  /** Capabilities of the board, once a session detected them (minimal ones when the last session fell back). */
  readonly capabilities: Effect.Effect<DeviceCapabilities | undefined>
  /** The board as sessions see it (`session.device`): its exchanges hold sessions. */
  readonly device: DeviceCommunicationShape
  readonly options: SessionManagementOptions
  /** A new session, owned by the manager: it lives until ended, idle, the link is lost, or shutdown. */
  readonly createSession: (
    options?: SessionCreationOptions,
  ) => Effect.Effect<DeviceSession, SessionStartError>
  /** The current live session (made the manager's if it was a temporary one), or a new one. */
  readonly getOrCreateSession: (
    options?: SessionCreationOptions,
  ) => Effect.Effect<DeviceSession, SessionStartError>
  /**
   * A new session that ends when the caller's scope closes, with the scope's outcome. Cleanup
   * failures cannot fail a scope's close: they are logged, counted and kept in `cleanupFailure`.
   */
  readonly session: (
    options?: SessionCreationOptions,
  ) => Effect.Effect<DeviceSession, SessionStartError, Scope.Scope>
  /** End a session, waiting for the operations that hold it; fails with its cleanup failures. */
  readonly endSession: (sessionId: string) => Effect.Effect<void, SessionNotFoundError | ResourceCleanupError>
  readonly getSession: (sessionId: string) => Effect.Effect<DeviceSession, SessionNotFoundError>
  readonly liveSessions: Effect.Effect<ReadonlyArray<DeviceSession>>
  /** Run `operation` in a session that outlives it or that it ends (see above). */
  readonly executeInSession: ExecuteInSession
  /** Run `operation` in a new session of its own (no other call joins it) that ends with it. */
  readonly executeInNewSession: ExecuteInSession
  readonly sessionStats: Effect.Effect<SessionStats>
  /** Active -> Shutdown -> Disposed: end every session (after the operations holding them), then refuse new ones. */
  readonly shutdown: Effect.Effect<void, SessionManagerStateError>
  /** Any state -> Disposed: end every session now, even under running operations (cleanup still bounded and complete). */
  readonly dispose: Effect.Effect<void>
}

/**
 * Coordinates the sessions of several boards, the board passed per call
 * (`createSession(board)`). State is kept per board (current session, capabilities,
 * lost link, state machine); the concurrency limit, the idle timeout and the stats are the
 * manager's. `forBoard(device)` is the one-board view (a `DeviceSessionManagerShape`) sharing
 * that state.
 *
 * @example
 * const manager = yield* MultiBoardSessionManager
 * const a = yield* manager.executeInSession(boardA, (s) => s.device.eval("1 + 1"))
 * const b = yield* manager.forBoard(boardB).executeInSession((s) => s.device.eval("2 + 2"))
 *
 * @since 0.1.0
 */
export interface MultiBoardSessionManagerShape {
  /** The manager's state: Active once any board had a session. */
  readonly state: Effect.Effect<DeviceSessionState>
  readonly options: SessionManagementOptions
  /** The boards the manager has state for (as given to it, behind any session view). */
  readonly boards: Effect.Effect<ReadonlyArray<DeviceCommunicationShape>>
  /** The manager as seen by one board (made on first use; the same object after). */
  readonly forBoard: (device: DeviceCommunicationShape) => DeviceSessionManagerShape
  readonly createSession: (
    device: DeviceCommunicationShape,
    options?: SessionCreationOptions,
  ) => Effect.Effect<DeviceSession, SessionStartError>
  readonly getOrCreateSession: (
    device: DeviceCommunicationShape,
    options?: SessionCreationOptions,
  ) => Effect.Effect<DeviceSession, SessionStartError>
  readonly session: (
    device: DeviceCommunicationShape,
    options?: SessionCreationOptions,
  ) => Effect.Effect<DeviceSession, SessionStartError, Scope.Scope>
  readonly executeInSession: ExecuteInSessionOn
  readonly executeInNewSession: ExecuteInSessionOn
  /** End a session of any board. */
  readonly endSession: (sessionId: string) => Effect.Effect<void, SessionNotFoundError | ResourceCleanupError>
  readonly getSession: (sessionId: string) => Effect.Effect<DeviceSession, SessionNotFoundError>
  readonly liveSessions: Effect.Effect<ReadonlyArray<DeviceSession>>
  /** Counts over all boards. */
  readonly sessionStats: Effect.Effect<SessionStats>
  readonly capabilities: (device: DeviceCommunicationShape) => Effect.Effect<DeviceCapabilities | undefined>
  readonly currentSessionId: (device: DeviceCommunicationShape) => Effect.Effect<string | undefined>
  /** End a board's sessions (after the operations holding them) and forget the board (it was unplugged, say). */
  readonly removeBoard: (device: DeviceCommunicationShape) => Effect.Effect<void>
  /** End every board's sessions (after the operations holding them), then refuse new ones. */
  readonly shutdown: Effect.Effect<void, SessionManagerStateError>
  readonly dispose: Effect.Effect<void>
}

/**
 * The session manager service for one board.
 *
 * @example
 * const layer = DeviceSessionManager.layer({ maxConcurrentSessions: 4 })
 *
 * @since 0.1.0
 */
export class DeviceSessionManager extends Context.Service<DeviceSessionManager, DeviceSessionManagerShape>()(
  "@belay/core/DeviceSessionManager",
) {
  /** Options from `Config` (environment), overridden by `overrides`. */
  static layer(
    overrides?: Partial<SessionManagementOptions>,
  ): Layer.Layer<DeviceSessionManager, ConfigError, DeviceCommunication> {
    return Layer.effect(
      DeviceSessionManager,
      Effect.gen(function* () {
        const device = yield* DeviceCommunication
        const options = yield* loadSessionManagementOptions(overrides)
        return yield* makeDeviceSessionManager(device, options)
      }),
    )
  }
}

/**
 * The session manager service for several boards (a pool, a fleet).
 *
 * @example
 * const layer = MultiBoardSessionManager.layer({ maxConcurrentSessions: 40 })
 *
 * @since 0.1.0
 */
export class MultiBoardSessionManager extends Context.Service<
  MultiBoardSessionManager,
  MultiBoardSessionManagerShape
>()("@belay/core/MultiBoardSessionManager") {
  /** Options from `Config` (environment), overridden by `overrides`. */
  static layer(
    overrides?: Partial<SessionManagementOptions>,
  ): Layer.Layer<MultiBoardSessionManager, ConfigError> {
    return Layer.effect(
      MultiBoardSessionManager,
      Effect.flatMap(loadSessionManagementOptions(overrides), makeMultiBoardSessionManager),
    )
  }
}

/**
 * A session manager for one board, living as long as the scope; closing the scope ends every
 * session at once.
 *
 * @example
 * const manager = yield* makeDeviceSessionManager(comm, { defaultSessionTimeout: Duration.minutes(5) })
 *
 * @since 0.1.0
 */
export const makeDeviceSessionManager = (
  device: DeviceCommunicationShape,
  overrides?: Partial<SessionManagementOptions>,
): Effect.Effect<DeviceSessionManagerShape, never, Scope.Scope> =>
  Effect.map(makeMultiBoardSessionManager(overrides), (manager) => manager.forBoard(device))

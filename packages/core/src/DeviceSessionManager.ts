import { DeviceCommunication, type DeviceCommunicationShape, StateKey } from "@belay/transport"
import {
  Cause,
  Context,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Metric,
  type Scope,
  Semaphore,
  Stream,
  Tracer,
} from "effect"
import type { ConfigError } from "effect/Config"
import { type DeviceCapabilities, detectCapabilities, minimalCapabilities } from "./DeviceCapabilities.js"
import {
  type DeviceSession,
  DeviceSessionImpl,
  endReasonOf,
  type SessionEndReason,
  type SessionHost,
  SessionKind,
} from "./DeviceSession.js"
import {
  type DeviceCapabilityError,
  type DeviceSessionState,
  ResourceCleanupError,
  SessionError,
  SessionLimitError,
  SessionManagerStateError,
  SessionNotFoundError,
} from "./errors.js"
import { type BoardLeases, boardLeases, HeldSessions, type HoldNode, rawDevice } from "./SessionLeases.js"
import {
  loadSessionManagementOptions,
  resolveSessionManagementOptions,
  type SessionManagementOptions,
} from "./SessionManagementOptions.js"
import { SessionMetrics } from "./SessionMetrics.js"

/** Counts of sessions. */
export interface SessionStats {
  readonly activeSessionCount: number
  readonly totalSessionCount: number
  /** The most sessions ever live at once. */
  readonly maxSessionCount: number
}

/** Per-call options of session creation. */
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
 */
export interface ExecuteOptions extends SessionCreationOptions {
  readonly cleanupFailures?: "fail" | "carry" | "log"
}

/** What `executeInSession(op, { cleanupFailures: "carry" })` succeeds with. */
export interface CarriedResult<A> {
  readonly value: A
  /** The session's cleanup failures, when this call ended the session and some failed. */
  readonly cleanupError: ResourceCleanupError | undefined
}

/** Everything creating a session can fail with. */
export type SessionStartError =
  | SessionError
  | SessionManagerStateError
  | SessionLimitError
  | DeviceCapabilityError

/**
 * What `executeInSession` and `executeInNewSession` add to an operation's errors by default:
 * creating the session, and, when the call ended it, its cleanup (`ResourceCleanupError`).
 * (The name is older than the cleanup's part in it; `SessionStartError` is creation alone.)
 */
export type SessionCreationError = SessionStartError | ResourceCleanupError

/** `executeInSession` and `executeInNewSession` of a manager bound to one board. */
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

/** `executeInSession` and `executeInNewSession` of a manager serving several boards. */
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

/** What the capability probe found on a connection (kept until `forgetCapabilities` or a reconnect). */
const CapabilitiesKey = StateKey<DeviceCapabilities>("@belay/core/capabilities")

/**
 * Capabilities already detected for this board, if any.
 *
 * @example
 * const caps = cachedCapabilities(comm)
 */
export const cachedCapabilities = (device: DeviceCommunicationShape): DeviceCapabilities | undefined =>
  device.connectionState.getOrUndefined(CapabilitiesKey)

/**
 * Forget a board's cached capabilities: the next session probes again (after a firmware update, say).
 *
 * @example
 * forgetCapabilities(comm)
 */
export const forgetCapabilities = (device: DeviceCommunicationShape): void => {
  device.connectionState.delete(CapabilitiesKey)
}

let idCounter = 0
const newSessionId = () => `s${(++idCounter).toString(36)}-${Math.random().toString(36).slice(2, 8)}`

/**
 * A session manager for one board, living as long as the scope; closing the scope ends every
 * session at once.
 *
 * @example
 * const manager = yield* makeDeviceSessionManager(comm, { defaultSessionTimeout: Duration.minutes(5) })
 */
export const makeDeviceSessionManager = (
  device: DeviceCommunicationShape,
  overrides?: Partial<SessionManagementOptions>,
): Effect.Effect<DeviceSessionManagerShape, never, Scope.Scope> =>
  Effect.map(makeMultiBoardSessionManager(overrides), (manager) => manager.forBoard(device))

/** @internal per-board state of a manager */
interface Board {
  readonly raw: DeviceCommunicationShape
  readonly leases: BoardLeases
  readonly sessions: Map<string, DeviceSessionImpl>
  readonly watchers: Array<Fiber.Fiber<unknown, unknown>>
  /** The session `executeInSession` joins and `getOrCreateSession` returns (never an exclusive one). */
  current: DeviceSessionImpl | undefined
  state: DeviceSessionState
  total: number
  maxConcurrent: number
  linkLost: string | undefined
  detecting: Promise<DeviceCapabilities> | undefined
  /** The minimal capabilities the last session fell back to, until a probe works. */
  fallback: DeviceCapabilities | undefined
  view: DeviceSessionManagerShape | undefined
  host: SessionHost | undefined
}

type CleanupMode = NonNullable<ExecuteOptions["cleanupFailures"]>

/**
 * The outcome of an operation whose session this call ended: the operation's exit, with the
 * cleanup's failure as `mode` says.
 */
const withCleanup = (
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

/** The innermost session of `board` the fiber's operation holds, if it can still be used. */
const heldOn = (node: HoldNode | undefined, board: BoardLeases): DeviceSessionImpl | undefined => {
  for (let n = node; n !== undefined; n = n.parent) {
    if (n.live && n.session.board === board) {
      const session = n.session as DeviceSessionImpl
      if (!session.isFinishing) return session
    }
  }
  return undefined
}

/**
 * A session manager for any number of boards, living as long as the scope; closing the scope
 * ends every session at once.
 *
 * @example
 * const manager = yield* makeMultiBoardSessionManager({ maxConcurrentSessions: 40 })
 * const value = yield* manager.executeInSession(board, (s) => s.device.eval("1 + 1"))
 */
export const makeMultiBoardSessionManager = (
  overrides?: Partial<SessionManagementOptions>,
): Effect.Effect<MultiBoardSessionManagerShape, never, Scope.Scope> =>
  Effect.gen(function* () {
    const options = resolveSessionManagementOptions(overrides)
    const managerScope = yield* Effect.scope
    const managerContext = yield* Effect.context<never>()
    const runFork = Effect.runForkWith(managerContext)
    const boards = new Map<DeviceCommunicationShape, Board>()
    const byId = new Map<string, DeviceSessionImpl>()
    let state: DeviceSessionState = "Inactive"
    let total = 0
    let maxConcurrent = 0
    const slots =
      options.onSessionLimit === "wait" ? yield* Semaphore.make(options.maxConcurrentSessions) : undefined

    const metric = <A>(effect: Effect.Effect<A>) =>
      options.enableSessionMetrics ? Effect.asVoid(effect) : Effect.void

    const fork = (effect: Effect.Effect<unknown>) => {
      runFork(effect)
    }

    const capabilitiesFor = (board: Board, creation: SessionCreationOptions | undefined) =>
      Effect.suspend((): Effect.Effect<DeviceCapabilities, DeviceCapabilityError> => {
        const cached = board.raw.connectionState.getOrUndefined(CapabilitiesKey)
        if (cached !== undefined) return Effect.succeed(cached)
        // Concurrent first sessions share one probe.
        const pending = board.detecting
        if (pending !== undefined) return Effect.promise(() => pending)
        return detectCapabilities(board.raw).pipe(
          Effect.tap((caps) =>
            Effect.sync(() => {
              board.raw.connectionState.set(CapabilitiesKey, caps)
              board.fallback = undefined
            }),
          ),
          Effect.catchTag("DeviceCapabilityError", (error) =>
            (creation?.fallbackCapabilities ?? options.fallbackCapabilities)
              ? Effect.logWarning("Capability detection failed; using minimal capabilities").pipe(
                  Effect.annotateLogs({ error: error.reason, link: board.raw.description }),
                  Effect.andThen(
                    Effect.sync(() => {
                      const caps = minimalCapabilities()
                      board.fallback = caps
                      return caps
                    }),
                  ),
                )
              : Effect.fail(error),
          ),
        )
      })

    /** A session started ending: it is no longer current, and exchanges no longer hold it. */
    const onClosing = (board: Board) => (session: DeviceSessionImpl) => {
      board.leases.sessions.delete(session)
      if (board.current === session) {
        board.current = undefined
        for (const s of board.sessions.values()) {
          if (s.isActive && s.kind !== SessionKind.exclusive) board.current = s
        }
      }
    }

    const onEnded =
      (board: Board) =>
      (session: DeviceSessionImpl): Effect.Effect<void> =>
        Effect.gen(function* () {
          board.sessions.delete(session.sessionId)
          byId.delete(session.sessionId)
          board.leases.sessions.delete(session)
          if (board.current === session) board.current = undefined
          if (slots) yield* slots.release(1)
          yield* metric(Metric.update(SessionMetrics.ended, 1))
          const failures = session.cleanupFailure?.failures.length ?? 0
          if (failures > 0) yield* metric(Metric.update(SessionMetrics.cleanupFailures, failures))
          const cleaned = session.resourcesIfMade?.cleanedAtEnd ?? 0
          yield* Effect.logInfo(`Session ended, cleaned up ${cleaned} resource(s)`).pipe(
            Effect.annotateLogs({
              sessionId: session.sessionId,
              reason: session.endReason ?? "ended",
              cleanupFailures: failures,
            }),
          )
        })

    /** End in the background (idle expiry, lost link), never failing anyone. */
    const endDetached = (session: DeviceSessionImpl, reason: SessionEndReason) =>
      Effect.sync(() => fork(Effect.ignore(session.endWith(reason, Exit.void))))

    // One sweeper for all sessions ends those idle longer than the timeout (within a tenth of
    // it). A session held by an operation or an exchange is busy, never idle; its idle time
    // counts from when the last one left.
    const idleMs = Duration.toMillis(options.defaultSessionTimeout)
    const sweepMs = Math.min(60_000, Math.max(5, idleMs / 10))
    let sweeping = false
    const sweep: Effect.Effect<void> = Effect.gen(function* () {
      while (byId.size > 0) {
        yield* Effect.sleep(Duration.millis(sweepMs))
        const now = Date.now()
        for (const session of byId.values()) {
          if (session.isActive && !session.isBusy && now - session.lastActivity >= idleMs) {
            yield* Effect.logInfo("Session idle; ending it").pipe(
              Effect.annotateLogs({ sessionId: session.sessionId }),
            )
            yield* endDetached(session, "idle")
          }
        }
      }
    }).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          sweeping = false
        }),
      ),
    )
    // In the manager's scope: its timer must not outlive the manager (nor keep a process alive).
    const startSweeper = Effect.suspend(() => {
      if (sweeping || !Number.isFinite(idleMs)) return Effect.void
      sweeping = true
      return Effect.asVoid(Effect.forkIn(Effect.interruptible(sweep), managerScope))
    })

    const refuse = (board: Board): SessionManagerStateError | SessionError | undefined => {
      if (state === "Shutdown" || state === "Disposed") {
        return new SessionManagerStateError({ state, attempted: "create a session" })
      }
      if (board.state === "Shutdown" || board.state === "Disposed") {
        return new SessionManagerStateError({ state: board.state, attempted: "create a session" })
      }
      if (board.linkLost !== undefined) {
        return new SessionError({
          sessionId: undefined,
          reason: `the link to the board is gone (${board.linkLost})`,
          recoverable: false,
        })
      }
      return undefined
    }

    /** Everything that may wait (a slot, the probe); interruptible. */
    const prepare = (board: Board, creation: SessionCreationOptions | undefined) =>
      Effect.gen(function* () {
        const refused = refuse(board)
        if (refused !== undefined) return yield* refused
        const startedPrecise = performance.now()
        if (slots) yield* slots.take(1)
        else if (byId.size >= options.maxConcurrentSessions) {
          return yield* new SessionLimitError({ limit: options.maxConcurrentSessions })
        }
        const capabilities = yield* capabilitiesFor(board, creation).pipe(
          Effect.onError(() => (slots ? slots.release(1) : Effect.void)),
        )
        // Shutdown may have begun while we waited for a slot or the probe.
        const late = refuse(board)
        if (late !== undefined) {
          if (slots) yield* slots.release(1)
          return yield* late
        }
        const metrics = yield* board.raw.metrics
        return { capabilities, metrics, startedPrecise }
      })

    type Prepared = Effect.Success<ReturnType<typeof prepare>>

    /** Make and register the session; run uninterruptibly, so that it is never lost. */
    const register = (board: Board, prepared: Prepared, kind: number) =>
      Effect.suspend(() => {
        const sessionId = newSessionId()
        const session = new DeviceSessionImpl(
          sessionId,
          Date.now(),
          hostOf(board),
          prepared.capabilities,
          prepared.metrics,
          kind,
        )
        board.sessions.set(sessionId, session)
        board.leases.sessions.add(session)
        byId.set(sessionId, session)
        if (kind !== SessionKind.exclusive) board.current = session
        total++
        board.total++
        if (byId.size > maxConcurrent) maxConcurrent = byId.size
        if (board.sessions.size > board.maxConcurrent) board.maxConcurrent = board.sessions.size
        if (state === "Inactive") state = "Active"
        if (board.state === "Inactive") board.state = "Active"
        if (!options.enableSessionMetrics) {
          return Effect.andThen(
            startSweeper,
            Effect.as(
              Effect.logInfo("Session created").pipe(
                Effect.annotateLogs({ sessionId, device: board.raw.description }),
              ),
              session,
            ),
          )
        }
        return Effect.gen(function* () {
          yield* startSweeper
          yield* Metric.update(SessionMetrics.created, 1)
          yield* Metric.update(SessionMetrics.creationDuration, performance.now() - prepared.startedPrecise)
          yield* Effect.logInfo("Session created").pipe(
            Effect.annotateLogs({ sessionId, device: board.raw.description }),
          )
          return session
        })
      })

    const create = (
      board: Board,
      creation: SessionCreationOptions | undefined,
      kind: number,
    ): Effect.Effect<DeviceSessionImpl, SessionStartError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(prepare(board, creation)), (prepared) => register(board, prepared, kind)),
      ).pipe(Effect.withSpan("belay.session.create", { attributes: { link: board.raw.description } }))

    const liveCurrent = (board: Board): DeviceSessionImpl | undefined => {
      const session = board.current
      return session?.isActive ? session : undefined
    }

    const inSpan = <A, E, R>(
      session: DeviceSessionImpl,
      operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
    ): Effect.Effect<A, E, R> =>
      // The span `Effect.withSpan` makes, without the stack frame it also puts on the fiber: with
      // one there, every fiber the transport interrupts in an exchange (the losers of its timeout
      // races) gets its cause annotated, which costs more than the rest of a short operation.
      Effect.useSpan("belay.session.operation", { attributes: { sessionId: session.sessionId } }, (span) =>
        Effect.provideService(operation(session), Tracer.ParentSpan, span),
      ).pipe(Effect.annotateLogs({ sessionId: session.sessionId }))

    /**
     * Run `operation` holding `session` (the hold `node`), then give the hold back; the call that
     * must end the session (the owner of an exclusive one, the last user of a temporary one)
     * ends it and reports its cleanup as `mode` says.
     */
    const runHeld = (
      session: DeviceSessionImpl,
      node: HoldNode,
      owner: boolean,
      operation: (session: DeviceSession) => Effect.Effect<unknown, unknown, unknown>,
      mode: CleanupMode,
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
    ): Effect.Effect<unknown, unknown, unknown> =>
      Effect.flatMap(
        Effect.exit(restore(DeviceSessionImpl.provideHold(inSpan(session, operation), node))),
        (exit) => {
          const last = session.release(node)
          const ends = (owner && session.kind === SessionKind.exclusive) || last
          if (!ends) return mode === "carry" ? withCleanup(exit, undefined, mode) : exit
          return Effect.flatMap(Effect.exit(session.endWith(endReasonOf(exit), exit)), (cleanup) =>
            withCleanup(exit, cleanup, mode),
          )
        },
      )

    const execute =
      (joinable: boolean) =>
      (
        device: DeviceCommunicationShape,
        operation: (session: DeviceSession) => Effect.Effect<unknown, unknown, unknown>,
        options?: ExecuteOptions,
      ): Effect.Effect<unknown, unknown, unknown> =>
        Effect.suspend(() => {
          const board = boardOf(device)
          const mode = options?.cleanupFailures ?? "fail"
          return Effect.uninterruptibleMask((restore) =>
            Effect.withFiber((fiber) => {
              const parent = fiber.getRef(HeldSessions)
              if (joinable) {
                const live = heldOn(parent, board.leases) ?? liveCurrent(board)
                if (live !== undefined)
                  return runHeld(live, live.hold(parent), false, operation, mode, restore)
              }
              return Effect.flatMap(
                restore(create(board, options, joinable ? SessionKind.temporary : SessionKind.exclusive)),
                (session) => runHeld(session, session.adoptHold(parent), true, operation, mode, restore),
              )
            }),
          )
        })

    const executeInSession = execute(true) as ExecuteInSessionOn
    const executeInNewSession = execute(false) as ExecuteInSessionOn

    const watch = (board: Board) => {
      // A reset seen by the transport ends what the board lost, in every live session.
      board.watchers.push(
        runFork(
          Stream.runForEach(board.raw.resets, (event) =>
            Effect.gen(function* () {
              for (const session of board.sessions.values()) {
                const lost = session.resourcesIfMade?.boardReset() ?? 0
                session.boardResets++
                yield* Effect.logWarning("Board reset; board-side state of the session is gone").pipe(
                  Effect.annotateLogs({
                    sessionId: session.sessionId,
                    kind: event.kind,
                    requested: event.requested,
                    resources: lost,
                  }),
                )
              }
            }),
          ),
        ),
      )
      // A lost link breaks every session on it (each ends once the operations holding it,
      // which fail on the board now, have left).
      board.watchers.push(
        runFork(
          Effect.gen(function* () {
            const error = yield* board.raw.linkClosed
            board.linkLost = error.message
            for (const session of [...board.sessions.values()]) {
              session.brokenReason = error.message
              yield* Effect.logError("Link to the board lost; ending session").pipe(
                Effect.annotateLogs({ sessionId: session.sessionId, error: error.message }),
              )
              yield* endDetached(session, "link-lost")
            }
          }),
        ),
      )
    }

    const hostOf = (board: Board): SessionHost => {
      board.host ??= {
        board: board.leases,
        onClosing: onClosing(board),
        onEnded: onEnded(board),
        fork,
        options,
      }
      return board.host
    }

    const boardOf = (device: DeviceCommunicationShape): Board => {
      const raw = rawDevice(device)
      let board = boards.get(raw)
      if (board === undefined) {
        board = {
          raw,
          leases: boardLeases(raw),
          sessions: new Map(),
          watchers: [],
          current: undefined,
          state: "Inactive",
          total: 0,
          maxConcurrent: 0,
          linkLost: undefined,
          detecting: undefined,
          fallback: undefined,
          view: undefined,
          host: undefined,
        }
        boards.set(raw, board)
        watch(board)
      }
      return board
    }

    /** End sessions: after the operations holding them, or now with `force`. */
    const endEach = (sessions: Iterable<DeviceSessionImpl>, reason: SessionEndReason, force: boolean) =>
      Effect.forEach([...sessions], (s) => Effect.ignore(s.endWith(reason, Exit.void, force)), {
        concurrency: "unbounded",
        discard: true,
      })

    const shutdownBoard = (board: Board) =>
      Effect.gen(function* () {
        if (board.state !== "Active") {
          return yield* new SessionManagerStateError({ state: board.state, attempted: "shut down" })
        }
        board.state = "Shutdown"
        yield* Effect.logInfo("Session manager shutting down").pipe(
          Effect.annotateLogs({ sessions: board.sessions.size, link: board.raw.description }),
        )
        yield* endEach(board.sessions.values(), "shutdown", false)
        board.state = "Disposed"
      })

    const disposeBoard = (board: Board) =>
      Effect.suspend(() => {
        if (board.state === "Disposed" && board.sessions.size === 0) return Effect.void
        board.state = "Disposed"
        return endEach(board.sessions.values(), "shutdown", true)
      })

    const find = (sessionId: string) =>
      Effect.suspend(() => {
        const session = byId.get(sessionId)
        return session ? Effect.succeed(session) : Effect.fail(new SessionNotFoundError({ sessionId }))
      })

    const getOrCreate = (board: Board, creation?: SessionCreationOptions) =>
      Effect.suspend((): Effect.Effect<DeviceSessionImpl, SessionStartError> => {
        const live = liveCurrent(board)
        if (live === undefined) return create(board, creation, SessionKind.managed)
        // Handed out to the caller: it is the manager's now, not a call's temporary session.
        live.kind = SessionKind.managed
        return Effect.succeed(live)
      })

    const scopedSession = (board: Board, creation?: SessionCreationOptions) =>
      Effect.acquireRelease(create(board, creation, SessionKind.managed), (session, exit) =>
        Effect.ignore(session.endWith(endReasonOf(exit), exit)),
      )

    const statsOf = (sessions: number, all: number, max: number): SessionStats => ({
      activeSessionCount: sessions,
      totalSessionCount: all,
      maxSessionCount: max,
    })

    const viewOf = (board: Board): DeviceSessionManagerShape => {
      if (board.view !== undefined) return board.view
      const view: DeviceSessionManagerShape = {
        currentSessionId: Effect.sync(() => liveCurrent(board)?.sessionId),
        state: Effect.sync(() => board.state),
        capabilities: Effect.sync(
          () => board.raw.connectionState.getOrUndefined(CapabilitiesKey) ?? board.fallback,
        ),
        device: board.leases.device,
        options,
        createSession: (creation) => create(board, creation, SessionKind.managed),
        getOrCreateSession: (creation) => getOrCreate(board, creation),
        session: (creation) => scopedSession(board, creation),
        endSession: (sessionId) =>
          Effect.flatMap(
            Effect.suspend(() => {
              const session = board.sessions.get(sessionId)
              return session ? Effect.succeed(session) : Effect.fail(new SessionNotFoundError({ sessionId }))
            }),
            (s) => s.end,
          ),
        getSession: (sessionId) =>
          Effect.suspend(() => {
            const session = board.sessions.get(sessionId)
            return session ? Effect.succeed(session) : Effect.fail(new SessionNotFoundError({ sessionId }))
          }),
        liveSessions: Effect.sync(() => [...board.sessions.values()].filter((s) => s.isActive)),
        executeInSession: ((operation: never, executeOptions?: ExecuteOptions) =>
          executeInSession(board.raw, operation, executeOptions)) as ExecuteInSession,
        executeInNewSession: ((operation: never, executeOptions?: ExecuteOptions) =>
          executeInNewSession(board.raw, operation, executeOptions)) as ExecuteInSession,
        sessionStats: Effect.sync(() => statsOf(board.sessions.size, board.total, board.maxConcurrent)),
        shutdown: Effect.suspend(() => shutdownBoard(board)),
        dispose: Effect.suspend(() => disposeBoard(board)),
      }
      board.view = view
      return view
    }

    const shutdown = Effect.gen(function* () {
      if (state !== "Active") return yield* new SessionManagerStateError({ state, attempted: "shut down" })
      state = "Shutdown"
      yield* Effect.forEach(
        [...boards.values()],
        (board) => (board.state === "Active" ? Effect.ignore(shutdownBoard(board)) : disposeBoard(board)),
        { concurrency: "unbounded", discard: true },
      )
      state = "Disposed"
    })

    const dispose = Effect.suspend(() => {
      state = "Disposed"
      return Effect.forEach([...boards.values()], disposeBoard, { discard: true })
    })

    // Closing the manager's scope ends every session at once (the board's link is going too).
    yield* Effect.addFinalizer(() =>
      Effect.andThen(
        dispose,
        Effect.forEach(
          [...boards.values()].flatMap((b) => b.watchers),
          (f) => Fiber.interrupt(f),
          {
            discard: true,
          },
        ),
      ),
    )

    return {
      state: Effect.sync(() => state),
      options,
      boards: Effect.sync(() => [...boards.keys()]),
      forBoard: (device) => viewOf(boardOf(device)),
      createSession: (device, creation) =>
        Effect.suspend(() => create(boardOf(device), creation, SessionKind.managed)),
      getOrCreateSession: (device, creation) => Effect.suspend(() => getOrCreate(boardOf(device), creation)),
      session: (device, creation) => Effect.suspend(() => scopedSession(boardOf(device), creation)),
      executeInSession,
      executeInNewSession,
      endSession: (sessionId) => Effect.flatMap(find(sessionId), (s) => s.end),
      getSession: find,
      liveSessions: Effect.sync(() => [...byId.values()].filter((s) => s.isActive)),
      sessionStats: Effect.sync(() => statsOf(byId.size, total, maxConcurrent)),
      capabilities: (device) =>
        Effect.sync(() => {
          const raw = rawDevice(device)
          return raw.connectionState.getOrUndefined(CapabilitiesKey) ?? boards.get(raw)?.fallback
        }),
      currentSessionId: (device) =>
        Effect.sync(() => {
          const board = boards.get(rawDevice(device))
          return board === undefined ? undefined : liveCurrent(board)?.sessionId
        }),
      removeBoard: (device) =>
        Effect.suspend(() => {
          const raw = rawDevice(device)
          const board = boards.get(raw)
          if (board === undefined) return Effect.void
          return Effect.gen(function* () {
            board.state = "Shutdown"
            yield* endEach(board.sessions.values(), "shutdown", false)
            board.state = "Disposed"
            boards.delete(raw)
            for (const watcher of board.watchers) yield* Fiber.interrupt(watcher)
          })
        }),
      shutdown,
      dispose,
    } satisfies MultiBoardSessionManagerShape
  })

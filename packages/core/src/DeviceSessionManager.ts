import { DeviceCommunication, type DeviceCommunicationShape } from "@belay/transport"
import {
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  Layer,
  Metric,
  type Scope,
  Semaphore,
  Stream,
  Tracer,
} from "effect"
import type { ConfigError } from "effect/Config"
import { type DeviceCapabilities, detectCapabilities, minimalCapabilities } from "./DeviceCapabilities.js"
import { type DeviceSession, DeviceSessionImpl, endReasonOf, type SessionEndReason } from "./DeviceSession.js"
import {
  type DeviceCapabilityError,
  type DeviceSessionState,
  type ResourceCleanupError,
  SessionError,
  SessionLimitError,
  SessionManagerStateError,
  SessionNotFoundError,
} from "./errors.js"
import { ResourceTracker } from "./ResourceTracker.js"
import {
  loadSessionManagementOptions,
  resolveSessionManagementOptions,
  type SessionManagementOptions,
} from "./SessionManagementOptions.js"
import { SessionMetrics } from "./SessionMetrics.js"

/** Counts of sessions (the seed's `SessionStats`). */
export interface SessionStats {
  readonly activeSessionCount: number
  readonly totalSessionCount: number
  /** The most sessions ever live at once. */
  readonly maxSessionCount: number
}

/** Per-call options of session creation. */
export interface SessionCreationOptions {
  /** Go on with minimal capabilities if detection fails (the seed's `WithFallbackCapabilities`). */
  readonly fallbackCapabilities?: boolean
}

/** Everything creating a session can fail with. */
export type SessionCreationError =
  | SessionError
  | SessionManagerStateError
  | SessionLimitError
  | DeviceCapabilityError

/**
 * Coordinates the sessions on one board (the seed's `IDeviceSessionManager`).
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
  readonly state: Effect.Effect<DeviceSessionState>
  /** Capabilities of the board, once a session detected them. */
  readonly capabilities: Effect.Effect<DeviceCapabilities | undefined>
  readonly device: DeviceCommunicationShape
  readonly options: SessionManagementOptions
  /** A new session, owned by the manager: it lives until ended, idle, the link is lost, or shutdown. */
  readonly createSession: (
    options?: SessionCreationOptions,
  ) => Effect.Effect<DeviceSession, SessionCreationError>
  /** The current live session, or a new one. */
  readonly getOrCreateSession: (
    options?: SessionCreationOptions,
  ) => Effect.Effect<DeviceSession, SessionCreationError>
  /** A new session that ends when the caller's scope closes, with the scope's outcome. */
  readonly session: (
    options?: SessionCreationOptions,
  ) => Effect.Effect<DeviceSession, SessionCreationError, Scope.Scope>
  readonly endSession: (sessionId: string) => Effect.Effect<void, SessionNotFoundError | ResourceCleanupError>
  readonly getSession: (sessionId: string) => Effect.Effect<DeviceSession, SessionNotFoundError>
  readonly liveSessions: Effect.Effect<ReadonlyArray<DeviceSession>>
  /**
   * Run `operation` in the current live session, or in a new one that ends (cleaning up) when the
   * operation ends, however it ends.
   */
  readonly executeInSession: <A, E, R>(
    operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
  ) => Effect.Effect<A, E | SessionCreationError, R>
  /** Run `operation` in a new session that ends with it. */
  readonly executeInNewSession: <A, E, R>(
    operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
    options?: SessionCreationOptions,
  ) => Effect.Effect<A, E | SessionCreationError, R>
  readonly sessionStats: Effect.Effect<SessionStats>
  /** Active -> Shutdown -> Disposed: end every session, then refuse new ones. */
  readonly shutdown: Effect.Effect<void, SessionManagerStateError>
  /** Any state -> Disposed: end every session now (cleanup still bounded and complete). */
  readonly dispose: Effect.Effect<void>
}

/**
 * The session manager service.
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

const capabilityCache = new WeakMap<DeviceCommunicationShape, DeviceCapabilities>()

/**
 * Capabilities already detected for this board, if any.
 *
 * @example
 * const caps = cachedCapabilities(comm)
 */
export const cachedCapabilities = (device: DeviceCommunicationShape): DeviceCapabilities | undefined =>
  capabilityCache.get(device)

/**
 * Forget a board's cached capabilities: the next session probes again (after a firmware update, say).
 *
 * @example
 * forgetCapabilities(comm)
 */
export const forgetCapabilities = (device: DeviceCommunicationShape): void => {
  capabilityCache.delete(device)
}

let idCounter = 0
const newSessionId = () => `s${(++idCounter).toString(36)}-${Math.random().toString(36).slice(2, 8)}`

/**
 * A session manager for one board, living as long as the scope; closing the scope ends every session.
 *
 * @example
 * const manager = yield* makeDeviceSessionManager(comm, { defaultSessionTimeout: Duration.minutes(5) })
 */
export const makeDeviceSessionManager = (
  device: DeviceCommunicationShape,
  overrides?: Partial<SessionManagementOptions>,
): Effect.Effect<DeviceSessionManagerShape, never, Scope.Scope> =>
  Effect.gen(function* () {
    const options = resolveSessionManagementOptions(overrides)
    const managerScope = yield* Effect.scope
    const sessions = new Map<string, DeviceSessionImpl>()
    let state: DeviceSessionState = "Inactive"
    let current: string | undefined
    let total = 0
    let maxConcurrent = 0
    let linkLost: string | undefined
    let detecting: Promise<DeviceCapabilities> | undefined
    const slots =
      options.onSessionLimit === "wait" ? yield* Semaphore.make(options.maxConcurrentSessions) : undefined

    const metric = <A>(effect: Effect.Effect<A>) =>
      options.enableSessionMetrics ? Effect.asVoid(effect) : Effect.void

    const capabilitiesFor = (creation: SessionCreationOptions | undefined) =>
      Effect.suspend((): Effect.Effect<DeviceCapabilities, DeviceCapabilityError> => {
        const cached = capabilityCache.get(device)
        if (cached !== undefined) return Effect.succeed(cached)
        // Concurrent first sessions share one probe.
        const pending = detecting
        if (pending !== undefined) return Effect.promise(() => pending)
        return detectCapabilities(device).pipe(
          Effect.tap((caps) => Effect.sync(() => capabilityCache.set(device, caps))),
          Effect.catchTag("DeviceCapabilityError", (error) =>
            (creation?.fallbackCapabilities ?? options.fallbackCapabilities)
              ? Effect.as(
                  Effect.logWarning("Capability detection failed; using minimal capabilities").pipe(
                    Effect.annotateLogs({ error: error.reason, link: device.description }),
                  ),
                  minimalCapabilities(),
                )
              : Effect.fail(error),
          ),
        )
      })

    const onEnded = (session: DeviceSessionImpl): Effect.Effect<void> =>
      Effect.gen(function* () {
        sessions.delete(session.sessionId)
        if (current === session.sessionId) {
          current = undefined
          for (const s of sessions.values()) current = s.sessionId
        }
        if (slots) yield* slots.release(1)
        yield* metric(Metric.update(SessionMetrics.ended, 1))
        const failures = session.cleanupFailure?.failures.length ?? 0
        if (failures > 0) yield* metric(Metric.update(SessionMetrics.cleanupFailures, failures))
        yield* Effect.logInfo("Session ended").pipe(
          Effect.annotateLogs({
            sessionId: session.sessionId,
            reason: session.endReason ?? "ended",
            cleanupFailures: failures,
          }),
        )
      })

    const host = { device, onEnded }

    const end = (session: DeviceSessionImpl, reason: SessionEndReason, exit: Exit.Exit<unknown, unknown>) =>
      session.endWith(reason, exit)

    /** End in the background (idle expiry, lost link, board-side events), never failing the caller. */
    const endDetached = (session: DeviceSessionImpl, reason: SessionEndReason) =>
      Effect.forkIn(Effect.ignore(end(session, reason, Exit.void)), managerScope)

    // One sweeper for all sessions ends those idle longer than the timeout (within a tenth of it).
    const idleMs = Duration.toMillis(options.defaultSessionTimeout)
    const sweepMs = Math.min(60_000, Math.max(5, idleMs / 10))
    let sweeping = false
    const sweep: Effect.Effect<void> = Effect.gen(function* () {
      while (sessions.size > 0) {
        yield* Effect.sleep(Duration.millis(sweepMs))
        const now = yield* Clock.currentTimeMillis
        for (const session of sessions.values()) {
          if (session.isActive && now - session.lastActivity >= idleMs) {
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
    const startSweeper = Effect.suspend(() => {
      if (sweeping || !Number.isFinite(idleMs)) return Effect.void
      sweeping = true
      return Effect.asVoid(Effect.forkIn(sweep, managerScope))
    })

    const create = (
      creation?: SessionCreationOptions,
    ): Effect.Effect<DeviceSessionImpl, SessionCreationError> =>
      Effect.gen(function* () {
        if (state === "Shutdown" || state === "Disposed") {
          return yield* new SessionManagerStateError({ state, attempted: "create a session" })
        }
        if (linkLost !== undefined) {
          return yield* new SessionError({
            sessionId: undefined,
            reason: `the link to the board is gone (${linkLost})`,
            recoverable: false,
          })
        }
        const started = yield* Clock.currentTimeMillis
        const startedPrecise = performance.now()
        if (slots) yield* slots.take(1)
        else if (sessions.size >= options.maxConcurrentSessions) {
          return yield* new SessionLimitError({ limit: options.maxConcurrentSessions })
        }
        const capabilities = yield* capabilitiesFor(creation).pipe(
          Effect.onError(() => (slots ? slots.release(1) : Effect.void)),
        )
        // Shutdown may have begun while we waited for a slot or the probe.
        if ((state as DeviceSessionState) === "Shutdown" || (state as DeviceSessionState) === "Disposed") {
          if (slots) yield* slots.release(1)
          return yield* new SessionManagerStateError({ state, attempted: "create a session" })
        }
        const sessionId = newSessionId()
        const tracker = new ResourceTracker(
          sessionId,
          options.resourceCleanupTimeout,
          options.enableResourceTracking,
          options.enableSessionMetrics,
        )
        const session = new DeviceSessionImpl(
          sessionId,
          started,
          tracker,
          host,
          capabilities,
          yield* device.metrics,
        )
        sessions.set(sessionId, session)
        current = sessionId
        total++
        if (sessions.size > maxConcurrent) maxConcurrent = sessions.size
        if (state === "Inactive") state = "Active"
        yield* startSweeper
        yield* metric(Metric.update(SessionMetrics.created, 1))
        yield* metric(Metric.update(SessionMetrics.creationDuration, performance.now() - startedPrecise))
        yield* Effect.logInfo("Session created").pipe(
          Effect.annotateLogs({ sessionId, device: device.description }),
        )
        return session
      }).pipe(Effect.withSpan("belay.session.create", { attributes: { link: device.description } }))

    const touch = (session: DeviceSessionImpl) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        session.lastActivity = now
      })

    const runIn = <A, E, R>(
      session: DeviceSessionImpl,
      operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
    ): Effect.Effect<A, E, R> =>
      // The span `Effect.withSpan` makes, without the stack frame it also puts on the fiber: with
      // one there, every fiber the transport interrupts in an exchange (the losers of its timeout
      // races) gets its cause annotated, which costs more than the rest of a short operation.
      Effect.useSpan("belay.session.operation", { attributes: { sessionId: session.sessionId } }, (span) =>
        Effect.provideService(
          Effect.ensuring(Effect.andThen(touch(session), operation(session)), touch(session)),
          Tracer.ParentSpan,
          span,
        ),
      ).pipe(Effect.annotateLogs({ sessionId: session.sessionId }))

    const liveCurrent = (): DeviceSessionImpl | undefined => {
      if (current === undefined) return undefined
      const session = sessions.get(current)
      return session?.isActive ? session : undefined
    }

    const executeInNewSession = <A, E, R>(
      operation: (session: DeviceSession) => Effect.Effect<A, E, R>,
      creation?: SessionCreationOptions,
    ): Effect.Effect<A, E | SessionCreationError, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const session = yield* restore(create(creation))
          const exit = yield* Effect.exit(restore(runIn(session, operation)))
          // The operation's outcome stands; cleanup failures are logged by the tracker and counted.
          yield* Effect.ignore(end(session, endReasonOf(exit), exit))
          return yield* exit
        }),
      )

    // A reset seen by the transport ends what the board lost, in every live session.
    yield* Stream.runForEach(device.resets, (event) =>
      Effect.gen(function* () {
        for (const session of sessions.values()) {
          const lost = session.resources.boardReset()
          session.boardResets++
          yield* Effect.logWarning("Board reset; board-side state of the session is gone").pipe(
            Effect.annotateLogs({
              sessionId: session.sessionId,
              kind: event.kind,
              requested: event.requested,
              threads: lost.threads,
              methods: lost.methods,
              resources: lost.resources,
            }),
          )
        }
      }),
    ).pipe(Effect.forkScoped)

    // A lost link breaks every session on it.
    yield* Effect.gen(function* () {
      const error = yield* device.linkClosed
      linkLost = error.message
      for (const session of [...sessions.values()]) {
        session.brokenReason = error.message
        yield* Effect.logError("Link to the board lost; ending session").pipe(
          Effect.annotateLogs({ sessionId: session.sessionId, error: error.message }),
        )
        yield* endDetached(session, "link-lost")
      }
    }).pipe(Effect.forkScoped)

    const endAll = (reason: SessionEndReason) =>
      Effect.forEach([...sessions.values()], (s) => Effect.ignore(end(s, reason, Exit.void)), {
        discard: true,
      })

    const shutdown = Effect.gen(function* () {
      if (state !== "Active") return yield* new SessionManagerStateError({ state, attempted: "shut down" })
      state = "Shutdown"
      yield* Effect.logInfo("Session manager shutting down").pipe(
        Effect.annotateLogs({ sessions: sessions.size }),
      )
      yield* endAll("shutdown")
      state = "Disposed"
    })

    const dispose = Effect.gen(function* () {
      if (state === "Disposed") return
      state = "Disposed"
      yield* endAll("shutdown")
    })

    yield* Effect.addFinalizer(() => (state === "Active" ? Effect.ignore(shutdown) : dispose))

    const find = (sessionId: string) =>
      Effect.suspend(() => {
        const session = sessions.get(sessionId)
        return session ? Effect.succeed(session) : Effect.fail(new SessionNotFoundError({ sessionId }))
      })

    return {
      currentSessionId: Effect.sync(() => liveCurrent()?.sessionId),
      state: Effect.sync(() => state),
      capabilities: Effect.sync(() => capabilityCache.get(device)),
      device,
      options,
      createSession: create,
      getOrCreateSession: (creation) =>
        Effect.suspend(() => {
          const live = liveCurrent()
          return live ? Effect.succeed(live) : create(creation)
        }),
      session: (creation) =>
        Effect.acquireRelease(create(creation), (session, exit) =>
          Effect.ignore(end(session, endReasonOf(exit), exit)),
        ),
      endSession: (sessionId) => Effect.flatMap(find(sessionId), (s) => end(s, "ended", Exit.void)),
      getSession: find,
      liveSessions: Effect.sync(() => [...sessions.values()].filter((s) => s.isActive)),
      executeInSession: (operation) =>
        Effect.suspend(() => {
          const live = liveCurrent()
          return live ? runIn(live, operation) : executeInNewSession(operation)
        }),
      executeInNewSession,
      sessionStats: Effect.sync(() => ({
        activeSessionCount: sessions.size,
        totalSessionCount: total,
        maxSessionCount: maxConcurrent,
      })),
      shutdown,
      dispose,
    } satisfies DeviceSessionManagerShape
  })

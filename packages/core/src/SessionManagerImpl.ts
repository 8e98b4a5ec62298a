/**
 * The session manager's implementation: per-board state (current session, capabilities, lost
 * link, state machine), session creation under the concurrency limit, joining and holding
 * sessions, ending them (asked, idle, lost link, shutdown) and the board-reset and link watchers.
 * One closure over the manager's state; the idle sweeper, the capability cache and the outcome of
 * a cleanup live in their own modules. Over 400 lines: what remains is one state machine whose
 * parts share that state.
 */
import type { DeviceCommunicationShape } from "@belay/transport"
import { monotonicMs } from "@belay/transport/internal"
import { Effect, Exit, Fiber, Metric, type Scope, Semaphore, Tracer } from "effect"
import { CapabilitiesKey, capabilitiesFor } from "./CapabilityCache.js"
import type { DeviceSession, SessionEndReason } from "./DeviceSession.js"
import { DeviceSessionImpl, endReasonOf, type SessionHost, SessionKind } from "./DeviceSessionImpl.js"
import type {
  DeviceSessionManagerShape,
  ExecuteInSession,
  ExecuteInSessionOn,
  ExecuteOptions,
  MultiBoardSessionManagerShape,
  SessionCreationOptions,
  SessionStartError,
  SessionStats,
} from "./DeviceSessionManager.js"
import {
  type DeviceSessionState,
  SessionError,
  SessionLimitError,
  SessionManagerStateError,
  SessionNotFoundError,
} from "./errors.js"
import { idleSweeper } from "./IdleSweeper.js"
import { type Board, heldOn, watchBoard } from "./ManagedBoard.js"
import { type CleanupMode, withCleanup } from "./SessionCleanupOutcome.js"
import { boardLeases, HeldSessions, type HoldNode, rawDevice } from "./SessionLeases.js"
import { resolveSessionManagementOptions, type SessionManagementOptions } from "./SessionManagementOptions.js"
import { SessionMetrics } from "./SessionMetrics.js"

let idCounter = 0
const newSessionId = () => `s${(++idCounter).toString(36)}-${Math.random().toString(36).slice(2, 8)}`

/**
 * A session manager for any number of boards, living as long as the scope; closing the scope
 * ends every session at once.
 *
 * @example
 * const manager = yield* makeMultiBoardSessionManager({ maxConcurrentSessions: 40 })
 * const value = yield* manager.executeInSession(board, (s) => s.device.eval("1 + 1"))
 *
 * @since 0.1.0
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

    // In the manager's scope: its timer must not outlive the manager (nor keep a process alive).
    const startSweeper = idleSweeper(
      byId.values.bind(byId),
      () => byId.size,
      options.defaultSessionTimeout,
      managerScope,
      (session) => endDetached(session, "idle"),
    )

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
        const startedPrecise = monotonicMs()
        if (slots) yield* slots.take(1)
        else if (byId.size >= options.maxConcurrentSessions) {
          return yield* new SessionLimitError({ limit: options.maxConcurrentSessions })
        }
        const capabilities = yield* capabilitiesFor(
          board,
          creation?.fallbackCapabilities ?? options.fallbackCapabilities,
        ).pipe(Effect.onError(() => (slots ? slots.release(1) : Effect.void)))
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
          yield* Metric.update(SessionMetrics.creationDuration, monotonicMs() - prepared.startedPrecise)
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

    const watch = (board: Board) => watchBoard(board, runFork, endDetached)

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

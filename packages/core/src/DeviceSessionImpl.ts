/**
 * A session's mutable state, driven by its manager: its holds (operations and exchanges using
 * it), how and when it ends, and its lazily built parts (scope, state, resources, device context).
 */
import type { DeviceCommunicationShape, ProtocolMetrics } from "@belay/transport"
import { Cause, Deferred, Effect, Exit, Scope } from "effect"
import type { DeviceCapabilities } from "./DeviceCapabilities.js"
import { type DeviceContext, makeDeviceContext } from "./DeviceContext.js"
import type { DeviceSession, SessionAcquireOptions, SessionEndReason } from "./DeviceSession.js"
import { type ResourceCleanupError, SessionError } from "./errors.js"
import { closeTracker, refuseRegistrations } from "./ResourceSegment.js"
import { ResourceTracker } from "./ResourceTracker.js"
import { type BoardLeases, HeldSessions, type Holdable, HoldNode, ownHolds } from "./SessionLeases.js"
import type { SessionManagementOptions } from "./SessionManagementOptions.js"
import type { ResourceHandle } from "./SessionResource.js"
import { SessionState } from "./SessionState.js"

/** @internal what a session needs from its manager */
export interface SessionHost {
  /** The board's lease state (its session device view included). */
  readonly board: BoardLeases
  /** The session started ending: it is no longer the current session. */
  readonly onClosing: (session: DeviceSessionImpl) => void
  readonly onEnded: (session: DeviceSessionImpl) => Effect.Effect<void>
  /** Run an end in the background, with the manager's services. */
  readonly fork: (effect: Effect.Effect<unknown>) => void
  /** The manager's options (cleanup timeout, tracking, metrics). */
  readonly options: SessionManagementOptions
}

/** @internal how a session ends (see `DeviceSessionImpl.kind`) */
export const SessionKind = {
  /** Made by `createSession`, `getOrCreateSession`, `session()`: ends when asked, idle, or at shutdown. */
  managed: 0,
  /** Made by `executeInSession` for itself: joinable, ends when its last holder leaves. */
  temporary: 1,
  /** Made by `executeInNewSession`: not joinable, ends when its operation ends. */
  exclusive: 2,
} as const

/** @internal an end asked for while operations held the session */
interface PendingEnd {
  readonly reason: SessionEndReason
  readonly exit: Exit.Exit<unknown, unknown>
  /** Holds of the callers that asked for the end themselves: the end does not wait for them. */
  readonly excused: Set<HoldNode>
}

/** @internal the session's mutable state, driven by the manager; built lazily to stay small */
export class DeviceSessionImpl implements DeviceSession, Holdable {
  isActive = true
  holders = 0
  kind: number
  boardResets = 0
  brokenReason: string | undefined = undefined
  endReason: SessionEndReason | undefined = undefined
  cleanupFailure: ResourceCleanupError | undefined = undefined
  lastActivity: number
  private pendingEnd: PendingEnd | undefined = undefined
  private finishing = false
  private scopeRef: Scope.Closeable | undefined = undefined
  private resourcesRef: ResourceTracker | undefined = undefined
  private stateRef: SessionState | undefined = undefined
  private deviceRef: DeviceContext | undefined = undefined
  private ending: Deferred.Deferred<void, ResourceCleanupError> | undefined = undefined

  constructor(
    readonly sessionId: string,
    readonly createdAtMs: number,
    private readonly host: SessionHost,
    private readonly capabilities: DeviceCapabilities,
    private readonly metricsAtStart: ProtocolMetrics,
    kind: number,
  ) {
    this.lastActivity = createdAtMs
    this.kind = kind
    // Temporary and exclusive sessions are born held by the operation they are made for.
    if (kind !== SessionKind.managed) this.holders = 1
  }

  get board(): BoardLeases {
    return this.host.board
  }

  get createdAt(): Date {
    return new Date(this.createdAtMs)
  }

  get device(): DeviceCommunicationShape {
    return this.host.board.device
  }

  get isBusy(): boolean {
    return this.holders > 0
  }

  get scope(): Scope.Closeable {
    this.scopeRef ??= Scope.makeUnsafe()
    return this.scopeRef
  }

  /** @internal the tracker, when something made it */
  get resourcesIfMade(): ResourceTracker | undefined {
    return this.resourcesRef
  }

  /** @internal true once the session's cleanup began: nothing more may be registered on it. */
  get isFinishing(): boolean {
    return this.finishing
  }

  get resources(): ResourceTracker {
    if (this.resourcesRef === undefined) {
      const options = this.host.options
      this.resourcesRef = new ResourceTracker(
        this.sessionId,
        options.resourceCleanupTimeout,
        options.enableResourceTracking,
        options.enableSessionMetrics,
        () => this.scope,
      )
      // First asked for after the session's cleanup began: it refuses registrations too.
      if (this.finishing) this.resourcesRef[refuseRegistrations]()
    }
    return this.resourcesRef
  }

  get state(): SessionState {
    this.stateRef ??= new SessionState()
    return this.stateRef
  }

  get deviceContext(): DeviceContext {
    this.deviceRef ??= makeDeviceContext(
      this.sessionId,
      this.host.board.device,
      this.capabilities,
      this.metricsAtStart,
    )
    return this.deviceRef
  }

  get ended(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.ending ??= Deferred.makeUnsafe()
      return Effect.ignore(Deferred.await(this.ending))
    })
  }

  // ---- holds ----

  /** @internal a hold recorded in the fiber's context (`parent` is the fiber's current chain) */
  hold(parent: HoldNode | undefined): HoldNode {
    this.holders++
    return new HoldNode(this, parent)
  }

  /** @internal a hold the session was born with (temporary and exclusive sessions) */
  adoptHold(parent: HoldNode | undefined): HoldNode {
    return new HoldNode(this, parent)
  }

  holdUnattributed(): void {
    this.holders++
  }

  releaseUnattributed(): void {
    this.holders--
    if (this.settle(undefined)) this.host.fork(Effect.ignore(this.endWith("operation-finished", Exit.void)))
  }

  /**
   * @internal Give back `node`'s hold. Starts an end that waited for the holders once only
   * excused ones remain; true when this was the last user of a temporary session, which the
   * caller then ends.
   */
  release(node: HoldNode): boolean {
    this.holders--
    return this.settle(node)
  }

  private settle(node: HoldNode | undefined): boolean {
    this.lastActivity = Date.now()
    if (node !== undefined) {
      node.live = false
      this.pendingEnd?.excused.delete(node)
    }
    const pending = this.pendingEnd
    if (pending !== undefined) {
      if (this.holders <= pending.excused.size) {
        this.pendingEnd = undefined
        this.host.fork(Effect.exit(this.finish(pending.reason, pending.exit)))
      }
      return false
    }
    return this.kind === SessionKind.temporary && this.holders === 0 && this.isActive
  }

  /**
   * @internal Run `effect` holding the session, with the hold `node` in the fiber's context;
   * the exit of `effect` (the hold is given back by the caller).
   */
  static provideHold<A, E, R>(effect: Effect.Effect<A, E, R>, node: HoldNode): Effect.Effect<A, E, R> {
    return Effect.provideService(effect, HeldSessions, node)
  }

  use<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SessionError, R> {
    return Effect.withFiber((fiber): Effect.Effect<A, E | SessionError, R> => {
      const parent = fiber.getRef(HeldSessions)
      if (!this.isActive && ownHolds(parent, this).length === 0) {
        return Effect.fail(
          new SessionError({
            sessionId: this.sessionId,
            reason: "cannot use the session: it has ended",
            recoverable: true,
          }),
        )
      }
      return Effect.uninterruptibleMask((restore) => {
        const node = this.hold(parent)
        return Effect.flatMap(
          Effect.exit(restore(DeviceSessionImpl.provideHold(effect, node))),
          (exit): Effect.Effect<A, E> => {
            if (this.release(node)) {
              // The last user of a temporary session: end it in the background.
              this.host.fork(Effect.ignore(this.endWith(endReasonOf(exit), exit)))
            }
            return exit
          },
        )
      })
    })
  }

  // ---- resources ----

  acquireWithHandle<A, E, R>(
    acquire: Effect.Effect<A, E, R>,
    release: (a: A) => Effect.Effect<unknown, unknown>,
    options: SessionAcquireOptions,
  ): Effect.Effect<readonly [A, ResourceHandle], E | SessionError | ResourceCleanupError, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.gen({ self: this }, function* () {
        // An ending session still takes resources from the operations that hold it (they are
        // cleaned up with the rest); only an ended one refuses.
        if (this.finishing) {
          return yield* new SessionError({
            sessionId: this.sessionId,
            reason: `cannot acquire ${options.resourceType}: the session has ended`,
            recoverable: true,
          })
        }
        const value = yield* restore(acquire)
        const handle = yield* this.resources.track(
          options.resourceType,
          Effect.asVoid(Effect.suspend(() => release(value))),
          options,
        )
        return [value, handle] as const
      }),
    )
  }

  acquire<A, E, R>(
    acquire: Effect.Effect<A, E, R>,
    release: (a: A) => Effect.Effect<unknown, unknown>,
    options: SessionAcquireOptions,
  ): Effect.Effect<A, E | SessionError | ResourceCleanupError, R> {
    return Effect.map(this.acquireWithHandle(acquire, release, options), ([value]) => value)
  }

  // ---- ending ----

  get end(): Effect.Effect<void, ResourceCleanupError> {
    return this.endWith("ended", Exit.void)
  }

  /**
   * @internal End once. The session stops being active at once (no new operation joins it);
   * the cleanup runs when the operations holding it have left (the caller's own holds do not
   * count), or at once with `force`. Later callers wait for the same outcome.
   */
  endWith(
    reason: SessionEndReason,
    exit: Exit.Exit<unknown, unknown>,
    force = false,
  ): Effect.Effect<void, ResourceCleanupError> {
    return Effect.withFiber((fiber) => {
      this.ending ??= Deferred.makeUnsafe()
      const ending = this.ending
      const own = ownHolds(fiber.getRef(HeldSessions), this)
      if (!this.isActive) {
        const pending = this.pendingEnd
        if (pending !== undefined) {
          // Asked again: by one of the holders (which the end then does not wait for), or by
          // force (which does not wait at all).
          for (const node of own) pending.excused.add(node)
          if (force || this.holders <= pending.excused.size) {
            this.pendingEnd = undefined
            return this.finish(pending.reason, pending.exit)
          }
        }
        return Deferred.await(ending)
      }
      this.isActive = false
      this.endReason = reason
      this.host.onClosing(this)
      if (force || this.holders <= own.length) return this.finish(reason, exit)
      this.pendingEnd = { reason, exit, excused: new Set(own) }
      return Deferred.await(ending)
    })
  }

  /**
   * Close the session's scope (its own finalizers first), clean up the tracker (newest first),
   * tell the manager, and complete `ending`. Runs once.
   */
  private finish(
    reason: SessionEndReason,
    exit: Exit.Exit<unknown, unknown>,
  ): Effect.Effect<void, ResourceCleanupError> {
    this.ending ??= Deferred.makeUnsafe()
    const ending = this.ending
    if (this.finishing) return Deferred.await(ending)
    this.finishing = true
    this.endReason = reason
    return Effect.uninterruptible(
      Effect.gen({ self: this }, function* () {
        // The resources' cleanups are finalizers on the session's scope, with its own.
        if (this.resourcesRef !== undefined) {
          const cleanup = yield* Effect.exit(this.resourcesRef[closeTracker](exit))
          if (Exit.isFailure(cleanup)) {
            const failure = Cause.findErrorOption(cleanup.cause)
            if (failure._tag === "Some") this.cleanupFailure = failure.value
          }
        } else if (this.scopeRef !== undefined) yield* Scope.close(this.scopeRef, exit)
        this.stateRef?.clear()
        yield* this.host.onEnded(this)
        const result: Exit.Exit<void, ResourceCleanupError> =
          this.cleanupFailure === undefined ? Exit.void : Exit.fail(this.cleanupFailure)
        yield* Deferred.done(ending, result)
        return yield* result
      }),
    )
  }
}

/** @internal classify an operation's exit for the session's end reason */
export const endReasonOf = (exit: Exit.Exit<unknown, unknown>): SessionEndReason =>
  Exit.isSuccess(exit) ? "operation-finished" : Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failed"

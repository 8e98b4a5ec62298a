import type { DeviceCommunicationShape, ProtocolMetrics } from "@belay/transport"
import { Cause, Deferred, Effect, Exit, Scope } from "effect"
import type { DeviceCapabilities } from "./DeviceCapabilities.js"
import { type DeviceContext, makeDeviceContext } from "./DeviceContext.js"
import { type ExecutorContext, makeExecutorContext } from "./ExecutorContext.js"
import { type ResourceCleanupError, SessionError } from "./errors.js"
import { type FileSystemContext, makeFileSystemContext } from "./FileSystemContext.js"
import type { ResourceHandle, ResourceTracker } from "./ResourceTracker.js"
import { SessionState } from "./SessionState.js"

/** Why a session ended. */
export type SessionEndReason =
  | "ended"
  | "operation-finished"
  | "failed"
  | "interrupted"
  | "idle"
  | "link-lost"
  | "shutdown"

/** Options for a resource acquired through a session. */
export interface SessionAcquireOptions {
  readonly resourceType: string
  readonly resourceId?: string
  readonly estimatedCost?: number
  /** The resource lives in board RAM: a board reset ends it without cleanup. */
  readonly lostOnReset?: boolean
}

/**
 * One isolated context for working with a board (the seed's `IDeviceSession`). A session is a
 * `Scope`: when it ends (asked to, failed, idle, interrupted or its link lost) everything it
 * started is cleaned up, newest first, exactly once.
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
 */
export interface DeviceSession {
  readonly sessionId: string
  readonly createdAt: Date
  /** True from creation until the session starts ending. */
  readonly isActive: boolean
  readonly state: SessionState
  readonly resources: ResourceTracker
  readonly executorContext: ExecutorContext
  readonly deviceContext: DeviceContext
  readonly fileSystemContext: FileSystemContext
  /** The board this session talks to. */
  readonly device: DeviceCommunicationShape
  /** The session's scope: finalizers added here run when the session ends. */
  readonly scope: Scope.Scope
  /** Board resets seen while this session was live (each ended the session's threads and deployed functions). */
  readonly boardResets: number
  /** Set when the link to the board broke under this session. */
  readonly brokenReason: string | undefined
  readonly endReason: SessionEndReason | undefined
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
  /** End the session now: clean up everything it holds. */
  readonly end: Effect.Effect<void, ResourceCleanupError>
  /** Completes when the session has ended and cleaned up. */
  readonly ended: Effect.Effect<void>
}

/** @internal what a session needs from its manager */
export interface SessionHost {
  readonly device: DeviceCommunicationShape
  readonly onEnded: (session: DeviceSessionImpl) => Effect.Effect<void>
}

/** @internal the session's mutable state, driven by the manager; built lazily to stay small */
export class DeviceSessionImpl implements DeviceSession {
  isActive = true
  boardResets = 0
  brokenReason: string | undefined = undefined
  endReason: SessionEndReason | undefined = undefined
  cleanupFailure: ResourceCleanupError | undefined = undefined
  lastActivity: number
  private scopeRef: Scope.Closeable | undefined = undefined
  private stateRef: SessionState | undefined = undefined
  private executorRef: ExecutorContext | undefined = undefined
  private deviceRef: DeviceContext | undefined = undefined
  private fileSystemRef: (FileSystemContext & { readonly clear: () => void }) | undefined = undefined
  private ending: Deferred.Deferred<void, ResourceCleanupError> | undefined = undefined

  constructor(
    readonly sessionId: string,
    readonly createdAtMs: number,
    readonly resources: ResourceTracker,
    private readonly host: SessionHost,
    private readonly capabilities: DeviceCapabilities,
    private readonly metricsAtStart: ProtocolMetrics,
  ) {
    this.lastActivity = createdAtMs
  }

  get createdAt(): Date {
    return new Date(this.createdAtMs)
  }

  get device(): DeviceCommunicationShape {
    return this.host.device
  }

  get scope(): Scope.Scope {
    this.scopeRef ??= Scope.makeUnsafe()
    return this.scopeRef
  }

  get state(): SessionState {
    this.stateRef ??= new SessionState()
    return this.stateRef
  }

  get executorContext(): ExecutorContext {
    this.executorRef ??= makeExecutorContext(this.sessionId, this.resources)
    return this.executorRef
  }

  get deviceContext(): DeviceContext {
    this.deviceRef ??= makeDeviceContext(
      this.sessionId,
      this.host.device,
      this.capabilities,
      this.metricsAtStart,
    )
    return this.deviceRef
  }

  get fileSystemContext(): FileSystemContext {
    this.fileSystemRef ??= makeFileSystemContext(this.sessionId)
    return this.fileSystemRef
  }

  get ended(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.ending ??= Deferred.makeUnsafe()
      return Effect.ignore(Deferred.await(this.ending))
    })
  }

  acquireWithHandle<A, E, R>(
    acquire: Effect.Effect<A, E, R>,
    release: (a: A) => Effect.Effect<unknown, unknown>,
    options: SessionAcquireOptions,
  ): Effect.Effect<readonly [A, ResourceHandle], E | SessionError | ResourceCleanupError, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.gen({ self: this }, function* () {
        if (!this.isActive) {
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

  get end(): Effect.Effect<void, ResourceCleanupError> {
    return this.endWith("ended", Exit.void)
  }

  /**
   * End once: close the session's scope (its own finalizers first), clean up the tracker (newest
   * first), tell the manager. Later callers wait for the same outcome.
   */
  endWith(
    reason: SessionEndReason,
    exit: Exit.Exit<unknown, unknown>,
  ): Effect.Effect<void, ResourceCleanupError> {
    return Effect.suspend(() => {
      if (!this.isActive) {
        this.ending ??= Deferred.makeUnsafe()
        return Deferred.await(this.ending)
      }
      this.isActive = false
      this.endReason = reason
      this.ending ??= Deferred.makeUnsafe()
      const ending = this.ending
      return Effect.uninterruptible(
        Effect.gen({ self: this }, function* () {
          if (this.scopeRef !== undefined) yield* Scope.close(this.scopeRef, exit)
          const cleanup = yield* Effect.exit(this.resources.close)
          if (Exit.isFailure(cleanup)) {
            const failure = Cause.findErrorOption(cleanup.cause)
            if (failure._tag === "Some") this.cleanupFailure = failure.value
          }
          this.fileSystemRef?.clear()
          this.stateRef?.clear()
          yield* this.host.onEnded(this)
          const result: Exit.Exit<void, ResourceCleanupError> =
            this.cleanupFailure === undefined ? Exit.void : Exit.fail(this.cleanupFailure)
          yield* Deferred.done(ending, result)
          return yield* result
        }),
      )
    })
  }
}

/** @internal classify an operation's exit for the session's end reason */
export const endReasonOf = (exit: Exit.Exit<unknown, unknown>): SessionEndReason =>
  Exit.isSuccess(exit) ? "operation-finished" : Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failed"

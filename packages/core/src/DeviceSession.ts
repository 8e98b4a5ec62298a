import type { DeviceCommunicationShape } from "@belay/transport"
import { Cause, Effect, Exit, Scope } from "effect"
import type { DeviceContext } from "./DeviceContext.js"
import type { ExecutorContext } from "./ExecutorContext.js"
import { type ResourceCleanupError, SessionError } from "./errors.js"
import type { FileSystemContext } from "./FileSystemContext.js"
import type { ResourceHandle, ResourceTracker } from "./ResourceTracker.js"
import type { SessionState } from "./SessionState.js"

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

let resourceCounter = 0

/** @internal the session's mutable state, driven by the manager */
export class DeviceSessionImpl implements DeviceSession {
  isActive = true
  boardResets = 0
  brokenReason: string | undefined = undefined
  endReason: SessionEndReason | undefined = undefined
  lastActivity: number
  private ending: Promise<Exit.Exit<void, ResourceCleanupError>> | undefined
  private finish!: (exit: Exit.Exit<void, ResourceCleanupError>) => void
  private readonly endedPromise: Promise<Exit.Exit<void, ResourceCleanupError>>
  cleanupFailure: ResourceCleanupError | undefined

  constructor(
    readonly sessionId: string,
    readonly createdAt: Date,
    readonly state: SessionState,
    readonly resources: ResourceTracker,
    readonly executorContext: ExecutorContext,
    readonly deviceContext: DeviceContext,
    readonly fileSystemContext: FileSystemContext & { readonly clear: () => void },
    readonly device: DeviceCommunicationShape,
    readonly scope: Scope.Closeable,
    private readonly onEnded: (session: DeviceSessionImpl) => Effect.Effect<void>,
    now: number,
  ) {
    this.lastActivity = now
    this.endedPromise = new Promise((resolve) => {
      this.finish = resolve
    })
  }

  get ended(): Effect.Effect<void> {
    return Effect.asVoid(Effect.promise(() => this.endedPromise))
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
        const handle = yield* this.resources.registerResource({
          resourceId: options.resourceId ?? `${options.resourceType}-${++resourceCounter}`,
          resourceType: options.resourceType,
          estimatedCost: options.estimatedCost ?? 0,
          createdAt: new Date(),
          cleanup: Effect.suspend(() => release(value)),
          lostOnReset: options.lostOnReset ?? false,
        })
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
   * End once: clean up the tracker (newest first), close the scope, tell the manager.
   * Later callers wait for the same outcome.
   */
  endWith(
    reason: SessionEndReason,
    exit: Exit.Exit<unknown, unknown>,
  ): Effect.Effect<void, ResourceCleanupError> {
    return Effect.suspend(() => {
      if (this.ending !== undefined) {
        const pending = this.ending
        return Effect.flatMap(
          Effect.promise(() => pending),
          (result) => result,
        )
      }
      this.isActive = false
      this.endReason = reason
      let resolveEnding!: (e: Exit.Exit<void, ResourceCleanupError>) => void
      this.ending = new Promise((resolve) => {
        resolveEnding = resolve
      })
      return Effect.uninterruptible(
        Effect.gen({ self: this }, function* () {
          yield* Scope.close(this.scope, exit)
          this.fileSystemContext.clear()
          this.state.clear()
          const result: Exit.Exit<void, ResourceCleanupError> =
            this.cleanupFailure === undefined ? Exit.void : Exit.fail(this.cleanupFailure)
          yield* this.onEnded(this)
          resolveEnding(result)
          this.finish(result)
          return yield* result
        }),
      )
    })
  }
}

/** @internal classify an operation's exit for the session's end reason */
export const endReasonOf = (exit: Exit.Exit<unknown, unknown>): SessionEndReason =>
  Exit.isSuccess(exit) ? "operation-finished" : Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failed"

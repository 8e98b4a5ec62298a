import { Cause, Data, Duration, Effect, Exit, Metric } from "effect"
import { ResourceCleanupError, type ResourceCleanupFailure, SessionError } from "./errors.js"
import { SessionMetrics } from "./SessionMetrics.js"

/**
 * Something a session started that must be undone when the session ends (the seed's `ISessionResource`).
 *
 * @example
 * yield* session.resources.registerResource({
 *   resourceId: "timer-1",
 *   resourceType: "DeviceTimer",
 *   estimatedCost: 50,
 *   createdAt: new Date(),
 *   cleanup: Effect.asVoid(session.device.exec("t.deinit()")),
 * })
 */
export interface SessionResource {
  readonly resourceId: string
  readonly resourceType: string
  /** A rough cost (bytes of board memory, say) used in stats. */
  readonly estimatedCost: number
  readonly createdAt: Date
  /** Undo the resource. Runs once, bounded by the cleanup timeout. */
  readonly cleanup: Effect.Effect<void, unknown>
  /**
   * The resource lives in the board's RAM: a board reset ends it, and its cleanup is then skipped.
   * Default false.
   */
  readonly lostOnReset?: boolean
}

/** A background thread running on the board for a session (the seed's record). */
export interface BackgroundThreadInfo {
  readonly threadId: string
  readonly methodName: string
  readonly registeredAt: Date
  readonly sessionId: string
}

/** A function deployed on the board for a session (the seed's record). */
export interface DeployedMethodInfo {
  readonly signature: string
  readonly codeHash: Uint8Array
  readonly deployedAt: Date
  readonly sessionId: string
}

/** What a tracker holds (the seed's `ResourceUsageStats`). */
export interface ResourceUsageStats {
  readonly totalResources: number
  readonly totalResourceCost: number
  readonly resourcesByType: Readonly<Record<string, number>>
  readonly backgroundThreads: number
  readonly deployedMethods: number
}

/** A registered resource: release it early, or forget it when it ended on its own. */
export interface ResourceHandle {
  readonly resourceId: string
  /** Run its cleanup now (once); later session cleanup skips it. */
  readonly release: Effect.Effect<void, ResourceCleanupError>
  /** Drop it without cleanup (it is already gone). */
  readonly forget: Effect.Effect<void>
}

// Entry states: live, cleaning (cleanup started), done (cleaned, released, forgotten or lost).
const LIVE = 0
const CLEANING = 1
const DONE = 2

interface Entry {
  readonly resource: SessionResource
  status: number
}

const hashKey = (signature: string, codeHash: Uint8Array): string => {
  let hex = ""
  for (const b of codeHash) hex += (b < 16 ? "0" : "") + b.toString(16)
  return `${signature}\u0000${hex}`
}

/**
 * Everything live in one session: background threads, deployed methods and generic resources
 * (the seed's `IResourceTracker`). Cleanup runs every resource's cleanup, newest first, each
 * exactly once and bounded by the cleanup timeout, and reports all failures together.
 *
 * @example
 * const stats = session.resources.getResourceStats()
 * yield* session.resources.cleanupResources
 */
export class ResourceTracker {
  private entries: Entry[] = []
  private liveCount = 0
  private readonly threads = new Map<string, BackgroundThreadInfo>()
  private readonly threadStops = new Map<string, ResourceHandle>()
  private readonly methods = new Map<string, DeployedMethodInfo>()
  private closed = false

  constructor(
    readonly sessionId: string,
    private readonly cleanupTimeout: Duration.Duration,
    private readonly tracking: boolean,
    private readonly metrics: boolean,
  ) {}

  /** True once the session ended: registrations then fail (and their cleanup runs at once). */
  get isClosed(): boolean {
    return this.closed
  }

  // ---- background threads ----

  /**
   * Record a board thread. `stop` (set its stop flag and wait for it) runs at cleanup unless the
   * thread is unregistered first.
   */
  registerBackgroundThread(
    threadId: string,
    methodName: string,
    stop?: Effect.Effect<void, unknown>,
  ): Effect.Effect<void, SessionError | ResourceCleanupError> {
    return Effect.gen({ self: this }, function* () {
      if (this.closed) {
        if (stop) yield* this.runAlone(threadId, "BackgroundThread", stop)
        return yield* this.endedError(`register thread ${threadId}`)
      }
      this.threads.set(threadId, {
        threadId,
        methodName,
        registeredAt: new Date(),
        sessionId: this.sessionId,
      })
      if (stop) {
        const handle = yield* this.registerResource({
          resourceId: threadId,
          resourceType: "BackgroundThread",
          estimatedCost: 0,
          createdAt: new Date(),
          cleanup: stop,
          lostOnReset: true,
        })
        this.threadStops.set(threadId, handle)
      }
      yield* Effect.logDebug("Background thread registered").pipe(
        Effect.annotateLogs({ threadId, method: methodName, sessionId: this.sessionId }),
      )
    })
  }

  /** The thread ended on its own: forget it (its stop is not run). */
  unregisterBackgroundThread(threadId: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.threads.delete(threadId)
      const handle = this.threadStops.get(threadId)
      this.threadStops.delete(threadId)
      return handle ? handle.forget : Effect.void
    })
  }

  getActiveThreads(): ReadonlyArray<BackgroundThreadInfo> {
    return [...this.threads.values()]
  }

  // ---- deployed methods ----

  registerDeployedMethod(signature: string, codeHash: Uint8Array): Effect.Effect<void, SessionError> {
    return Effect.suspend(() => {
      if (this.closed) return this.endedError(`register method ${signature}`)
      this.methods.set(hashKey(signature, codeHash), {
        signature,
        codeHash: Uint8Array.from(codeHash),
        deployedAt: new Date(),
        sessionId: this.sessionId,
      })
      return Effect.void
    })
  }

  isMethodDeployed(signature: string, codeHash: Uint8Array): boolean {
    return !this.closed && this.methods.has(hashKey(signature, codeHash))
  }

  getDeployedMethods(): ReadonlyArray<DeployedMethodInfo> {
    return [...this.methods.values()]
  }

  // ---- generic resources ----

  registerResource(
    resource: SessionResource,
  ): Effect.Effect<ResourceHandle, SessionError | ResourceCleanupError> {
    return Effect.gen({ self: this }, function* () {
      if (this.closed) {
        // Nothing may outlive its session: undo it now and say so.
        yield* this.runAlone(resource.resourceId, resource.resourceType, resource.cleanup)
        return yield* this.endedError(`register resource ${resource.resourceId}`)
      }
      const entry: Entry = { resource, status: LIVE }
      this.entries.push(entry)
      this.liveCount++
      if (this.metrics) {
        yield* Metric.update(
          Metric.withAttributes(SessionMetrics.resourcesRegistered, { resource_type: resource.resourceType }),
          1,
        )
      }
      if (this.tracking) {
        yield* Effect.logDebug("Resource registered").pipe(
          Effect.annotateLogs({
            resourceType: resource.resourceType,
            resourceId: resource.resourceId,
            cost: resource.estimatedCost,
            sessionId: this.sessionId,
          }),
        )
      }
      return this.handleFor(entry)
    })
  }

  private handleFor(entry: Entry): ResourceHandle {
    return {
      resourceId: entry.resource.resourceId,
      release: Effect.suspend(() => {
        const failure = this.claim(entry)
        if (failure === undefined) return Effect.void
        return Effect.flatMap(this.runCleanup(entry), (f) =>
          f === undefined
            ? Effect.void
            : Effect.fail(new ResourceCleanupError({ sessionId: this.sessionId, failures: [f] })),
        )
      }),
      forget: Effect.sync(() => {
        if (entry.status === LIVE) {
          entry.status = DONE
          this.liveCount--
          this.compact()
        }
      }),
    }
  }

  /** Mark an entry as being cleaned; `undefined` when someone else already did. */
  private claim(entry: Entry): Entry | undefined {
    if (entry.status !== LIVE) return undefined
    entry.status = CLEANING
    this.liveCount--
    return entry
  }

  private runCleanup(entry: Entry): Effect.Effect<ResourceCleanupFailure | undefined> {
    const { resourceId, resourceType } = entry.resource
    return Effect.map(this.boundedCleanup(entry.resource.cleanup), (outcome) => {
      entry.status = DONE
      this.compact()
      return outcome === undefined ? undefined : { resourceId, resourceType, ...outcome }
    })
  }

  private boundedCleanup(
    cleanup: Effect.Effect<void, unknown>,
  ): Effect.Effect<{ reason: ResourceCleanupFailure["reason"]; error: unknown } | undefined> {
    const timeoutMs = Duration.toMillis(this.cleanupTimeout)
    return Effect.exit(
      Effect.timeoutOrElse(
        Effect.suspend(() => cleanup),
        {
          duration: this.cleanupTimeout,
          orElse: () => Effect.fail(new CleanupTimeout({ timeoutMs })),
        },
      ),
    ).pipe(
      Effect.map((exit) => {
        if (Exit.isSuccess(exit)) return undefined
        const failure = Cause.findErrorOption(exit.cause)
        if (failure._tag === "Some") {
          return failure.value instanceof CleanupTimeout
            ? { reason: "timeout" as const, error: failure.value }
            : { reason: "failed" as const, error: failure.value }
        }
        return { reason: "defect" as const, error: Cause.squash(exit.cause) }
      }),
    )
  }

  private runAlone(
    resourceId: string,
    resourceType: string,
    cleanup: Effect.Effect<void, unknown>,
  ): Effect.Effect<void, ResourceCleanupError> {
    return Effect.flatMap(this.boundedCleanup(cleanup), (f) =>
      f === undefined
        ? Effect.void
        : Effect.fail(
            new ResourceCleanupError({
              sessionId: this.sessionId,
              failures: [{ resourceId, resourceType, ...f }],
            }),
          ),
    )
  }

  private endedError(attempted: string): Effect.Effect<never, SessionError> {
    return Effect.fail(
      new SessionError({
        sessionId: this.sessionId,
        reason: `cannot ${attempted}: the session has ended`,
        recoverable: true,
      }),
    )
  }

  /** Drop finished entries once they are most of the list (keeps registration O(1) amortised). */
  private compact(): void {
    if (this.entries.length > 32 && this.liveCount < this.entries.length / 2) {
      this.entries = this.entries.filter((e) => e.status !== DONE)
    }
  }

  getActiveResources(): ReadonlyArray<SessionResource> {
    if (!this.tracking) return []
    const out: SessionResource[] = []
    for (const e of this.entries) if (e.status === LIVE) out.push(e.resource)
    return out
  }

  getResourceStats(): ResourceUsageStats {
    const byType: Record<string, number> = {}
    let total = 0
    let cost = 0
    if (this.tracking) {
      for (const e of this.entries) {
        if (e.status !== LIVE) continue
        total++
        cost += e.resource.estimatedCost
        byType[e.resource.resourceType] = (byType[e.resource.resourceType] ?? 0) + 1
      }
    }
    return {
      totalResources: total,
      totalResourceCost: cost,
      resourcesByType: byType,
      backgroundThreads: this.threads.size,
      deployedMethods: this.methods.size,
    }
  }

  /** Live resources, counted even when tracking is off. */
  get liveResources(): number {
    return this.liveCount
  }

  /**
   * Clean up every live resource, newest first, each once and bounded; failures come back together.
   */
  readonly cleanupResources: Effect.Effect<void, ResourceCleanupError> = Effect.suspend(() => {
    const claimed: Entry[] = []
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.claim(this.entries[i]!)
      if (entry) claimed.push(entry)
    }
    if (claimed.length === 0) return Effect.void
    return Effect.gen({ self: this }, function* () {
      const failures: ResourceCleanupFailure[] = []
      for (const entry of claimed) {
        const failure = yield* this.runCleanup(entry)
        if (failure) {
          failures.push(failure)
          yield* Effect.logWarning("Failed to clean up resource").pipe(
            Effect.annotateLogs({
              resourceId: failure.resourceId,
              resourceType: failure.resourceType,
              reason: failure.reason,
              error: String(failure.error),
              sessionId: this.sessionId,
            }),
          )
        }
      }
      for (const threadId of [...this.threadStops.keys()]) {
        this.threadStops.delete(threadId)
        this.threads.delete(threadId)
      }
      if (failures.length > 0) return yield* new ResourceCleanupError({ sessionId: this.sessionId, failures })
    })
  })

  /**
   * The board reset: threads, deployed methods and resources that lived in its RAM are gone.
   * Their cleanup is not run (there is nothing left to undo).
   */
  boardReset(): { threads: number; methods: number; resources: number } {
    const lost = { threads: this.threads.size, methods: this.methods.size, resources: 0 }
    this.threads.clear()
    this.threadStops.clear()
    this.methods.clear()
    for (const e of this.entries) {
      if (e.status === LIVE && e.resource.lostOnReset) {
        e.status = DONE
        this.liveCount--
        lost.resources++
      }
    }
    this.compact()
    return lost
  }

  /** @internal the session ends: clean up, then refuse further registrations. */
  readonly close: Effect.Effect<void, ResourceCleanupError> = Effect.suspend(() => {
    this.closed = true
    return Effect.ensuring(
      this.cleanupResources,
      Effect.sync(() => {
        this.methods.clear()
        this.threads.clear()
        this.threadStops.clear()
        this.entries = []
      }),
    )
  })
}

/** A cleanup that did not finish within the cleanup timeout. */
export class CleanupTimeout extends Data.TaggedError("CleanupTimeout")<{ readonly timeoutMs: number }> {
  override get message() {
    return `cleanup did not finish within ${this.timeoutMs} ms`
  }
}

import { Cause, Data, Duration, Effect, Exit, Metric } from "effect"
import { ResourceCleanupError, type ResourceCleanupFailure, SessionError } from "./errors.js"
import { isRecoverable } from "./Retry.js"
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

/** What a tracker holds (the seed's `ResourceUsageStats`). */
export interface ResourceUsageStats {
  readonly totalResources: number
  readonly totalResourceCost: number
  readonly resourcesByType: Readonly<Record<string, number>>
}

/** A registered resource: release it early, or forget it when it ended on its own. */
export interface ResourceHandle {
  readonly resourceId: string
  /** Run its cleanup now (once); later session cleanup skips it. */
  readonly release: Effect.Effect<void, ResourceCleanupError>
  /** Drop it without cleanup (it is already gone). */
  readonly forget: Effect.Effect<void>
  /** True until it is released, forgotten, cleaned up, or lost in a board reset. */
  readonly isLive: boolean
}

/** Options of `ResourceTracker.track`. */
export interface TrackOptions {
  readonly resourceId?: string
  readonly estimatedCost?: number
  readonly lostOnReset?: boolean
}

// Entry status bits.
const LIVE = 0
const CLEANING = 1
const DONE = 2
const LOST_ON_RESET = 4

/**
 * One tracked resource, kept small: it is also the handle returned to the caller.
 * Times are stored as milliseconds since the tracker was made.
 */
class Entry implements ResourceHandle {
  constructor(
    readonly tracker: ResourceTracker,
    readonly type: string,
    readonly cost: number,
    readonly at: number,
    readonly cleanup: Effect.Effect<void, unknown>,
    /** The caller's record (`registerResource`), an explicit id, or the sequence number the id derives from. */
    readonly source: SessionResource | string | number,
    public status: number,
  ) {}

  get resourceId(): string {
    const source = this.source
    return typeof source === "number"
      ? `${this.type}-${source}`
      : typeof source === "string"
        ? source
        : source.resourceId
  }

  get state(): number {
    return this.status & 3
  }

  get release(): Effect.Effect<void, ResourceCleanupError> {
    return this.tracker.releaseEntry(this)
  }

  get isLive(): boolean {
    return this.state === LIVE
  }

  get forget(): Effect.Effect<void> {
    return Effect.sync(() => this.tracker.forgetEntry(this))
  }

  view(): SessionResource {
    if (typeof this.source === "object") return this.source
    return {
      resourceId: this.resourceId,
      resourceType: this.type,
      estimatedCost: this.cost,
      createdAt: new Date(this.tracker.createdAtMs + this.at),
      cleanup: this.cleanup,
      lostOnReset: (this.status & LOST_ON_RESET) !== 0,
    }
  }
}

/** Further tries of a cleanup that failed with a recoverable error (a damaged reply, a timeout), all within its bound. */
const CLEANUP_RETRIES = 2

/** A cleanup that did not finish within the cleanup timeout. */
export class CleanupTimeout extends Data.TaggedError("CleanupTimeout")<{ readonly timeoutMs: number }> {
  override get message() {
    return `cleanup did not finish within ${this.timeoutMs} ms`
  }
}

/**
 * Everything live in one session that must be undone when it ends
 * (the seed's `IResourceTracker`). Cleanup runs every resource's cleanup, newest first, each
 * exactly once and bounded by the cleanup timeout, and reports all failures together.
 *
 * @example
 * const stats = session.resources.getResourceStats()
 * yield* session.resources.cleanupResources
 */
export class ResourceTracker {
  readonly createdAtMs = Date.now()
  private entries: Entry[] = []
  private liveCount = 0
  private seq = 0
  private closed = false
  private cleaned: number | undefined = undefined

  constructor(
    readonly sessionId: string,
    private readonly cleanupTimeout: Duration.Duration,
    private readonly tracking: boolean,
    private readonly metrics: boolean,
  ) {}

  /** How many resources the session's end cleaned up, once it ended. */
  get cleanedAtEnd(): number {
    return this.cleaned ?? 0
  }

  /** True once the session started ending: registrations then fail (and their cleanup runs at once). */
  get isClosed(): boolean {
    return this.closed
  }

  // ---- generic resources ----

  /** Register a resource described by the caller (the seed's form). */
  registerResource(
    resource: SessionResource,
  ): Effect.Effect<ResourceHandle, SessionError | ResourceCleanupError> {
    return this.add(
      resource.resourceType,
      resource.estimatedCost,
      resource.cleanup,
      resource,
      resource.lostOnReset === true ? LOST_ON_RESET : 0,
      resource.createdAt.getTime(),
    )
  }

  /**
   * Track a cleanup under a type, without building a record: the light form for many small
   * resources. The id is `<type>-<n>` unless given.
   *
   * @example
   * const handle = yield* session.resources.track("Pin", session.device.exec("p.off()"), { estimatedCost: 8 })
   */
  track(
    resourceType: string,
    cleanup: Effect.Effect<void, unknown>,
    options?: TrackOptions,
  ): Effect.Effect<ResourceHandle, SessionError | ResourceCleanupError> {
    return this.add(
      resourceType,
      options?.estimatedCost ?? 0,
      cleanup,
      options?.resourceId,
      options?.lostOnReset === true ? LOST_ON_RESET : 0,
      Date.now(),
    )
  }

  private add(
    type: string,
    cost: number,
    cleanup: Effect.Effect<void, unknown>,
    source: SessionResource | string | undefined,
    /** `LOST_ON_RESET` */
    flags: number,
    createdAt: number,
  ): Effect.Effect<ResourceHandle, SessionError | ResourceCleanupError> {
    return Effect.suspend(() => {
      const entry = new Entry(
        this,
        type,
        cost,
        createdAt - this.createdAtMs,
        cleanup,
        source ?? ++this.seq,
        LIVE | flags,
      )
      if (this.closed) {
        // Nothing may outlive its session: undo it now and say so.
        return Effect.andThen(
          this.runAlone(entry.resourceId, type, cleanup),
          this.endedError(`register resource ${entry.resourceId}`),
        )
      }
      this.entries.push(entry)
      this.liveCount++
      if (!this.metrics && !this.tracking) return Effect.succeed(entry)
      return Effect.gen({ self: this }, function* () {
        if (this.metrics) {
          yield* Metric.update(
            Metric.withAttributes(SessionMetrics.resourcesRegistered, { resource_type: type }),
            1,
          )
        }
        if (this.tracking) {
          yield* Effect.logDebug("Resource registered").pipe(
            Effect.annotateLogs({
              resourceType: type,
              resourceId: entry.resourceId,
              cost,
              sessionId: this.sessionId,
            }),
          )
        }
        return entry as ResourceHandle
      })
    })
  }

  /** @internal */
  releaseEntry(entry: Entry): Effect.Effect<void, ResourceCleanupError> {
    return Effect.suspend(() => {
      if (!this.claim(entry)) return Effect.void
      return Effect.flatMap(this.runCleanup(entry), (failure) =>
        failure === undefined
          ? Effect.void
          : Effect.fail(new ResourceCleanupError({ sessionId: this.sessionId, failures: [failure] })),
      )
    })
  }

  /** @internal */
  forgetEntry(entry: Entry): void {
    if (entry.state !== LIVE) return
    entry.status = (entry.status & ~3) | DONE
    this.liveCount--
    this.compact()
  }

  /** Mark an entry as being cleaned; false when someone else already did. */
  private claim(entry: Entry): boolean {
    if (entry.state !== LIVE) return false
    entry.status = (entry.status & ~3) | CLEANING
    this.liveCount--
    return true
  }

  private runCleanup(entry: Entry): Effect.Effect<ResourceCleanupFailure | undefined> {
    return Effect.map(this.boundedCleanup(entry.cleanup), (outcome) => {
      entry.status = (entry.status & ~3) | DONE
      this.compact()
      return outcome === undefined
        ? undefined
        : { resourceId: entry.resourceId, resourceType: entry.type, ...outcome }
    })
  }

  private boundedCleanup(
    cleanup: Effect.Effect<void, unknown>,
  ): Effect.Effect<{ reason: ResourceCleanupFailure["reason"]; error: unknown } | undefined> {
    const timeoutMs = Duration.toMillis(this.cleanupTimeout)
    return Effect.exit(
      Effect.timeoutOrElse(
        // A garbled or lost reply is worth another try (the next exchange recovers the REPL):
        // the board-side state must not outlive the session because one reply was damaged.
        Effect.retry(
          Effect.suspend(() => cleanup),
          { times: CLEANUP_RETRIES, while: isRecoverable },
        ),
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
      this.entries = this.entries.filter((e) => e.state !== DONE)
    }
  }

  getActiveResources(): ReadonlyArray<SessionResource> {
    if (!this.tracking) return []
    const out: SessionResource[] = []
    for (const e of this.entries) if (e.state === LIVE) out.push(e.view())
    return out
  }

  getResourceStats(): ResourceUsageStats {
    const byType: Record<string, number> = {}
    let total = 0
    let cost = 0
    if (this.tracking) {
      for (const e of this.entries) {
        if (e.state !== LIVE) continue
        total++
        cost += e.cost
        byType[e.type] = (byType[e.type] ?? 0) + 1
      }
    }
    return {
      totalResources: total,
      totalResourceCost: cost,
      resourcesByType: byType,
    }
  }

  /** Live resources, counted even when tracking is off. */
  get liveResources(): number {
    return this.liveCount
  }

  /**
   * Clean up every live resource, newest first, each once and bounded; failures come back together.
   */
  get cleanupResources(): Effect.Effect<void, ResourceCleanupError> {
    return Effect.suspend(() => {
      const claimed: Entry[] = []
      for (let i = this.entries.length - 1; i >= 0; i--) {
        const entry = this.entries[i]!
        if (this.claim(entry)) claimed.push(entry)
      }
      if (this.closed) this.cleaned = claimed.length
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
        if (failures.length > 0)
          return yield* new ResourceCleanupError({ sessionId: this.sessionId, failures })
      })
    })
  }

  /**
   * The board reset: the resources that lived in its RAM are gone (the count is returned).
   * Their cleanup is not run (there is nothing left to undo).
   */
  boardReset(): number {
    let lost = 0
    for (const e of this.entries) {
      if (e.state === LIVE && (e.status & LOST_ON_RESET) !== 0) {
        e.status = (e.status & ~3) | DONE
        this.liveCount--
        lost++
      }
    }
    this.compact()
    return lost
  }

  /** @internal the session ends: refuse further registrations, then clean up. */
  get close(): Effect.Effect<void, ResourceCleanupError> {
    return Effect.suspend(() => {
      this.closed = true
      return Effect.ensuring(
        this.cleanupResources,
        Effect.sync(() => {
          this.entries = []
        }),
      )
    })
  }
}

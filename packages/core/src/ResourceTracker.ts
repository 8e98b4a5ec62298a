import { Duration, Effect, Exit, Metric, Scope } from "effect"
import { ResourceCleanupError, type ResourceCleanupFailure, SessionError } from "./errors.js"
import { boundedCleanup, failedCleanup, logCleanupFailure } from "./ResourceCleanup.js"
import {
  CLEANING,
  closeTracker,
  DONE,
  Entry,
  forgetEntry,
  isNewest,
  LIVE,
  ResetLostEntry,
  refuseRegistrations,
  releaseEntry,
  Segment,
} from "./ResourceSegment.js"
import { SessionMetrics } from "./SessionMetrics.js"
import type { ResourceHandle, ResourceUsageStats, SessionResource, TrackOptions } from "./SessionResource.js"

/**
 * The resources of one session, as a view over the session's scope: each resource's cleanup is a
 * finalizer on that scope, so the session's end runs them with everything else on it, newest
 * first, each exactly once, bounded by the cleanup timeout and tried again on recoverable errors;
 * failures are reported together as one `ResourceCleanupError`. The tracker adds what a scope
 * does not say: stats, the live resources, early release, and undoing a registration that came
 * after the end.
 *
 * @example
 * const handle = yield* session.resources.track("Pin", session.device.exec("p.off()"))
 * const stats = session.resources.getResourceStats()
 * yield* session.resources.cleanupResources
 *
 * @since 0.1.0
 */
export class ResourceTracker {
  readonly createdAtMs = Date.now()
  /** Segments with live resources, oldest first. */
  private segments: Set<Segment> | undefined = undefined
  private liveCount = 0
  private seq = 0
  private closed = false
  private cleaned: number | undefined = undefined
  /** The segment new resources join while nothing else is added to the session's scope. */
  private current: Segment | undefined = undefined
  /** What failed while the scope closed (the session's end). */
  private endFailures: ResourceCleanupFailure[] | undefined = undefined
  private ownScope: Scope.Closeable | undefined = undefined
  private readonly timeoutMs: number

  /**
   * @param scope the session's scope (made on first use); a tracker made alone has a scope of its own.
   */
  constructor(
    readonly sessionId: string,
    private readonly cleanupTimeout: Duration.Duration,
    private readonly tracking: boolean,
    private readonly metrics: boolean,
    private readonly scope: () => Scope.Closeable = () => {
      this.ownScope ??= Scope.makeUnsafe()
      return this.ownScope
    },
  ) {
    this.timeoutMs = Duration.toMillis(cleanupTimeout)
  }

  /** How many resources the session's end cleaned up, once it ended. */
  get cleanedAtEnd(): number {
    return this.cleaned ?? 0
  }

  /** True once the session started ending: registrations then fail (and their cleanup runs at once). */
  get isClosed(): boolean {
    return this.closed
  }

  /** Register a resource described by the caller. */
  registerResource(
    resource: SessionResource,
  ): Effect.Effect<ResourceHandle, SessionError | ResourceCleanupError> {
    return this.add(
      resource.resourceType,
      resource.estimatedCost,
      resource.cleanup,
      resource,
      resource.lostOnReset === true,
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
      options?.lostOnReset === true,
      Date.now(),
    )
  }

  private add(
    type: string,
    cost: number,
    cleanup: Effect.Effect<void, unknown>,
    source: SessionResource | string | undefined,
    lostOnReset: boolean,
    createdAt: number,
  ): Effect.Effect<ResourceHandle, SessionError | ResourceCleanupError> {
    return Effect.suspend(() => {
      const entry = new (lostOnReset ? ResetLostEntry : Entry)(
        type,
        cost,
        createdAt - this.createdAtMs,
        cleanup,
        source ?? ++this.seq,
      )
      if (this.closed) {
        // Nothing may outlive its session: undo it now and say so.
        return Effect.andThen(this.runAlone(entry), this.endedError(`register resource ${entry.resourceId}`))
      }
      const registered = this.join(entry)
      if (!this.metrics && !this.tracking) return Effect.as(registered, entry)
      return Effect.gen({ self: this }, function* () {
        yield* registered
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

  /**
   * Put `entry` in the newest segment when nothing was added to the session's scope after it,
   * else in a new segment forked from the session's scope.
   */
  private join(entry: Entry): Effect.Effect<void> {
    const parent = this.scope()
    let segment = this.current
    let registered: Effect.Effect<void> = Effect.void
    if (segment === undefined || !isNewest(parent, segment.scope)) {
      const fresh = new Segment(this, Scope.forkUnsafe(parent))
      registered = Scope.addFinalizerExit(fresh.scope, () => this.finalizeSegment(fresh))
      this.segments ??= new Set()
      this.segments.add(fresh)
      this.current = fresh
      segment = fresh
    }
    entry.segment = segment
    segment.entries.push(entry)
    segment.live++
    this.liveCount++
    return registered
  }

  /** A segment's finalizer: clean up its live resources, newest first, noting failures. */
  private finalizeSegment(segment: Segment): Effect.Effect<void> {
    return Effect.suspend(() => {
      const claimed: Entry[] = []
      for (let i = segment.entries.length - 1; i >= 0; i--) {
        const entry = segment.entries[i]!
        if (this.claim(entry)) claimed.push(entry)
      }
      if (claimed.length === 0) return Effect.void
      return Effect.forEach(claimed, (entry) => this.finalize(entry), { discard: true })
    })
  }

  /** At the session's end: clean up a claimed entry and note a failure. */
  private finalize(entry: Entry): Effect.Effect<void> {
    if (this.cleaned !== undefined) this.cleaned++
    return Effect.flatMap(this.runCleanup(entry), (failure) => {
      if (failure === undefined) return Effect.void
      this.endFailures ??= []
      this.endFailures.push(failure)
      return logCleanupFailure(failure, this.sessionId)
    })
  }

  /** Release one resource early (its handle's `release`). */
  [releaseEntry](entry: Entry): Effect.Effect<void, ResourceCleanupError> {
    return Effect.suspend(() => {
      if (!this.claim(entry)) return Effect.void
      return Effect.flatMap(this.runCleanup(entry), (failure) =>
        failure === undefined ? Effect.void : Effect.fail(failedCleanup(this.sessionId, failure)),
      )
    })
  }

  /** Drop one resource without cleanup (its handle's `forget`). */
  [forgetEntry](entry: Entry): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (entry.state !== LIVE) return Effect.void
      this.done(entry)
      return this.leaveScope(entry)
    })
  }

  /** Mark an entry as being cleaned; false when someone else already did. */
  private claim(entry: Entry): boolean {
    if (entry.state !== LIVE) return false
    entry.state = CLEANING
    this.liveCount--
    const segment = entry.segment
    if (segment !== undefined) {
      segment.live--
      segment.cleaning++
    }
    return true
  }

  private done(entry: Entry): void {
    const segment = entry.segment
    if (entry.state === LIVE) {
      this.liveCount--
      if (segment !== undefined) segment.live--
    } else if (entry.state === CLEANING && segment !== undefined) segment.cleaning--
    entry.state = DONE
  }

  /**
   * The entry finished: its segment, when it holds nothing live any more, closes and leaves the
   * session's scope (its finalizer then has nothing to run).
   */
  private leaveScope(entry: Entry): Effect.Effect<void> {
    const segment = entry.segment
    entry.segment = undefined
    if (segment === undefined) return Effect.void
    segment.compact()
    if (!segment.finished) return Effect.void
    this.segments?.delete(segment)
    if (this.current === segment) this.current = undefined
    return Scope.close(segment.scope, Exit.void)
  }

  private runCleanup(entry: Entry): Effect.Effect<ResourceCleanupFailure | undefined> {
    return Effect.flatMap(boundedCleanup(entry.cleanup, this.cleanupTimeout, this.timeoutMs), (outcome) => {
      this.done(entry)
      return Effect.as(
        this.leaveScope(entry),
        outcome === undefined
          ? undefined
          : { resourceId: entry.resourceId, resourceType: entry.type, ...outcome },
      )
    })
  }

  private runAlone(entry: Entry): Effect.Effect<void, ResourceCleanupError> {
    return Effect.flatMap(boundedCleanup(entry.cleanup, this.cleanupTimeout, this.timeoutMs), (outcome) =>
      outcome === undefined
        ? Effect.void
        : Effect.fail(
            failedCleanup(this.sessionId, {
              resourceId: entry.resourceId,
              resourceType: entry.type,
              ...outcome,
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

  getActiveResources(): ReadonlyArray<SessionResource> {
    if (!this.tracking) return []
    const out: SessionResource[] = []
    for (const segment of this.segments ?? [])
      for (const e of segment.entries) if (e.state === LIVE) out.push(e.view())
    return out
  }

  getResourceStats(): ResourceUsageStats {
    const byType: Record<string, number> = {}
    let total = 0
    let cost = 0
    if (this.tracking) {
      for (const e of this.liveEntries()) {
        total++
        cost += e.cost
        byType[e.type] = (byType[e.type] ?? 0) + 1
      }
    }
    return { totalResources: total, totalResourceCost: cost, resourcesByType: byType }
  }

  /** Live resources, counted even when tracking is off. */
  get liveResources(): number {
    return this.liveCount
  }

  private liveEntries(): Entry[] {
    const out: Entry[] = []
    for (const segment of this.segments ?? [])
      for (const e of segment.entries) if (e.state === LIVE) out.push(e)
    return out
  }

  /**
   * Clean up every live resource now, newest first, each once and bounded; failures come back
   * together. The session goes on.
   */
  get cleanupResources(): Effect.Effect<void, ResourceCleanupError> {
    return Effect.suspend(() => {
      const claimed = this.liveEntries()
        .reverse()
        .filter((entry) => this.claim(entry))
      if (claimed.length === 0) return Effect.void
      return Effect.gen({ self: this }, function* () {
        const failures: ResourceCleanupFailure[] = []
        for (const entry of claimed) {
          const failure = yield* this.runCleanup(entry)
          if (failure) {
            failures.push(failure)
            yield* logCleanupFailure(failure, this.sessionId)
          }
        }
        if (failures.length > 0)
          return yield* new ResourceCleanupError({ sessionId: this.sessionId, failures })
      })
    })
  }

  /**
   * The board reset: the resources that lived in its RAM are gone (the count is returned). Their
   * cleanup is not run (there is nothing left to undo).
   */
  boardReset(): number {
    let lost = 0
    for (const segment of [...(this.segments ?? [])]) {
      for (const entry of segment.entries) {
        if (entry.state !== LIVE || !entry.lostOnReset) continue
        this.done(entry)
        lost++
      }
      segment.compact()
      if (segment.finished) {
        this.segments?.delete(segment)
        if (this.current === segment) this.current = undefined
        // Its finalizer, nothing live left, has nothing to run.
        Scope.closeUnsafe(segment.scope, Exit.void)
      }
    }
    return lost
  }

  /**
   * The session ends: refuse further registrations, close the scope (every resource's finalizer
   * runs in it, newest first, with the session's own), and report what failed.
   */
  [closeTracker](exit: Exit.Exit<unknown, unknown>): Effect.Effect<void, ResourceCleanupError> {
    return Effect.suspend(() => {
      this.closed = true
      this.cleaned = 0
      return Effect.flatMap(Scope.close(this.scope(), exit), () => {
        const failures = this.endFailures
        this.endFailures = undefined
        return failures === undefined
          ? Effect.void
          : Effect.fail(new ResourceCleanupError({ sessionId: this.sessionId, failures }))
      })
    })
  }

  /** The session ended before the tracker was made: refuse registrations (there is nothing to clean). */
  [refuseRegistrations](): void {
    this.closed = true
  }
}

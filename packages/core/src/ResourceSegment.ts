/**
 * The pieces a `ResourceTracker` is made of: one entry per resource (also the caller's handle),
 * and the segments, scopes forked from the session's scope, whose finalizers clean them up.
 *
 * @internal
 */
import { Effect, type Scope } from "effect"
import type { ResourceCleanupError } from "./errors.js"
import type { ResourceTracker } from "./ResourceTracker.js"
import type { ResourceHandle, SessionResource } from "./SessionResource.js"

/**
 * Keys of the tracker's members that only core's own modules call: symbols, so that they are not
 * part of the tracker's public surface.
 */
export const releaseEntry: unique symbol = Symbol("@belay/core/ResourceTracker/releaseEntry")
export const forgetEntry: unique symbol = Symbol("@belay/core/ResourceTracker/forgetEntry")
export const closeTracker: unique symbol = Symbol("@belay/core/ResourceTracker/close")
export const refuseRegistrations: unique symbol = Symbol("@belay/core/ResourceTracker/refuseRegistrations")

// Entry states.
export const LIVE = 0
export const CLEANING = 1
export const DONE = 2

/**
 * Resources registered one after another with nothing else added to the session's scope in
 * between: one scope forked from the session's, whose finalizer cleans them up newest first. So
 * the session's scope holds the resources' cleanups in their place among its other finalizers,
 * at the cost of one scope per run of registrations rather than per resource. When its last
 * resource is released or forgotten, the segment closes and leaves the session's scope.
 */
export class Segment {
  /** Its resources in registration order (finished ones dropped now and then). */
  entries: Entry[] = []
  /** Entries live, and being cleaned up. */
  live = 0
  cleaning = 0
  constructor(
    readonly tracker: ResourceTracker,
    readonly scope: Scope.Closeable,
  ) {}

  /** Nothing live or being cleaned up is left in it. */
  get finished(): boolean {
    return this.live === 0 && this.cleaning === 0
  }

  /** Drop finished entries once they are most of the list (keeps registration O(1) amortised). */
  compact(): void {
    const length = this.entries.length
    if (length > 32 && length - this.live - this.cleaning > length / 2) {
      this.entries = this.entries.filter((e) => e.state !== DONE)
    }
  }
}

/** Is `scope` the newest finalizer of `parent` (nothing was added after it)? */
export const isNewest = (parent: Scope.Scope, scope: Scope.Scope): boolean => {
  const state = parent.state
  if (state._tag !== "Open") return false
  if (state.finalizer !== undefined) return state.finalizerKey === scope
  let last: unknown
  // A session's scope holds few finalizers: its segments and what other packages added.
  if (state.finalizers !== undefined) for (const key of state.finalizers.keys()) last = key
  return last === scope
}

/**
 * One tracked resource, kept small: it is also the handle returned to the caller. Its cleanup
 * runs in the finalizer of its segment, a scope forked from the session's.
 * Times are stored as milliseconds since the tracker was made.
 */
export class Entry implements ResourceHandle {
  state = LIVE
  segment: Segment | undefined = undefined

  constructor(
    readonly type: string,
    readonly cost: number,
    readonly at: number,
    readonly cleanup: Effect.Effect<void, unknown>,
    /** The caller's record (`registerResource`), an explicit id, or the sequence number the id derives from. */
    readonly source: SessionResource | string | number,
  ) {}

  /** The resource lives in the board's RAM (see {@link ResetLostEntry}). */
  get lostOnReset(): boolean {
    return false
  }

  get resourceId(): string {
    const source = this.source
    return typeof source === "number"
      ? `${this.type}-${source}`
      : typeof source === "string"
        ? source
        : source.resourceId
  }

  get isLive(): boolean {
    return this.state === LIVE
  }

  get release(): Effect.Effect<void, ResourceCleanupError> {
    // A finished entry has left its segment: there is nothing to release.
    return this.segment === undefined ? Effect.void : this.segment.tracker[releaseEntry](this)
  }

  get forget(): Effect.Effect<void> {
    return this.segment === undefined ? Effect.void : this.segment.tracker[forgetEntry](this)
  }

  view(): SessionResource {
    if (typeof this.source === "object") return this.source
    return {
      resourceId: this.resourceId,
      resourceType: this.type,
      estimatedCost: this.cost,
      createdAt: new Date((this.segment?.tracker.createdAtMs ?? 0) + this.at),
      cleanup: this.cleanup,
      lostOnReset: this.lostOnReset,
    }
  }
}

/**
 * A resource a board reset ends without cleanup. A class of its own rather than a field on every
 * entry: few resources are, and each field costs every tracked resource 4 bytes.
 */
export class ResetLostEntry extends Entry {
  override get lostOnReset(): boolean {
    return true
  }
}

import type { Effect } from "effect"
import type { ResourceCleanupError } from "./errors.js"

/**
 * Something a session started that must be undone when the session ends.
 *
 * @example
 * yield* session.resources.registerResource({
 *   resourceId: "timer-1",
 *   resourceType: "DeviceTimer",
 *   estimatedCost: 50,
 *   createdAt: new Date(),
 *   cleanup: Effect.asVoid(session.device.exec("t.deinit()")),
 * })
 *
 * @since 0.1.0
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

/**
 * What a session's tracker holds.
 *
 * @example
 * const { totalResources, resourcesByType } = session.resources.getResourceStats()
 *
 * @since 0.1.0
 */
export interface ResourceUsageStats {
  readonly totalResources: number
  readonly totalResourceCost: number
  readonly resourcesByType: Readonly<Record<string, number>>
}

/**
 * A registered resource: release it early, or forget it when it ended on its own.
 *
 * @example
 * const handle = yield* session.resources.track("Pin", session.device.exec("p.off()"))
 * yield* handle.release // cleaned up now; the session's end skips it
 *
 * @since 0.1.0
 */
export interface ResourceHandle {
  readonly resourceId: string
  /** Run its cleanup now (once); later session cleanup skips it. */
  readonly release: Effect.Effect<void, ResourceCleanupError>
  /** Drop it without cleanup (it is already gone). */
  readonly forget: Effect.Effect<void>
  /** True until it is released, forgotten, cleaned up, or lost in a board reset. */
  readonly isLive: boolean
}

/**
 * Options of `ResourceTracker.track`.
 *
 * @example
 * const options: TrackOptions = { resourceId: "led", estimatedCost: 8, lostOnReset: true }
 *
 * @since 0.1.0
 */
export interface TrackOptions {
  readonly resourceId?: string
  readonly estimatedCost?: number
  readonly lostOnReset?: boolean
}

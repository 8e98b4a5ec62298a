import { Metric } from "effect"

/**
 * The session metrics (`belay.sessions.*`), as Effect metrics.
 *
 * @example
 * const created = yield* Metric.value(SessionMetrics.created)
 *
 * @since 0.1.0
 */
export const SessionMetrics = {
  created: Metric.counter("belay.sessions.created", { description: "sessions created" }),
  ended: Metric.counter("belay.sessions.ended", { description: "sessions ended, whatever the reason" }),
  creationDuration: Metric.histogram("belay.sessions.creation_duration", {
    description: "time to create a session, in milliseconds",
    boundaries: Metric.exponentialBoundaries({ start: 0.01, factor: 2, count: 20 }),
  }),
  resourcesRegistered: Metric.counter("belay.sessions.resources.registered", {
    description: "resources registered with sessions, by resource_type",
  }),
  cleanupFailures: Metric.counter("belay.sessions.resources.cleanup_failures", {
    description: "resource cleanups that failed or timed out",
  }),
}

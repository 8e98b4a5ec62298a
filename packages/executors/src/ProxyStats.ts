/**
 * The counts of a session's proxy handles, readable without the proxy runtime (the executor
 * context reads them).
 *
 * @internal
 */
import { type DeviceSession, SessionStateKey } from "@belay/core"
import type { SessionProxies } from "./ProxyRegistry.js"

/**
 * Counts of a session's proxy handles.
 *
 * @example
 * const { live, created, released } = executorContext(session).proxies()
 *
 * @since 0.1.0
 */
export interface ProxyStats {
  /** Handles made and not yet released. */
  readonly live: number
  /** Handles made in the session. */
  readonly created: number
  /**
   * Handles released: explicitly, garbage-collected on the host, ended by a board reset, or at
   * the session's end.
   */
  readonly released: number
  /** Board ids waiting to be dropped at the session's next proxy exchange (or its end). */
  readonly pendingRelease: number
}

/** @internal where a session keeps its proxy state */
export const SessionProxiesKey = SessionStateKey<SessionProxies>("@belay/executors/SessionProxies")

const EMPTY_STATS: ProxyStats = { live: 0, created: 0, released: 0, pendingRelease: 0 }

/** @internal the proxy counts of a session (all zero once it ended, or before it used proxies) */
export const proxyStatsOf = (session: DeviceSession): ProxyStats =>
  session.state.getOrUndefined(SessionProxiesKey)?.stats() ?? EMPTY_STATS

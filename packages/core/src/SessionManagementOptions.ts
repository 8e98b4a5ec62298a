import { Config, Duration, Effect } from "effect"
import { DurationConfig } from "./ConfigUnits.js"

/**
 * How sessions behave, with their defaults.
 *
 * @example
 * DeviceSessionManager.layer({ maxConcurrentSessions: 2, onSessionLimit: "wait" })
 *
 * @since 0.1.0
 */
export interface SessionManagementOptions {
  /** A session idle for this long ends. Default 30 minutes. */
  readonly defaultSessionTimeout: Duration.Duration
  /** Default 10. */
  readonly maxConcurrentSessions: number
  /** What `createSession` does at the limit: fail with `SessionLimitError` (default) or wait for a slot. */
  readonly onSessionLimit: "fail" | "wait"
  /** Record `belay.sessions.*` metrics. Default true. */
  readonly enableSessionMetrics: boolean
  /** Index resources for stats and queries. Cleanup is guaranteed either way. Default true. */
  readonly enableResourceTracking: boolean
  /** Bound on each resource's cleanup. Default 30 seconds. */
  readonly resourceCleanupTimeout: Duration.Duration
  /** When capability detection fails, go on with minimal capabilities instead of failing. Default false. */
  readonly fallbackCapabilities: boolean
}

/**
 * The defaults: sessions idle out after 30 minutes, at most 10 at once (creation fails beyond),
 * metrics and resource tracking on, 30 s per cleanup, no fallback capabilities.
 *
 * @example
 * defaultSessionManagementOptions.maxConcurrentSessions // 10
 *
 * @since 0.1.0
 */
export const defaultSessionManagementOptions: SessionManagementOptions = {
  defaultSessionTimeout: Duration.minutes(30),
  maxConcurrentSessions: 10,
  onSessionLimit: "fail",
  enableSessionMetrics: true,
  enableResourceTracking: true,
  resourceCleanupTimeout: Duration.seconds(30),
  fallbackCapabilities: false,
}

/**
 * Options read from configuration (environment variables by default):
 * `BELAY_SESSION_TIMEOUT` (e.g. `30 minutes`, `90s`; a bare number is milliseconds), `BELAY_MAX_SESSIONS`, `BELAY_SESSION_LIMIT` (`fail`|`wait`),
 * `BELAY_SESSION_METRICS`, `BELAY_RESOURCE_TRACKING`, `BELAY_CLEANUP_TIMEOUT`, `BELAY_FALLBACK_CAPABILITIES`.
 *
 * @example
 * const options = yield* SessionManagementOptionsConfig
 *
 * @since 0.1.0
 */
export const SessionManagementOptionsConfig: Config.Config<SessionManagementOptions> = Config.all({
  defaultSessionTimeout: DurationConfig("BELAY_SESSION_TIMEOUT").pipe(
    Config.withDefault(defaultSessionManagementOptions.defaultSessionTimeout),
  ),
  maxConcurrentSessions: Config.Int("BELAY_MAX_SESSIONS").pipe(
    Config.withDefault(defaultSessionManagementOptions.maxConcurrentSessions),
  ),
  onSessionLimit: Config.Literals(["fail", "wait"] as const, "BELAY_SESSION_LIMIT").pipe(
    Config.withDefault(defaultSessionManagementOptions.onSessionLimit),
  ),
  enableSessionMetrics: Config.Boolean("BELAY_SESSION_METRICS").pipe(
    Config.withDefault(defaultSessionManagementOptions.enableSessionMetrics),
  ),
  enableResourceTracking: Config.Boolean("BELAY_RESOURCE_TRACKING").pipe(
    Config.withDefault(defaultSessionManagementOptions.enableResourceTracking),
  ),
  resourceCleanupTimeout: DurationConfig("BELAY_CLEANUP_TIMEOUT").pipe(
    Config.withDefault(defaultSessionManagementOptions.resourceCleanupTimeout),
  ),
  fallbackCapabilities: Config.Boolean("BELAY_FALLBACK_CAPABILITIES").pipe(
    Config.withDefault(defaultSessionManagementOptions.fallbackCapabilities),
  ),
})

/**
 * Fill in the defaults of a partial options object.
 *
 * @example
 * resolveSessionManagementOptions({ onSessionLimit: "wait" }).maxConcurrentSessions // 10
 *
 * @since 0.1.0
 */
export const resolveSessionManagementOptions = (
  options: Partial<SessionManagementOptions> | undefined,
): SessionManagementOptions => ({ ...defaultSessionManagementOptions, ...options })

/**
 * Options from `Config`, overridden by what the code passes.
 *
 * @example
 * const options = yield* loadSessionManagementOptions({ maxConcurrentSessions: 2 })
 *
 * @since 0.1.0
 */
export const loadSessionManagementOptions = (overrides?: Partial<SessionManagementOptions>) =>
  Effect.map(SessionManagementOptionsConfig, (fromConfig) => ({ ...fromConfig, ...overrides }))

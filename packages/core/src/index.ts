/**
 * `@belay/core`: sessions on MicroPython boards that always clean up. A session manager hands out
 * sessions (one board or many), each a scope whose resources are undone when it ends, however it
 * ends; the board's capabilities are found once per connection.
 *
 * The public API, grouped by concept. What the other packages of this repository share with core
 * and users do not need (the session's implementation, lease internals, the capability probe's
 * code) is at `@belay/core/internal` and may change in any release.
 *
 * @example
 * import { DeviceSessionManager } from "@belay/core"
 * const out = yield* DeviceSessionManager.pipe(
 *   Effect.flatMap((manager) => manager.executeInSession((session) => session.device.exec("print(42)"))),
 * )
 *
 * @since 0.1.0
 */

// Board capabilities, found once per connection.
export { cachedCapabilities, forgetCapabilities } from "./CapabilityCache.js"
// Settings with units (`3s`, `64KB`), as Effect `Config`s.
export { ByteSizeConfig, DurationConfig, parseByteSize, parseDurationMillis } from "./ConfigUnits.js"
export {
  type BoardFlavor,
  type DeviceCapabilities,
  type DeviceInfo,
  detectCapabilities,
  flavorOf,
  minimalCapabilities,
} from "./DeviceCapabilities.js"
// The board as a session sees it.
export type { DeviceContext } from "./DeviceContext.js"
// A session: one isolated context on a board, a scope that cleans up.
export type { DeviceSession, SessionAcquireOptions, SessionEndReason } from "./DeviceSession.js"
// Session managers: one board, or many, as services or scoped values.
export {
  type CarriedResult,
  DeviceSessionManager,
  type DeviceSessionManagerShape,
  type ExecuteInSession,
  type ExecuteInSessionOn,
  type ExecuteOptions,
  MultiBoardSessionManager,
  type MultiBoardSessionManagerShape,
  makeDeviceSessionManager,
  type SessionCreationError,
  type SessionCreationOptions,
  type SessionStartError,
  type SessionStats,
} from "./DeviceSessionManager.js"
// Typed errors.
export {
  CapabilityMissingError,
  DeviceCapabilityError,
  type DeviceSessionState,
  ResourceCleanupError,
  type ResourceCleanupFailure,
  SessionError,
  SessionLimitError,
  SessionManagerStateError,
  SessionNotFoundError,
  type SessionOperationError,
} from "./errors.js"
// Resources: what a session undoes when it ends.
export { CleanupTimeout } from "./ResourceCleanup.js"
export { ResourceTracker } from "./ResourceTracker.js"
// Retrying in a fresh session.
export {
  asSessionErrors,
  executeWithRetry,
  isBoardError,
  isRecoverable,
  type RetryOptions,
  retrySchedule,
  toSessionError,
} from "./Retry.js"
// The board behind a session's device view.
export { rawDevice } from "./SessionLeases.js"
// Options of a manager, from code or configuration.
export {
  defaultSessionManagementOptions,
  loadSessionManagementOptions,
  resolveSessionManagementOptions,
  type SessionManagementOptions,
  SessionManagementOptionsConfig,
} from "./SessionManagementOptions.js"
// A manager for several boards, as a scoped value.
export { makeMultiBoardSessionManager } from "./SessionManagerImpl.js"
// Metrics.
export { SessionMetrics } from "./SessionMetrics.js"
// Resources as the caller describes and holds them.
export type { ResourceHandle, ResourceUsageStats, SessionResource, TrackOptions } from "./SessionResource.js"
// State that lives as long as a session, under typed keys.
export { SessionState, SessionStateKey } from "./SessionState.js"

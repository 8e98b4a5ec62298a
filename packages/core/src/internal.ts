/**
 * `@belay/core/internal`: what the other packages of this repository (and core's own tests) share
 * with core and users do not need. Not part of the public API: any release may change it.
 *
 * @since 0.1.0
 */

// The capability probe: its code, how its answer is framed and read (fake boards use these).
export { CapabilitiesKey } from "./CapabilityCache.js"
export { CAPABILITY_PROBE, frameProbeAnswer, parseCapabilityProbe } from "./DeviceCapabilities.js"
export { makeDeviceContext } from "./DeviceContext.js"
// The session's implementation, driven by its manager.
export { DeviceSessionImpl, endReasonOf, type SessionHost, SessionKind } from "./DeviceSessionImpl.js"
// Bounded, retried cleanup of one resource.
export { boundedCleanup, type CleanupOutcome } from "./ResourceCleanup.js"
// The tracker's members that only core calls.
export { closeTracker, forgetEntry, refuseRegistrations, releaseEntry } from "./ResourceSegment.js"
// Leases: which sessions an exchange holds.
export {
  BoardLeases,
  boardLeases,
  HeldSessions,
  type Holdable,
  HoldNode,
  LEASED_MEMBERS,
} from "./SessionLeases.js"

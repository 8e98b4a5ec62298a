/**
 * What is known of a board's capabilities, for the lifetime of its connection (its
 * `connectionState`): detected once, shared by every session and manager on the board.
 */
import type { DeviceCommunicationShape } from "@belay/transport"
import { StateKey } from "@belay/transport"
import { Effect } from "effect"
import { type DeviceCapabilities, detectCapabilities, minimalCapabilities } from "./DeviceCapabilities.js"
import type { DeviceCapabilityError } from "./errors.js"

/** What the capability probe found on a connection (kept until `forgetCapabilities` or a reconnect). */
export const CapabilitiesKey = StateKey<DeviceCapabilities>("@belay/core/capabilities")

/**
 * Capabilities already detected for this board, if any.
 *
 * @example
 * const caps = cachedCapabilities(comm)
 *
 * @since 0.1.0
 */
export const cachedCapabilities = (device: DeviceCommunicationShape): DeviceCapabilities | undefined =>
  device.connectionState.getOrUndefined(CapabilitiesKey)

/**
 * Forget a board's cached capabilities: the next session probes again (after a firmware update, say).
 *
 * @example
 * forgetCapabilities(comm)
 *
 * @since 0.1.0
 */
export const forgetCapabilities = (device: DeviceCommunicationShape): void => {
  device.connectionState.delete(CapabilitiesKey)
}

/** What a board's sessions share while its capabilities are being found. */
export interface CapabilityProbeState {
  readonly raw: DeviceCommunicationShape
  /** The probe under way, shared by concurrent first sessions. */
  detecting: Promise<DeviceCapabilities> | undefined
  /** The minimal capabilities the last session fell back to, until a probe works. */
  fallback: DeviceCapabilities | undefined
}

/**
 * @internal The board's capabilities: cached for the connection, or probed once; with
 * `fallback`, minimal ones when the probe fails.
 */
export const capabilitiesFor = (
  board: CapabilityProbeState,
  fallback: boolean,
): Effect.Effect<DeviceCapabilities, DeviceCapabilityError> =>
  Effect.suspend(() => {
    const cached = board.raw.connectionState.getOrUndefined(CapabilitiesKey)
    if (cached !== undefined) return Effect.succeed(cached)
    // Concurrent first sessions share one probe.
    const pending = board.detecting
    if (pending !== undefined) return Effect.promise(() => pending)
    return detectCapabilities(board.raw).pipe(
      Effect.tap((caps) =>
        Effect.sync(() => {
          board.raw.connectionState.set(CapabilitiesKey, caps)
          board.fallback = undefined
        }),
      ),
      Effect.catchTag("DeviceCapabilityError", (error) =>
        fallback
          ? Effect.logWarning("Capability detection failed; using minimal capabilities").pipe(
              Effect.annotateLogs({ error: error.reason, link: board.raw.description }),
              Effect.andThen(
                Effect.sync(() => {
                  const caps = minimalCapabilities()
                  board.fallback = caps
                  return caps
                }),
              ),
            )
          : Effect.fail(error),
      ),
    )
  })

import type { DeviceCommunicationShape, ProtocolCapabilities, ProtocolMetrics } from "@belay/transport"
import { Effect } from "effect"
import type { DeviceCapabilities, DeviceInfo } from "./DeviceCapabilities.js"

/**
 * The board as a session sees it (the seed's `IDeviceContext`).
 *
 * @example
 * const caps = session.deviceContext.capabilities
 * const m = yield* session.deviceContext.protocolMetrics // this session's share of the traffic
 */
export interface DeviceContext {
  readonly sessionId: string
  readonly capabilities: DeviceCapabilities
  readonly protocolCapabilities: Effect.Effect<ProtocolCapabilities>
  readonly deviceInfo: Effect.Effect<DeviceInfo>
  /** Protocol traffic since the session started, plus what other layers registered. */
  readonly protocolMetrics: Effect.Effect<ProtocolMetrics>
  /** Add traffic measured by another layer (a second channel to the same board, say) to this session's figures. */
  readonly registerProtocolMetrics: (metrics: ProtocolMetrics) => Effect.Effect<void>
}

const counters = [
  "bytesOut",
  "bytesIn",
  "exchanges",
  "rawPasteExchanges",
  "plainRawExchanges",
  "pythonErrors",
  "protocolErrors",
  "interrupts",
  "resets",
] as const

/** @internal */
export const makeDeviceContext = (
  sessionId: string,
  device: DeviceCommunicationShape,
  capabilities: DeviceCapabilities,
  atStart: ProtocolMetrics,
): DeviceContext => {
  const registered: ProtocolMetrics[] = []
  return {
    sessionId,
    capabilities,
    protocolCapabilities: device.protocolCapabilities,
    deviceInfo: Effect.succeed({
      link: device.description,
      platform: capabilities.platform,
      implementation: capabilities.implementation,
      version: capabilities.version,
      machine: capabilities.machine,
      uniqueId: capabilities.uniqueId,
    }),
    protocolMetrics: Effect.map(device.metrics, (now) => {
      const out: Record<string, number> = {}
      for (const key of counters) {
        out[key] = now[key] - atStart[key] + registered.reduce((sum, m) => sum + m[key], 0)
      }
      const exchanges = now.exchanges - atStart.exchanges
      const latency = now.meanLatencyMs * now.exchanges - atStart.meanLatencyMs * atStart.exchanges
      return {
        ...(out as Record<(typeof counters)[number], number>),
        lastLatencyMs: now.lastLatencyMs,
        meanLatencyMs: exchanges > 0 ? latency / exchanges : 0,
        maxLatencyMs: now.maxLatencyMs,
      }
    }),
    registerProtocolMetrics: (metrics) => Effect.sync(() => void registered.push(metrics)),
  }
}

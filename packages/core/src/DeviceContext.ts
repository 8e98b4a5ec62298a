import type { DeviceCommunicationShape, ProtocolCapabilities, ProtocolMetrics } from "@belay/transport"
import { Effect } from "effect"
import type { DeviceCapabilities, DeviceInfo } from "./DeviceCapabilities.js"

/**
 * The board as a session sees it: its capabilities, identity and protocol figures.
 *
 * @example
 * const caps = session.deviceContext.capabilities
 * const m = yield* session.deviceContext.protocolMetrics // this session's share of the traffic
 *
 * @since 0.1.0
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

/** @internal one small object per session; its members are prototype getters, built when read */
class DeviceContextImpl implements DeviceContext {
  private registered: ProtocolMetrics[] | undefined = undefined

  constructor(
    readonly sessionId: string,
    private readonly device: DeviceCommunicationShape,
    readonly capabilities: DeviceCapabilities,
    private readonly atStart: ProtocolMetrics,
  ) {}

  get protocolCapabilities(): Effect.Effect<ProtocolCapabilities> {
    return this.device.protocolCapabilities
  }

  get deviceInfo(): Effect.Effect<DeviceInfo> {
    const capabilities = this.capabilities
    return Effect.succeed({
      link: this.device.description,
      platform: capabilities.platform,
      implementation: capabilities.implementation,
      flavor: capabilities.flavor,
      version: capabilities.version,
      machine: capabilities.machine,
      uniqueId: capabilities.uniqueId,
    })
  }

  get protocolMetrics(): Effect.Effect<ProtocolMetrics> {
    return Effect.map(this.device.metrics, (now) => {
      const atStart = this.atStart
      const registered = this.registered ?? []
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
    })
  }

  get registerProtocolMetrics(): DeviceContext["registerProtocolMetrics"] {
    return (metrics) =>
      Effect.sync(() => {
        this.registered ??= []
        this.registered.push(metrics)
      })
  }
}

/** @internal */
export const makeDeviceContext = (
  sessionId: string,
  device: DeviceCommunicationShape,
  capabilities: DeviceCapabilities,
  atStart: ProtocolMetrics,
): DeviceContext => new DeviceContextImpl(sessionId, device, capabilities, atStart)

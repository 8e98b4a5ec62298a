import { Metric } from "effect"

/**
 * What one connection has done so far. Latencies are in milliseconds.
 *
 * @example
 * const m = yield* comm.metrics
 * console.log(`${m.exchanges} exchanges, median-ish ${m.meanLatencyMs.toFixed(2)} ms`)
 * @since 0.1.0
 */
export interface ProtocolMetrics {
  readonly bytesOut: number
  readonly bytesIn: number
  /** Completed exchanges (code sent, reply read), whatever their outcome. */
  readonly exchanges: number
  readonly rawPasteExchanges: number
  readonly plainRawExchanges: number
  readonly pythonErrors: number
  readonly protocolErrors: number
  readonly interrupts: number
  /** Resets seen (soft reboots we asked for and resets the board did on its own). */
  readonly resets: number
  readonly lastLatencyMs: number
  readonly meanLatencyMs: number
  readonly maxLatencyMs: number
}

/**
 * Process-wide Effect metrics, tagged per link with `link`.
 *
 * @example
 * const sent = yield* Metric.value(TransportMetrics.bytesOut)
 * @since 0.1.0
 */
export const TransportMetrics = {
  bytesOut: Metric.counter("belay.transport.bytes_out", { description: "bytes written to boards" }),
  bytesIn: Metric.counter("belay.transport.bytes_in", { description: "bytes received from boards" }),
  exchanges: Metric.counter("belay.transport.exchanges", { description: "raw REPL exchanges" }),
  latency: Metric.histogram("belay.transport.exchange_duration", {
    description: "round trip of one exchange in milliseconds",
    boundaries: Metric.exponentialBoundaries({ start: 0.05, factor: 2, count: 20 }),
  }),
}

/** @internal mutable counters behind `ProtocolMetrics` */
export class MetricsRecorder {
  bytesOut = 0
  bytesIn = 0
  exchanges = 0
  rawPasteExchanges = 0
  plainRawExchanges = 0
  pythonErrors = 0
  protocolErrors = 0
  interrupts = 0
  resets = 0
  lastLatencyMs = 0
  totalLatencyMs = 0
  maxLatencyMs = 0

  recordExchange(latencyMs: number, mode: "raw-paste" | "raw"): void {
    this.exchanges++
    if (mode === "raw-paste") this.rawPasteExchanges++
    else this.plainRawExchanges++
    this.lastLatencyMs = latencyMs
    this.totalLatencyMs += latencyMs
    if (latencyMs > this.maxLatencyMs) this.maxLatencyMs = latencyMs
  }

  snapshot(): ProtocolMetrics {
    return {
      bytesOut: this.bytesOut,
      bytesIn: this.bytesIn,
      exchanges: this.exchanges,
      rawPasteExchanges: this.rawPasteExchanges,
      plainRawExchanges: this.plainRawExchanges,
      pythonErrors: this.pythonErrors,
      protocolErrors: this.protocolErrors,
      interrupts: this.interrupts,
      resets: this.resets,
      lastLatencyMs: this.lastLatencyMs,
      meanLatencyMs: this.exchanges === 0 ? 0 : this.totalLatencyMs / this.exchanges,
      maxLatencyMs: this.maxLatencyMs,
    }
  }
}

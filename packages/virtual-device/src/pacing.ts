/**
 * One direction of a serial line with a speed limit: bytes go through at `bytesPerSecond` on
 * average (115200 baud with 8N1 framing is 11520 bytes/s). Without a limit, bytes go through
 * at once.
 *
 * @internal
 */
import { concatBytes, monotonicMs } from "@belay/transport/internal"
export class Pacer {
  private readonly queue: Array<{ bytes: Uint8Array; offset: number; done: () => void }> = []
  private budget = 0
  private last = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  private queued = 0

  /** Called whenever the backlog drops (to refill from a producer). */
  onDrain: () => void = () => {}

  /** Unlimited line, coalescing: bytes pushed in one turn of the event loop, delivered together. */
  private pending: Uint8Array[] = []
  private flushQueued = false

  /**
   * `coalesce`: on an unlimited line, deliver what is pushed in one turn of the event loop as one
   * chunk (at the end of the turn), the way a USB serial adapter packs a burst of bytes into one
   * transfer, instead of one delivery per push.
   */
  constructor(
    private readonly bytesPerSecond: number | undefined,
    private readonly deliver: (bytes: Uint8Array) => void,
    private readonly tickMs = 5,
    private readonly coalesce = false,
  ) {}

  /** Bytes waiting to go through. */
  get backlog(): number {
    return this.queued
  }

  /** Send bytes; resolves once they have gone through (dropped if the line is closed). */
  push(bytes: Uint8Array): Promise<void> {
    if (this.closed || bytes.length === 0) return Promise.resolve()
    if (this.bytesPerSecond === undefined) {
      if (!this.coalesce) {
        this.deliver(bytes)
        return Promise.resolve()
      }
      this.pending.push(bytes)
      if (!this.flushQueued) {
        this.flushQueued = true
        queueMicrotask(() => this.flush())
      }
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      if (this.queue.length === 0) {
        // An idle line: the first tick's worth goes out straight away.
        this.last = monotonicMs()
        this.budget = Math.max(1, (this.bytesPerSecond! * this.tickMs) / 1000)
      }
      this.queue.push({ bytes, offset: 0, done: resolve })
      this.queued += bytes.length
      this.pump()
    })
  }

  private pump() {
    this.timer = undefined
    if (this.closed) return
    const now = monotonicMs()
    this.budget += ((now - this.last) * this.bytesPerSecond!) / 1000
    this.last = now
    let sent = 0
    while (this.queue.length > 0 && this.budget >= 1) {
      const head = this.queue[0]!
      const n = Math.min(Math.floor(this.budget), head.bytes.length - head.offset)
      this.deliver(head.bytes.subarray(head.offset, head.offset + n))
      head.offset += n
      this.budget -= n
      this.queued -= n
      sent += n
      if (head.offset === head.bytes.length) {
        this.queue.shift()
        head.done()
      }
    }
    if (this.queue.length === 0) {
      this.budget = 0
    } else {
      this.timer = setTimeout(() => this.pump(), this.tickMs)
    }
    if (sent > 0) this.onDrain()
  }

  private flush() {
    this.flushQueued = false
    const chunks = this.pending
    this.pending = []
    if (this.closed || chunks.length === 0) return
    this.deliver(chunks.length === 1 ? chunks[0]! : concatBytes(chunks))
  }

  /** Drop everything queued (the line went away); pending pushes resolve. */
  clear() {
    this.pending = []
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    for (const item of this.queue.splice(0)) item.done()
    this.queued = 0
  }

  close() {
    this.clear()
    this.closed = true
  }
}

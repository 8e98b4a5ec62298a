import { Effect } from "effect"
import type { LinkError } from "./errors.js"

/**
 * The bytes received from a link and not yet consumed by the protocol engine.
 * One buffer per connection; the engine waits on it with bounded waits.
 * @internal
 */
export class ReceiveBuffer {
  /**
   * @param maxBytes the most bytes kept unconsumed: past it the oldest are dropped and counted in
   * `dropped` (the engine reads stdout as it arrives, so this is reached only by a caller reading
   * a stream more slowly than the board prints, or by a board talking while nobody listens).
   */
  constructor(readonly maxBytes = 8 * 1024 * 1024) {}
  private data = new Uint8Array(1024)
  /** Bytes dropped, in all, because more than `maxBytes` waited. */
  dropped = 0
  private start = 0
  private end = 0
  /** Called after every push and on close; the engine's waits register here. */
  private readonly listeners = new Set<() => void>()
  private closedWith: LinkError | undefined
  /** When set, received bytes go to the tap instead of the buffer (terminal passthrough). */
  tap: ((bytes: Uint8Array) => void) | undefined

  get size(): number {
    return this.end - this.start
  }

  get closed(): LinkError | undefined {
    return this.closedWith
  }

  /** A view of the unconsumed bytes; valid until the next push or consume. */
  view(): Uint8Array {
    return this.data.subarray(this.start, this.end)
  }

  push(received: Uint8Array): void {
    if (this.tap !== undefined) {
      this.tap(received)
      return
    }
    let bytes = received
    if (bytes.length > this.maxBytes) {
      this.dropped += this.end - this.start + bytes.length - this.maxBytes
      this.start = 0
      this.end = 0
      bytes = bytes.subarray(bytes.length - this.maxBytes)
    } else if (this.end - this.start + bytes.length > this.maxBytes) {
      const over = this.end - this.start + bytes.length - this.maxBytes
      this.dropped += over
      this.start += over
    }
    const needed = this.end + bytes.length
    if (needed > this.data.length) {
      const live = this.end - this.start
      if (live + bytes.length <= this.data.length / 2) {
        this.data.copyWithin(0, this.start, this.end)
      } else {
        let capacity = this.data.length * 2
        while (capacity < live + bytes.length) capacity *= 2
        const grown = new Uint8Array(capacity)
        grown.set(this.data.subarray(this.start, this.end))
        this.data = grown
      }
      this.start = 0
      this.end = live
    }
    this.data.set(bytes, this.end)
    this.end += bytes.length
    this.notify()
  }

  close(error: LinkError): void {
    if (this.closedWith !== undefined) return
    this.closedWith = error
    this.notify()
  }

  /** Remove and return (a copy of) the first `n` bytes. */
  consume(n: number): Uint8Array {
    const out = this.data.slice(this.start, this.start + n)
    this.skip(n)
    return out
  }

  skip(n: number): void {
    this.start += Math.min(n, this.end - this.start)
    if (this.start === this.end) {
      this.start = 0
      this.end = 0
    }
  }

  clear(): void {
    this.start = 0
    this.end = 0
  }

  indexOfByte(byte: number, from = 0): number {
    const at = this.data.subarray(this.start + from, this.end).indexOf(byte)
    return at < 0 ? -1 : at + from
  }

  /**
   * Call `listener` after every push and when the link closes, until `unlisten`. A listener may
   * consume bytes and remove itself (or others) while it runs.
   */
  listen(listener: () => void): void {
    this.listeners.add(listener)
  }

  unlisten(listener: () => void): void {
    this.listeners.delete(listener)
  }

  /** Completes when new bytes arrive or the link closes; fails if it is already closed. */
  readonly changed: Effect.Effect<void, LinkError> = Effect.suspend(() => {
    if (this.closedWith !== undefined) return Effect.fail(this.closedWith)
    return Effect.callback<void, LinkError>((resume) => {
      const wake = () => {
        this.listeners.delete(wake)
        resume(this.closedWith !== undefined ? Effect.fail(this.closedWith) : Effect.void)
      }
      this.listeners.add(wake)
      return Effect.sync(() => {
        this.listeners.delete(wake)
      })
    })
  })

  private notify(): void {
    const count = this.listeners.size
    if (count === 0) return
    if (count === 1) {
      this.listeners.values().next().value?.()
      return
    }
    for (const listener of [...this.listeners]) if (this.listeners.has(listener)) listener()
  }
}

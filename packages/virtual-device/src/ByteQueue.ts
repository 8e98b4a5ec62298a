/**
 * Bytes received by the firmware and not yet read: a board's UART receive buffer.
 *
 * @internal
 */
import { concatBytes } from "@belay/transport/internal"
export class ByteQueue {
  private chunks: Uint8Array[] = []
  private offset = 0
  private waiter: { resolve: (byte: number) => void; reject: (error: unknown) => void } | undefined

  push(bytes: Uint8Array) {
    if (bytes.length === 0) return
    this.chunks.push(bytes)
    const waiter = this.waiter
    if (waiter !== undefined) {
      this.waiter = undefined
      waiter.resolve(this.tryNext()!)
    }
  }

  /** Put bytes back in front (what running code did not read goes back to the REPL). */
  unshift(bytes: Uint8Array) {
    if (bytes.length === 0) return
    if (this.offset > 0) {
      this.chunks[0] = this.chunks[0]!.subarray(this.offset)
      this.offset = 0
    }
    this.chunks.unshift(bytes)
    const waiter = this.waiter
    if (waiter !== undefined) {
      this.waiter = undefined
      waiter.resolve(this.tryNext()!)
    }
  }

  /** How many buffered bytes come before the first one `stop` accepts (all of them if none does). */
  countUntil(stop: (byte: number) => boolean): number {
    let n = 0
    for (let c = 0; c < this.chunks.length; c++) {
      const chunk = this.chunks[c]!
      for (let i = c === 0 ? this.offset : 0; i < chunk.length; i++) {
        if (stop(chunk[i]!)) return n
        n++
      }
    }
    return n
  }

  /** The next byte if one is buffered. */
  tryNext(): number | undefined {
    const head = this.chunks[0]
    if (head === undefined) return undefined
    const byte = head[this.offset++]!
    if (this.offset >= head.length) {
      this.chunks.shift()
      this.offset = 0
    }
    return byte
  }

  /** The next byte, waiting for it if needed. */
  next(): Promise<number> {
    const byte = this.tryNext()
    if (byte !== undefined) return Promise.resolve(byte)
    if (this.waiter !== undefined) return Promise.reject(new Error("ByteQueue has a reader already"))
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject }
    })
  }

  /** Everything buffered, removed from the queue. */
  takeAll(): Uint8Array {
    const parts = this.chunks
    if (parts.length > 0 && this.offset > 0) parts[0] = parts[0]!.subarray(this.offset)
    this.chunks = []
    this.offset = 0
    // Node's own concatenation: this module stays free of Effect and the transport (the pty board
    // script loads the virtual board without them).
    return parts.length === 1 ? parts[0]! : concatBytes(parts)
  }

  /**
   * Wake the waiting reader with `value`, which is not a byte (a negative number: an event such as
   * an auto-reload); nothing is consumed. False when no reader waits.
   */
  signal(value: number): boolean {
    const waiter = this.waiter
    if (waiter === undefined) return false
    this.waiter = undefined
    waiter.resolve(value)
    return true
  }

  /** Drop what is buffered and fail the waiting reader. */
  abort(error: unknown) {
    this.chunks = []
    this.offset = 0
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.reject(error)
  }
}

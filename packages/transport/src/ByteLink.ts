import { Cause, Effect, Queue, Stream } from "effect"
import { LinkClosedError, type LinkError, LinkLostError } from "./errors.js"

/**
 * A bidirectional byte pipe to a board: a serial port, a process's standard streams,
 * a pseudo-terminal, or an in-process virtual board. Links are acquired in a `Scope`
 * and closed when it closes.
 *
 * `received` has a single consumer (the protocol engine); it ends when the link closes
 * in order and fails with `LinkLostError` when the link breaks.
 *
 * @example
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const link = yield* openSerialLink({ path: "/dev/ttyACM0" })
 *   yield* link.write(new TextEncoder().encode("\r\x03"))
 * }))
 */
export interface ByteLink {
  /** Where the link goes, for messages: `serial:/dev/ttyACM0`, `exec:micropython`, `virtual`. */
  readonly description: string
  /** Send bytes; resolves once the bytes are handed to the OS (or the virtual board). */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, LinkError>
  /** The bytes the board sends, in arrival order. */
  readonly received: Stream.Stream<Uint8Array, LinkError>
  /** True until the link is closed or lost. */
  readonly isOpen: Effect.Effect<boolean>
}

/**
 * The receiving half used by link implementations: push what arrives, then end or fail.
 * Not part of the protocol engine's view of a link.
 */
export interface ReceiveQueue {
  readonly push: (bytes: Uint8Array) => void
  /** Orderly end: the stream ends, later writes fail with `LinkClosedError`. */
  readonly end: (reason: string) => void
  /** The link broke: the stream fails with `LinkLostError`. */
  readonly fail: (reason: string, cause?: unknown) => void
  /** `undefined` while open; the reason once ended or failed. */
  readonly closedReason: () => LinkError | undefined
  readonly stream: Stream.Stream<Uint8Array, LinkError>
}

/**
 * Build the receive side of a link implementation.
 *
 * @example
 * const rx = yield* makeReceiveQueue("exec:micropython")
 * child.stdout.on("data", (b) => rx.push(b))
 */
export const makeReceiveQueue = (description: string): Effect.Effect<ReceiveQueue> =>
  Effect.map(Queue.unbounded<Uint8Array, LinkError | Cause.Done>(), (queue) => {
    let closed: LinkError | undefined
    return {
      push: (bytes) => {
        if (closed === undefined && bytes.length > 0) Queue.offerUnsafe(queue, bytes)
      },
      end: (reason) => {
        if (closed !== undefined) return
        closed = new LinkClosedError({ link: description, reason })
        Queue.endUnsafe(queue)
      },
      fail: (reason, cause) => {
        if (closed !== undefined) return
        const error = new LinkLostError({ link: description, reason, cause })
        closed = error
        Queue.failCauseUnsafe(queue, Cause.fail(error))
      },
      closedReason: () => closed,
      stream: Stream.fromQueue(queue),
    }
  })

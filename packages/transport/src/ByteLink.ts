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
 *
 * @since 0.1.0
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
  /**
   * The link carries only UTF-8 text from the board: a byte sequence that is not UTF-8 breaks it
   * (a browser's WebREPL, whose text frames must be UTF-8). The file operations then never make
   * the board print raw bytes. Absent: the link carries any byte.
   */
  readonly textOnly?: boolean
}

/**
 * The receiving half used by link implementations: push what arrives, then end or fail.
 * Not part of the protocol engine's view of a link.
 *
 * @example
 * const rx = yield* makeReceiveQueue("exec:micropython")
 * child.stdout.on("data", (b) => rx.push(b))
 * child.on("exit", () => rx.end("the process exited"))
 * @since 0.1.0
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
 * A synchronous consumer of a link's received bytes, in place of reading `received` as a stream:
 * each chunk is handed over in the call that pushes it, with no fiber in between.
 * @internal
 */
export interface ReceiveSink {
  readonly bytes: (bytes: Uint8Array) => void
  /** The link ended in order (`received` would end). */
  readonly end: () => void
  /** The link broke (`received` would fail with `error`). */
  readonly fail: (error: LinkError) => void
}

/**
 * The `received` streams built by `makeReceiveQueue`, with how to attach a sink to each. A tag
 * on a stream object saying how it was built (no board or session state), kept beside the
 * stream so that `ByteLink` needs no member for it and every link implementation gets it.
 */
const directReceivers = new WeakMap<object, (sink: ReceiveSink) => () => void>()

/**
 * Take a link's received bytes through `sink` instead of consuming `received`, when the link's
 * stream comes straight from `makeReceiveQueue`: bytes queued before are handed over first, then
 * an end or failure that already happened. Returns how to detach (later bytes queue again), or
 * `undefined` when the stream is another kind (then read `received` as usual). Like `received`,
 * it has a single consumer.
 * @internal
 */
export const receiveDirectly = (
  received: Stream.Stream<Uint8Array, LinkError>,
  sink: ReceiveSink,
): (() => void) | undefined => directReceivers.get(received)?.(sink)

/**
 * Build the receive side of a link implementation.
 *
 * @example
 * const rx = yield* makeReceiveQueue("exec:micropython")
 * child.stdout.on("data", (b) => rx.push(b))
 * @since 0.1.0
 */
export const makeReceiveQueue = (description: string): Effect.Effect<ReceiveQueue> =>
  Effect.map(Queue.unbounded<Uint8Array, LinkError | Cause.Done>(), (queue) => {
    let closed: LinkError | undefined
    let sink: ReceiveSink | undefined
    const stream = Stream.fromQueue(queue)
    directReceivers.set(stream, (attached) => {
      for (let next = Queue.takeUnsafe(queue); next !== undefined; next = Queue.takeUnsafe(queue)) {
        if (next._tag === "Failure") break
        attached.bytes(next.value)
      }
      if (closed === undefined) sink = attached
      else if (closed._tag === "LinkClosedError") attached.end()
      else attached.fail(closed)
      return () => {
        if (sink === attached) sink = undefined
      }
    })
    return {
      push: (bytes) => {
        if (closed !== undefined || bytes.length === 0) return
        if (sink !== undefined) sink.bytes(bytes)
        else Queue.offerUnsafe(queue, bytes)
      },
      end: (reason) => {
        if (closed !== undefined) return
        closed = new LinkClosedError({ link: description, reason })
        Queue.endUnsafe(queue)
        sink?.end()
      },
      fail: (reason, cause) => {
        if (closed !== undefined) return
        const error = new LinkLostError({ link: description, reason, cause })
        closed = error
        Queue.failCauseUnsafe(queue, Cause.fail(error))
        sink?.fail(error)
      },
      closedReason: () => closed,
      stream,
    }
  })

/**
 * Requests that the board's running code makes to the host over its own output: a layer above the
 * transport (a mounted host folder, see `@belay/filesystem`) puts an {@link OutputInterceptor} in
 * the connection's state; from then on every exchange (and the terminal) passes what the board
 * prints through it before the caller sees it. The interceptor takes out what is addressed to it,
 * answers through the board's stdin while the code still runs, and hands back the rest, which is
 * the code's own output. Checked exchanges keep their checks: the interceptor sees the output after
 * the frames were checked, and its own requests travel between frames, checked by their own sums.
 */
import type { Effect } from "effect"
import type { LinkError } from "./errors.js"
import { StateKey } from "./StateStore.js"

/**
 * One stream of the board's output, as the interceptor reads it: one exchange, or one terminal.
 *
 * @example
 * const stream = interceptor.open((bytes) => link.write(bytes))
 * const own = yield* stream.output(chunk) // the code's own output, requests taken out
 * const rest = stream.end() // bytes held back while they might start a request
 * @since 0.1.0
 */
export interface InterceptedOutput {
  /**
   * Bytes the board wrote, in order. Serves what they complete (answers go through the `reply`
   * given to `open`), and succeeds with the bytes that are the code's own output. It may hold back
   * a few bytes that could start a request, until more come or the stream ends.
   */
  readonly output: (bytes: Uint8Array) => Effect.Effect<Uint8Array, LinkError>
  /** The stream ended: the bytes held back, which were output after all. */
  readonly end: () => Uint8Array
}

/**
 * Serves requests the board's running code writes in its output (see the module comment).
 *
 * @example
 * device.connectionState.set(OutputInterceptorKey, {
 *   open: (reply) => ({ output: (bytes) => Effect.succeed(bytes), end: () => new Uint8Array(0) }),
 * })
 * @since 0.1.0
 */
export interface OutputInterceptor {
  /**
   * A new stream of output. `reply` writes to the board's stdin while the code runs; after the
   * code ended (a reply would reach the REPL as input), it writes nothing.
   */
  readonly open: (reply: (bytes: Uint8Array) => Effect.Effect<void, LinkError>) => InterceptedOutput
}

/**
 * Where a connection's {@link OutputInterceptor} is, in `DeviceCommunication.connectionState`:
 * absent unless a layer above put one there (for as long as it needs it).
 *
 * @example
 * yield* Effect.acquireRelease(
 *   Effect.sync(() => device.connectionState.set(OutputInterceptorKey, interceptor)),
 *   () => Effect.sync(() => device.connectionState.delete(OutputInterceptorKey)),
 * )
 * @since 0.1.0
 */
export const OutputInterceptorKey = StateKey<OutputInterceptor>("@belay/transport/OutputInterceptor")

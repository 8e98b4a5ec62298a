import { BoardLink, DeviceCommunication } from "@belay/transport"
import { Effect, Layer } from "effect"
import { syncTime } from "./BoardClock.js"
import { type BoardOptions, loadBoardOptions } from "./BoardOptions.js"
import { openConnection, protocolDefaultsFor } from "./Connection.js"
import { type Connection, parseConnectionString } from "./ConnectionString.js"

/**
 * The board alone: the link named by the connection string and the protocol engine over it (with
 * `syncClock`, the board's clock set once the link is open), without a session manager. For code
 * that only sends Python (`exec`, `eval`), it opens the board with less to load and build than
 * {@link BelayLive}, which is this layer with {@link BelaySessionLive} on top.
 *
 * @example
 * const out = yield* Effect.flatMap(DeviceCommunication, (d) => d.exec("print(1)")).pipe(
 *   Effect.provide(BelayBoardLive({ device: "serial:/dev/ttyACM0" })),
 * )
 * @since 0.1.0
 */
export const BelayBoardLive = (overrides: Partial<BoardOptions> = {}) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const options = yield* loadBoardOptions(overrides)
      const connection = yield* Effect.fromResult(parseConnectionString(options.device))
      return boardOf(connection, options)
    }),
  )

/**
 * The link and protocol engine of one board, its connection string parsed and its options
 * loaded: what {@link BelayBoardLive} builds, and the base of each board of a `BoardPool`.
 */
export const boardOf = (connection: Connection, options: BoardOptions) => {
  const link = BoardLink.layer(
    openConnection(connection, {
      virtualDir: options.virtualDir,
      keepQemu: options.keepQemu,
      keepVirtual: options.keepVirtual,
      virtualIdleTimeoutMs: options.virtualIdleTimeoutMs,
      webReplPassword: options.webReplPassword,
    }),
  )
  const device = DeviceCommunication.layer({
    ...protocolDefaultsFor(connection),
    ...options.protocol,
  }).pipe(Layer.provideMerge(link))
  // The clock is set once the link is open, before anything else uses the board.
  return options.syncClock === undefined
    ? device
    : Layer.effectDiscard(syncTime({ zone: options.syncClock })).pipe(Layer.provideMerge(device))
}

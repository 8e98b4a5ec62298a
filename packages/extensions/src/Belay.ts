import { DeviceSessionManager } from "@belay/core"
import { BoardLink, DeviceCommunication, MinifyPython } from "@belay/transport"
import { Effect, Layer } from "effect"
import { type BelayOptions, loadSessionOptions } from "./BelayOptions.js"
import { type BoardOptions, loadBoardOptions } from "./BoardOptions.js"
import { syncTime } from "./BoardClock.js"
import { openConnection, protocolDefaultsFor } from "./Connection.js"
import { parseConnectionString } from "./ConnectionString.js"

/**
 * The services the composed stack provides.
 *
 * @example
 * const program: Effect.Effect<string, unknown, BelayServices> = Effect.gen(function* () {
 *   const device = yield* DeviceCommunication
 *   return yield* device.exec("print(1)")
 * })
 * @since 0.1.0
 */
export type BelayServices = BoardLink | DeviceCommunication | DeviceSessionManager

/**
 * The whole stack as one `Layer`: the link named by the connection string, the protocol engine,
 * and the session manager, with options from code over options from `Config`; with `syncClock`,
 * the board's clock is set from the host's once the link is open. Closing the layer ends every
 * session, then closes the link.
 *
 * @example
 * const program = Effect.gen(function* () {
 *   const manager = yield* DeviceSessionManager
 *   return yield* manager.executeInSession((s) => s.device.eval("1 + 1"))
 * })
 * Effect.runPromise(program.pipe(Effect.provide(BelayLive({ device: "virtual" }))))
 *
 * @since 0.1.0
 */
export const BelayLive = (overrides: Partial<BelayOptions> = {}) =>
  BelaySessionLive(overrides).pipe(Layer.provideMerge(BelayBoardLive(overrides)))

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
    }),
  )

/**
 * The session manager (and whether Python travels minified) over a board provided from elsewhere:
 * {@link BelayLive} is this over {@link BelayBoardLive}. Given the same board layer value, a
 * program that builds both shares one connection.
 *
 * @example
 * const board = BelayBoardLive({ device: "virtual" })
 * const stack = BelaySessionLive().pipe(Layer.provideMerge(board))
 * @since 0.1.0
 */
export const BelaySessionLive = (overrides: Partial<Pick<BelayOptions, "session" | "minify">> = {}) =>
  Layer.unwrap(
    Effect.map(loadSessionOptions(overrides), ({ session, minify }) =>
      // Whether the Python Belay sends travels minified, for everything run with the stack.
      Layer.merge(DeviceSessionManager.layer(session), Layer.succeed(MinifyPython, minify)),
    ),
  )

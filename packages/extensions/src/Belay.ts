import { DeviceSessionManager } from "@belay/core"
import { BoardLink, DeviceCommunication, MinifyPython } from "@belay/transport"
import { Effect, Layer } from "effect"
import { type BelayOptions, loadBelayOptions } from "./BelayOptions.js"
import { syncTime } from "./BoardClock.js"
import { openConnection, protocolDefaultsFor } from "./Connection.js"
import { type Connection, parseConnectionString } from "./ConnectionString.js"

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
  Layer.unwrap(
    Effect.gen(function* () {
      const options = yield* loadBelayOptions(overrides)
      const connection = yield* Effect.fromResult(parseConnectionString(options.device))
      return boardStack(connection, options)
    }),
  )

/**
 * The stack of one board, once its connection string is parsed and the options loaded: what
 * `BelayLive` builds, and what a `BoardPool` builds for each of its boards.
 */
export const boardStack = (connection: Connection, options: BelayOptions) => {
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
  const synced =
    options.syncClock === undefined
      ? device
      : Layer.effectDiscard(syncTime({ zone: options.syncClock })).pipe(Layer.provideMerge(device))
  return DeviceSessionManager.layer(options.session).pipe(
    Layer.provideMerge(synced),
    // Whether the Python Belay sends travels minified, for everything run with the stack.
    Layer.merge(Layer.succeed(MinifyPython, options.minify)),
  )
}

import { DeviceSessionManager } from "@belay/core"
import { type BoardLink, type DeviceCommunication, MinifyPython } from "@belay/transport"
import { Effect, Layer } from "effect"
import { BelayBoardLive, boardOf } from "./BelayBoard.js"
import { type BelayOptions, loadSessionOptions } from "./BelayOptions.js"
import type { Connection } from "./ConnectionString.js"

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
  Layer.unwrap(Effect.map(loadSessionOptions(overrides), (options) => sessionsOf(options)))

/** The session manager and the minify setting, over a board given from elsewhere. */
const sessionsOf = (options: Pick<BelayOptions, "session" | "minify">) =>
  // Whether the Python Belay sends travels minified, for everything run with the stack.
  Layer.merge(DeviceSessionManager.layer(options.session), Layer.succeed(MinifyPython, options.minify))

/**
 * The stack of one board, once its connection string is parsed and the options loaded: what
 * `BelayLive` builds, and what a `BoardPool` builds for each of its boards.
 */
export const boardStack = (connection: Connection, options: BelayOptions) =>
  sessionsOf(options).pipe(Layer.provideMerge(boardOf(connection, options)))

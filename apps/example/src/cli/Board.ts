import { DeviceSessionManager } from "@belay/core"
import { type BelayServices, BelaySessionLive } from "@belay/extensions"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import { deviceLayer, logLevel, withBoard } from "./Device.js"
import { readCliConfig } from "./Flags.js"

export { defaultVirtualDir, logLevel } from "./Device.js"

/**
 * The whole stack on the board named by `device` (the session manager over `deviceLayer`), quiet
 * below warnings unless BELAY_LOG_LEVEL says so. One layer value per device, so that a chain of
 * commands (`belay exec ... + eval ...`) that built it once in a shared memo map shares the
 * connection (see `cli/Chain.ts`).
 */
export const boardLayer = (device: string): BoardLayer => {
  const known = boardLayers.get(device)
  if (known !== undefined) return known
  const layer = makeBoardLayer(device)
  boardLayers.set(device, layer)
  return layer
}

const makeBoardLayer = (device: string) => {
  // The config file's `minify`, unless BELAY_MINIFY (or --minify, --no-minify) says otherwise.
  const minify = process.env.BELAY_MINIFY === undefined ? readCliConfig().minify : undefined
  return BelaySessionLive(minify === undefined ? {} : { minify }).pipe(
    Layer.provideMerge(deviceLayer(device)),
    Layer.provide(Layer.succeed(References.MinimumLogLevel, logLevel())),
  )
}

type BoardLayer = ReturnType<typeof makeBoardLayer>

const boardLayers = new Map<string, BoardLayer>()

/**
 * Run `body` with the services of the board `device` names: the `--device` flag's value (empty
 * when not given: then `BELAY_DEVICE`, the config file, or `fallback`; see `chooseDevice`).
 *
 * @example
 * yield* onBoard("virtual", Effect.flatMap(DeviceCommunication, (d) => d.exec("print(1)")))
 */
export const onBoard = <A, E>(device: string, body: Effect.Effect<A, E, BelayServices>, fallback = "auto") =>
  withBoard(device, boardLayer, body, fallback)

/** Run `body` in a session that ends (cleaning up) when it ends. */
export const inSession = <A, E>(
  body: (
    session: Effect.Success<ReturnType<DeviceSessionManager["Service"]["createSession"]>>,
  ) => Effect.Effect<A, E>,
) => Effect.flatMap(DeviceSessionManager, (manager) => manager.executeInNewSession(body))

import os from "node:os"
import path from "node:path"
import { DeviceSessionManager } from "@belay/core"
import { BelayLive, type BelayServices } from "@belay/extensions"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"

/**
 * Where the virtual board keeps its flash between invocations: `BELAY_VIRTUAL_DIR`, else
 * `$XDG_CACHE_HOME/belay/virtual-board` (or `~/.cache/belay/virtual-board`).
 */
export const defaultVirtualDir = (): string =>
  process.env.BELAY_VIRTUAL_DIR ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "belay", "virtual-board")

/**
 * The whole stack on the board named by `device`, quiet below warnings unless BELAY_LOG_LEVEL says
 * so. One layer value per device, so that a chain of commands (`belay exec ... + eval ...`) that
 * built it once in a shared memo map shares the connection (see `cli/Chain.ts`).
 */
export const boardLayer = (device: string) => {
  let layer = boardLayers.get(device)
  if (layer === undefined) {
    layer = BelayLive({ device, virtualDir: defaultVirtualDir() }).pipe(
      Layer.provide(Layer.succeed(References.MinimumLogLevel, logLevel())),
    )
    boardLayers.set(device, layer)
  }
  return layer
}

const boardLayers = new Map<string, ReturnType<typeof BelayLive>>()

const logLevel = () => {
  const level = process.env.BELAY_LOG_LEVEL
  return level === "Debug" || level === "Info" || level === "Error" || level === "Trace" ? level : "Warn"
}

/** Run `body` with the board's services. */
export const onBoard = <A, E>(device: string, body: Effect.Effect<A, E, BelayServices>) =>
  Effect.provide(body, boardLayer(device)).pipe(Effect.provideService(References.MinimumLogLevel, logLevel()))

/** Run `body` in a session that ends (cleaning up) when it ends. */
export const inSession = <A, E>(
  body: (
    session: Effect.Success<ReturnType<DeviceSessionManager["Service"]["createSession"]>>,
  ) => Effect.Effect<A, E>,
) => Effect.flatMap(DeviceSessionManager, (manager) => manager.executeInNewSession(body))

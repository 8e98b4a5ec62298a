import os from "node:os"
import path from "node:path"
import { DeviceSessionManager } from "@belay/core"
import { BelayLive, type BelayServices } from "@belay/extensions"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import { UsageError } from "./Failure.js"
import { chooseDevice, configPath, readCliConfig } from "./Flags.js"
import { webReplPasswordFor } from "./WebReplPassword.js"

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
    const config = readCliConfig()
    // The config file's clock sync, unless BELAY_SYNC_CLOCK (read by BelayLive) says.
    const syncClock =
      process.env.BELAY_SYNC_CLOCK === undefined && config.syncClock !== undefined
        ? { syncClock: config.syncClock }
        : {}
    // The config file's `minify`, unless BELAY_MINIFY (or --minify, --no-minify) says otherwise.
    const minify = process.env.BELAY_MINIFY === undefined ? config.minify : undefined
    layer = Layer.unwrap(
      // A `ws://` board's password from the config file or a prompt, asked once per device.
      Effect.map(webReplPasswordFor(device, config), (webReplPassword) =>
        // qemu:microbit and the virtual board stay running between commands, as a board stays
        // plugged in (`belay qemu stop`, `belay virtual stop`; the virtual board also stops by
        // itself after BELAY_VIRTUAL_IDLE_TIMEOUT, 15 minutes, without a command).
        BelayLive({
          device,
          virtualDir: defaultVirtualDir(),
          keepQemu: true,
          keepVirtual: true,
          webReplPassword,
          ...syncClock,
          ...(minify === undefined ? {} : { minify }),
        }),
      ),
    ).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, logLevel())))
    boardLayers.set(device, layer)
  }
  return layer
}

const boardLayers = new Map<string, ReturnType<typeof BelayLive>>()

export const logLevel = () => {
  const level = process.env.BELAY_LOG_LEVEL
  return level === "Debug" || level === "Info" || level === "Error" || level === "Trace" ? level : "Warn"
}

const NO_BOARD_HINT = () =>
  `plug a board in, or pick one: --device virtual (the built-in virtual board), --device a0 (/dev/ttyACM0), --device id:<serial number> or usb:vid=2e8a,pid=0005 (see \`belay ports\`), --device exec:micropython; or set BELAY_DEVICE, or "device" in ${configPath()}`

/**
 * Run `body` with the services of the board `device` names: the `--device` flag's value (empty
 * when not given: then `BELAY_DEVICE`, the config file, or `fallback`; see `chooseDevice`).
 *
 * @example
 * yield* onBoard("virtual", Effect.flatMap(DeviceCommunication, (d) => d.exec("print(1)")))
 */
export const onBoard = <A, E>(device: string, body: Effect.Effect<A, E, BelayServices>, fallback = "auto") =>
  Effect.try({
    try: () => chooseDevice(device, readCliConfig(), fallback),
    catch: (error) => (error instanceof UsageError ? error : new UsageError(String(error))),
  })
    .pipe(
      Effect.flatMap((choice) =>
        Effect.provide(body, boardLayer(choice.device)).pipe(
          Effect.mapError((error) =>
            choice.implicit && (error as { _tag?: unknown })._tag === "NoBoardFoundError"
              ? new UsageError(
                  `no --device given and no board found: ${(error as Error).message}`,
                  NO_BOARD_HINT(),
                )
              : error,
          ),
        ),
      ),
    )
    .pipe(Effect.provideService(References.MinimumLogLevel, logLevel()))

/** Run `body` in a session that ends (cleaning up) when it ends. */
export const inSession = <A, E>(
  body: (
    session: Effect.Success<ReturnType<DeviceSessionManager["Service"]["createSession"]>>,
  ) => Effect.Effect<A, E>,
) => Effect.flatMap(DeviceSessionManager, (manager) => manager.executeInNewSession(body))

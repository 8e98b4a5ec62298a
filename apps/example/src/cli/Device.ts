import os from "node:os"
import path from "node:path"
import { BelayBoardLive, parseConnectionString, protocolDefaultsFor } from "@belay/extensions"
import { BoardLink, DeviceCommunication } from "@belay/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Result from "effect/Result"
import { UsageError } from "./Failure.js"
import { chooseDevice, configPath, readCliConfig } from "./Flags.js"
import { isFleetDevice } from "./FleetDevice.js"
import { webReplPasswordFor } from "./WebReplPassword.js"

/**
 * The board a command talks to, without a session manager: `exec` and `eval` need no more, and
 * load and build less with it (see `Board.ts` for the whole stack, built on this one).
 */

/**
 * Where the virtual board keeps its flash between invocations: `BELAY_VIRTUAL_DIR`, else
 * `$XDG_CACHE_HOME/belay/virtual-board` (or `~/.cache/belay/virtual-board`). A variable set empty
 * counts as unset, as the XDG rules say of theirs.
 */
export const defaultVirtualDir = (): string =>
  process.env.BELAY_VIRTUAL_DIR ||
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "belay", "virtual-board")

/** The services of the board alone. */
export type DeviceServices = BoardLink | DeviceCommunication

/**
 * The link and protocol engine of the board named by `device`, quiet below warnings unless
 * BELAY_LOG_LEVEL says so. One layer value per device, so that a chain of commands (`belay exec
 * ... + ls`) that built it once in a shared memo map shares the connection (see `cli/Chain.ts`),
 * whether a command needs the board alone or the whole stack (`boardLayer`, built on this one).
 */
export const deviceLayer = (device: string): DeviceLayer => {
  const known = deviceLayers.get(device)
  if (known !== undefined) return known
  const layer = makeDeviceLayer(device)
  deviceLayers.set(device, layer)
  return layer
}

const makeDeviceLayer = (
  device: string,
): Layer.Layer<
  DeviceServices,
  Layer.Error<ReturnType<typeof localDeviceLayer>> | Layer.Error<ReturnType<typeof lentDeviceLayer>>
> =>
  // The commands that go through the fleet's calls do not come here; the others borrow the
  // board's link from its runner and run as on a board of this computer.
  isFleetDevice(device) ? lentDeviceLayer(device) : localDeviceLayer(device)

/** A board of this computer (or of the network: `tcp:`, `rfc2217:`, `ws://`). */
const localDeviceLayer = (device: string) => {
  const config = readCliConfig()
  // The config file's clock sync, unless BELAY_SYNC_CLOCK (read by BelayBoardLive) says.
  const syncClock =
    process.env.BELAY_SYNC_CLOCK === undefined && config.syncClock !== undefined
      ? { syncClock: config.syncClock }
      : {}
  return Layer.unwrap(
    // A `ws://` board's password from the config file or a prompt, asked once per device.
    Effect.map(webReplPasswordFor(device, config), (webReplPassword) =>
      // qemu:microbit and the virtual board stay running between commands, as a board stays
      // plugged in (`belay qemu stop`, `belay virtual stop`; the virtual board also stops by
      // itself after BELAY_VIRTUAL_IDLE_TIMEOUT, 15 minutes, without a command).
      BelayBoardLive({
        device,
        virtualDir: defaultVirtualDir(),
        keepQemu: true,
        keepVirtual: true,
        webReplPassword,
        ...syncClock,
        // A command talks to the board at once: entering the raw REPL as the link opens lets the
        // board's answer overlap the rest of the command's start.
        protocol: { enterRawOnOpen: true },
      }),
    ),
  ).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, logLevel())))
}

/**
 * A fleet board's link, lent by its runner for this command (`lentBoardLink`), and the protocol
 * engine over it with the defaults of the runner's own connection to the board.
 */
const lentDeviceLayer = (device: string) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const { lentBoardLink } = yield* Effect.promise(() => import("./FleetActions.js"))
      const { link, connection } = yield* lentBoardLink(device)
      const parsed = parseConnectionString(connection)
      const defaults = Result.isSuccess(parsed) ? protocolDefaultsFor(parsed.success) : {}
      return DeviceCommunication.layer({ ...defaults, enterRawOnOpen: true }).pipe(
        Layer.provideMerge(Layer.succeed(BoardLink, link)),
      )
    }),
  ).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, logLevel())))

type DeviceLayer = ReturnType<typeof makeDeviceLayer>

const deviceLayers = new Map<string, DeviceLayer>()

export const logLevel = () => {
  const level = process.env.BELAY_LOG_LEVEL
  return level === "Debug" || level === "Info" || level === "Error" || level === "Trace" ? level : "Warn"
}

const NO_BOARD_HINT = () =>
  `plug a board in, or pick one: --device virtual (the built-in virtual board), --device a0 (/dev/ttyACM0), --device id:<serial number> or usb:vid=2e8a,pid=0005 (see \`belay ports\`), --device exec:micropython; or set BELAY_DEVICE, or "device" in ${configPath()}`

/**
 * Run `body` with the layer `layerOf` gives for the board `device` names: the `--device` flag's
 * value (empty when not given: then `BELAY_DEVICE`, the config file, or `fallback`; see
 * `chooseDevice`). A board not found when none was named is a usage error that says how to name one.
 */
export const withBoard = <A, E, R, ROut extends R, LE>(
  device: string,
  layerOf: (device: string) => Layer.Layer<ROut, LE>,
  body: Effect.Effect<A, E, R>,
  fallback = "auto",
) =>
  Effect.try({
    try: () => chooseDevice(device, readCliConfig(), fallback),
    catch: (error) => (error instanceof UsageError ? error : new UsageError(String(error))),
  })
    .pipe(
      Effect.flatMap((choice) =>
        Effect.provide(body, layerOf(choice.device)).pipe(
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

/**
 * Run `body` with the board `device` names, alone (no session manager).
 *
 * @example
 * yield* onDevice("virtual", Effect.flatMap(DeviceCommunication, (d) => d.exec("print(1)")))
 */
export const onDevice = <A, E>(
  device: string,
  body: Effect.Effect<A, E, DeviceServices>,
  fallback = "auto",
) => withBoard(device, deviceLayer, body, fallback)

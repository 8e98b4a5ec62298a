import type { ByteLink, LinkOpenError, RawReplOptions } from "@belay/transport"
import { openProcessLink } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { openVirtualBoard, type QemuStartError, startQemuMicrobit } from "@belay/virtual-device"
import { Effect, type Scope } from "effect"
import { type Connection, ConnectionStringError } from "./ConnectionString.js"

/**
 * Open the link a connection describes. The link lives as long as the scope.
 *
 * @example
 * const link = yield* openConnection({ _tag: "Serial", path: "/dev/ttyACM0", baudRate: 115200, dtr: undefined, rts: undefined })
 */
export const openConnection = (
  connection: Connection,
  defaults: { readonly virtualDir?: string | undefined } = {},
): Effect.Effect<ByteLink, LinkOpenError | QemuStartError | ConnectionStringError, Scope.Scope> => {
  switch (connection._tag) {
    case "Virtual":
      return openVirtualBoard({
        ...(connection.bytesPerSecond !== undefined ? { bytesPerSecond: connection.bytesPerSecond } : {}),
        ...(connection.rawPaste !== undefined ? { rawPaste: connection.rawPaste } : {}),
        ...(connection.firmware !== undefined ? { firmware: connection.firmware } : {}),
        ...((connection.flashDir ?? defaults.virtualDir) !== undefined
          ? { flashDir: (connection.flashDir ?? defaults.virtualDir) as string }
          : {}),
      })
    case "Serial":
      return openSerialLink({
        path: connection.path,
        baudRate: connection.baudRate,
        ...(connection.dtr !== undefined ? { dtr: connection.dtr } : {}),
        ...(connection.rts !== undefined ? { rts: connection.rts } : {}),
      })
    case "Exec":
      return openProcessLink({
        command: connection.command,
        args: connection.args,
        restartOnExit: connection.restart,
      })
    case "Qemu":
      return Effect.flatMap(
        startQemuMicrobit(
          connection.firmwarePath !== undefined ? { firmwarePath: connection.firmwarePath } : {},
        ),
        (qemu) => openSerialLink({ path: qemu.ptyPath }),
      )
    case "List":
      return Effect.fail(
        new ConnectionStringError({
          input: "list",
          reason: "list enumerates serial ports; it does not name a board",
        }),
      )
  }
}

/**
 * Protocol settings that suit a connection: the virtual board takes plain raw writes unpaced;
 * everything else keeps the transport's conservative pacing.
 */
export const protocolDefaultsFor = (connection: Connection): RawReplOptions =>
  connection._tag === "Virtual" ? { plainRawChunkDelayMs: 0 } : {}

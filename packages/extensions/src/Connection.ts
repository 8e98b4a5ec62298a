/**
 * Opening the link a connection string names.
 *
 * The virtual board and the QEMU micro:bit come from `@belay/virtual-device`, an optional peer
 * dependency of this package, imported with `import()` the first time a `virtual` or
 * `qemu:microbit` connection is opened. It is optional because it carries the MicroPython
 * WebAssembly build and its worker, which an application for a serial board never runs; an
 * optional peer (rather than a `/virtual` subpath) keeps one entry point and keeps
 * `connect("virtual")` and `BelayLive({ device: "virtual" })` working unchanged wherever the
 * package is installed. Without it, those connections fail with `VirtualDeviceMissingError`.
 * A kept virtual board (`virtual?keep=true`) loads only the package's `kept-virtual` module: the
 * board runs in a process of its own, reached over a local TCP connection.
 */
import path from "node:path"
import {
  type ByteLink,
  LinkOpenError,
  type PtyUnavailableError,
  type RawReplOptions,
  type WebReplLoginError,
} from "@belay/transport"
import { openSerialLink, type SerialPortInfo, type SerialPortMatchError } from "@belay/transport/serial"
// Types only: erased from the built module, so nothing of the package loads until `import()` below.
import type { QemuStartError, QemuStateError } from "@belay/virtual-device"
import type { VirtualBoardStartError, VirtualBoardStateError } from "@belay/virtual-device/kept-virtual"
import { Data, Effect, type Redacted, type Scope } from "effect"
import { type Connection, ConnectionStringError, lineSpeedOfKept } from "./ConnectionString.js"

/**
 * The package that provides the `virtual` and `qemu:microbit` connections.
 *
 * @since 0.1.0
 *
 * @example
 * if (error._tag === "VirtualDeviceMissingError") console.error(`npm install ${VIRTUAL_DEVICE_PACKAGE}`)
 */
export const VIRTUAL_DEVICE_PACKAGE = "@belay/virtual-device"

/**
 * A `virtual` or `qemu:microbit` connection was opened where `@belay/virtual-device` (the optional
 * peer dependency that provides both) is not installed.
 *
 * @example
 * const link = yield* openConnection(connection).pipe(
 *   Effect.catchTag("VirtualDeviceMissingError", (e) => Console.error(e.message)),
 * )
 * @since 0.1.0
 */
export class VirtualDeviceMissingError extends Data.TaggedError("VirtualDeviceMissingError")<{
  /** The connection that needed the package: `virtual` or `qemu:microbit`. */
  readonly connection: string
  /** The package to install. */
  readonly packageName: typeof VIRTUAL_DEVICE_PACKAGE
  readonly cause: unknown
}> {
  override get message(): string {
    return (
      `the ${this.connection} connection needs the optional peer dependency ${this.packageName}; ` +
      `install it next to @belay/extensions, e.g. \`npm install ${this.packageName}\` or \`pnpm add ${this.packageName}\``
    )
  }
}

/**
 * `auto` found no serial port that looks like a MicroPython board: `ports` is what was there.
 * (`id:` and `usb:` fail with `SerialPortMatchError`, which names the candidates.)
 *
 * @example
 * Effect.catchTag("NoBoardFoundError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class NoBoardFoundError extends Data.TaggedError("NoBoardFoundError")<{
  /** Undefined: `auto` looks for the first likely MicroPython board (`id:` no longer fails with this error). */
  readonly serialNumber: string | undefined
  readonly ports: ReadonlyArray<SerialPortInfo>
}> {
  override get message(): string {
    const seen =
      this.ports.length === 0
        ? "no serial ports at all"
        : `ports: ${this.ports.map((p) => `${p.path}${p.serialNumber ? ` (id:${p.serialNumber})` : ""}`).join(", ")}`
    return this.serialNumber === undefined
      ? `no serial port looks like a MicroPython board by its USB ids (${seen})`
      : `no serial port has the serial number ${this.serialNumber} (${seen})`
  }
}

/** True when `cause` is Node's "cannot find package" for `@belay/virtual-device` itself. */
const isVirtualDeviceMissing = (cause: unknown): boolean => {
  const code = (cause as { code?: unknown } | undefined)?.code
  const text = cause instanceof Error ? cause.message : String(cause)
  return (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && text.includes(VIRTUAL_DEVICE_PACKAGE)
  )
}

/**
 * Import `@belay/virtual-device` for `connection`. Missing: `VirtualDeviceMissingError`; present
 * but failing to load: a defect (a broken install, not something a caller can handle).
 */
const loadVirtualDevice = (connection: string) =>
  loadOptional(connection, () => import("@belay/virtual-device"))

/** The same for the package's module of the kept virtual board, which loads nothing of the board itself. */
const loadKeptVirtual = () => loadOptional("virtual", () => import("@belay/virtual-device/kept-virtual"))

const loadOptional = <A>(connection: string, load: () => Promise<A>) =>
  Effect.tryPromise({ try: load, catch: (cause) => cause }).pipe(
    Effect.catch((cause) =>
      isVirtualDeviceMissing(cause)
        ? Effect.fail(
            new VirtualDeviceMissingError({ connection, packageName: VIRTUAL_DEVICE_PACKAGE, cause }),
          )
        : Effect.die(cause),
    ),
  )

/**
 * The links other than a serial port, and the port list, load when a connection needs them: a
 * command on a serial board then never loads `node:child_process` or the sockets (measured: about
 * 7 ms of a `belay exec` on a serial board).
 */
const otherLinks = () => Effect.promise(() => import("@belay/transport/node"))
const serialPorts = () => Effect.promise(() => import("@belay/transport/serial"))

let warnedOfPasswordInString = false

/** A password in a connection string is accepted, with one warning per process (never the password). */
const warnPasswordInString = (given: boolean) =>
  Effect.suspend(() => {
    if (!given || warnedOfPasswordInString) return Effect.void
    warnedOfPasswordInString = true
    return Effect.logWarning(
      "a WebREPL password in the connection string (?password=) shows in shell histories and process lists: use BELAY_WEBREPL_PASSWORD or the config file instead",
    )
  })

/**
 * What {@link openConnection} does where the connection string does not say.
 *
 * @example
 * const link = yield* openConnection(connection, { virtualDir: "/tmp/flash", keepQemu: true })
 * @since 0.1.0
 */
export interface ConnectionDefaults {
  /** Where the virtual board keeps its flash; in memory when unset. */
  readonly virtualDir?: string | undefined
  /**
   * `virtual` without `keep=`: use the virtual board kept running between processes (one per
   * flash folder, reached over a local TCP connection: what the CLI does), rather than one in this
   * process that powers off with the link (the default).
   */
  readonly keepVirtual?: boolean | undefined
  /** How long a kept virtual board this starts stays without a client before it exits (default 15 minutes). */
  readonly virtualIdleTimeoutMs?: number | undefined
  /**
   * `qemu:microbit` without `keep=`: keep the emulator running between processes (what the CLI
   * does), rather than start one of its own that stops with the link (the default).
   */
  readonly keepQemu?: boolean | undefined
  /** The WebREPL password when the connection string has none. */
  readonly webReplPassword?: Redacted.Redacted<string> | undefined
}

/**
 * Open the link a connection describes. The link lives as long as the scope; a kept QEMU
 * micro:bit (`qemu:microbit?keep=true`) outlives it, until `stopKeptQemuMicrobits`, and so does a
 * kept virtual board (`virtual?keep=true`), until `stopKeptVirtualBoards` or its idle time.
 *
 * @example
 * const link = yield* openConnection({ _tag: "Serial", path: "/dev/ttyACM0", baudRate: 115200, dtr: undefined, rts: undefined })
 * @since 0.1.0
 */
export const openConnection = (
  connection: Connection,
  defaults: ConnectionDefaults = {},
): Effect.Effect<
  ByteLink,
  | LinkOpenError
  | PtyUnavailableError
  | QemuStartError
  | QemuStateError
  | VirtualBoardStartError
  | VirtualBoardStateError
  | ConnectionStringError
  | VirtualDeviceMissingError
  | NoBoardFoundError
  | SerialPortMatchError
  | WebReplLoginError,
  Scope.Scope
> => {
  switch (connection._tag) {
    case "Virtual": {
      const flashDir = connection.flashDir ?? namedFlashDir(defaults.virtualDir, connection.name)
      const keep = connection.keep ?? defaults.keepVirtual ?? false
      // Kept boards are one per flash folder: a named one without a folder would be the unnamed one.
      if (keep && connection.name !== undefined && flashDir === undefined)
        return Effect.fail(
          new ConnectionStringError({
            input: `virtual?name=${connection.name}`,
            reason:
              "a named kept virtual board needs a flash folder (dir=, or the opener's virtualDir, BELAY_VIRTUAL_DIR), since kept boards are one per flash folder; or keep=false for one in this process",
          }),
        )
      const board = {
        ...(connection.rawPaste !== undefined ? { rawPaste: connection.rawPaste } : {}),
        ...(connection.firmware !== undefined ? { firmware: connection.firmware } : {}),
        ...(connection.flavor !== undefined ? { flavor: connection.flavor } : {}),
        ...(connection.circuitPythonVersion !== undefined
          ? { circuitPythonVersion: connection.circuitPythonVersion }
          : {}),
        ...(connection.writable !== undefined ? { writable: connection.writable } : {}),
        ...(connection.memoryLimit !== undefined ? { memoryLimit: connection.memoryLimit } : {}),
        ...(flashDir !== undefined ? { flashDir } : {}),
      }
      if (!keep)
        return Effect.flatMap(loadVirtualDevice("virtual"), ({ openVirtualBoard }) =>
          openVirtualBoard({
            ...board,
            ...(connection.bytesPerSecond !== undefined ? { bytesPerSecond: connection.bytesPerSecond } : {}),
          }),
        )
      if (connection.bytesPerSecond !== undefined) return Effect.fail(lineSpeedOfKept("virtual"))
      return loadKeptVirtual().pipe(
        Effect.flatMap(({ useKeptVirtualBoard }) =>
          useKeptVirtualBoard({
            ...board,
            ...(defaults.virtualIdleTimeoutMs !== undefined
              ? { idleTimeoutMs: defaults.virtualIdleTimeoutMs }
              : {}),
          }),
        ),
        Effect.flatMap((kept) =>
          Effect.flatMap(otherLinks(), ({ openTcpLink }) =>
            openTcpLink({ host: kept.host, port: kept.port }),
          ),
        ),
        Effect.map((link): ByteLink => ({ ...link, description: `virtual (kept, ${link.description})` })),
      )
    }
    case "Serial":
      return openSerialLink({
        path: connection.path,
        baudRate: connection.baudRate,
        ...(connection.dtr !== undefined ? { dtr: connection.dtr } : {}),
        ...(connection.rts !== undefined ? { rts: connection.rts } : {}),
      })
    case "FindSerial": {
      const settings = {
        baudRate: connection.baudRate,
        ...(connection.dtr !== undefined ? { dtr: connection.dtr } : {}),
        ...(connection.rts !== undefined ? { rts: connection.rts } : {}),
      }
      // `id:` and `usb:`: the one port that matches (SerialPortMatchError names the candidates).
      if (connection.match !== undefined) return openSerialLink({ match: connection.match, ...settings })
      return serialPorts().pipe(
        Effect.flatMap(({ listSerialPorts }) => listSerialPorts()),
        Effect.flatMap((ports): Effect.Effect<ByteLink, LinkOpenError | NoBoardFoundError, Scope.Scope> => {
          const port = ports.find((p) => p.likelyMicroPython)
          return port === undefined
            ? Effect.fail(new NoBoardFoundError({ serialNumber: undefined, ports }))
            : openSerialLink({ path: port.path, ...settings })
        }),
      )
    }
    case "Exec":
      return Effect.flatMap(otherLinks(), ({ openProcessLink }) =>
        openProcessLink({
          command: connection.command,
          args: connection.args,
          restartOnExit: connection.restart,
          pty: connection.pty,
        }),
      )
    case "Qemu": {
      const options = connection.firmwarePath !== undefined ? { firmwarePath: connection.firmwarePath } : {}
      const keep = connection.keep ?? defaults.keepQemu ?? false
      return loadVirtualDevice("qemu:microbit").pipe(
        Effect.flatMap(
          ({
            startQemuMicrobit,
            useKeptQemuMicrobit,
          }): Effect.Effect<{ readonly ptyPath: string }, QemuStartError | QemuStateError, Scope.Scope> =>
            keep ? useKeptQemuMicrobit(options) : startQemuMicrobit(options),
        ),
        Effect.flatMap((qemu) => openSerialLink({ path: qemu.ptyPath })),
      )
    }
    case "Tcp":
      return Effect.flatMap(otherLinks(), ({ openTcpLink }) =>
        openTcpLink({ host: connection.host, port: connection.port }),
      )
    case "Rfc2217":
      return Effect.flatMap(otherLinks(), ({ openRfc2217Link }) =>
        openRfc2217Link({
          host: connection.host,
          port: connection.port,
          baudRate: connection.baudRate,
          ...(connection.dtr !== undefined ? { dtr: connection.dtr } : {}),
          ...(connection.rts !== undefined ? { rts: connection.rts } : {}),
        }),
      )
    case "WebRepl":
      return Effect.flatMap(warnPasswordInString(connection.password !== undefined), () =>
        // Imported on first use, so that programs that never open a WebREPL never load `ws`.
        Effect.flatMap(
          Effect.promise(() => import("@belay/transport/webrepl")),
          ({ openWebReplLink }) =>
            openWebReplLink({
              url: connection.url,
              password: connection.password ?? defaults.webReplPassword,
            }),
        ),
      )
    case "Fleet":
      return Effect.fail(
        new LinkOpenError({
          link: `fleet:${connection.boardId}`,
          reason:
            "a fleet board is reached through its runner: open it with @belay/fleet (FleetClient's board(id).lend, then openLentLink), or name it to the belay command",
        }),
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
 * The flash folder of a named virtual board (`virtual?name=b`) that takes its folder from the
 * opener's default: a sibling of that folder, its name plus `-b`, so that named boards keep their
 * files apart (and are kept apart, kept boards being one per flash folder).
 */
export const namedFlashDir = (dir: string | undefined, name: string | undefined): string | undefined =>
  dir === undefined || name === undefined
    ? dir
    : path.join(path.dirname(dir), `${path.basename(dir)}-${name}`)

/**
 * Protocol settings that suit a connection: the virtual board takes plain raw writes unpaced;
 * everything else keeps the transport's pacing for small boards (32-byte chunks 3 ms apart).
 *
 * @example
 * const device = DeviceCommunication.layer(protocolDefaultsFor(connection))
 * @since 0.1.0
 */
export const protocolDefaultsFor = (connection: Connection): RawReplOptions =>
  connection._tag === "Virtual" ? { plainRawChunkDelayMs: 0 } : {}

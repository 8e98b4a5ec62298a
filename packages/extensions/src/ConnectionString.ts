import { webReplTarget } from "@belay/transport"
import { normalizeUsbId, type SerialPortMatch } from "@belay/transport/serial"
import { Data, Redacted, Result } from "effect"
import { namesSeveralBoards } from "./BoardList.js"

/**
 * Where a board is, parsed from a connection string.
 *
 * - `virtual` / `virtual?baud=115200&rawPaste=false&dir=/tmp/flash&memory=64M`: the virtual board
 *   (`memory=`: the most its interpreter may grow to, 32M to 1G);
 *   `virtual?name=b` is a board of its own beside `virtual` (see the `name` field);
 *   `virtual?flavor=circuitpython` plays CircuitPython (`&version=6.3.0` for an older one,
 *   `&writable=true` for a flash code may write, as after `storage.remount("/", False)` in boot.py)
 *   `?keep=true` keeps it running between processes (one per flash folder, see
 *   `useKeptVirtualBoard`; no `baud`: it is reached over a local TCP connection at full speed),
 *   `?keep=false` runs it in this process
 * - `serial:/dev/ttyACM0?baud=115200&dtr=false`, or a bare device path (`/dev/ttyUSB0`, `COM3`)
 * - a port's name without `/dev/` (`ttyACM0`, `tty.usbmodem101`), or a shortcut: `a0`..`a9`
 *   (`/dev/ttyACM0`..), `u0`..`u9` (`/dev/ttyUSB0`..), `c0`..`c99` (`COM0`..), as mpremote has them
 * - `auto`: the first serial port whose USB ids say it is likely a MicroPython board
 * - `id:<serial number>`: the serial port of the USB device with that serial number
 *   (`belay ports --json` shows them)
 * - `usb:vid=2e8a,pid=0005[,serial=...,manufacturer=...,location=...]`: the serial port whose USB
 *   identity matches every field given (ids in hex, any case; `manufacturer` any part of it;
 *   `location` as `belay ports` shows it; `%2C` for a comma in a value); `id:`, `usb:` and `auto`
 *   take the serial options (`usb:vid=2e8a?baud=115200`)
 * - `exec:<command and arguments>`: a process's standard streams (`exec:micropython`; a
 *   MicroPython unix build, named `micropython...`, gets `-i` so that it runs its REPL on a pipe)
 * - `exec-pty:<command and arguments>`: the same on a pseudo-terminal, for a program that wants a
 *   terminal (`exec-pty:ssh -t pi micropython`, `exec-pty:docker run -it ...`); needs util-linux's `script`
 * - `qemu:microbit`: the emulated micro:bit (needs qemu-system-arm and the firmware package);
 *   `?firmware=<hex file>`; `?keep=true` keeps it running between processes (one per firmware file,
 *   see `useKeptQemuMicrobit`), `?keep=false` gives one of its own that stops with the link
 * - `tcp:host:port` (or `socket://host:port`, as mpremote writes it): a board's serial line as a
 *   raw TCP byte stream (`socat`, ESP-Link, ser2net's `tcp` accepter)
 * - `rfc2217:host:port?baud=115200&dtr=false` (or `rfc2217://host:port`): a serial port behind a
 *   telnet RFC 2217 server (ser2net's `telnet(rfc2217)`), whose speed and modem lines are set remotely
 * - `ws://host[:port]` (port 8266 when not given), `wss://host[:port]`: a board's WebREPL; the
 *   password comes from the connection's options (`?password=` is accepted, but a password in a
 *   connection string ends up in shell histories and process lists)
 * - `fleet:<runner>/<board>` or `fleet:<serial number>` (`?link=lent`): a board of a fleet, on
 *   another host's runner (`@belay/fleet`): named here, opened through the fleet's client
 * - `list`: not a board: enumerate serial ports
 *
 * @example
 * const connection = Result.getOrThrow(parseConnectionString("serial:/dev/ttyACM0"))
 * if (connection._tag === "Serial") console.log(connection.baudRate) // 115200
 * @since 0.1.0
 */
export type Connection =
  | {
      readonly _tag: "Virtual"
      readonly bytesPerSecond: number | undefined
      readonly rawPaste: boolean | undefined
      readonly firmware: "modern" | "old" | undefined
      readonly flashDir: string | undefined
      /** `flavor=`: the firmware the virtual board plays. */
      readonly flavor?: "micropython" | "circuitpython" | undefined
      /** `version=`: the CircuitPython version it reports. */
      readonly circuitPythonVersion?: string | undefined
      /** `writable=`: CircuitPython's flash writable by code from power-on. */
      readonly writable?: boolean | undefined
      /** `memory=`: the most memory its interpreter may grow to, in bytes (`memory=64M`). */
      readonly memoryLimit?: number | undefined
      /** `keep=`: true, kept running between processes; false, in this process; undefined, as the opener's default says. */
      readonly keep: boolean | undefined
      /**
       * `name=`: a board of its own, told apart from other virtual boards (in a pool: `virtual?name=a,virtual?name=b`):
       * its flash folder, when it takes one from the opener's defaults, is that folder's name plus `-<name>`.
       */
      readonly name?: string | undefined
    }
  | {
      readonly _tag: "Serial"
      readonly path: string
      readonly baudRate: number
      readonly dtr: boolean | undefined
      readonly rts: boolean | undefined
    }
  | {
      readonly _tag: "Exec"
      readonly command: string
      readonly args: ReadonlyArray<string>
      readonly restart: boolean
      /** Run it on a pseudo-terminal (`exec-pty:`) rather than on pipes (`exec:`). */
      readonly pty: boolean
    }
  | {
      /**
       * A serial port found when the link opens: the one whose USB identity matches (`id:`,
       * `usb:`), or, undefined, the first likely board (`auto`).
       */
      readonly _tag: "FindSerial"
      readonly match: SerialPortMatch | undefined
      readonly baudRate: number
      readonly dtr: boolean | undefined
      readonly rts: boolean | undefined
    }
  | {
      readonly _tag: "Qemu"
      readonly machine: "microbit"
      readonly firmwarePath: string | undefined
      /** `keep=`: true, kept running between processes; false, one of its own; undefined, as the opener's default says. */
      readonly keep: boolean | undefined
    }
  | { readonly _tag: "Tcp"; readonly host: string; readonly port: number }
  | {
      readonly _tag: "Rfc2217"
      readonly host: string
      readonly port: number
      readonly baudRate: number
      readonly dtr: boolean | undefined
      readonly rts: boolean | undefined
    }
  | {
      /** A board's WebREPL: `url` without the query; `password` from `?password=`, if there was one. */
      readonly _tag: "WebRepl"
      readonly url: string
      readonly password: Redacted.Redacted<string> | undefined
    }
  | {
      /**
       * A board of a fleet (`@belay/fleet`), on another host's runner: reached through its runner,
       * never opened as a link here. `boardId` is `<runner>/<board>` or a serial number.
       */
      readonly _tag: "Fleet"
      readonly boardId: string
      /** `?link=lent`: the whole command runs over the board's link, lent by its runner. */
      readonly lent: boolean
    }
  | { readonly _tag: "List" }

/**
 * A connection string that does not say where a board is.
 *
 * @example
 * Effect.catchTag("ConnectionStringError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class ConnectionStringError extends Data.TaggedError("ConnectionStringError")<{
  readonly input: string
  readonly reason: string
}> {
  override get message() {
    return `bad connection string ${JSON.stringify(this.input)}: ${this.reason}. Expected one of: auto, a0 (ttyACM0), u0 (ttyUSB0), c3 (COM3), ttyACM0, id:<serial number>, usb:vid=2e8a,pid=0005[,serial=..,manufacturer=..,location=..], serial:/dev/ttyACM0[?baud=115200], /dev/ttyUSB0, exec:<command>, exec-pty:<command>, qemu:microbit, tcp:host:port, rfc2217:host:port, ws://<host>[:8266], fleet:<runner>/<board>, virtual, list`
  }
}

/**
 * A line speed asked of the kept virtual board, which has none: the speed limit is the in-process
 * board's link's, and the kept board is reached over a local TCP connection at full speed.
 */
export const lineSpeedOfKept = (input: string) =>
  new ConnectionStringError({
    input,
    reason:
      "baud and bytesPerSecond limit the line of the virtual board in this process; the kept virtual board (keep=true, the belay command's default) is reached over a local TCP connection at full speed: add keep=false for a line speed",
  })

const flag = (value: string | null, name: string, input: string): boolean | undefined => {
  if (value === null) return undefined
  if (["1", "true", "yes", "on"].includes(value)) return true
  if (["0", "false", "no", "off"].includes(value)) return false
  throw new ConnectionStringError({
    input,
    reason: `${name} must be true or false, got ${JSON.stringify(value)}`,
  })
}

const positiveInt = (value: string | null, name: string, input: string): number | undefined => {
  if (value === null) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) {
    throw new ConnectionStringError({
      input,
      reason: `${name} must be a positive integer, got ${JSON.stringify(value)}`,
    })
  }
  return n
}

/**
 * `memory=` of a virtual board: a size with K, M or G (binary multiples), from 32M to 1G, the
 * bounds `@belay/virtual-device` takes (checked here too, so that a bad one is a usage error).
 */
const memorySize = (value: string | null, input: string): number | undefined => {
  if (value === null) return undefined
  const match = /^(\d+)([KMG])?$/i.exec(value)
  const unit = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[(match?.[2] ?? "").toUpperCase()] ?? 1
  const bytes = match === null ? Number.NaN : Number(match[1]) * unit
  if (!(bytes >= 32 * 2 ** 20 && bytes <= 2 ** 30))
    throw new ConnectionStringError({
      input,
      reason: `memory must be a size from 32M to 1G (K, M and G are 1024, 1024² and 1024³ bytes), got ${JSON.stringify(value)}`,
    })
  return bytes
}

const splitQuery = (rest: string): [string, URLSearchParams] => {
  const at = rest.indexOf("?")
  return at < 0 ? [rest, new URLSearchParams()] : [rest.slice(0, at), new URLSearchParams(rest.slice(at + 1))]
}

const checkKeys = (params: URLSearchParams, allowed: ReadonlyArray<string>, input: string) => {
  for (const key of params.keys()) {
    if (!allowed.includes(key)) {
      throw new ConnectionStringError({
        input,
        reason: `unknown option ${JSON.stringify(key)} (known: ${allowed.join(", ")})`,
      })
    }
  }
}

/**
 * Split a command line on spaces, honouring single and double quotes and backslash escapes (as a
 * shell reads words, without expansions); an unterminated quote is a `ConnectionStringError`.
 *
 * @example
 * splitCommandLine(`exec "print('a b')"`) // ["exec", "print('a b')"]
 * @since 0.1.0
 */
export const splitCommandLine = (line: string, input = line): string[] => {
  const out: string[] = []
  let current = ""
  let quote: "'" | '"' | undefined
  let started = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote) {
      if (c === quote) quote = undefined
      else if (c === "\\" && quote === '"' && i + 1 < line.length) current += line[++i]
      else current += c
    } else if (c === "'" || c === '"') {
      quote = c
      started = true
    } else if (c === "\\" && i + 1 < line.length) {
      current += line[++i]
      started = true
    } else if (/\s/.test(c)) {
      if (started) out.push(current)
      current = ""
      started = false
    } else {
      current += c
      started = true
    }
  }
  if (quote) throw new ConnectionStringError({ input, reason: "unterminated quote in the command" })
  if (started) out.push(current)
  return out
}

/**
 * Parse a connection string.
 *
 * @example
 * parseConnectionString("serial:/dev/ttyACM0?baud=115200") // Result.succeed({ _tag: "Serial", ... })
 * @since 0.1.0
 */
export const parseConnectionString = (input: string): Result.Result<Connection, ConnectionStringError> => {
  try {
    return Result.succeed(parse(input.trim(), input))
  } catch (error) {
    if (error instanceof ConnectionStringError)
      return Result.fail(
        new ConnectionStringError({ input: withoutPassword(error.input), reason: error.reason }),
      )
    throw error
  }
}

const parse = (text: string, input: string): Connection => {
  if (text === "") throw new ConnectionStringError({ input, reason: "it is empty" })
  if (text === "list") return { _tag: "List" }
  // A command's own words may hold commas: `exec:` is never read as a list.
  if (namesSeveralBoards(text)) {
    throw new ConnectionStringError({
      input,
      reason:
        "it names several boards (a list, or auto-all): open them as a pool (BoardPool, connectPool, or the belay command's --device a0,a1), not as one board",
    })
  }
  if (text.startsWith("fleet:")) {
    const [boardId, params] = splitQuery(text.slice("fleet:".length))
    checkKeys(params, ["link"], input)
    const link = params.get("link")
    if (link !== null && link !== "lent")
      throw new ConnectionStringError({ input, reason: `link=${link}: the only value is lent` })
    if (boardId === "") throw new ConnectionStringError({ input, reason: "fleet: needs a board id" })
    return { _tag: "Fleet", boardId, lent: link === "lent" }
  }
  if (text === "virtual" || text.startsWith("virtual?") || text.startsWith("virtual:")) {
    const [, params] = splitQuery(text)
    checkKeys(
      params,
      [
        "baud",
        "bytesPerSecond",
        "rawPaste",
        "firmware",
        "dir",
        "keep",
        "flavor",
        "version",
        "writable",
        "name",
        "memory",
      ],
      input,
    )
    const name = params.get("name")
    if (name !== null && !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      throw new ConnectionStringError({
        input,
        reason: `name must be 1 to 64 letters, digits, '_', '.' or '-', got ${JSON.stringify(name)}`,
      })
    }
    const baud = positiveInt(params.get("baud"), "baud", input)
    const bps = positiveInt(params.get("bytesPerSecond"), "bytesPerSecond", input)
    const firmware = params.get("firmware")
    if (firmware !== null && firmware !== "modern" && firmware !== "old") {
      throw new ConnectionStringError({
        input,
        reason: `firmware must be modern or old, got ${JSON.stringify(firmware)}`,
      })
    }
    const flavor = params.get("flavor")
    if (flavor !== null && flavor !== "micropython" && flavor !== "circuitpython") {
      throw new ConnectionStringError({
        input,
        reason: `flavor must be micropython or circuitpython, got ${JSON.stringify(flavor)}`,
      })
    }
    const version = params.get("version")
    const writable = flag(params.get("writable"), "writable", input)
    if ((version !== null || writable !== undefined) && flavor !== "circuitpython") {
      throw new ConnectionStringError({ input, reason: "version and writable go with flavor=circuitpython" })
    }
    if (version !== null && !/^\d+\.\d+(\.\d+)?$/.test(version)) {
      throw new ConnectionStringError({
        input,
        reason: `version must look like 9.2.1, got ${JSON.stringify(version)}`,
      })
    }
    const keep = flag(params.get("keep"), "keep", input)
    // A UART sends 10 bits per byte (start, 8 data, stop).
    const bytesPerSecond = bps ?? (baud !== undefined ? baud / 10 : undefined)
    if (keep === true && bytesPerSecond !== undefined) throw lineSpeedOfKept(input)
    return {
      _tag: "Virtual",
      bytesPerSecond,
      rawPaste: flag(params.get("rawPaste"), "rawPaste", input),
      firmware: firmware ?? undefined,
      flashDir: params.get("dir") ?? undefined,
      ...(flavor !== null && { flavor }),
      ...(version !== null && { circuitPythonVersion: version }),
      ...(writable !== undefined && { writable }),
      ...(params.has("memory") && { memoryLimit: memorySize(params.get("memory"), input) }),
      keep,
      ...(name !== null && { name }),
    }
  }
  if (text.startsWith("exec:") || text.startsWith("exec-pty:")) {
    const pty = text.startsWith("exec-pty:")
    const scheme = pty ? "exec-pty:" : "exec:"
    const words = splitCommandLine(text.slice(scheme.length), input)
    const [command, ...args] = words
    if (command === undefined) throw new ConnectionStringError({ input, reason: `${scheme} needs a command` })
    // On a terminal, a MicroPython unix build runs its REPL without being asked.
    return {
      _tag: "Exec",
      command,
      args: pty ? args : withInteractiveFlag(command, args),
      restart: true,
      pty,
    }
  }
  if (/^wss?:\/\//i.test(text)) return webRepl(text, input)
  if (text.startsWith("qemu:")) {
    const [machine, params] = splitQuery(text.slice("qemu:".length))
    if (machine !== "microbit") {
      throw new ConnectionStringError({
        input,
        reason: `the only emulated board is microbit, not ${JSON.stringify(machine)}`,
      })
    }
    checkKeys(params, ["firmware", "keep"], input)
    return {
      _tag: "Qemu",
      machine,
      firmwarePath: params.get("firmware") ?? undefined,
      keep: flag(params.get("keep"), "keep", input),
    }
  }
  const network = parseNetwork(text, input)
  if (network !== undefined) return network
  if (text === "auto" || text.startsWith("auto?") || text.startsWith("id:") || /^usb:/i.test(text)) {
    const [head, params] = splitQuery(text)
    let match: SerialPortMatch | undefined
    if (head.startsWith("id:")) {
      const serialNumber = head.slice("id:".length)
      if (serialNumber === "") throw new ConnectionStringError({ input, reason: "id: needs a serial number" })
      match = { serialNumber }
    } else if (/^usb:/i.test(head)) match = usbMatch(head.slice("usb:".length), input)
    else if (head !== "auto")
      throw new ConnectionStringError({ input, reason: "not a known board, scheme or device path" })
    return { _tag: "FindSerial", match, ...serialOptions(params, input) }
  }
  let rest: string
  const shortcut = expandShortcut(text)
  if (text.startsWith("serial:")) rest = text.slice("serial:".length)
  else if (text.startsWith("/") || /^COM\d+(\?|$)/i.test(text)) rest = text
  else if (shortcut !== undefined) rest = shortcut
  else {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]
    throw new ConnectionStringError({
      input,
      reason: scheme
        ? `unknown scheme ${JSON.stringify(`${scheme}:`)}`
        : "not a known board, scheme or device path",
    })
  }
  const [path, params] = splitQuery(rest)
  if (path === "") throw new ConnectionStringError({ input, reason: "serial: needs a device path" })
  return { _tag: "Serial", path, ...serialOptions(params, input) }
}

/** `usb:`'s keys and the match field each fills. */
const USB_KEYS = {
  vid: "vendorId",
  pid: "productId",
  serial: "serialNumber",
  manufacturer: "manufacturer",
  location: "location",
} as const

/** `vid=2e8a,pid=0005,serial=...`: every key known, given once, with a value; USB ids in hex. */
const usbMatch = (fields: string, input: string): SerialPortMatch => {
  const match: Record<string, string> = {}
  const fail = (reason: string) => new ConnectionStringError({ input, reason })
  if (fields.trim() === "")
    throw fail("usb: needs at least one of vid=, pid=, serial=, manufacturer=, location=")
  for (const field of fields.split(",")) {
    const at = field.indexOf("=")
    const key = (at < 0 ? field : field.slice(0, at)).trim().toLowerCase()
    const name = USB_KEYS[key as keyof typeof USB_KEYS]
    if (name === undefined)
      throw fail(`unknown usb: field ${JSON.stringify(key)} (known: ${Object.keys(USB_KEYS).join(", ")})`)
    let value: string
    try {
      value = decodeURIComponent(at < 0 ? "" : field.slice(at + 1)).trim()
    } catch {
      throw fail(`usb: ${key}= has a bad %-escape`)
    }
    if (value === "") throw fail(`usb: ${key}= needs a value`)
    if (name in match) throw fail(`usb: ${key}= is given twice`)
    if ((key === "vid" || key === "pid") && normalizeUsbId(value) === undefined)
      throw fail(
        `usb: ${key} must be a USB id of 1 to 4 hex digits (e.g. 2e8a), got ${JSON.stringify(value)}`,
      )
    match[name] = value
  }
  return match as SerialPortMatch
}

/** A connection string as it may be shown: any `password=` value hidden. */
const withoutPassword = (input: string) => input.replace(/([?&]password=)[^&]*/gi, "$1***")

const webRepl = (text: string, input: string): Connection => {
  const [, params] = splitQuery(text)
  checkKeys(params, ["password"], input)
  try {
    const { url } = webReplTarget(text)
    const password = params.get("password")
    return { _tag: "WebRepl", url, password: password === null ? undefined : Redacted.make(password) }
  } catch (error) {
    throw new ConnectionStringError({ input, reason: (error as Error).message })
  }
}

/** `tcp:`/`socket://` and `rfc2217:`/`rfc2217://` with `host:port` (`[::1]:port` for IPv6), or `undefined`. */
const parseNetwork = (text: string, input: string): Connection | undefined => {
  const scheme = /^(tcp|socket|rfc2217):(\/\/)?/i.exec(text)
  if (scheme === null) return undefined
  const rfc2217 = scheme[1]?.toLowerCase() === "rfc2217"
  const [address, params] = splitQuery(text.slice(scheme[0].length))
  const match = /^(?:\[([^\]]+)\]|([^:/[\]]+)):(\d+)\/?$/.exec(address)
  const port = Number(match?.[3])
  if (match === null || port < 1 || port > 65535) {
    throw new ConnectionStringError({
      input,
      reason: `${scheme[1]}: needs host:port with a port from 1 to 65535 (e.g. ${scheme[1]}:192.168.1.20:2217)`,
    })
  }
  const host = (match[1] ?? match[2]) as string
  if (!rfc2217) {
    checkKeys(params, [], input)
    return { _tag: "Tcp", host, port }
  }
  return { _tag: "Rfc2217", host, port, ...serialOptions(params, input) }
}

const serialOptions = (params: URLSearchParams, input: string) => {
  checkKeys(params, ["baud", "dtr", "rts"], input)
  return {
    baudRate: positiveInt(params.get("baud"), "baud", input) ?? 115200,
    dtr: flag(params.get("dtr"), "dtr", input),
    rts: flag(params.get("rts"), "rts", input),
  }
}

/** mpremote's port shortcuts (`a0`, `u1`, `c3`) and port names without `/dev/` (`ttyACM0`), with any options after them. */
const expandShortcut = (text: string): string | undefined => {
  const [head] = splitQuery(text)
  const options = text.slice(head.length)
  const short = /^([auc])(\d{1,2})$/.exec(head)
  if (short !== null) {
    const prefix = { a: "/dev/ttyACM", u: "/dev/ttyUSB", c: "COM" }[short[1] as "a" | "u" | "c"]
    return `${prefix}${short[2]}${options}`
  }
  if (/^(tty|cu\.)[\w.-]+$/.test(head)) return `/dev/${text}`
  return undefined
}

/** A MicroPython unix build reads a script from stdin unless it is a terminal; `-i` gives the REPL on a pipe. */
const withInteractiveFlag = (command: string, args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const name = command.split(/[\\/]/).pop() ?? command
  return /^micropython/i.test(name) && !args.includes("-i") ? ["-i", ...args] : args
}

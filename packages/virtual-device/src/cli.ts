import { createRequire } from "node:module"
import { parseArgs } from "node:util"
import type { VirtualBoardOptions } from "./options.js"
import { OPTIONS_ENV, READY_LINE } from "./scriptWords.js"
import { serveVirtualBoardOverTcp, tcpOption, tcpServeOptions } from "./tcpServer.js"
import { VirtualBoard } from "./VirtualBoard.js"
import { MAX_WEBREPL_PASSWORD_CHARS, serveWebRepl, type WebReplServer } from "./webReplServer.js"

export { OPTIONS_ENV, READY_LINE }

const USAGE = `usage: belay-virtual-board [options]
Runs a virtual MicroPython board on stdin/stdout (binary, raw mode), e.g. behind
  socat PTY,link=/tmp/board,raw,echo=0 EXEC:"belay-virtual-board",pty,raw,echo=0
Options (also as JSON in $${OPTIONS_ENV}):
  --no-raw-paste                answer raw-paste requests with R\\x00
  --raw-paste-window <bytes>    raw-paste window (default 256)
  --bytes-per-second <n>        line speed limit, e.g. 11520 for 115200 baud
  --firmware <modern|old>       old: before 1.14, no raw-paste
  --soft-reboot-banner <text>   "MPY: soft reboot" or "soft reboot"
  --banner-line-ending <crlf|crcrlf>
  --flash-dir <dir>             keep the flash in this directory
  --flash-size <bytes>          flash size reported by os.statvfs
  --circuitpython               play CircuitPython: its banner, code.py and the "Press any key"
                                wait, auto-reload, no _thread, a flash read-only to code
  --circuitpython-version <v>   the CircuitPython version it reports (default 9.2.1; before 7.0
                                no raw-paste, before 7.1 code.py runs after a raw soft reset)
  --writable                    CircuitPython's flash writable by code from power-on (as after
                                storage.remount("/", False) in boot.py)
  --tcp <host:port>             serve the board on TCP instead of stdin/stdout (a raw byte
                                stream, one client at a time; port 0 picks a free port)
  --queue-clients               with --tcp: later clients wait for their turn instead of
                                being refused
  --idle-exit <seconds>         with --tcp: exit after this long with no client
WebREPL (a network board, as the firmware serves it, instead of stdin/stdout):
  --webrepl <host:port>         serve WebREPL there (port 0: a free one, printed on the ready line)
  --password <pw>               its password, 1 to 9 characters (or $BELAY_WEBREPL_PASSWORD,
                                which keeps it out of the process list)`

/** The WebREPL options: read by `runVirtualBoard`, not board options. */
const WEBREPL_ARGS = { webrepl: { type: "string" }, password: { type: "string" } } as const

/** Parse the script's arguments (and `$BELAY_VBOARD_OPTIONS`) into board options. */
export const parseBoardArgs = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): VirtualBoardOptions => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      "no-raw-paste": { type: "boolean" },
      "raw-paste-window": { type: "string" },
      "bytes-per-second": { type: "string" },
      firmware: { type: "string" },
      "soft-reboot-banner": { type: "string" },
      "banner-line-ending": { type: "string" },
      "flash-dir": { type: "string" },
      "flash-size": { type: "string" },
      circuitpython: { type: "boolean" },
      "circuitpython-version": { type: "string" },
      writable: { type: "boolean" },
      ...WEBREPL_ARGS,
      help: { type: "boolean" },
      // Read by `tcpOption` and `tcpServeOptions`; listed so that the strict parse accepts them.
      tcp: { type: "string" },
      "queue-clients": { type: "boolean" },
      "idle-exit": { type: "string" },
    },
    strict: true,
  })
  if (values.help) {
    process.stderr.write(`${USAGE}\n`)
    process.exit(0)
  }
  const fromEnv = env[OPTIONS_ENV] ? (JSON.parse(env[OPTIONS_ENV]) as Record<string, unknown>) : {}
  const options: Record<string, unknown> = { ...fromEnv }
  const int = (text: string, what: string) => {
    const n = Number(text)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${what} must be a positive number, got ${text}`)
    return n
  }
  if (values["no-raw-paste"]) options.rawPaste = false
  if (values["raw-paste-window"])
    options.rawPasteWindow = int(values["raw-paste-window"], "--raw-paste-window")
  if (values["bytes-per-second"])
    options.bytesPerSecond = int(values["bytes-per-second"], "--bytes-per-second")
  if (values.firmware) {
    if (values.firmware !== "modern" && values.firmware !== "old")
      throw new Error("--firmware is modern or old")
    options.firmware = values.firmware
  }
  if (values["soft-reboot-banner"]) options.softRebootBanner = values["soft-reboot-banner"]
  if (values["banner-line-ending"]) {
    const ending = values["banner-line-ending"]
    if (ending !== "crlf" && ending !== "crcrlf") throw new Error("--banner-line-ending is crlf or crcrlf")
    options.bannerLineEnding = ending === "crlf" ? "\r\n" : "\r\r\n"
  }
  if (values["flash-dir"]) options.flashDir = values["flash-dir"]
  if (values["flash-size"]) options.flashSize = int(values["flash-size"], "--flash-size")
  if (values.circuitpython) options.flavor = "circuitpython"
  if (values["circuitpython-version"]) {
    options.flavor = "circuitpython"
    options.circuitPythonVersion = values["circuitpython-version"]
  }
  if (values.writable) {
    if (options.flavor !== "circuitpython") throw new Error("--writable goes with --circuitpython")
    options.writable = true
  }
  return options as VirtualBoardOptions
}

/** Where `--webrepl` serves, and its password; `undefined` without `--webrepl`. */
export const parseWebReplArgs = (
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
): { readonly host: string; readonly port: number; readonly password: string } | undefined => {
  const { values } = parseArgs({ args: [...argv], options: WEBREPL_ARGS, strict: false })
  const address = values.webrepl
  if (typeof address !== "string") return undefined
  const at = address.lastIndexOf(":")
  const host = at < 0 ? "127.0.0.1" : address.slice(0, at)
  const port = Number(at < 0 ? address : address.slice(at + 1))
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--webrepl takes host:port, got ${address}`)
  const password = typeof values.password === "string" ? values.password : env.BELAY_WEBREPL_PASSWORD
  if (password === undefined || password.length === 0 || password.length > MAX_WEBREPL_PASSWORD_CHARS)
    throw new Error(
      `--webrepl needs --password (or $BELAY_WEBREPL_PASSWORD) of 1 to ${MAX_WEBREPL_PASSWORD_CHARS} characters`,
    )
  return { host, port, password }
}

/**
 * Run a virtual board as a network board: its WebREPL on `host:port` until a signal arrives. The
 * ready line names the address: `belay-virtual-board ready ws://127.0.0.1:8266`.
 */
const runVirtualBoardOverWebRepl = async (
  options: VirtualBoardOptions,
  webRepl: { readonly host: string; readonly port: number; readonly password: string },
): Promise<void> => {
  let server: WebReplServer | undefined
  const board = await VirtualBoard.open(options, {
    onOutput: (bytes) => server?.output(bytes),
    onFatal: (reason) => {
      process.stderr.write(`belay-virtual-board: ${reason}\n`)
      process.exit(1)
    },
  })
  const version = createRequire(import.meta.url)("@micropython/micropython-webassembly-pyscript/package.json")
    .version as string
  server = await serveWebRepl(board, { ...webRepl, version })
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    void Promise.all([server?.close(), board.close()]).finally(() => process.exit(0))
  }
  process.on("SIGTERM", stop)
  process.on("SIGHUP", stop)
  process.on("SIGINT", stop)
  const host = server.host.includes(":") ? `[${server.host}]` : server.host
  process.stderr.write(`${READY_LINE} ws://${host}:${server.port}\n`)
}

/**
 * Run a virtual board over this process's stdin/stdout until stdin ends or a signal arrives.
 *
 * @example
 * // bin/virtual-board.mjs
 * await runVirtualBoardOverStdio(process.argv.slice(2))
 */
export const runVirtualBoardOverStdio = async (argv: ReadonlyArray<string>): Promise<void> => {
  let options: VirtualBoardOptions
  let webRepl: ReturnType<typeof parseWebReplArgs>
  try {
    options = parseBoardArgs(argv, process.env)
    webRepl = parseWebReplArgs(argv, process.env)
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`)
    process.exit(2)
  }
  if (webRepl !== undefined) {
    try {
      await runVirtualBoardOverWebRepl(options, webRepl)
    } catch (error) {
      process.stderr.write(`belay-virtual-board: ${error instanceof Error ? error.message : String(error)}\n`)
      process.exit(1)
    }
    return
  }
  // --tcp: the board on a TCP port instead of stdin/stdout.
  try {
    const tcp = tcpOption(argv)
    if (tcp !== undefined)
      return await serveVirtualBoardOverTcp(options, tcp, READY_LINE, tcpServeOptions(argv))
  } catch (error) {
    process.stderr.write(`belay-virtual-board: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(error instanceof Error && error.message.startsWith("--tcp") ? 2 : 1)
  }
  const stdin = process.stdin
  if (stdin.isTTY) stdin.setRawMode(true)
  let board: VirtualBoard
  try {
    board = await VirtualBoard.open(options, {
      onOutput: (bytes) => process.stdout.write(bytes),
      onFatal: (reason) => {
        process.stderr.write(`belay-virtual-board: ${reason}\n`)
        process.exit(1)
      },
    })
  } catch (error) {
    process.stderr.write(`belay-virtual-board: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  }
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    void board.close().finally(() => process.exit(0))
  }
  stdin.on("data", (chunk: Buffer) => {
    void board.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
  })
  stdin.on("end", stop)
  stdin.on("close", stop)
  process.on("SIGTERM", stop)
  process.on("SIGHUP", stop)
  process.on("SIGINT", stop)
  process.stderr.write(`${READY_LINE}\n`)
}

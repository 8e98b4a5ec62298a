import { parseArgs } from "node:util"
import type { VirtualBoardOptions } from "./options.js"
import { serveVirtualBoardOverTcp, tcpOption } from "./tcpServer.js"
import { VirtualBoard } from "./VirtualBoard.js"

/** The line the script prints on stderr once the board is up. */
export const READY_LINE = "belay-virtual-board ready"

/** Environment variable with the board options as JSON (used by `openVirtualBoardPty`). */
export const OPTIONS_ENV = "BELAY_VBOARD_OPTIONS"

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
  --tcp <host:port>             serve the board on TCP instead of stdin/stdout (a raw byte
                                stream, one client at a time; port 0 picks a free port)`

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
      help: { type: "boolean" },
      // Read by `tcpOption`; listed so that the strict parse accepts it.
      tcp: { type: "string" },
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
  return options as VirtualBoardOptions
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
  try {
    options = parseBoardArgs(argv, process.env)
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`)
    process.exit(2)
  }
  // --tcp: the board on a TCP port instead of stdin/stdout.
  try {
    const tcp = tcpOption(argv)
    if (tcp !== undefined) return await serveVirtualBoardOverTcp(options, tcp, READY_LINE)
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

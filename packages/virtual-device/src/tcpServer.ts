/**
 * `belay-virtual-board --tcp host:port`: the virtual board's serial line as a raw TCP byte stream,
 * as `socat TCP-LISTEN` or ser2net's `tcp` accepter serve a real board's. One client at a time:
 * a second client is refused as ser2net refuses it (told "Port already in use", then
 * disconnected) while the first stays connected. The board keeps running between clients, as a
 * board on a serial server stays powered: its RAM and files are there for the next connection.
 * What the board sends while no client is connected is lost, as on an unplugged wire. For the kept
 * board (`keptVirtual.ts`), later clients wait for their turn instead, and the server exits by
 * itself after a time with no client.
 */
import { createServer, type Socket } from "node:net"
import { parseArgs } from "node:util"
import type { VirtualBoardOptions } from "./options.js"
import { VirtualBoard } from "./VirtualBoard.js"

/** What a second client is told before it is disconnected: ser2net's words for it. */
export const PORT_IN_USE = "Port already in use\r\n"

/** The `--tcp` option's `host:port` (`[::1]:port` for IPv6), or `undefined` without it. */
export const tcpOption = (argv: ReadonlyArray<string>): { host: string; port: number } | undefined => {
  const { values } = parseArgs({ args: [...argv], options: { tcp: { type: "string" } }, strict: false })
  const text = values.tcp
  if (typeof text !== "string") return undefined
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text)
  const port = Number(match?.[3])
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw new Error(`--tcp takes host:port (port 0 picks a free one), got ${JSON.stringify(text)}`)
  }
  return { host: (match[1] ?? match[2]) as string, port }
}

/** How the TCP server treats clients beyond the one it serves, and a time without any. */
export interface TcpServeOptions {
  /**
   * Later clients wait for their turn (in the order they came) instead of being refused: what a
   * client sends meanwhile waits unread, and reaches the board when its turn comes. The kept board
   * serves the commands of one user so, since two started at once each expect their turn.
   */
  readonly queueClients?: boolean
  /** Exit once no client has been connected (or waiting) for this long; never when undefined. */
  readonly idleExitMs?: number
}

/** The `--queue-clients` and `--idle-exit <seconds>` options (used with `--tcp`). */
export const tcpServeOptions = (argv: ReadonlyArray<string>): TcpServeOptions => {
  const { values } = parseArgs({
    args: [...argv],
    options: { "queue-clients": { type: "boolean" }, "idle-exit": { type: "string" } },
    strict: false,
  })
  const idle = values["idle-exit"]
  const seconds = Number(idle)
  if (idle !== undefined && (typeof idle !== "string" || !(seconds > 0) || !Number.isFinite(seconds)))
    throw new Error(`--tcp's --idle-exit takes a positive number of seconds, got ${JSON.stringify(idle)}`)
  return {
    ...(values["queue-clients"] === true ? { queueClients: true } : {}),
    ...(idle === undefined ? {} : { idleExitMs: seconds * 1000 }),
  }
}

/**
 * Serve a new virtual board on `host:port` until a signal arrives (or, with `idleExitMs`, until it
 * has had no client for that long). Prints `readyLine on tcp:host:port` on stderr once it listens
 * (with the port the OS picked, for port 0).
 */
export const serveVirtualBoardOverTcp = async (
  options: VirtualBoardOptions,
  address: { host: string; port: number },
  readyLine: string,
  serve: TcpServeOptions = {},
): Promise<void> => {
  let client: Socket | undefined
  const waiting: Array<Socket> = []
  const board = await VirtualBoard.open(options, {
    onOutput: (bytes) => {
      if (client !== undefined && !client.destroyed) client.write(bytes)
    },
    onFatal: (reason) => {
      process.stderr.write(`belay-virtual-board: ${reason}\n`)
      process.exit(1)
    },
  })
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    if (idleTimer !== undefined) clearTimeout(idleTimer)
    client?.destroy()
    for (const socket of waiting.splice(0)) socket.destroy()
    server.close()
    void board.close().finally(() => process.exit(0))
  }
  let idleTimer: ReturnType<typeof setTimeout> | undefined
  /** With no client connected or waiting, the idle time starts; a client stops it. */
  const idleCheck = () => {
    if (serve.idleExitMs === undefined) return
    if (idleTimer !== undefined) clearTimeout(idleTimer)
    idleTimer = undefined
    if (client === undefined && waiting.length === 0) idleTimer = setTimeout(stop, serve.idleExitMs)
  }
  const take = (socket: Socket) => {
    client = socket
    socket.on("data", (chunk: Buffer) => {
      void board.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    })
    // Bytes it sent while it waited are read from here on.
    socket.resume()
  }
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    socket.setNoDelay(true)
    // A client that vanished: its connection is gone either way.
    socket.on("error", () => socket.destroy())
    socket.on("end", () => socket.end())
    socket.on("close", () => {
      const queued = waiting.indexOf(socket)
      if (queued >= 0) waiting.splice(queued, 1)
      if (client === socket) {
        client = undefined
        const next = waiting.shift()
        if (next !== undefined) take(next)
      }
      idleCheck()
    })
    if (client === undefined) take(socket)
    else if (serve.queueClients) waiting.push(socket)
    else {
      // Read (and drop) what it sends, so that its closing is seen.
      socket.resume()
      socket.end(PORT_IN_USE)
    }
    idleCheck()
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(address.port, address.host, () => resolve())
  })
  process.on("SIGTERM", stop)
  process.on("SIGHUP", stop)
  process.on("SIGINT", stop)
  idleCheck()
  const { port } = server.address() as { port: number }
  const host = address.host.includes(":") ? `[${address.host}]` : address.host
  process.stderr.write(`${readyLine} on tcp:${host}:${port}\n`)
}

/**
 * `belay-virtual-board --tcp host:port`: the virtual board's serial line as a raw TCP byte stream,
 * as `socat TCP-LISTEN` or ser2net's `tcp` accepter serve a real board's. One client at a time:
 * a second client is refused as ser2net refuses it (told "Port already in use", then
 * disconnected) while the first stays connected. The board keeps running between clients, as a
 * board on a serial server stays powered: its RAM and files are there for the next connection.
 * What the board sends while no client is connected is lost, as on an unplugged wire.
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

/**
 * Serve a new virtual board on `host:port` until a signal arrives. Prints `readyLine on
 * tcp:host:port` on stderr once it listens (with the port the OS picked, for port 0).
 */
export const serveVirtualBoardOverTcp = async (
  options: VirtualBoardOptions,
  address: { host: string; port: number },
  readyLine: string,
): Promise<void> => {
  let client: Socket | undefined
  const board = await VirtualBoard.open(options, {
    onOutput: (bytes) => {
      if (client !== undefined && !client.destroyed) client.write(bytes)
    },
    onFatal: (reason) => {
      process.stderr.write(`belay-virtual-board: ${reason}\n`)
      process.exit(1)
    },
  })
  const server = createServer((socket) => {
    if (client !== undefined) {
      socket.end(PORT_IN_USE)
      return
    }
    client = socket
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => {
      void board.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    })
    // A client that vanished: its connection is gone either way.
    socket.on("error", () => socket.destroy())
    socket.on("end", () => socket.end())
    socket.on("close", () => {
      if (client === socket) client = undefined
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(address.port, address.host, () => resolve())
  })
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    client?.destroy()
    server.close()
    void board.close().finally(() => process.exit(0))
  }
  process.on("SIGTERM", stop)
  process.on("SIGHUP", stop)
  process.on("SIGINT", stop)
  const { port } = server.address() as { port: number }
  const host = address.host.includes(":") ? `[${address.host}]` : address.host
  process.stderr.write(`${readyLine} on tcp:${host}:${port}\n`)
}

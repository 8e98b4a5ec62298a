import { Effect, type Scope } from "effect"
import { type ByteLink, makeReceiveQueue } from "../ByteLink.js"
import type { LinkOpenError } from "../errors.js"
import { connectSocket, hostPort, type TcpEndpoint, watchSocket, writeSocket } from "./TcpSocket.js"

/**
 * Options of {@link openTcpLink}.
 *
 * @example
 * const options: TcpLinkOptions = { host: "127.0.0.1", port: 2217, connectTimeoutMs: 2000 }
 * @since 0.1.0
 */
export type TcpLinkOptions = TcpEndpoint

/**
 * Open a raw TCP connection as a {@link ByteLink}: a board's serial line served as a plain byte
 * stream (`socat TCP-LISTEN:… /dev/ttyUSB0`, ESP-Link, ser2net's `tcp` accepter,
 * `belay-virtual-board --tcp`). No dependency beyond `node:net`.
 *
 * Connecting is bounded (`connectTimeoutMs`, default 5000 ms) and fails with `LinkOpenError`
 * saying whether the connection was refused, the host unknown or unreachable, or silent.
 * The server closing or resetting the connection fails `received` with `LinkLostError`, quoting
 * the last bytes it sent. Nagle's algorithm is off (small writes such as Ctrl-C go out at once)
 * and TCP keep-alive is on. The connection is closed in order when the scope closes. To
 * reconnect, open a new link, as for a serial port.
 *
 * @example
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const link = yield* openTcpLink({ host: "127.0.0.1", port: 7000 })
 *   yield* link.write(new TextEncoder().encode("\r\x03\x03\r\x01"))
 * }))
 * @since 0.1.0
 */
export const openTcpLink = (options: TcpLinkOptions): Effect.Effect<ByteLink, LinkOpenError, Scope.Scope> =>
  Effect.gen(function* () {
    const where = hostPort(options.host, options.port)
    const link = `tcp:${where}`
    const rx = yield* makeReceiveQueue(link)
    const socket = yield* connectSocket(options, link)
    // Runs before the socket's own release (finalizers run last-added first): the close is ours.
    let closing = false
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closing = true
        rx.end("the link was closed")
      }),
    )
    watchSocket(socket, rx, where, () => closing, rx.push)
    return {
      description: link,
      write: (bytes) => writeSocket(socket, rx, link, bytes),
      received: rx.stream,
      isOpen: Effect.sync(() => rx.closedReason() === undefined),
    } satisfies ByteLink
  })

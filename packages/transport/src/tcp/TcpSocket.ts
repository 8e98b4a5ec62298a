/**
 * A TCP connection for a byte link: connecting with a bound and an error a person can act on,
 * watching the socket for the other side going away, writing, and closing when the scope closes.
 * The raw `tcp:` link and the RFC 2217 link are both built on it.
 */
import { connect, type Socket } from "node:net"
import { Effect, type Scope } from "effect"
import type { ReceiveQueue } from "../ByteLink.js"
import { type LinkError, LinkLostError, LinkOpenError } from "../errors.js"

/**
 * Where a TCP link goes and how long it may take to get there.
 *
 * @example
 * const options: TcpEndpoint = { host: "192.168.4.1", port: 23, connectTimeoutMs: 3000 }
 * @since 0.1.0
 */
export interface TcpEndpoint {
  /** A host name or an IP address. */
  readonly host: string
  readonly port: number
  /** Bound on connecting; default 5000 ms. */
  readonly connectTimeoutMs?: number
  /** Bound on closing the connection in order when the scope closes; default 2000 ms. */
  readonly closeTimeoutMs?: number
}

/** Default bound on connecting: a host on the local network answers in milliseconds; a lost one never does. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000
/** Default bound on an orderly close before the socket is destroyed. */
const DEFAULT_CLOSE_TIMEOUT_MS = 2000
/**
 * Idle time before TCP keep-alive probes start: a peer that vanished without closing (its host
 * powered off, a cable pulled) is then noticed by the OS even while nothing is being sent.
 */
const KEEP_ALIVE_IDLE_MS = 10_000
/** How much of what the server sent last is kept for the message when it closes the connection. */
const LAST_WORDS_BYTES = 120

/** `host:port`, with brackets around an IPv6 address. */
export const hostPort = (host: string, port: number) =>
  host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`

const describeConnectFailure = (where: string, error: NodeJS.ErrnoException): string => {
  switch (error.code) {
    case "ECONNREFUSED":
      return `connection refused: nothing listens on ${where} (is the server running, and is the port right?)`
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `the host name in ${where} is not known (check its spelling, or use the IP address)`
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `${where} is unreachable from here (is the host on this network?)`
    case "ECONNRESET":
      return `${where} reset the connection as it opened`
    default:
      return `${where}: ${error.message}`
  }
}

/**
 * Connect to `endpoint`, bounded by its connect timeout. The socket is closed (in order, then
 * destroyed if that takes too long) when the scope closes.
 */
export const connectSocket = (
  endpoint: TcpEndpoint,
  link: string,
): Effect.Effect<Socket, LinkOpenError, Scope.Scope> => {
  const where = hostPort(endpoint.host, endpoint.port)
  const timeoutMs = endpoint.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  return Effect.acquireRelease(
    Effect.callback<Socket, LinkOpenError>((resume) => {
      const socket = connect({ host: endpoint.host, port: endpoint.port, noDelay: true })
      const onError = (error: NodeJS.ErrnoException) =>
        resume(
          Effect.fail(
            new LinkOpenError({ link, reason: describeConnectFailure(where, error), cause: error }),
          ),
        )
      socket.once("error", onError)
      socket.once("connect", () => {
        socket.removeListener("error", onError)
        // An error before the link watches the socket must not go unhandled (it would end the
        // process); the link learns of it from the socket being destroyed (see `watchSocket`).
        socket.on("error", () => {})
        // Small writes (a Ctrl-C, a raw-paste window) go out at once rather than waiting for Nagle.
        socket.setNoDelay(true)
        socket.setKeepAlive(true, KEEP_ALIVE_IDLE_MS)
        resume(Effect.succeed(socket))
      })
      return Effect.sync(() => socket.destroy())
    }).pipe(
      Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () =>
          Effect.fail(
            new LinkOpenError({
              link,
              reason: `no answer from ${where} within ${timeoutMs} ms (is the host up and on this network, and the port open in its firewall?)`,
            }),
          ),
      }),
    ),
    (socket) => closeSocket(socket, endpoint.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS),
  )
}

/** End the connection in order; destroy it if the other side does not close within `timeoutMs`. */
const closeSocket = (socket: Socket, timeoutMs: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (socket.destroyed) return resume(Effect.void)
    const timer = setTimeout(() => socket.destroy(), timeoutMs)
    socket.once("close", () => {
      clearTimeout(timer)
      resume(Effect.void)
    })
    socket.end()
  })

/** The last bytes the server sent, quoted for a message (control bytes, quotes and backslashes as `\xNN`). */
const quoted = (bytes: Uint8Array): string =>
  `"${Array.from(bytes, (b) =>
    b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c
      ? String.fromCharCode(b)
      : `\\x${b.toString(16).padStart(2, "0")}`,
  ).join("")}"`

/**
 * Hand what `socket` receives to `onData`, and fail `rx` with `LinkLostError` when the other side
 * closes or resets the connection (unless `closing()` says this side is closing it). The message
 * names the server and quotes its last bytes: a serial server that refuses a second client says
 * why in them (ser2net: "Port already in use").
 */
export const watchSocket = (
  socket: Socket,
  rx: ReceiveQueue,
  where: string,
  closing: () => boolean,
  onData: (chunk: Uint8Array) => void,
): void => {
  let last = new Uint8Array(0)
  const lastWords = () => (last.length === 0 ? "" : `; the last bytes it sent: ${quoted(last)}`)
  socket.on("data", (chunk: Buffer) => {
    const bytes = new Uint8Array(chunk)
    last = bytes.subarray(Math.max(0, bytes.length - LAST_WORDS_BYTES))
    onData(bytes)
  })
  socket.on("error", (error: NodeJS.ErrnoException) => {
    if (closing()) return
    const what =
      error.code === "ECONNRESET"
        ? "reset the connection"
        : error.code === "EPIPE"
          ? "closed the connection (found on writing to it)"
          : `failed: ${error.message}`
    rx.fail(`${where} ${what}${lastWords()}`, error)
  })
  socket.on("close", () => {
    if (closing()) return
    rx.fail(`${where} closed the connection${lastWords()}`)
  })
  // Gone between connecting and now: its close event has passed.
  if (socket.destroyed && !closing()) rx.fail(`${where} closed the connection as it opened`)
}

/**
 * Write to the socket; resolves once Node has handed the bytes to the OS. A write after the link
 * ended fails with its reason.
 */
export const writeSocket = (
  socket: Socket,
  rx: ReceiveQueue,
  link: string,
  bytes: Uint8Array,
): Effect.Effect<void, LinkError> =>
  Effect.callback<void, LinkError>((resume) => {
    const closed = rx.closedReason()
    if (closed !== undefined) return resume(Effect.fail(closed))
    if (bytes.length === 0) return resume(Effect.void)
    // Copy: the caller may reuse its buffer as soon as this effect is interrupted.
    socket.write(Buffer.from(bytes), (error) => {
      if (!error) return resume(Effect.void)
      resume(
        Effect.fail(
          rx.closedReason() ??
            new LinkLostError({ link, reason: `write failed: ${error.message}`, cause: error }),
        ),
      )
    })
  })

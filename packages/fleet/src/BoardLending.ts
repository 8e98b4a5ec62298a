/**
 * A board's link, lent: for a command the fleet's RPCs do not carry (an interactive REPL, a
 * mount, a hard reset, an install, a benchmark...), the runner hands one client the board's byte
 * stream over TCP, and the client runs its own protocol engine over it, as over a serial port.
 *
 * How a lend goes: the client's `Lend` call is admitted like any call (the board's reservation,
 * the call journal); the runner opens a session of the board's manager (its start clean-up runs),
 * puts the board in its friendly REPL as a terminal does, and listens on its own listen address,
 * on a port the OS picks, for one connection. The client connects and sends the lend's token line
 * first; from then on every byte goes both ways unchanged. The lend ends when that connection
 * ends (the client's exit closes it, a SIGKILL included; TCP keep-alive notices a vanished host),
 * and the session ends with it. Meanwhile every other call to the board is refused at once with
 * `FleetBoardReservedError` naming the lend's holder.
 *
 * Threat model: the token (128 random bits) keeps a stray or scanning connection off the board;
 * it crosses the cluster's socket, as every call does, so the lend is as private as the fleet's
 * RPCs themselves (whoever can reach a runner's port can already run code on its boards). A
 * connection that sends anything but the token, or nothing within {@link TOKEN_WITHIN_MS}, is
 * closed, and the lend waits on for the right one; none within {@link CONNECT_WITHIN_MS} ends it.
 *
 * Cost: one more TCP hop, on the runner's host, for each byte of the command. Memory is bounded:
 * what the board prints and the client has not read yet waits in the runner's socket buffer, up
 * to {@link UNREAD_LIMIT_BYTES}; a client that leaves more unread (stopped, suspended, on a link
 * far slower than the board prints) ends the lend, its connection closed.
 */
import { randomBytes } from "node:crypto"
import { createServer, type Server, type Socket } from "node:net"
import {
  type ByteLink,
  LinkClosedError,
  type LinkError,
  LinkLostError,
  LinkOpenError,
  type TerminalSession,
} from "@belay/transport"
import { openTcpLink } from "@belay/transport/node"
import { Deferred, Effect, Queue, type Scope, Stream } from "effect"

/** Bound on a connection sending the token line. */
export const TOKEN_WITHIN_MS = 5_000
/** Bound on the first good connection after the lend: the client connects at once, or it is gone. */
export const CONNECT_WITHIN_MS = 30_000
/** The board's output a client may leave unread before the lend ends: 8 MiB. */
export const UNREAD_LIMIT_BYTES = 8 * 1024 * 1024
/** The token's length in hex digits. */
const TOKEN_HEX_DIGITS = 32

/**
 * Where a lent link is and the token that opens it, as the `Lend` call answers.
 *
 * @example
 * const lent: FleetLentLink = { boardId: "shelf1/b0", host: "127.0.0.1", port: 40123, token: "9f...", connection: "virtual" }
 * @since 0.1.0
 */
export interface FleetLentLink {
  readonly boardId: string
  /** The runner's address, as other hosts reach it. */
  readonly host: string
  readonly port: number
  /** 32 hex digits: the first line the connection sends. */
  readonly token: string
  /** The connection string the runner opened the board with (`virtual`, `a0`...), for the protocol's defaults. */
  readonly connection: string
}

/**
 * A new lend token: 128 random bits in hex.
 *
 * @example
 * newLendToken() // "3f0c9a57d1e2b4c68a9e0f1d2c3b4a59"
 */
export const newLendToken = (): string => randomBytes(TOKEN_HEX_DIGITS / 2).toString("hex")

/**
 * The bytes a connection sends first: the token and a line feed.
 *
 * @example
 * new TextDecoder().decode(tokenLine("3f0c9a57d1e2b4c68a9e0f1d2c3b4a59")) // "3f0c9a57d1e2b4c68a9e0f1d2c3b4a59\n"
 * @since 0.1.0
 */
export const tokenLine = (token: string): Uint8Array => new TextEncoder().encode(`${token}\n`)

/**
 * What a connection's first bytes say: `more` (a prefix of the token line so far), `refused`
 * (something else), or `accepted` with the bytes that came after the line (the command's first).
 *
 * @example
 * readTokenLine(Buffer.from("3f0c"), "3f0c9a57d1e2b4c68a9e0f1d2c3b4a59") // { kind: "more" }
 * readTokenLine(Buffer.from("hello\n"), "3f0c9a57d1e2b4c68a9e0f1d2c3b4a59") // { kind: "refused" }
 * readTokenLine(Buffer.from("3f0c9a57d1e2b4c68a9e0f1d2c3b4a59\n\x03"), "3f0c...") // { kind: "accepted", rest: <03> }
 * @since 0.1.0
 */
export const readTokenLine = (
  received: Uint8Array,
  token: string,
):
  | { readonly kind: "more" }
  | { readonly kind: "refused" }
  | { readonly kind: "accepted"; readonly rest: Uint8Array } => {
  const line = tokenLine(token)
  const compared = Math.min(received.length, line.length)
  for (let i = 0; i < compared; i++) if (received[i] !== line[i]) return { kind: "refused" }
  return received.length < line.length
    ? { kind: "more" }
    : { kind: "accepted", rest: received.subarray(line.length) }
}

/**
 * Open a lent link from the client's side: connect, send the token line, and hand back the
 * connection as a `ByteLink` (closed when the scope closes, which ends the lend).
 *
 * @example
 * const link = yield* openLentLink(yield* board.lend)
 * const device = yield* makeDeviceCommunication(link)
 * @since 0.1.0
 */
export const openLentLink = (lent: FleetLentLink): Effect.Effect<ByteLink, LinkOpenError, Scope.Scope> =>
  Effect.gen(function* () {
    const link = yield* openTcpLink({ host: lent.host, port: lent.port })
    const description = `fleet:${lent.boardId}`
    yield* Effect.mapError(
      link.write(tokenLine(lent.token)),
      (e) => new LinkOpenError({ link: description, reason: `the lent link closed at once: ${e.message}` }),
    )
    // Its failures name the board and its runner's end, not a bare TCP address.
    const named = (error: LinkError): LinkError => {
      const link = `${description} (lent by its runner at ${error.link})`
      return error._tag === "LinkLostError"
        ? new LinkLostError({ link, reason: error.reason, cause: error.cause })
        : new LinkClosedError({ link, reason: error.reason })
    }
    return {
      ...link,
      description,
      write: (bytes) => Effect.mapError(link.write(bytes), named),
      received: Stream.mapError(link.received, named),
    } satisfies ByteLink
  })

/** A server listening on `host`, on a port the OS picks; closed with the scope. */
const listenOnAnyPort = (host: string): Effect.Effect<Server, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Server, Error>((resume) => {
      const server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 10_000 })
      const onError = (error: Error) => resume(Effect.fail(error))
      server.once("error", onError)
      server.listen(0, host, () => {
        server.off("error", onError)
        // A late error (none is expected once listening) must not crash the runner.
        server.on("error", () => {})
        resume(Effect.succeed(server))
      })
    }),
    (server) => Effect.sync(() => server.close()),
  )

/**
 * The first connection that sends the token line (the others are closed as they fail it), and
 * what it sent after the line. Stops listening once it has one.
 */
const acceptWithToken = (
  server: Server,
  token: string,
): Effect.Effect<{ readonly socket: Socket; readonly rest: Uint8Array }> =>
  Effect.callback((resume) => {
    const pending = new Set<Socket>()
    const onConnection = (socket: Socket) => {
      pending.add(socket)
      let received = Buffer.alloc(0)
      const drop = () => {
        pending.delete(socket)
        socket.destroy()
      }
      const timer = setTimeout(drop, TOKEN_WITHIN_MS)
      socket.on("error", drop)
      const onData = (chunk: Buffer) => {
        received = Buffer.concat([received, chunk])
        const read = readTokenLine(received, token)
        if (read.kind === "more") return
        clearTimeout(timer)
        if (read.kind === "refused") return drop()
        socket.off("data", onData)
        socket.off("error", drop)
        socket.pause()
        server.off("connection", onConnection)
        for (const other of pending) if (other !== socket) other.destroy()
        server.close()
        resume(Effect.succeed({ socket, rest: read.rest }))
      }
      socket.on("data", onData)
    }
    server.on("connection", onConnection)
    return Effect.sync(() => {
      server.off("connection", onConnection)
      for (const socket of pending) socket.destroy()
    })
  })

/** How a relay ended. */
type RelayEnd = "the client closed the link" | "the board's link ended" | "the client left 8 MiB unread"

/**
 * Bytes both ways between `socket` and the board's terminal until either ends: the socket
 * closing (the client is done), the board's output ending (the board's link was lost), or the
 * client leaving more than {@link UNREAD_LIMIT_BYTES} of it unread.
 */
const relay = (socket: Socket, terminal: TerminalSession, first: Uint8Array): Effect.Effect<RelayEnd> =>
  Effect.gen(function* () {
    const closed = yield* Deferred.make<void>()
    // From the client: in order, one write at a time; the socket paused while writes lag behind.
    const inbox = yield* Queue.unbounded<Uint8Array>()
    if (first.length > 0) Queue.offerUnsafe(inbox, first)
    socket.on("data", (chunk: Buffer) => {
      Queue.offerUnsafe(inbox, new Uint8Array(chunk))
      if (Queue.sizeUnsafe(inbox) > 64) socket.pause()
    })
    socket.on("close", () => Deferred.doneUnsafe(closed, Effect.void))
    socket.on("error", () => Deferred.doneUnsafe(closed, Effect.void))
    socket.resume()
    const fromClient = Effect.forever(
      Effect.gen(function* () {
        const bytes = yield* Queue.take(inbox)
        yield* terminal.write(bytes)
        if (socket.isPaused() && Queue.sizeUnsafe(inbox) < 16) socket.resume()
      }),
    )
    // To the client: as the board prints, never waiting (the terminal's queue stays empty); what
    // the client has not read waits in the socket's buffer, which is bounded.
    const toClient = Stream.runForEach(terminal.output, (bytes) => {
      socket.write(bytes)
      return socket.writableLength > UNREAD_LIMIT_BYTES ? Effect.fail("unread" as const) : Effect.void
    })
    return yield* Effect.raceAll([
      Effect.as(Deferred.await(closed), "the client closed the link" as const),
      Effect.as(Effect.ignore(fromClient), "the client closed the link" as const),
      toClient.pipe(
        Effect.as("the board's link ended" as const),
        Effect.catch((e) =>
          Effect.succeed(
            e === "unread" ? ("the client left 8 MiB unread" as const) : ("the board's link ended" as const),
          ),
        ),
      ),
    ])
  }).pipe(Effect.ensuring(Effect.sync(() => socket.destroy())))

/**
 * The runner's side of a lend: listen on `listenHost`, tell `ready` the port, take the first
 * connection that sends `token`, and relay it to `terminal` until it ends. Ends without a relay
 * when no such connection comes within {@link CONNECT_WITHIN_MS}. A server that cannot listen
 * fails `ready` (and ends).
 *
 * @example
 * yield* serveLentLink(yield* session.device.terminal, { listenHost: "127.0.0.1", token, ready })
 * @since 0.1.0
 */
export const serveLentLink = (
  terminal: TerminalSession,
  options: {
    readonly listenHost: string
    readonly token: string
    readonly ready: Deferred.Deferred<number, Error>
  },
): Effect.Effect<RelayEnd | "nobody came" | "the runner could not listen", never, Scope.Scope> =>
  Effect.gen(function* () {
    const server = yield* listenOnAnyPort(options.listenHost).pipe(
      Effect.tapError((e) => Deferred.fail(options.ready, e)),
    )
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    yield* Deferred.succeed(options.ready, port)
    const accepted = yield* Effect.timeoutOption(
      acceptWithToken(server, options.token),
      `${CONNECT_WITHIN_MS} millis`,
    )
    if (accepted._tag === "None") return "nobody came" as const
    return yield* relay(accepted.value.socket, terminal, accepted.value.rest)
  }).pipe(
    // Only listening can fail (accepting and relaying end, they do not fail): `ready` has the error.
    Effect.catch(() => Effect.succeed("the runner could not listen" as const)),
  )

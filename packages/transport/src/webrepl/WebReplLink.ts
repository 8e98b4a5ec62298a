/**
 * A board's WebREPL as a `ByteLink`: a WebSocket (the `ws` package, since Node 20 has no
 * WebSocket client built in), the firmware's password login, then the REPL's bytes.
 *
 * Frames, as MicroPython's `extmod/modwebrepl.c` reads them: a text frame carries REPL bytes, a
 * binary frame carries the firmware's file-transfer protocol (a `WA` request header, then file
 * data). So the REPL (the raw REPL and raw-paste included) travels in text frames, whose bytes
 * the firmware takes as they are: this link sends them unchanged, never re-encoded as UTF-8, and
 * reads the board's text frames as bytes without checking them for UTF-8 (a character split
 * between two of the board's writes arrives in two frames). Binary frames are used only by the
 * file operations (`WebReplFiles.ts`).
 */
import { Effect, Redacted as R, type Redacted, type Scope } from "effect"
import WebSocket from "ws"
import { registerFileTransfer } from "../BoardFileTransfer.js"
import { type ByteLink, makeReceiveQueue } from "../ByteLink.js"
import { type LinkError, LinkLostError, LinkOpenError } from "../errors.js"
import { fitsWebReplHeader, webReplGetFile, webReplPutFile } from "./WebReplFiles.js"
import { LoginReader, WebReplLoginError } from "./WebReplLogin.js"
import { webReplTarget } from "./WebReplTarget.js"

/**
 * Options of {@link openWebReplLink}.
 *
 * @example
 * const options: WebReplLinkOptions = { url: "ws://192.168.4.1:8266", password: Redacted.make("secret") }
 * @since 0.1.0
 */
export interface WebReplLinkOptions {
  /** `ws://host[:port]` (port 8266 when not given, the firmware's) or `wss://host[:port]` (443), behind a proxy that ends TLS. */
  readonly url: string
  /** The WebREPL password (set on the board with `import webrepl_setup`); kept out of every message. */
  readonly password?: Redacted.Redacted<string> | undefined
  /** Bound on the TCP connection and the WebSocket handshake; default 5000 ms. */
  readonly connectTimeoutMs?: number
  /** Bound on the login once connected (the prompt, then the board's answer); default 5000 ms. */
  readonly loginTimeoutMs?: number
  /** Bound on the closing handshake when the scope closes, then the socket is dropped; default 1000 ms. */
  readonly closeTimeoutMs?: number
}

/**
 * A {@link ByteLink} to a board's WebREPL, with the binary-frame channel the firmware's file
 * operations use.
 *
 * @example
 * const link = yield* openWebReplLink({ url: "ws://192.168.4.1:8266", password })
 * yield* link.write(new TextEncoder().encode("\r\x01"))
 * @since 0.1.0
 */
export interface WebReplLink extends ByteLink {
  /** Send bytes in binary frames (the file-transfer protocol). */
  readonly writeBinary: (bytes: Uint8Array) => Effect.Effect<void, LinkError>
  /**
   * Take the board's binary frames from now on (`undefined`: stop), and hear of the link ending;
   * without a taker they are dropped, as they only ever answer a file operation.
   */
  readonly onBinary: (taker: BinaryTaker | undefined) => void
}

/**
 * Who takes a {@link WebReplLink}'s binary frames.
 *
 * @example
 * link.onBinary({ bytes: (b) => buffer.push(...b), ended: (e) => console.error(e.message) })
 * @since 0.1.0
 */
export interface BinaryTaker {
  readonly bytes: (bytes: Uint8Array) => void
  /** The link closed or broke: no more frames will come. */
  readonly ended: (error: LinkError) => void
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000
const DEFAULT_LOGIN_TIMEOUT_MS = 5000
const DEFAULT_CLOSE_TIMEOUT_MS = 1000
/**
 * The largest frame sent: the firmware reads a 16-bit frame length and closes the connection on
 * a longer frame; smaller frames also keep a board's small TCP buffers from filling at once.
 *
 * @example
 * const frames = Math.ceil(bytes.length / MAX_FRAME_BYTES)
 * @since 0.1.0
 */
export const MAX_FRAME_BYTES = 4096

const describeConnectFailure = (error: Error & { code?: string }, timeoutMs: number): string => {
  if (/handshake has timed out/i.test(error.message))
    return `no WebSocket answer within ${timeoutMs} ms: is the address a board's WebREPL, and the board on the network?`
  if (error.code === "ECONNREFUSED")
    return "connection refused: is WebREPL running on the board (`import webrepl_setup`, then reboot) and the address and port right?"
  if (error.code === "ENOTFOUND" || error.code === "EAI_AGAIN") return `no such host (${error.message})`
  if (error.code === "EHOSTUNREACH" || error.code === "ENETUNREACH")
    return `the host cannot be reached (${error.message})`
  return error.message
}

/** Frames of at most {@link MAX_FRAME_BYTES}. */
const frames = (bytes: Uint8Array): Uint8Array[] => {
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += MAX_FRAME_BYTES)
    out.push(bytes.subarray(at, at + MAX_FRAME_BYTES))
  return out
}

const asBytes = (data: WebSocket.RawData): Uint8Array => {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data))
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/**
 * Connect to a board's WebREPL and log in, as a {@link WebReplLink} that lives as long as the
 * scope. REPL bytes travel in text frames (see the module's comment); Ctrl-C is a byte like any
 * other. The connection and the login are each bounded; a refused or unanswered connection fails
 * with `LinkOpenError`, a missing or refused password with {@link WebReplLoginError}. Once open,
 * the connection closing or breaking fails `received` with `LinkLostError`; the layers above open
 * the link again as they do for a serial port.
 *
 * The firmware serves one client at a time: a second one is dropped right after the WebSocket
 * handshake, which this reports as `LinkOpenError` saying so.
 *
 * @example
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const link = yield* openWebReplLink({ url: "ws://192.168.4.1:8266", password: Redacted.make("secret") })
 *   yield* link.write(new TextEncoder().encode("\r\x03"))
 * }))
 * @since 0.1.0
 */
export const openWebReplLink = (
  options: WebReplLinkOptions,
): Effect.Effect<WebReplLink, LinkOpenError | WebReplLoginError, Scope.Scope> =>
  Effect.gen(function* () {
    const target = yield* Effect.try({
      try: () => webReplTarget(options.url),
      catch: (cause) => new LinkOpenError({ link: "webrepl", reason: (cause as Error).message, cause }),
    })
    const link = target.description
    const rx = yield* makeReceiveQueue(link)
    let closing = false
    let loggedIn = false
    let binaryTaker: BinaryTaker | undefined
    // Before the login ends, what the board sends goes to the login; after, to `received`.
    let duringLogin: ((bytes: Uint8Array) => void) | undefined
    let onLoginClose: ((reason: string) => void) | undefined

    const socket = yield* Effect.acquireRelease(
      Effect.callback<WebSocket, LinkOpenError>((resume) => {
        const ws = new WebSocket(target.url, {
          handshakeTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
          perMessageDeflate: false,
          skipUTF8Validation: true,
        })
        ws.binaryType = "nodebuffer"
        const failed = (reason: string, cause?: unknown) => {
          ws.terminate()
          resume(Effect.fail(new LinkOpenError({ link, reason, cause })))
        }
        const onError = (error: Error & { code?: string }) =>
          failed(describeConnectFailure(error, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS), error)
        ws.once("error", onError)
        ws.once("unexpected-response", (_request, response) =>
          failed(
            `the server answered HTTP ${response.statusCode} instead of a WebSocket: is it a board's WebREPL?`,
          ),
        )
        ws.once("open", () => {
          ws.off("error", onError)
          // Failures from now on are reported through `close` (the login, or `received`).
          ws.on("error", () => {})
          resume(Effect.succeed(ws))
        })
        ws.on("message", (data, isBinary) => {
          const bytes = asBytes(data)
          if (!loggedIn) duringLogin?.(bytes)
          else if (isBinary) binaryTaker?.bytes(bytes)
          else rx.push(bytes)
        })
        ws.on("close", (code, reason) => {
          const why = `the board closed the connection${code === 1006 ? "" : ` (code ${code}${reason.length > 0 ? `: ${reason.toString()}` : ""})`}`
          if (!loggedIn) onLoginClose?.(why)
          else if (!closing) rx.fail(why)
          const ended = rx.closedReason()
          if (ended !== undefined) binaryTaker?.ended(ended)
        })
        return Effect.sync(() => ws.terminate())
      }),
      (ws) =>
        Effect.callback<void>((resume) => {
          closing = true
          rx.end("the link was closed")
          const ended = rx.closedReason()
          if (ended !== undefined) binaryTaker?.ended(ended)
          if (ws.readyState === WebSocket.CLOSED) return resume(Effect.void)
          const timer = setTimeout(() => {
            ws.terminate()
            resume(Effect.void)
          }, options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS)
          ws.once("close", () => {
            clearTimeout(timer)
            resume(Effect.void)
          })
          ws.close(1000)
        }),
    )

    const sendFrame = (bytes: Uint8Array, binary: boolean): Effect.Effect<void, LinkError> =>
      Effect.callback<void, LinkError>((resume) => {
        const closed = rx.closedReason()
        if (closed !== undefined) return resume(Effect.fail(closed))
        if (socket.readyState !== WebSocket.OPEN)
          return resume(Effect.fail(new LinkLostError({ link, reason: "the connection is closed" })))
        socket.send(bytes, { binary }, (error) => {
          if (!error) return resume(Effect.void)
          resume(
            Effect.fail(
              rx.closedReason() ??
                new LinkLostError({ link, reason: `write failed: ${error.message}`, cause: error }),
            ),
          )
        })
      })

    const sendAll = (bytes: Uint8Array, binary: boolean) =>
      bytes.length === 0
        ? Effect.void
        : Effect.forEach(frames(bytes), (frame) => sendFrame(frame, binary), { discard: true })

    const password = options.password
    const leftover = yield* Effect.callback<Uint8Array, LinkOpenError | WebReplLoginError>((resume) => {
      const reader = new LoginReader()
      let answered = false
      const timer = setTimeout(
        () =>
          resume(
            Effect.fail(
              new LinkOpenError({
                link,
                reason: `no WebREPL login from the board within ${options.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS} ms (is this a board's WebREPL?)`,
              }),
            ),
          ),
        options.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS,
      )
      const finish = (effect: Effect.Effect<Uint8Array, LinkOpenError | WebReplLoginError>) => {
        clearTimeout(timer)
        duringLogin = undefined
        onLoginClose = undefined
        resume(effect)
      }
      duringLogin = (bytes) => {
        const step = reader.feed(bytes)
        switch (step._tag) {
          case "prompt":
            if (password === undefined)
              return finish(Effect.fail(new WebReplLoginError({ link, kind: "missing-password" })))
            answered = true
            // The firmware ends the password at `\r` or `\n`.
            socket.send(Buffer.from(`${R.value(password)}\r`, "utf8"), { binary: false })
            return
          case "connected":
            loggedIn = true
            return finish(Effect.succeed(step.rest))
          case "denied":
            return finish(Effect.fail(new WebReplLoginError({ link, kind: "wrong-password" })))
        }
      }
      onLoginClose = (why) =>
        finish(
          Effect.fail(
            answered
              ? new LinkOpenError({
                  link,
                  reason: `${why} after the password was sent, without answering it`,
                })
              : new LinkOpenError({
                  link,
                  reason: `${why} before logging in: another WebREPL client is probably connected (the board serves one at a time); close it and try again`,
                }),
          ),
        )
      return Effect.sync(() => clearTimeout(timer))
    })
    // The REPL's prompt after the login answer is the board's output like any other.
    rx.push(leftover)

    const webRepl: WebReplLink = {
      description: link,
      write: (bytes) => sendAll(bytes, false),
      writeBinary: (bytes) => sendAll(bytes, true),
      onBinary: (taker) => {
        binaryTaker = taker
        const ended = rx.closedReason()
        if (taker !== undefined && ended !== undefined) taker.ended(ended)
      },
      received: rx.stream,
      isOpen: Effect.sync(() => rx.closedReason() === undefined),
    }
    registerFileTransfer(webRepl, {
      description: "WebREPL file transfer",
      fits: fitsWebReplHeader,
      put: (path, data) => webReplPutFile(webRepl, path, data),
      get: (path) => webReplGetFile(webRepl, path),
    })
    return webRepl
  })

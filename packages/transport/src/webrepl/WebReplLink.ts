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
 * file operations (`WebReplFiles.ts`). The frames and the login are `WebReplWire.ts`'s, shared with
 * the browser's link (`BrowserWebReplLink.ts`); this module opens and closes the `ws` socket.
 */
import { Effect, type Redacted, type Scope } from "effect"
import WebSocket from "ws"
import { LinkOpenError } from "../errors.js"
import type { WebReplLoginError } from "./WebReplLogin.js"
import { webReplTarget } from "./WebReplTarget.js"
import { type FrameSender, makeWebReplWire, type WebReplLink } from "./WebReplWire.js"

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

const DEFAULT_CONNECT_TIMEOUT_MS = 5000
const DEFAULT_LOGIN_TIMEOUT_MS = 5000
const DEFAULT_CLOSE_TIMEOUT_MS = 1000
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
    const wire = yield* makeWebReplWire(link)

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
        ws.on("message", (data, isBinary) => wire.message(asBytes(data), isBinary))
        ws.on("close", (code, reason) =>
          wire.closed(
            `the board closed the connection${code === 1006 ? "" : ` (code ${code}${reason.length > 0 ? `: ${reason.toString()}` : ""})`}`,
          ),
        )
        return Effect.sync(() => ws.terminate())
      }),
      (ws) =>
        Effect.callback<void>((resume) => {
          wire.closing()
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

    const sender: FrameSender = {
      // Bytes as they are: text frames carry the REPL's bytes unchanged (no UTF-8 check).
      send: (bytes, binary, done) => socket.send(bytes, { binary }, (error) => done(error ?? undefined)),
      isOpen: () => socket.readyState === WebSocket.OPEN,
    }
    return yield* wire.login(sender, options.password, options.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS)
  })

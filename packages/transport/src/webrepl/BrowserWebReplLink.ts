/**
 * A board's WebREPL from a browser, over the browser's own `WebSocket`: the same frames and login
 * as the Node link (`WebReplWire.ts`), on a socket the page opens.
 *
 * A browser's WebSocket carries text, not bytes, in text frames: what it sends in a text frame is
 * a string it encodes as UTF-8, and what it receives in one must be UTF-8, or the browser closes
 * the connection (RFC 6455; Chrome does). So the REPL's bytes are sent as the UTF-8 text they
 * hold, which is all Belay's Python and the REPL's control characters are; bytes that are not
 * UTF-8 (a raw bytes literal) arrive changed (each bad sequence as U+FFFD), which checked requests
 * and the file operations' probe notice. A board that prints bytes that are not UTF-8 ends the
 * connection with `LinkLostError`: the link says it is text-only (`textOnly`), and the file
 * operations of `@belay/filesystem` then print only ASCII. Binary frames (the file-transfer
 * protocol) carry bytes as they are.
 */
import { Effect, type Redacted, type Scope } from "effect"
import { LinkOpenError } from "../errors.js"
import type { WebReplLoginError } from "./WebReplLogin.js"
import { webReplTarget } from "./WebReplTarget.js"
import { type FrameSender, makeWebReplWire, type WebReplLink } from "./WebReplWire.js"

/**
 * A browser `WebSocket`, by the members the link uses.
 *
 * @example
 * const socket: BrowserWebSocket = new WebSocket("ws://192.168.4.1:8266")
 * @since 0.1.0
 */
export interface BrowserWebSocket {
  binaryType: string
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: string | Uint8Array): void
  close(code?: number, reason?: string): void
  onopen: ((event: unknown) => void) | null
  onerror: ((event: unknown) => void) | null
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null
  onmessage: ((event: { readonly data: unknown }) => void) | null
}

/**
 * Options of {@link openBrowserWebReplLink}.
 *
 * @example
 * const options: BrowserWebReplLinkOptions = { url: "ws://192.168.4.1:8266", password: Redacted.make("secret") }
 * @since 0.1.0
 */
export interface BrowserWebReplLinkOptions {
  /** `ws://host[:port]` (port 8266 when not given) or `wss://host[:port]`; an https page may open only `wss://`. */
  readonly url: string
  /** The WebREPL password (set on the board with `import webrepl_setup`); kept out of every message. */
  readonly password?: Redacted.Redacted<string> | undefined
  /** Bound on the WebSocket's opening; default 5000 ms. */
  readonly connectTimeoutMs?: number
  /** Bound on the login once connected; default 5000 ms. */
  readonly loginTimeoutMs?: number
  /** Bound on the closing handshake when the scope closes; default 1000 ms. */
  readonly closeTimeoutMs?: number
  /** The `WebSocket` class; default the browser's (`globalThis.WebSocket`). */
  readonly WebSocket?: new (
    url: string,
  ) => BrowserWebSocket
}

const CONNECTING = 0
const OPEN = 1
const CLOSED = 3
/** A write completes once the socket holds less than this unsent, so writes pace the network. */
const BUFFERED_LIMIT = 64 * 1024
const BUFFERED_POLL_MS = 5

const utf8Encoder = new TextEncoder()

/** What the socket hands over: text (decoded by the browser) or an `ArrayBuffer`. */
const asBytes = (data: unknown): Uint8Array =>
  typeof data === "string"
    ? utf8Encoder.encode(data)
    : data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : ArrayBuffer.isView(data)
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(0)

/**
 * Connect to a board's WebREPL from a browser page and log in, as a {@link WebReplLink} that lives
 * as long as the scope: the same link as `openWebReplLink` of `@belay/transport/webrepl` (the same
 * login, frames, file transfers and errors), over the browser's `WebSocket`. The browser tells a
 * page nothing about why a connection failed; the `LinkOpenError` lists the usual reasons. See the
 * module's comment for what text frames can carry from a browser.
 *
 * @example
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const link = yield* openBrowserWebReplLink({ url: "ws://192.168.4.1:8266", password: Redacted.make("secret") })
 *   const device = yield* makeDeviceCommunication(link)
 *   yield* device.exec("print(1 + 1)")
 * }))
 * @since 0.1.0
 */
export const openBrowserWebReplLink = (
  options: BrowserWebReplLinkOptions,
): Effect.Effect<WebReplLink, LinkOpenError | WebReplLoginError, Scope.Scope> =>
  Effect.gen(function* () {
    const target = yield* Effect.try({
      try: () => webReplTarget(options.url),
      catch: (cause) => new LinkOpenError({ link: "webrepl", reason: (cause as Error).message, cause }),
    })
    const link = target.description
    const Socket =
      options.WebSocket ?? (globalThis as { WebSocket?: new (url: string) => BrowserWebSocket }).WebSocket
    if (Socket === undefined)
      return yield* new LinkOpenError({
        link,
        reason: "this platform has no WebSocket (give the WebSocket option)",
      })
    // Text-only: the browser closes the connection on a text frame that is not UTF-8.
    const wire = yield* makeWebReplWire(link, true)
    const connectTimeoutMs = options.connectTimeoutMs ?? 5000

    const socket = yield* Effect.acquireRelease(
      Effect.callback<BrowserWebSocket, LinkOpenError>((resume) => {
        let ws: BrowserWebSocket
        try {
          ws = new Socket(target.url)
        } catch (cause) {
          // An https page opening ws://, a port the browser refuses, a malformed address.
          resume(
            Effect.fail(
              new LinkOpenError({ link, reason: `the browser refused the address: ${String(cause)}`, cause }),
            ),
          )
          return
        }
        ws.binaryType = "arraybuffer"
        let opened = false
        const timer = setTimeout(() => {
          ws.close()
          resume(
            Effect.fail(
              new LinkOpenError({
                link,
                reason: `no WebSocket answer within ${connectTimeoutMs} ms: is the address a board's WebREPL, and the board on the network?`,
              }),
            ),
          )
        }, connectTimeoutMs)
        ws.onopen = () => {
          opened = true
          clearTimeout(timer)
          resume(Effect.succeed(ws))
        }
        ws.onerror = () => {
          if (opened) return
          clearTimeout(timer)
          resume(
            Effect.fail(
              new LinkOpenError({
                link,
                reason:
                  "the connection failed (a browser gives no reason): is WebREPL running on the board, the address and port right, and, from an https page, the address wss://?",
              }),
            ),
          )
        }
        ws.onmessage = (event) => wire.message(asBytes(event.data), typeof event.data !== "string")
        ws.onclose = (event) => {
          if (!opened) return
          wire.closed(
            `the board closed the connection${event.code === 1006 ? "" : ` (code ${event.code}${event.reason.length > 0 ? `: ${event.reason}` : ""})`}`,
          )
        }
        return Effect.sync(() => {
          clearTimeout(timer)
          ws.close()
        })
      }),
      (ws) =>
        Effect.callback<void>((resume) => {
          wire.closing()
          if (ws.readyState === CLOSED) return resume(Effect.void)
          const timer = setTimeout(() => resume(Effect.void), options.closeTimeoutMs ?? 1000)
          ws.onclose = () => {
            clearTimeout(timer)
            resume(Effect.void)
          }
          ws.close(1000)
        }),
    )

    const whenDrained = (done: (error?: Error) => void) => {
      const check = () => {
        if (socket.readyState !== OPEN && socket.readyState !== CONNECTING)
          return done(new Error("the connection closed before the bytes were sent"))
        if (socket.bufferedAmount < BUFFERED_LIMIT) return done()
        setTimeout(check, BUFFERED_POLL_MS)
      }
      check()
    }
    // One decoder for the link's text, so a character split between two frames stays whole.
    const text = new TextDecoder()
    const sender: FrameSender = {
      send: (bytes, binary, done) => {
        try {
          // Binary frames as bytes (a copy: the caller may reuse its buffer); text frames as the text they hold.
          socket.send(binary ? bytes.slice() : text.decode(bytes, { stream: true }))
        } catch (error) {
          return done(error instanceof Error ? error : new Error(String(error)))
        }
        whenDrained(done)
      },
      isOpen: () => socket.readyState === OPEN,
    }
    return yield* wire.login(sender, options.password, options.loginTimeoutMs ?? 5000)
  })

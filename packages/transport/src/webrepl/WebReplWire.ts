/**
 * What the WebREPL links of Node (`ws`) and of the browser (its own `WebSocket`) share: the
 * frames (REPL bytes in text frames, file transfers in binary frames, at most
 * {@link MAX_FRAME_BYTES} each), the login driven by what the board sends, and the link object
 * built over a socket once logged in. Each link only opens and closes its socket, and tells the
 * wire what arrives (`message`) and when the socket closes (`closed`). No I/O of its own.
 */
import { Effect, Redacted as R, type Redacted } from "effect"
import { registerFileTransfer } from "../BoardFileTransfer.js"
import { type ByteLink, makeReceiveQueue, type ReceiveQueue } from "../ByteLink.js"
import { type LinkError, LinkLostError, LinkOpenError } from "../errors.js"
import { fitsWebReplHeader, webReplGetFile, webReplPutFile } from "./WebReplFiles.js"
import { LoginReader, WebReplLoginError } from "./WebReplLogin.js"

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

/**
 * The largest frame sent: the firmware reads a 16-bit frame length and closes the connection on
 * a longer frame; smaller frames also keep a board's small TCP buffers from filling at once.
 *
 * @example
 * const frames = Math.ceil(bytes.length / MAX_FRAME_BYTES)
 * @since 0.1.0
 */
export const MAX_FRAME_BYTES = 4096

/** Frames of at most {@link MAX_FRAME_BYTES}. */
export const frames = (bytes: Uint8Array): Uint8Array[] => {
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += MAX_FRAME_BYTES)
    out.push(bytes.subarray(at, at + MAX_FRAME_BYTES))
  return out
}

/** How the wire sends one frame on a link's socket; `done` is called once, with the error if any. */
export interface FrameSender {
  readonly send: (bytes: Uint8Array, binary: boolean, done: (error?: Error) => void) => void
  /** Whether the socket is open (sending on a closing socket fails at once). */
  readonly isOpen: () => boolean
}

/** The wire of one WebREPL connection: what the socket's events are handed to, and the login. */
export interface WebReplWire {
  readonly rx: ReceiveQueue
  /** A frame arrived from the board. */
  readonly message: (bytes: Uint8Array, binary: boolean) => void
  /** The socket closed (by the board, the network, or the scope): `why` in words. */
  readonly closed: (why: string) => void
  /** The scope is closing the link: an orderly end. */
  readonly closing: () => void
  /**
   * Log in (the board's prompt, the password, its answer), bounded by `timeoutMs`, then the
   * link. Before it, what the board sends goes to the login; after, to `received`.
   */
  readonly login: (
    sender: FrameSender,
    password: Redacted.Redacted<string> | undefined,
    timeoutMs: number,
  ) => Effect.Effect<WebReplLink, LinkOpenError | WebReplLoginError>
}

/**
 * A new wire for a connection to `link` (its description, without a password); `textOnly` when
 * the socket's text frames must hold UTF-8 (a browser's: see `ByteLink.textOnly`).
 * @internal
 */
export const makeWebReplWire = (link: string, textOnly = false): Effect.Effect<WebReplWire> =>
  Effect.map(makeReceiveQueue(link), (rx) => {
    let loggedIn = false
    let closingByScope = false
    let binaryTaker: BinaryTaker | undefined
    let duringLogin: ((bytes: Uint8Array) => void) | undefined
    let onLoginClose: ((why: string) => void) | undefined

    const tellTakerEnded = () => {
      const ended = rx.closedReason()
      if (ended !== undefined) binaryTaker?.ended(ended)
    }

    const sendFrame = (
      sender: FrameSender,
      bytes: Uint8Array,
      binary: boolean,
    ): Effect.Effect<void, LinkError> =>
      Effect.callback<void, LinkError>((resume) => {
        const closed = rx.closedReason()
        if (closed !== undefined) return resume(Effect.fail(closed))
        if (!sender.isOpen())
          return resume(Effect.fail(new LinkLostError({ link, reason: "the connection is closed" })))
        sender.send(bytes, binary, (error) => {
          if (error === undefined) return resume(Effect.void)
          resume(
            Effect.fail(
              rx.closedReason() ??
                new LinkLostError({ link, reason: `write failed: ${error.message}`, cause: error }),
            ),
          )
        })
      })

    const sendAll = (sender: FrameSender, bytes: Uint8Array, binary: boolean) =>
      bytes.length === 0
        ? Effect.void
        : Effect.forEach(frames(bytes), (frame) => sendFrame(sender, frame, binary), { discard: true })

    const makeLink = (sender: FrameSender): WebReplLink => {
      const webRepl: WebReplLink = {
        description: link,
        write: (bytes) => sendAll(sender, bytes, false),
        writeBinary: (bytes) => sendAll(sender, bytes, true),
        onBinary: (taker) => {
          binaryTaker = taker
          const ended = rx.closedReason()
          if (taker !== undefined && ended !== undefined) taker.ended(ended)
        },
        received: rx.stream,
        isOpen: Effect.sync(() => rx.closedReason() === undefined),
        ...(textOnly ? { textOnly } : {}),
      }
      registerFileTransfer(webRepl, {
        description: "WebREPL file transfer",
        fits: fitsWebReplHeader,
        put: (path, data) => webReplPutFile(webRepl, path, data),
        get: (path) => webReplGetFile(webRepl, path),
      })
      return webRepl
    }

    return {
      rx,
      message: (bytes, binary) => {
        if (!loggedIn) duringLogin?.(bytes)
        else if (binary) binaryTaker?.bytes(bytes)
        else rx.push(bytes)
      },
      closed: (why) => {
        if (!loggedIn) onLoginClose?.(why)
        else if (!closingByScope) rx.fail(why)
        tellTakerEnded()
      },
      closing: () => {
        closingByScope = true
        rx.end("the link was closed")
        tellTakerEnded()
      },
      login: (sender, password, timeoutMs) =>
        Effect.callback<void, LinkOpenError | WebReplLoginError>((resume) => {
          const reader = new LoginReader()
          let answered = false
          const timer = setTimeout(
            () =>
              resume(
                Effect.fail(
                  new LinkOpenError({
                    link,
                    reason: `no WebREPL login from the board within ${timeoutMs} ms (is this a board's WebREPL?)`,
                  }),
                ),
              ),
            timeoutMs,
          )
          const finish = (effect: Effect.Effect<void, LinkOpenError | WebReplLoginError>) => {
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
                sender.send(new TextEncoder().encode(`${R.value(password)}\r`), false, () => {})
                return
              case "connected":
                // What followed the answer (the REPL's prompt) is the board's output like any
                // other, ahead of every later frame.
                loggedIn = true
                rx.push(step.rest)
                return finish(Effect.void)
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
        }).pipe(Effect.map(() => makeLink(sender))),
    }
  })

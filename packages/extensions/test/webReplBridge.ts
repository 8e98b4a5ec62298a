/**
 * A `ByteLink` served as a board's WebREPL on a port of 127.0.0.1, one client at a time, with the
 * firmware's login (`Password: `, then `WebREPL connected` or `Access denied`) and the REPL in
 * text frames: so that a test can put a real `ws://` link (WebSocket frames over the kernel's
 * loopback) between the protocol engine and a board that lives in the test's process (whose
 * resets the test drives). No file transfer: binary frames are ignored.
 */
import type { AddressInfo } from "node:net"
import type { ByteLink } from "@belay/transport"
import { Effect, type Scope, Stream } from "effect"
import { type WebSocket, WebSocketServer } from "ws"

export const serveLinkOverWebRepl = (
  link: ByteLink,
  password: string,
): Effect.Effect<{ readonly url: string }, never, Scope.Scope> =>
  Effect.gen(function* () {
    let client: WebSocket | undefined
    // What the board sends goes to the logged-in client; with none, it is lost, as on a loose wire.
    yield* Stream.runForEach(link.received, (bytes) =>
      Effect.sync(() => {
        if (client !== undefined) client.send(bytes, { binary: false })
      }),
    ).pipe(Effect.ignore, Effect.forkScoped)
    const server = yield* Effect.acquireRelease(
      Effect.callback<WebSocketServer>((resume) => {
        const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, skipUTF8Validation: true })
        wss.on("connection", (socket) => {
          // The firmware turns a second client away right after the handshake.
          if (client !== undefined) return void socket.terminate()
          let typed = ""
          let loggedIn = false
          // One write at a time, in arrival order.
          let writing = Promise.resolve()
          socket.on("message", (data, binary) => {
            let bytes = new Uint8Array(data as Buffer)
            if (!loggedIn) {
              const end = bytes.findIndex((b) => b === 0x0d || b === 0x0a)
              typed += Buffer.from(end < 0 ? bytes : bytes.subarray(0, end)).toString("latin1")
              if (end < 0) return
              if (typed !== password) {
                socket.send("\r\nAccess denied\r\n", () => socket.terminate())
                return
              }
              loggedIn = true
              client = socket
              socket.send("\r\nWebREPL connected\r\n>>> ")
              bytes = bytes.subarray(end + 1)
            }
            if (binary || bytes.length === 0) return
            const chunk = bytes
            writing = writing.then(() => Effect.runPromise(Effect.ignore(link.write(chunk))))
          })
          socket.on("close", () => {
            if (client === socket) client = undefined
          })
          socket.send("Password: ")
        })
        wss.once("listening", () => resume(Effect.succeed(wss)))
      }),
      (wss) =>
        Effect.callback<void>((resume) => {
          client?.terminate()
          wss.close(() => resume(Effect.void))
        }),
    )
    return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` }
  })

/**
 * A `ByteLink` served on a TCP port of 127.0.0.1, one client at a time: so that a test can put a
 * real `tcp:` link (sockets, the kernel's loopback) between the protocol engine and a board that
 * lives in the test's process (whose resets the test drives).
 */
import { createServer, type Socket } from "node:net"
import type { ByteLink } from "@belay/transport"
import { Effect, type Scope, Stream } from "effect"

export const serveLinkOverTcp = (
  link: ByteLink,
): Effect.Effect<{ readonly port: number }, never, Scope.Scope> =>
  Effect.gen(function* () {
    let client: Socket | undefined
    // What the board sends goes to the connected client; with none, it is lost, as on a loose wire.
    yield* Stream.runForEach(link.received, (bytes) =>
      Effect.sync(() => {
        if (client !== undefined && !client.destroyed) client.write(bytes)
      }),
    ).pipe(Effect.ignore, Effect.forkScoped)
    const server = yield* Effect.acquireRelease(
      Effect.callback<ReturnType<typeof createServer>>((resume) => {
        const server = createServer((socket) => {
          if (client !== undefined) return void socket.end("Port already in use\r\n")
          client = socket
          socket.setNoDelay(true)
          // One write at a time, in arrival order.
          let writing = Promise.resolve()
          socket.on("data", (chunk: Buffer) => {
            const bytes = new Uint8Array(chunk)
            writing = writing.then(() => Effect.runPromise(Effect.ignore(link.write(bytes))))
          })
          socket.on("error", () => socket.destroy())
          socket.on("close", () => {
            if (client === socket) client = undefined
          })
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.callback<void>((resume) => {
          client?.destroy()
          server.close(() => resume(Effect.void))
        }),
    )
    return { port: (server.address() as { port: number }).port }
  })

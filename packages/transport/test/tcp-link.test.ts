import { createServer, type Server, type Socket } from "node:net"
import { Effect, Exit, Stream } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import type { ByteLink } from "../src/ByteLink.js"
import type { LinkError } from "../src/errors.js"
import { makeDeviceCommunication } from "../src/index.js"
import { openRfc2217Link } from "../src/rfc2217/Rfc2217Link.js"
import { openTcpLink } from "../src/tcp/TcpLink.js"
import { makeFakeBoard } from "../src/testing/index.js"

const encode = (text: string) => new TextEncoder().encode(text)
const all = Uint8Array.from({ length: 256 }, (_, i) => i)

/** A server on 127.0.0.1, a free port; `onSocket` runs for each client. Closed after each test. */
const servers: Server[] = []
const sockets = new Set<Socket>()
const listen = (onSocket: (socket: Socket) => void) =>
  new Promise<number>((resolve) => {
    const server = createServer((socket) => {
      sockets.add(socket)
      onSocket(socket)
    })
    servers.push(server)
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
  })
afterEach(async () => {
  for (const socket of sockets) socket.destroy()
  sockets.clear()
  for (const server of servers.splice(0)) {
    await new Promise((r) => server.close(r))
  }
})

/** A port nothing listens on: one the OS just gave out and took back. */
const freePort = async () => {
  const port = await listen(() => {})
  const server = servers.pop() as Server
  await new Promise((r) => server.close(r))
  return port
}

interface Received {
  bytes: number[]
  end: Exit.Exit<void, LinkError> | undefined
}

const collect = (link: ByteLink) =>
  Effect.gen(function* () {
    const received: Received = { bytes: [], end: undefined }
    yield* Stream.runForEach(link.received, (chunk) => Effect.sync(() => received.bytes.push(...chunk))).pipe(
      Effect.exit,
      Effect.tap((exit) => Effect.sync(() => (received.end = exit))),
      Effect.forkScoped,
    )
    return received
  })

const waitUntil = (what: string, condition: () => boolean) =>
  Effect.gen(function* () {
    while (!condition()) yield* Effect.sleep(5)
  }).pipe(
    Effect.timeoutOrElse({
      duration: 5000,
      orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)),
    }),
  )

const failureOf = (received: Received) =>
  received.end !== undefined && Exit.isFailure(received.end)
    ? received.end.cause.reasons.find((reason) => reason._tag === "Fail")?.error
    : undefined

const run = <A, E>(effect: Effect.Effect<A, E, import("effect").Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(effect))

describe("openTcpLink", () => {
  it("carries all 256 byte values both ways and closes in order when the scope closes", async () => {
    let serverSawEnd = false
    const port = await listen((socket) => {
      socket.on("data", (chunk) => socket.write(chunk))
      socket.on("end", () => {
        serverSawEnd = true
        socket.end()
      })
    })
    const echoed = await run(
      Effect.gen(function* () {
        const link = yield* openTcpLink({ host: "127.0.0.1", port })
        expect(link.description).toBe(`tcp:127.0.0.1:${port}`)
        const received = yield* collect(link)
        yield* link.write(all)
        yield* waitUntil("the echo", () => received.bytes.length >= 256)
        expect(yield* link.isOpen).toBe(true)
        return received.bytes
      }),
    )
    expect(echoed).toEqual([...all])
    await Effect.runPromise(waitUntil("the server to see the close", () => serverSawEnd))
  })

  it("a refused connection is a LinkOpenError naming the host and port", async () => {
    const port = await freePort()
    const error = await run(Effect.flip(openTcpLink({ host: "127.0.0.1", port })))
    expect(error._tag).toBe("LinkOpenError")
    expect(error.message).toContain(`tcp:127.0.0.1:${port}`)
    expect(error.reason).toContain("connection refused: nothing listens on")
  })

  it("an unknown host name is a LinkOpenError that says so", async () => {
    const error = await run(Effect.flip(openTcpLink({ host: "no-such-host.invalid", port: 23 })))
    expect(error._tag).toBe("LinkOpenError")
    expect(error.reason).toMatch(/host name .* is not known/)
  })

  it("a server that drops the connection mid-exchange fails received and later writes with LinkLostError, quoting its last bytes", async () => {
    const port = await listen((socket) => {
      socket.once("data", () => {
        socket.write("half a reply")
        socket.destroy()
      })
    })
    const { received, writeError } = await run(
      Effect.gen(function* () {
        const link = yield* openTcpLink({ host: "127.0.0.1", port })
        const received = yield* collect(link)
        yield* link.write(encode("\x01print(1)\x04"))
        yield* waitUntil("the stream to end", () => received.end !== undefined)
        expect(yield* link.isOpen).toBe(false)
        return { received, writeError: yield* Effect.flip(link.write(encode("x"))) }
      }),
    )
    expect(Buffer.from(received.bytes).toString()).toBe("half a reply")
    const error = failureOf(received)
    expect(error?._tag).toBe("LinkLostError")
    expect(error?.message).toContain(`127.0.0.1:${port} closed the connection`)
    expect(error?.message).toContain('"half a reply"')
    expect(writeError._tag).toBe("LinkLostError")
  })

  it("a second client refused the way ser2net refuses it gets the server's words in the error", async () => {
    const port = await listen((socket) => socket.end("Port already in use\r\n"))
    const error = await run(
      Effect.gen(function* () {
        const link = yield* openTcpLink({ host: "127.0.0.1", port })
        const received = yield* collect(link)
        yield* waitUntil("the stream to end", () => received.end !== undefined)
        return failureOf(received)
      }),
    )
    expect(error?.message).toContain('"Port already in use\\x0d\\x0a"')
  })

  it("the protocol engine over a connection dropped mid-exchange fails with LinkLostError, not a hang; a new link works", async () => {
    let clients = 0
    // A scripted board behind the server; the first client is dropped once 30 bytes of its exchange arrived.
    const port = await listen((socket) => {
      const client = ++clients
      void Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const board = yield* makeFakeBoard({ run: () => ({ stdout: "ok\r\n" }) })
            yield* Stream.runForEach(board.link.received, (b) => Effect.sync(() => socket.write(b))).pipe(
              Effect.forkScoped,
            )
            let seen = 0
            socket.on("data", (chunk) => {
              seen += chunk.length
              if (client === 1 && seen > 30) socket.destroy()
              else Effect.runFork(board.link.write(new Uint8Array(chunk)))
            })
            yield* Effect.callback<void>((resume) => {
              socket.on("close", () => resume(Effect.void))
            })
          }),
        ),
      )
    })
    const exec = (code: string) =>
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openTcpLink({ host: "127.0.0.1", port })
          const comm = yield* makeDeviceCommunication(link, { integrity: "unchecked" })
          return yield* comm.exec(code)
        }),
      )
    const dropped = await Effect.runPromise(Effect.flip(exec(`print(${"1".repeat(200)})`)))
    expect(dropped._tag).toBe("LinkLostError")
    // Reconnecting is opening the link again.
    expect(await Effect.runPromise(exec("print(2)"))).toBe("ok\r\n")
  })
})

/** The bytes ser2net 4 sends as a client connects to its telnet(rfc2217) accepter. */
const SER2NET_OPENING = Uint8Array.of(
  ...[
    0xff, 0xfb, 3, 0xff, 0xfd, 3, 0xff, 0xfb, 1, 0xff, 0xfe, 1, 0xff, 0xfd, 0, 0xff, 0xfb, 0, 0xff, 0xfd, 44,
  ],
)

/**
 * A telnet RFC 2217 server as ser2net behaves (its opening, one answer per port setting), in
 * front of an echo: data is unescaped on the way in and escaped on the way out.
 */
const rfc2217EchoServer = (heard: { settings: number[][]; data: number[] }) =>
  listen((socket) => {
    socket.write(SER2NET_OPENING)
    let pending: number[] = []
    socket.on("data", (chunk) => {
      pending.push(...chunk)
      let i = 0
      const echo: number[] = []
      while (i < pending.length) {
        const b = pending[i] as number
        if (b !== 0xff) {
          heard.data.push(b)
          echo.push(b)
          i++
          continue
        }
        const next = pending[i + 1]
        if (next === undefined) break
        if (next === 0xff) {
          heard.data.push(0xff)
          echo.push(0xff, 0xff)
          i += 2
        } else if (next === 0xfa) {
          const end = pending.indexOf(0xf0, i)
          if (end < 0) break
          const payload = pending.slice(i + 3, end - 1)
          heard.settings.push(payload)
          // ser2net answers the port settings, not the modem lines of a pty.
          if ((payload[0] as number) <= 4)
            socket.write(
              Uint8Array.of(0xff, 0xfa, 44, (payload[0] as number) + 100, ...payload.slice(1), 0xff, 0xf0),
            )
          i = end + 1
        } else i += 3
      }
      pending = pending.slice(i)
      if (echo.length > 0) socket.write(Uint8Array.from(echo))
    })
  })

describe("openRfc2217Link", () => {
  it("negotiates, sets 9600 8N1 and the modem lines, and carries 0xFF and telnet-looking bytes both ways", async () => {
    const heard = { settings: [] as number[][], data: [] as number[] }
    const port = await rfc2217EchoServer(heard)
    const echoed = await run(
      Effect.gen(function* () {
        const link = yield* openRfc2217Link({
          host: "127.0.0.1",
          port,
          baudRate: 9600,
          dtr: false,
          rts: false,
        })
        expect(link.description).toBe(`rfc2217:127.0.0.1:${port}`)
        const received = yield* collect(link)
        yield* link.write(all)
        yield* link.write(Uint8Array.of(0xff, 0xfa, 0xff))
        yield* waitUntil("the echo", () => received.bytes.length >= 259)
        return received.bytes
      }),
    )
    expect(heard.settings).toEqual([
      [1, 0, 0, 0x25, 0x80],
      [2, 8],
      [3, 1],
      [4, 1],
      [5, 9],
      [5, 12],
    ])
    expect(heard.data).toEqual([...all, 0xff, 0xfa, 0xff])
    expect(echoed).toEqual([...all, 0xff, 0xfa, 0xff])
  })

  it("a server that refuses COM-PORT-OPTION is a LinkOpenError pointing to tcp:", async () => {
    const port = await listen((socket) => socket.write(Uint8Array.of(0xff, 0xfe, 44)))
    const error = await run(Effect.flip(openRfc2217Link({ host: "127.0.0.1", port })))
    expect(error._tag).toBe("LinkOpenError")
    expect(error.reason).toContain("refused the COM-PORT-OPTION")
    expect(error.reason).toContain(`use tcp:127.0.0.1:${port}`)
  })

  it("a plain byte server (no telnet) fails the negotiation within its bound", async () => {
    const port = await listen(() => {})
    const error = await run(
      Effect.flip(openRfc2217Link({ host: "127.0.0.1", port, negotiationTimeoutMs: 200 })),
    )
    expect(error._tag).toBe("LinkOpenError")
    expect(error.reason).toContain("did not negotiate RFC 2217 within 200 ms")
  })

  it("a server turning the client away as ser2net does (options, its words, a full close) is a LinkOpenError with its words", async () => {
    const port = await listen((socket) =>
      socket.end(Buffer.concat([SER2NET_OPENING, Buffer.from("Port already in use\r\n")]), () =>
        socket.destroy(),
      ),
    )
    const error = await run(Effect.flip(openRfc2217Link({ host: "127.0.0.1", port })))
    expect(error._tag).toBe("LinkOpenError")
    expect(error.reason).toContain("Port already in use")
  })
})

/**
 * The WebREPL link against a WebSocket server of the test's own, byte by byte: the login as the
 * firmware runs it (split into frames at every byte), wrong and missing passwords, a server that
 * closes at each point of the exchange, and what the REPL's bytes become on the wire.
 */
import net, { type AddressInfo } from "node:net"
import { Cause, Effect, Exit, Redacted, Stream } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { type WebSocket, WebSocketServer } from "ws"
import { MAX_FRAME_BYTES, openWebReplLink } from "../src/webrepl/index.js"
import { LoginReader } from "../src/webrepl/WebReplLogin.js"
import { webReplTarget } from "../src/webrepl/WebReplTarget.js"

const encode = (text: string) => new TextEncoder().encode(text)
const PASSWORD = "s3cret"
const PROMPT = "Password: "
const CONNECTED = "\r\nWebREPL connected\r\n>>> "
const DENIED = "\r\nAccess denied\r\n"

interface Frame {
  readonly bytes: Uint8Array
  readonly binary: boolean
}

/** A WebSocket server; `onClient` scripts each connection; `frames` is what clients sent. */
const servers: WebSocketServer[] = []
const serve = async (onClient: (socket: WebSocket, frames: Frame[]) => void) => {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, skipUTF8Validation: true })
  servers.push(wss)
  const frames: Frame[] = []
  wss.on("connection", (socket) => {
    socket.on("message", (data, binary) => frames.push({ bytes: new Uint8Array(data as Buffer), binary }))
    onClient(socket, frames)
  })
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()))
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, frames }
}

afterEach(async () => {
  for (const wss of servers.splice(0)) {
    for (const client of wss.clients) client.terminate()
    await new Promise<void>((resolve) => wss.close(() => resolve()))
  }
})

/** Send `text` one byte per frame, as a board whose writes are split at every byte would. */
const sendByteFrames = (socket: WebSocket, text: string) => {
  for (const byte of encode(text)) socket.send(Uint8Array.of(byte), { binary: false })
}

/** The firmware's login, then an echo of every text frame. */
const firmwareLogin = (socket: WebSocket, frames: Frame[]) => {
  sendByteFrames(socket, PROMPT)
  let typed = ""
  let loggedIn = false
  socket.on("message", (data) => {
    const bytes = new Uint8Array(data as Buffer)
    if (loggedIn) return socket.send(bytes, { binary: false })
    typed += new TextDecoder().decode(bytes)
    const end = typed.search(/[\r\n]/)
    if (end < 0) return
    if (typed.slice(0, end) !== PASSWORD) {
      socket.send(encode(DENIED), { binary: false }, () => socket.terminate())
      return
    }
    loggedIn = true
    sendByteFrames(socket, CONNECTED)
  })
  void frames
}

const run = <A, E>(effect: Effect.Effect<A, E, import("effect").Scope.Scope>) =>
  Effect.runPromiseExit(Effect.scoped(effect))

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => {
  if (!Exit.isFailure(exit)) throw new Error("expected a failure")
  const error = Cause.squash(exit.cause) as { _tag: string; message: string; kind?: string }
  return error
}

describe("webReplTarget", () => {
  it("fills in the firmware's port and drops the query and any password", () => {
    expect(webReplTarget("ws://192.168.4.1")).toEqual({
      url: "ws://192.168.4.1:8266/",
      description: "ws://192.168.4.1:8266",
    })
    expect(webReplTarget("ws://board.local:9000/?password=hunter2").description).toBe("ws://board.local:9000")
    expect(webReplTarget("wss://u:pw@proxy.example/repl").description).toBe("wss://proxy.example:443/repl")
    expect(() => webReplTarget("http://x")).toThrow(/ws:\/\//)
  })
})

describe("LoginReader", () => {
  it("sees the prompt once, fed one byte at a time", () => {
    const reader = new LoginReader()
    const steps = [...encode(PROMPT)].map((byte) => reader.feed(Uint8Array.of(byte))._tag)
    expect(steps).toEqual([...Array(PROMPT.length - 1).fill("waiting"), "prompt"])
    expect(reader.feed(encode("\r\n"))._tag).toBe("waiting")
  })

  it("finds the answer however it is split, and keeps what follows it", () => {
    const text = `${CONNECTED}print`
    for (let cut = 0; cut <= text.length; cut++) {
      const reader = new LoginReader()
      reader.feed(encode(PROMPT))
      const first = reader.feed(encode(text.slice(0, cut)))
      const step = first._tag === "connected" ? first : reader.feed(encode(text.slice(cut)))
      // The answer ends before the REPL's `>>> `; what arrived with it (all of it, or up to the cut) follows.
      const answerEnd = CONNECTED.length - ">>> ".length
      const expected = text.slice(answerEnd, cut >= answerEnd ? cut : undefined)
      expect(step._tag === "connected" && new TextDecoder().decode(step.rest)).toBe(expected)
    }
  })

  it("sees a refusal", () => {
    const reader = new LoginReader()
    reader.feed(encode(PROMPT))
    expect(reader.feed(encode(DENIED))._tag).toBe("denied")
  })
})

describe("openWebReplLink", () => {
  it("logs in with frames split at every byte, then carries the REPL's bytes in text frames unchanged", async () => {
    const { url, frames } = await serve(firmwareLogin)
    // Every byte value, Ctrl-C and the raw REPL's control bytes included, and more than one frame's worth.
    const payload = new Uint8Array(MAX_FRAME_BYTES * 2 + 17).map((_, i) => i % 256)
    const exit = await run(
      Effect.gen(function* () {
        const link = yield* openWebReplLink({ url, password: Redacted.make(PASSWORD) })
        expect(link.description).toBe(url)
        yield* link.write(payload)
        const echoed = yield* link.received.pipe(
          Stream.scan(
            () => [] as number[],
            (acc, chunk) => {
              acc.push(...chunk)
              return acc
            },
          ),
          Stream.takeUntil((acc) => acc.length >= 4 + payload.length),
          Stream.runLast,
        )
        return Uint8Array.from(echoed._tag === "Some" ? echoed.value : [])
      }),
    )
    if (Exit.isFailure(exit)) throw Cause.squash(exit.cause)
    const received = Exit.isSuccess(exit) ? exit.value : new Uint8Array(0)
    // The prompt the firmware prints after the login answer, then the echo.
    expect(new TextDecoder().decode(received.subarray(0, 4))).toBe(">>> ")
    expect(received.subarray(4)).toEqual(payload)
    const [login, ...rest] = frames
    expect(login).toEqual({ bytes: encode(`${PASSWORD}\r`), binary: false })
    expect(rest.every((f) => !f.binary && f.bytes.length <= MAX_FRAME_BYTES)).toBe(true)
    expect(rest.length).toBe(3)
  })

  it("reads the board's text frames as bytes, also when they are not UTF-8", async () => {
    const { url } = await serve((socket) => {
      socket.send(encode(`${PROMPT}`), { binary: false })
      socket.once("message", () => {
        socket.send(encode(CONNECTED), { binary: false })
        // Half of a two-byte character, then its other half, as a board's two writes.
        socket.send(Uint8Array.of(0xc3), { binary: false })
        socket.send(Uint8Array.of(0xa9, 0xff), { binary: false })
      })
    })
    const exit = await run(
      Effect.gen(function* () {
        const link = yield* openWebReplLink({ url, password: Redacted.make(PASSWORD) })
        const chunks = yield* link.received.pipe(Stream.take(3), Stream.runCollect)
        return chunks.flatMap((c) => [...c])
      }),
    )
    expect(Exit.isSuccess(exit) && exit.value.slice(-3)).toEqual([0xc3, 0xa9, 0xff])
  })

  it("a wrong password is a WebReplLoginError that says what to do and never shows the password", async () => {
    const { url } = await serve(firmwareLogin)
    const error = failureOf(await run(openWebReplLink({ url, password: Redacted.make("wrong-pw") })))
    expect(error._tag).toBe("WebReplLoginError")
    expect(error.kind).toBe("wrong-password")
    expect(error.message).toMatch(/BELAY_WEBREPL_PASSWORD/)
    expect(error.message).not.toContain("wrong-pw")
    expect(JSON.stringify(error)).not.toContain("wrong-pw")
  })

  it("no password for a board that asks for one fails before anything is sent", async () => {
    const { url, frames } = await serve(firmwareLogin)
    const error = failureOf(await run(openWebReplLink({ url })))
    expect(error._tag).toBe("WebReplLoginError")
    expect(error.kind).toBe("missing-password")
    expect(frames).toEqual([])
  })

  it("a board dropping the connection right after the handshake (another client is connected) is a LinkOpenError saying so", async () => {
    const { url } = await serve((socket) => socket.terminate())
    const error = failureOf(await run(openWebReplLink({ url, password: Redacted.make(PASSWORD) })))
    expect(error._tag).toBe("LinkOpenError")
    expect(error.message).toMatch(/another WebREPL client/)
  })

  it("a board closing after the password, without an answer, is a LinkOpenError", async () => {
    const { url } = await serve((socket) => {
      socket.send(encode(PROMPT), { binary: false })
      socket.once("message", () => socket.close(1011, "going away"))
    })
    const error = failureOf(await run(openWebReplLink({ url, password: Redacted.make(PASSWORD) })))
    expect(error._tag).toBe("LinkOpenError")
    expect(error.message).toMatch(/after the password was sent/)
    expect(error.message).not.toContain(PASSWORD)
  })

  it("a server that never logs the client in fails once the login bound has passed", async () => {
    const { url } = await serve(() => {})
    const error = failureOf(
      await run(openWebReplLink({ url, password: Redacted.make(PASSWORD), loginTimeoutMs: 100 })),
    )
    expect(error._tag).toBe("LinkOpenError")
    expect(error.message).toMatch(/no WebREPL login/)
  })

  it("a server that takes the connection and never answers the handshake fails once the connect bound has passed", async () => {
    const held: net.Socket[] = []
    const silent = net.createServer((socket) => held.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", () => resolve()))
    try {
      const port = (silent.address() as AddressInfo).port
      const error = failureOf(
        await run(
          openWebReplLink({
            url: `ws://127.0.0.1:${port}`,
            password: Redacted.make(PASSWORD),
            connectTimeoutMs: 100,
          }),
        ),
      )
      expect(error._tag).toBe("LinkOpenError")
      expect(error.message).toMatch(/no WebSocket answer within 100 ms/)
    } finally {
      for (const socket of held) socket.destroy()
      await new Promise<void>((resolve) => silent.close(() => resolve()))
    }
  })

  it("a refused connection is a LinkOpenError that names WebREPL", async () => {
    const { url } = await serve(() => {})
    await new Promise<void>((resolve) => servers.pop()?.close(() => resolve()))
    const error = failureOf(await run(openWebReplLink({ url, password: Redacted.make(PASSWORD) })))
    expect(error._tag).toBe("LinkOpenError")
    expect(error.message).toMatch(/refused.*WebREPL/)
  })

  it("the connection dropping once logged in fails `received` with LinkLostError, and writes fail after", async () => {
    let client: WebSocket | undefined
    const { url } = await serve((socket, frames) => {
      client = socket
      firmwareLogin(socket, frames)
    })
    const exit = await run(
      Effect.gen(function* () {
        const link = yield* openWebReplLink({ url, password: Redacted.make(PASSWORD) })
        client?.terminate()
        const ended = yield* Effect.exit(Stream.runDrain(link.received))
        const write = yield* Effect.exit(link.write(encode("x")))
        return { ended, write, open: yield* link.isOpen }
      }),
    )
    expect(Exit.isSuccess(exit)).toBe(true)
    if (!Exit.isSuccess(exit)) return
    expect(failureOf(exit.value.ended)._tag).toBe("LinkLostError")
    expect(failureOf(exit.value.write)._tag).toBe("LinkLostError")
    expect(exit.value.open).toBe(false)
  })
})

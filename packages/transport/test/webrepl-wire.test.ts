/**
 * The WebREPL wire that the Node and browser links share, driven byte by byte without a socket:
 * the login split at every byte, the password as sent, refusals, closes at each point, the order
 * of what follows the login answer, frames cut at MAX_FRAME_BYTES, and binary frames routed to
 * their taker. Then the browser link itself over a real WebSocket server, with `ws`'s client in
 * the browser's place (it hands text frames over as strings, as a browser does).
 */
import type { AddressInfo } from "node:net"
import { Cause, Effect, Exit, Fiber, Redacted, Stream } from "effect"
import fc from "fast-check"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket, { WebSocketServer } from "ws"
import { makeDeviceCommunication, TextOnlyLinkKey } from "../src/index.js"
import { openBrowserWebReplLink } from "../src/webrepl/browser.js"
import { type FrameSender, MAX_FRAME_BYTES, makeWebReplWire } from "../src/webrepl/WebReplWire.js"

const encode = (text: string) => new TextEncoder().encode(text)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const LOGIN = "Password: "
const CONNECTED = "\r\nWebREPL connected\r\n>>> "

/** A sender that records frames and answers at once. */
const recorder = () => {
  const sent: Array<{ text: string; binary: boolean; length: number }> = []
  let open = true
  const sender: FrameSender = {
    send: (bytes, binary, done) => {
      sent.push({ text: decode(bytes), binary, length: bytes.length })
      done()
    },
    isOpen: () => open,
  }
  return { sender, sent, close: () => (open = false) }
}

const failureOf = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit)
    ? (Cause.squash(exit.cause) as { _tag: string; kind?: string; reason?: string })
    : undefined

describe("the WebREPL wire (shared by the Node and browser links)", () => {
  it("logs in however the board's bytes are split, sends the password once, then the REPL's bytes in order (property)", async () => {
    const board = encode(`${LOGIN}${CONNECTED}`)
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: board.length - 1 }), { maxLength: 6 }),
        async (cuts) => {
          // The board answers only after the password: a cut at the prompt's end always.
          const edges = [...new Set([0, LOGIN.length, ...cuts, board.length])].sort((a, b) => a - b)
          const { sender, sent } = recorder()
          const out = await Effect.runPromise(
            Effect.gen(function* () {
              const wire = yield* makeWebReplWire("ws://board:8266")
              const login = yield* Effect.forkChild(wire.login(sender, Redacted.make("pw123"), 1000), {
                startImmediately: true,
              })
              for (let i = 0; i + 1 < edges.length; i++) {
                if (edges[i] === LOGIN.length) expect(sent.map((f) => f.text)).toEqual(["pw123\r"])
                wire.message(board.subarray(edges[i], edges[i + 1]), false)
              }
              // A frame right after the answer comes after the answer's own tail (the prompt).
              wire.message(encode("more"), false)
              const link = yield* Fiber.join(login)
              return yield* link.received.pipe(
                Stream.map(decode),
                Stream.scan(
                  () => "",
                  (a, b) => a + b,
                ),
                Stream.takeUntil((s) => s.length >= ">>> more".length),
                Stream.runLast,
              )
            }),
          )
          expect(out._tag === "Some" && out.value).toBe(">>> more")
          expect(sent).toEqual([{ text: "pw123\r", binary: false, length: 6 }])
        },
      ),
      { numRuns: 60 },
    )
  })

  it("a missing password, a refused one, a close before or after the password: typed errors", async () => {
    const run = (password: string | undefined, board: ReadonlyArray<string>, closeWith?: string) =>
      Effect.runPromise(
        Effect.exit(
          Effect.gen(function* () {
            const wire = yield* makeWebReplWire("ws://board:8266")
            const login = yield* Effect.forkChild(
              wire.login(
                recorder().sender,
                password === undefined ? undefined : Redacted.make(password),
                1000,
              ),
              { startImmediately: true },
            )
            for (const text of board) wire.message(encode(text), false)
            if (closeWith !== undefined) wire.closed(closeWith)
            return yield* Fiber.join(login)
          }),
        ),
      )
    expect(failureOf(await run(undefined, [LOGIN]))).toMatchObject({
      _tag: "WebReplLoginError",
      kind: "missing-password",
    })
    expect(failureOf(await run("x", [LOGIN, "\r\nAccess denied\r\n"]))).toMatchObject({
      _tag: "WebReplLoginError",
      kind: "wrong-password",
    })
    expect(failureOf(await run("x", [], "the board closed the connection"))?.reason).toMatch(
      /another WebREPL client/,
    )
    expect(failureOf(await run("x", [LOGIN], "the board closed the connection"))?.reason).toMatch(
      /after the password was sent/,
    )
    const silent = await Effect.runPromise(
      Effect.exit(
        Effect.flatMap(makeWebReplWire("ws://board:8266"), (wire) =>
          wire.login(recorder().sender, undefined, 20),
        ),
      ),
    )
    expect(failureOf(silent)?.reason).toMatch(/no WebREPL login from the board within 20 ms/)
  })

  it("cuts writes into frames of at most MAX_FRAME_BYTES, text for the REPL and binary for files", async () => {
    const { sender, sent } = recorder()
    await Effect.runPromise(
      Effect.gen(function* () {
        const wire = yield* makeWebReplWire("ws://board:8266")
        const login = yield* Effect.forkChild(wire.login(sender, undefined, 1000), { startImmediately: true })
        wire.message(encode(CONNECTED), false)
        const link = yield* Fiber.join(login)
        yield* link.write(new Uint8Array(MAX_FRAME_BYTES * 2 + 1).fill(65))
        yield* link.writeBinary(new Uint8Array(10))
      }),
    )
    expect(sent.map((f) => [f.length, f.binary])).toEqual([
      [MAX_FRAME_BYTES, false],
      [MAX_FRAME_BYTES, false],
      [1, false],
      [10, true],
    ])
  })

  it("binary frames go to their taker; a close after the login fails received and tells the taker", async () => {
    const { sender } = recorder()
    const binary: Uint8Array[] = []
    const ended: string[] = []
    const exit = await Effect.runPromise(
      Effect.gen(function* () {
        const wire = yield* makeWebReplWire("ws://board:8266")
        const login = yield* Effect.forkChild(wire.login(sender, undefined, 1000), { startImmediately: true })
        wire.message(encode(CONNECTED), false)
        const link = yield* Fiber.join(login)
        link.onBinary({ bytes: (b) => binary.push(b), ended: (e) => ended.push(e._tag) })
        wire.message(encode("WB\x00\x00"), true)
        wire.closed("the board closed the connection")
        return yield* Effect.exit(Stream.runDrain(link.received))
      }),
    )
    expect(binary.map(decode)).toEqual(["WB\x00\x00"])
    expect(ended).toEqual(["LinkLostError"])
    expect(failureOf(exit)?._tag).toBe("LinkLostError")
  })
})

const servers: WebSocketServer[] = []
afterEach(async () => {
  for (const wss of servers.splice(0)) {
    for (const client of wss.clients) client.terminate()
    await new Promise<void>((resolve) => wss.close(() => resolve()))
  }
})

/** The firmware's login and an echo of the REPL's bytes, as raw frames. */
const serveBoard = async (after?: (socket: WebSocket) => void) => {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, skipUTF8Validation: true })
  servers.push(wss)
  const received: Array<{ bytes: Uint8Array; binary: boolean }> = []
  wss.on("connection", (socket) => {
    socket.send(encode(LOGIN), { binary: false })
    let loggedIn = false
    socket.on("message", (data, binary) => {
      const bytes = new Uint8Array(data as Buffer)
      received.push({ bytes, binary })
      if (!loggedIn) {
        loggedIn = true
        socket.send(encode(decode(bytes) === "pw123\r" ? CONNECTED : "\r\nAccess denied\r\n"), {
          binary: false,
        })
        after?.(socket)
        return
      }
      socket.send(bytes, { binary })
    })
  })
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()))
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, received }
}

const BrowserLikeWebSocket = WebSocket as unknown as NonNullable<
  Parameters<typeof openBrowserWebReplLink>[0]["WebSocket"]
>

describe("openBrowserWebReplLink (a browser's WebSocket API)", () => {
  it("logs in, sends UTF-8 text in text frames, and reads the board's text back as bytes", async () => {
    const board = await serveBoard()
    const echoed = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openBrowserWebReplLink({
            url: board.url,
            password: Redacted.make("pw123"),
            WebSocket: BrowserLikeWebSocket,
          })
          yield* link.write(encode("print('é')\r"))
          return yield* link.received.pipe(
            Stream.map(decode),
            Stream.scan(
              () => "",
              (a, b) => a + b,
            ),
            Stream.takeUntil((s) => s.endsWith("\r")),
            Stream.runLast,
          )
        }),
      ),
    )
    expect(echoed._tag === "Some" && echoed.value).toBe(">>> print('é')\r")
    expect(board.received.map((f) => [decode(f.bytes), f.binary])).toEqual([
      ["pw123\r", false],
      ["print('é')\r", false],
    ])
  })

  it("is text-only, and its connection says so (TextOnlyLinkKey); the Node wire is not", async () => {
    const board = await serveBoard()
    const seen = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openBrowserWebReplLink({
            url: board.url,
            password: Redacted.make("pw123"),
            WebSocket: BrowserLikeWebSocket,
          })
          const device = yield* makeDeviceCommunication(link)
          return { textOnly: link.textOnly, inState: device.connectionState.getOrUndefined(TextOnlyLinkKey) }
        }),
      ),
    )
    expect(seen.textOnly).toBe(true)
    expect(seen.inState).toBe(true)
    const node = await Effect.runPromise(
      Effect.gen(function* () {
        const wire = yield* makeWebReplWire("ws://node")
        const { sender } = recorder()
        const login = yield* Effect.forkChild(wire.login(sender, Redacted.make("pw"), 1000), {
          startImmediately: true,
        })
        wire.message(encode(LOGIN), false)
        wire.message(encode(CONNECTED), false)
        return yield* Fiber.join(login)
      }),
    )
    expect(node.textOnly).toBeUndefined()
  })

  it("a character split between two writes arrives whole", async () => {
    const board = await serveBoard()
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openBrowserWebReplLink({
            url: board.url,
            password: Redacted.make("pw123"),
            WebSocket: BrowserLikeWebSocket,
          })
          const e = encode("é")
          yield* link.write(e.subarray(0, 1))
          yield* link.write(e.subarray(1))
          yield* link.write(encode("!"))
          yield* Effect.sleep(50)
        }),
      ),
    )
    expect(
      board.received
        .slice(1)
        .map((f) => decode(f.bytes))
        .join(""),
    ).toBe("é!")
  })

  it("a wrong password, a refused connection: typed errors; a board that goes away: LinkLostError", async () => {
    const board = await serveBoard((socket) => setTimeout(() => socket.terminate(), 20))
    const wrong = await Effect.runPromise(
      Effect.exit(
        Effect.scoped(
          openBrowserWebReplLink({
            url: board.url,
            password: Redacted.make("nope"),
            WebSocket: BrowserLikeWebSocket,
          }),
        ),
      ),
    )
    expect(failureOf(wrong)).toMatchObject({ _tag: "WebReplLoginError", kind: "wrong-password" })

    const refused = await Effect.runPromise(
      Effect.exit(
        Effect.scoped(openBrowserWebReplLink({ url: "ws://127.0.0.1:1", WebSocket: BrowserLikeWebSocket })),
      ),
    )
    expect(failureOf(refused)?._tag).toBe("LinkOpenError")

    const lost = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openBrowserWebReplLink({
            url: board.url,
            password: Redacted.make("pw123"),
            WebSocket: BrowserLikeWebSocket,
          })
          return yield* Effect.exit(Stream.runDrain(link.received))
        }),
      ),
    )
    expect(failureOf(lost)?._tag).toBe("LinkLostError")
  })
})

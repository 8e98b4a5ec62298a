/**
 * The virtual board's WebREPL server, as the firmware serves it, through the transport's WebREPL
 * link and its file operations: the raw REPL and raw-paste over text frames, `WA` put/get/version
 * on the board's flash (seen by the code that runs next), a name the firmware cannot open, the
 * typed password as the firmware keeps it, and one client at a time.
 */
import { BoardLink, DeviceCommunication } from "@belay/transport"
import {
  openWebReplLink,
  type WebReplLink,
  webReplGetFile,
  webReplPutFile,
  webReplVersion,
} from "@belay/transport/webrepl"
import { Cause, Effect, Exit, Layer, Redacted, type Scope, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { VirtualBoard } from "../src/VirtualBoard.js"
import { serveWebRepl, type WebReplServer } from "../src/webReplServer.js"

const PASSWORD = "secret123"
let board: VirtualBoard
let server: WebReplServer
let url: string

beforeAll(async () => {
  board = await VirtualBoard.open({}, { onOutput: (bytes) => server?.output(bytes) })
  server = await serveWebRepl(board, { host: "127.0.0.1", port: 0, password: PASSWORD, version: "1.27.0" })
  url = `ws://127.0.0.1:${server.port}`
})
afterAll(async () => {
  await server?.close()
  await board?.close()
})

/** Type `password` at the prompt with a plain WebSocket client; everything the server sent until it answered. */
const typePassword = (address: string, password: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = new WebSocket(address, { skipUTF8Validation: true })
    let seen = ""
    socket.on("message", (data) => {
      seen += String(data)
      if (seen.endsWith("Password: ")) socket.send(Buffer.from(`${password}\r`), { binary: false })
      if (/Access denied|WebREPL connected/.test(seen)) {
        socket.terminate()
        resolve(seen)
      }
    })
    socket.on("error", reject)
  })

const open = () => openWebReplLink({ url, password: Redacted.make(PASSWORD) })

/** Run `body` with the protocol engine on a WebREPL link, and the link itself. */
const onBoard = <A, E>(body: (link: WebReplLink) => Effect.Effect<A, E, DeviceCommunication>) =>
  Effect.runPromiseExit(
    Effect.gen(function* () {
      const link = (yield* BoardLink) as WebReplLink
      return yield* body(link)
    }).pipe(Effect.provide(DeviceCommunication.layer().pipe(Layer.provideMerge(BoardLink.layer(open()))))),
  )

const value = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) throw Cause.squash(exit.cause)
  return exit.value
}

describe("the virtual board's WebREPL", { timeout: 60_000 }, () => {
  it("runs code through the raw REPL and raw-paste over text frames, Ctrl-C included", async () => {
    const result = value(
      await onBoard(() =>
        Effect.gen(function* () {
          const device = yield* DeviceCommunication
          const small = yield* device.exec("print(6 * 7)")
          // Longer than a raw-paste window, with bytes that are not ASCII.
          const big = yield* device.exec(`s = ${JSON.stringify("é".repeat(2000))}\nprint(len(s))`)
          const interrupted = yield* Effect.exit(device.exec("while True: pass", { timeout: "300 millis" }))
          const after = yield* device.exec("print('still here')")
          return { small, big, interrupted, after }
        }),
      ),
    )
    expect(result.small.trim()).toBe("42")
    expect(result.big.trim()).toBe("2000")
    expect(Exit.isFailure(result.interrupted)).toBe(true)
    expect(result.after.trim()).toBe("still here")
  })

  it("WA put, get and version: on the flash, seen by the code that runs next", async () => {
    const data = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256)
    const result = value(
      await onBoard((link) =>
        Effect.gen(function* () {
          const device = yield* DeviceCommunication
          const version = yield* webReplVersion(link)
          yield* webReplPutFile(link, "/wa.bin", data)
          const size = yield* device.exec("import os\nprint(os.stat('/wa.bin')[6])")
          yield* device.exec("open('/from_code.txt', 'w').write('written by code')")
          const back = yield* webReplGetFile(link, "/wa.bin")
          const fromCode = yield* webReplGetFile(link, "from_code.txt")
          yield* webReplPutFile(link, "/empty.txt", new Uint8Array(0))
          const empty = yield* webReplGetFile(link, "/empty.txt")
          return { version, size, back, fromCode, empty }
        }),
      ),
    )
    expect(result.version).toEqual([1, 27, 0])
    expect(result.size.trim()).toBe("70000")
    expect(result.back).toEqual(data)
    expect(new TextDecoder().decode(result.fromCode)).toBe("written by code")
    expect(result.empty.length).toBe(0)
    expect(board.files().get("/wa.bin")).toEqual(data)
  })

  it("a name the firmware cannot open drops the connection, as the firmware does", async () => {
    const exit = await Effect.runPromiseExit(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* open()
          return yield* webReplPutFile(link, "/no/such/folder/x.txt", Uint8Array.of(1))
        }),
      ),
    )
    expect(Exit.isFailure(exit) && (Cause.squash(exit.cause) as { _tag: string })._tag).toBe("LinkLostError")
    const missing = await Effect.runPromiseExit(
      Effect.scoped(Effect.flatMap(open(), (link) => webReplGetFile(link, "/missing.txt"))),
    )
    expect(Exit.isFailure(missing) && (Cause.squash(missing.cause) as { _tag: string })._tag).toBe(
      "LinkLostError",
    )
  })

  it("refuses a typed password that starts with the right one (the firmware keeps 10 characters, not 9)", async () => {
    // The right password followed by more: the firmware keeps 10 characters, so this one is refused.
    const longer = await typePassword(url, `${PASSWORD}xyz`)
    expect(longer).toContain("Access denied")
    const right = await typePassword(url, PASSWORD)
    expect(right).toContain("WebREPL connected")
  })

  it("one client at a time: a second one is dropped after the handshake, and the first is told", async () => {
    const exit = await Effect.runPromiseExit(
      Effect.scoped(
        Effect.gen(function* () {
          const first = yield* open()
          const second = yield* Effect.exit(Effect.scoped(open()))
          const told = yield* first.received.pipe(
            Stream.map((b) => new TextDecoder().decode(b)),
            Stream.scan(
              () => "",
              (a, b) => a + b,
            ),
            Stream.takeUntil((text) => text.includes("rejected")),
            Stream.runLast,
          )
          return { second, told }
        }) as Effect.Effect<{ second: Exit.Exit<unknown, unknown>; told: unknown }, unknown, Scope.Scope>,
      ),
    )
    const result = value(exit)
    expect(Exit.isFailure(result.second)).toBe(true)
    expect(String((result.told as { value: string }).value)).toMatch(
      /\r\nConcurrent WebREPL connection from \('127\.0\.0\.1', \d+\) rejected\r\n/,
    )
  })
})

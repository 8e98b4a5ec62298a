/**
 * The lent link: its token line, read byte by byte as a connection's first bytes arrive, and the
 * runner's relay between a connection and a board's terminal (a stand-in terminal here).
 */
import { connect } from "node:net"
import type { TerminalSession } from "@belay/transport"
import { Deferred, Effect, Fiber, Stream } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { newLendToken, readTokenLine, serveLentLink, tokenLine } from "../src/BoardLending.js"

describe("a lent link's token line", () => {
  it("is 32 hex digits and a line feed, new each time", () => {
    const a = newLendToken()
    expect(a).toMatch(/^[0-9a-f]{32}$/)
    expect(newLendToken()).not.toBe(a)
    expect(new TextDecoder().decode(tokenLine(a))).toBe(`${a}\n`)
  })

  it("waits for more on any prefix of the line, and accepts it whole with what came after", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 33 }), (after, cut) => {
        const token = newLendToken()
        const line = tokenLine(token)
        expect(readTokenLine(line.subarray(0, Math.min(cut, 32)), token)).toEqual({ kind: "more" })
        const whole = readTokenLine(new Uint8Array([...line, ...after]), token)
        expect(whole).toEqual({ kind: "accepted", rest: new Uint8Array(after) })
      }),
    )
  })

  it("refuses as soon as one byte differs from the line", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 32 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const token = newLendToken()
        const sent = new Uint8Array(tokenLine(token))
        sent[at] = (sent[at] as number) ^ flip
        expect(readTokenLine(sent.subarray(0, at + 1), token)).toEqual({ kind: "refused" })
        expect(readTokenLine(sent, token)).toEqual({ kind: "refused" })
      }),
    )
  })
})

/**
 * Serve a lent link over `terminal`, connect a client that sends the token then `send`, let
 * `client` act on its socket, and give how the lend ended and what reached the terminal.
 */
const lend = (
  output: TerminalSession["output"],
  send: string,
  client: (socket: ReturnType<typeof connect>) => void,
) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const typed: Array<number> = []
        const terminal: TerminalSession = {
          write: (bytes) => Effect.sync(() => typed.push(...bytes)),
          output,
        }
        const token = newLendToken()
        const ready = yield* Deferred.make<number, Error>()
        const serving = yield* Effect.forkChild(
          serveLentLink(terminal, { listenHost: "127.0.0.1", token, ready }),
        )
        const socket = connect(yield* Deferred.await(ready), "127.0.0.1")
        socket.on("error", () => {})
        socket.write(Buffer.concat([tokenLine(token), Buffer.from(send)]))
        client(socket)
        const how = yield* Fiber.join(serving)
        socket.destroy()
        return { how, typed: new TextDecoder().decode(Uint8Array.from(typed)) }
      }),
    ),
  )

describe("a lent link's relay", () => {
  it("passes the client's bytes to the board in order and ends when the client closes", async () => {
    const { how, typed } = await lend(Stream.never, "print(1)\r", (socket) => {
      socket.write("print(2)\r")
      setTimeout(() => socket.end(), 200)
    })
    expect(how).toBe("the client closed the link")
    expect(typed).toBe("print(1)\rprint(2)\r")
  })

  it("ends when the board's output ends (its link was lost)", async () => {
    const { how } = await lend(Stream.make(new TextEncoder().encode(">>> ")), "", () => {})
    expect(how).toBe("the board's link ended")
  })

  it("ends a lend whose client leaves 8 MiB of the board's output unread: the runner holds no more for it", async () => {
    const chunk = new Uint8Array(64 * 1024).fill(120)
    const flood = Stream.forever(Stream.make(chunk))
    const { how } = await lend(flood, "", (socket) => socket.pause())
    expect(how).toBe("the client left 8 MiB unread")
  })
})

/**
 * The firmware's WebREPL file operations, byte by byte, against a server of the test's own that
 * answers as `extmod/modwebrepl.c` does: the request header's layout, answers split across
 * frames, a status that is not 0, and a name the header cannot hold.
 */
import type { AddressInfo } from "node:net"
import { Cause, Effect, Exit, Redacted } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { type WebSocket, WebSocketServer } from "ws"
import {
  fitsWebReplHeader,
  openWebReplLink,
  webReplGetFile,
  webReplPutFile,
  webReplVersion,
} from "../src/webrepl/index.js"

const encode = (text: string) => new TextEncoder().encode(text)
const PASSWORD = "pw"
const servers: WebSocketServer[] = []

afterEach(async () => {
  for (const wss of servers.splice(0)) {
    for (const client of wss.clients) client.terminate()
    await new Promise<void>((resolve) => wss.close(() => resolve()))
  }
})

/** Log in as the firmware does, then hand every binary frame's bytes to `onBinary`. */
const serve = async (onBinary: (socket: WebSocket, bytes: Uint8Array) => void) => {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
  servers.push(wss)
  wss.on("connection", (socket) => {
    socket.send(encode("Password: "), { binary: false })
    let loggedIn = false
    socket.on("message", (data, binary) => {
      const bytes = new Uint8Array(data as Buffer)
      if (!loggedIn) {
        loggedIn = true
        socket.send(encode("\r\nWebREPL connected\r\n>>> "), { binary: false })
      } else if (binary) onBinary(socket, bytes)
    })
  })
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()))
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`
}

/** Send `bytes` one byte per binary frame. */
const sendSplit = (socket: WebSocket, bytes: ReadonlyArray<number>) => {
  for (const byte of bytes) socket.send(Uint8Array.of(byte), { binary: true })
}

const onLink = <A, E>(
  url: string,
  body: (link: import("../src/webrepl/index.js").WebReplLink) => Effect.Effect<A, E>,
) =>
  Effect.runPromiseExit(
    Effect.scoped(Effect.flatMap(openWebReplLink({ url, password: Redacted.make(PASSWORD) }), body)),
  )

const OK = [0x57, 0x42, 0, 0]

describe("WebREPL file operations", () => {
  it("put sends the firmware's 82-byte header, then the data, and waits for both statuses", async () => {
    const received: number[] = []
    const url = await serve((socket, bytes) => {
      const before = received.length
      received.push(...bytes)
      if (before < 82 && received.length >= 82) sendSplit(socket, OK)
      if (received.length === 82 + 5) sendSplit(socket, OK)
    })
    const exit = await onLink(url, (link) => webReplPutFile(link, "/lib/é.py", encode("hello")))
    expect(Exit.isSuccess(exit)).toBe(true)
    const header = Uint8Array.from(received.slice(0, 82))
    const view = new DataView(header.buffer)
    const name = encode("/lib/é.py")
    expect([...header.subarray(0, 4)]).toEqual([0x57, 0x41, 1, 0]) // "WA", put, flags
    expect(view.getBigUint64(4, true)).toBe(0n) // offset
    expect(view.getUint32(12, true)).toBe(5) // size
    expect(view.getUint16(16, true)).toBe(name.length)
    expect(header.subarray(18, 18 + name.length)).toEqual(name)
    expect(header.subarray(18 + name.length).every((b) => b === 0)).toBe(true)
    expect(received.slice(82)).toEqual([...encode("hello")])
  })

  it("get asks chunk by chunk and joins chunks whose bytes arrive split across frames", async () => {
    const content = Uint8Array.from({ length: 600 }, (_, i) => i % 251)
    let header = 0
    let at = 0
    const url = await serve((socket, bytes) => {
      for (const _ of bytes) {
        if (header < 82) {
          if (++header === 82) sendSplit(socket, OK)
          continue
        }
        const chunk = content.subarray(at, at + 256)
        at += chunk.length
        sendSplit(socket, [chunk.length & 0xff, chunk.length >> 8, ...chunk])
        if (chunk.length === 0) sendSplit(socket, OK)
      }
    })
    const exit = await onLink(url, (link) => webReplGetFile(link, "/data.bin"))
    expect(Exit.isSuccess(exit) && exit.value).toEqual(content)
  })

  it("version reads the three bytes the firmware answers", async () => {
    const url = await serve((socket, bytes) => {
      if (bytes[2] === 3) sendSplit(socket, [1, 24, 1])
    })
    const exit = await onLink(url, (link) => webReplVersion(link))
    expect(Exit.isSuccess(exit) && exit.value).toEqual([1, 24, 1])
  })

  it("a status that is not 0 is a WebReplFileError", async () => {
    const url = await serve((socket) => sendSplit(socket, [0x57, 0x42, 1, 0]))
    const exit = await onLink(url, (link) => webReplPutFile(link, "/x", encode("x")))
    const error = Exit.isFailure(exit)
      ? (Cause.squash(exit.cause) as { _tag: string; message: string })
      : undefined
    expect(error?._tag).toBe("WebReplFileError")
    expect(error?.message).toMatch(/status 1/)
  })

  it("the server dropping the connection mid-operation is a LinkLostError", async () => {
    const url = await serve((socket) => socket.terminate())
    const exit = await onLink(url, (link) => webReplGetFile(link, "/missing"))
    expect(Exit.isFailure(exit) && (Cause.squash(exit.cause) as { _tag: string })._tag).toBe("LinkLostError")
  })

  it("a name longer than the header's 63 bytes is refused before anything is sent", async () => {
    let sent = 0
    const url = await serve((_socket, bytes) => {
      sent += bytes.length
    })
    expect(fitsWebReplHeader(`/${"a".repeat(62)}`)).toBe(true)
    expect(fitsWebReplHeader(`/${"a".repeat(63)}`)).toBe(false)
    const exit = await onLink(url, (link) => webReplPutFile(link, `/${"a".repeat(63)}`, encode("x")))
    expect(Exit.isFailure(exit) && (Cause.squash(exit.cause) as { _tag: string })._tag).toBe(
      "WebReplFileError",
    )
    expect(sent).toBe(0)
  })
})

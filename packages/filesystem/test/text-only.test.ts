/**
 * Over a text-only link (a browser's WebREPL: its text frames must be UTF-8) the file operations
 * make the board print nothing but ASCII, and send it nothing but ASCII: run on the virtual board
 * through a link that breaks, as the browser does, on the first chunk that is not UTF-8.
 */
import { makeDeviceSessionManager } from "@belay/core"
import { type ByteLink, LinkLostError, makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { boardFileSystem } from "../src/index.js"
import { run } from "./fixtures.js"

/** What crossed the link: the largest byte each way. */
interface Traffic {
  maxReceived: number
  maxSent: number
}

/** `inner` as a link that fails like a browser's WebSocket on a received chunk that is not UTF-8. */
const browserLike = (inner: ByteLink, textOnly: boolean, traffic: Traffic): ByteLink => {
  const decoder = new TextDecoder("utf-8", { fatal: true })
  return {
    description: inner.description,
    isOpen: inner.isOpen,
    ...(textOnly ? { textOnly } : {}),
    write: (bytes) =>
      Effect.suspend(() => {
        for (const b of bytes) traffic.maxSent = Math.max(traffic.maxSent, b)
        return inner.write(bytes)
      }),
    received: inner.received.pipe(
      Stream.mapEffect((chunk) =>
        Effect.suspend(() => {
          for (const b of chunk) traffic.maxReceived = Math.max(traffic.maxReceived, b)
          if (!textOnly) return Effect.succeed(chunk)
          try {
            decoder.decode(chunk, { stream: true })
            return Effect.succeed(chunk)
          } catch (cause) {
            return Effect.fail(
              new LinkLostError({ link: inner.description, reason: "a text frame was not UTF-8", cause }),
            )
          }
        }),
      ),
    ),
  }
}

/** Every byte value, several times over, in a file larger than one download piece. */
const content = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff)

/** Write, read back, hash, list, stat, download and remove a binary file; the bytes read back. */
const fileOperations = (textOnly: boolean, traffic: Traffic) =>
  run(
    Effect.gen(function* () {
      const board = yield* openVirtualBoard({})
      const device = yield* makeDeviceCommunication(browserLike(board, textOnly, traffic))
      const manager = yield* makeDeviceSessionManager(device)
      const session = yield* manager.createSession()
      const fs = boardFileSystem(session)
      const result = yield* Effect.gen(function* () {
        yield* fs.mkdir("/text-only", { parents: true })
        yield* fs.write("/text-only/blob.bin", content)
        const read = yield* fs.readBytes("/text-only/blob.bin")
        const listed = yield* fs.list("/text-only")
        const stat = yield* fs.stat("/text-only/blob.bin")
        const hash = yield* fs.hash("/text-only/blob.bin")
        const info = yield* fs.info
        yield* fs.remove("/text-only", { recursive: true })
        return { read, listed, stat, hash, info }
      }).pipe(Effect.ensuring(Effect.ignore(session.end)))
      return result
    }),
  )

describe("file operations over a text-only link", () => {
  it("print and send only ASCII, and move every byte value intact", { timeout: 60_000 }, async () => {
    const traffic: Traffic = { maxReceived: 0, maxSent: 0 }
    const { read, listed, stat, info } = await fileOperations(true, traffic)
    expect(read).toEqual(content)
    expect(listed.map((e) => e.path)).toEqual(["/text-only/blob.bin"])
    expect(stat.size).toBe(content.length)
    expect(info.probe.rawClean).toBe(false)
    expect(info.probe.rawOutput).toBe(false)
    expect(info.encoding).not.toBe("raw")
    expect(traffic.maxReceived).toBeLessThan(0x80)
    expect(traffic.maxSent).toBeLessThan(0x80)
  })

  it("without the flag, the same operations use raw bytes on this board (the check above can fail)", {
    timeout: 60_000,
  }, async () => {
    const traffic: Traffic = { maxReceived: 0, maxSent: 0 }
    const { read, info } = await fileOperations(false, traffic)
    expect(read).toEqual(content)
    expect(info.probe.rawOutput).toBe(true)
    expect(traffic.maxReceived).toBeGreaterThanOrEqual(0x80)
    expect(traffic.maxSent).toBeGreaterThanOrEqual(0x80)
  })
})

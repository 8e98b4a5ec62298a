import { Effect, Exit, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { makeReceiveQueue, type ReceiveSink, receiveDirectly } from "../src/ByteLink.js"
import type { LinkError } from "../src/errors.js"

const encode = (text: string) => new TextEncoder().encode(text)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** A sink that writes down what it is handed, in order. */
const recordingSink = () => {
  const events: string[] = []
  const sink: ReceiveSink = {
    bytes: (bytes) => events.push(`bytes:${decode(bytes)}`),
    end: () => events.push("end"),
    fail: (error: LinkError) => events.push(`fail:${error._tag}:${error.reason}`),
  }
  return { events, sink }
}

describe("receiveDirectly", () => {
  it("hands over queued bytes first, then each push in the call that pushes it", async () => {
    const events = await Effect.runPromise(
      Effect.gen(function* () {
        const rx = yield* makeReceiveQueue("test")
        rx.push(encode("a"))
        rx.push(encode("b"))
        const { events, sink } = recordingSink()
        const detach = receiveDirectly(rx.stream, sink)
        expect(detach).toBeDefined()
        expect(events).toEqual(["bytes:a", "bytes:b"])
        rx.push(encode("c"))
        expect(events).toEqual(["bytes:a", "bytes:b", "bytes:c"])
        rx.end("done")
        rx.push(encode("after the end"))
        return events
      }),
    )
    expect(events).toEqual(["bytes:a", "bytes:b", "bytes:c", "end"])
  })

  it("reports an end or a failure that happened before it was attached, after the queued bytes", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const ended = yield* makeReceiveQueue("ended")
        ended.push(encode("x"))
        ended.end("closed in order")
        const a = recordingSink()
        receiveDirectly(ended.stream, a.sink)

        const lost = yield* makeReceiveQueue("lost")
        lost.push(encode("y"))
        lost.fail("unplugged")
        const b = recordingSink()
        receiveDirectly(lost.stream, b.sink)
        return { ended: a.events, lost: b.events }
      }),
    )
    expect(result.ended).toEqual(["bytes:x", "end"])
    expect(result.lost).toEqual(["bytes:y", "fail:LinkLostError:unplugged"])
  })

  it("after detaching, bytes queue for the stream again", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const rx = yield* makeReceiveQueue("test")
        const { events, sink } = recordingSink()
        const detach = receiveDirectly(rx.stream, sink)
        rx.push(encode("direct"))
        detach?.()
        rx.push(encode("queued"))
        rx.end("done")
        const streamed = yield* Stream.runCollect(rx.stream)
        return { events, streamed: Array.from(streamed, decode) }
      }),
    )
    expect(result.events).toEqual(["bytes:direct"])
    expect(result.streamed).toEqual(["queued"])
  })

  it("declines a stream that does not come from makeReceiveQueue", async () => {
    const exit = await Effect.runPromiseExit(
      Effect.gen(function* () {
        const rx = yield* makeReceiveQueue("test")
        const { sink } = recordingSink()
        return receiveDirectly(
          Stream.map(rx.stream, (bytes) => bytes),
          sink,
        )
      }),
    )
    expect(exit).toEqual(Exit.succeed(undefined))
  })
})

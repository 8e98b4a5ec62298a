/**
 * The Web Serial link against fakes of the browser's objects (a `SerialPort` with web streams,
 * `navigator.serial`), byte by byte: opening at a baud rate, DTR/RTS through `setSignals`, what
 * the board sends in any split, writes as the port receives them, a disconnect mid-exchange, read
 * errors that lose bytes and those that end the port, a refused open, and the close order the
 * API requires (streams released before `close()`).
 */
import { Cause, Effect, Exit, Fiber, Stream } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  openWebSerialLink,
  requestWebSerialPort,
  type WebSerial,
  type WebSerialPort,
} from "../src/web-serial/index.js"

const encode = (text: string) => new TextEncoder().encode(text)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

class NamedError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message)
  }
}

/** A fake `SerialPort`: web streams the test feeds and reads, and a log of the calls made. */
const fakePort = (options: { readonly openError?: Error; readonly vendor?: number } = {}) => {
  const calls: string[] = []
  const written: Uint8Array[] = []
  const listeners = new Set<(event: unknown) => void>()
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined
  let readable: ReadableStream<Uint8Array> | null = null
  let writable: WritableStream<Uint8Array> | null = null
  let failWrites: Error | undefined
  const newReadable = () => {
    readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c
      },
    })
  }
  const port: WebSerialPort = {
    open: async ({ baudRate }) => {
      calls.push(`open ${baudRate}`)
      if (options.openError !== undefined) throw options.openError
      newReadable()
      writable = new WritableStream<Uint8Array>({
        write: (chunk) => {
          if (failWrites !== undefined) throw failWrites
          written.push(chunk)
        },
      })
    },
    close: async () => {
      if (readable?.locked || writable?.locked)
        throw new NamedError("InvalidStateError", "streams are locked")
      calls.push("close")
      readable = null
      writable = null
    },
    setSignals: async (signals) => {
      calls.push(`signals ${JSON.stringify(signals)}`)
    },
    get readable() {
      return readable
    },
    get writable() {
      return writable
    },
    getInfo: () => (options.vendor === undefined ? {} : { usbVendorId: options.vendor, usbProductId: 5 }),
    addEventListener: (_type, listener) => listeners.add(listener),
    removeEventListener: (_type, listener) => listeners.delete(listener),
  }
  return {
    port,
    calls,
    written: () => decode(concat(written)),
    writtenChunks: written,
    /** The board sends bytes. */
    send: (bytes: Uint8Array) => controller?.enqueue(bytes),
    /** A read error: non-fatal ones leave a new readable, fatal ones leave none. */
    readError: (name: string, fatal: boolean) => {
      const old = controller
      if (fatal) readable = null
      else newReadable()
      old?.error(new NamedError(name, `${name} on the line`))
    },
    unplug: () => {
      for (const listener of [...listeners]) listener({ type: "disconnect" })
    },
    failWritesWith: (error: Error) => {
      failWrites = error
    },
    listenerCount: () => listeners.size,
  }
}

const concat = (parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Read from `received` until it holds `n` bytes. */
const takeBytes = (received: Stream.Stream<Uint8Array, unknown>, n: number) =>
  received.pipe(
    Stream.flatMap((chunk) => Stream.fromIterable(chunk)),
    Stream.take(n),
    Stream.runCollect,
    Effect.map((bytes) => Uint8Array.from(bytes)),
  )

describe("openWebSerialLink", () => {
  it("opens at the baud rate, sets DTR/RTS as asked, and closes after releasing its streams", async () => {
    const fake = fakePort({ vendor: 0x2e8a })
    const description = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openWebSerialLink({
            port: fake.port,
            baudRate: 9600,
            controlLines: "deassert",
            rts: true,
          })
          expect(yield* link.isOpen).toBe(true)
          return link.description
        }),
      ),
    )
    expect(description).toBe("web-serial:2e8a:0005")
    expect(fake.calls).toEqual([
      "open 9600",
      `signals ${JSON.stringify({ dataTerminalReady: false, requestToSend: true })}`,
      "close",
    ])
    expect(fake.listenerCount()).toBe(0)
  })

  it("leaves the lines alone by default", async () => {
    const fake = fakePort()
    await Effect.runPromise(Effect.scoped(openWebSerialLink({ port: fake.port })))
    expect(fake.calls).toEqual(["open 115200", "close"])
  })

  it("delivers what the board sends, however it is split, in order (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 8 }),
        async (chunks) => {
          const fake = fakePort()
          const expected = concat(chunks)
          const got = await Effect.runPromise(
            Effect.scoped(
              Effect.gen(function* () {
                const link = yield* openWebSerialLink({ port: fake.port })
                const reading = yield* Effect.forkChild(takeBytes(link.received, expected.length))
                for (const chunk of chunks) fake.send(chunk)
                return yield* Fiber.join(reading)
              }),
            ),
          )
          expect(got).toEqual(expected)
        },
      ),
      { numRuns: 40 },
    )
  })

  it("writes reach the port byte for byte, as a copy of the caller's buffer", async () => {
    const fake = fakePort()
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openWebSerialLink({ port: fake.port })
          const buffer = encode("\r\x01print(1)\x04")
          yield* link.write(buffer)
          buffer.fill(0)
          yield* link.write(new Uint8Array(0))
          yield* link.write(encode("\x02"))
        }),
      ),
    )
    expect(fake.written()).toBe("\r\x01print(1)\x04\x02")
  })

  it("a disconnect mid-exchange fails received and later writes with LinkLostError", async () => {
    const fake = fakePort()
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openWebSerialLink({ port: fake.port })
          const reading = yield* Effect.forkChild(Stream.runCollect(link.received))
          fake.send(encode("OK"))
          yield* Effect.sleep(1)
          fake.unplug()
          const read = yield* Effect.exit(Fiber.join(reading))
          const write = yield* Effect.exit(link.write(encode("x")))
          return { read, write, open: yield* link.isOpen }
        }),
      ),
    )
    for (const exit of [result.read, result.write]) {
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const error = Cause.squash(exit.cause) as { _tag: string; reason: string }
        expect(error._tag).toBe("LinkLostError")
        expect(error.reason).toMatch(/disconnected/)
      }
    }
    expect(result.open).toBe(false)
  })

  it("a framing error loses bytes but the link reads on; a fatal read error ends it", async () => {
    const fake = fakePort()
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openWebSerialLink({ port: fake.port })
          const reading = yield* Effect.forkChild(Stream.runCollect(link.received))
          fake.send(encode("ab"))
          yield* Effect.sleep(1)
          fake.readError("FramingError", false)
          yield* Effect.sleep(1)
          fake.send(encode("cd"))
          yield* Effect.sleep(1)
          fake.readError("NetworkError", true)
          return yield* Effect.exit(Fiber.join(reading))
        }),
      ),
    )
    expect(Exit.isFailure(result)).toBe(true)
    if (Exit.isFailure(result)) {
      const error = Cause.squash(result.cause) as { _tag: string; reason: string }
      expect(error._tag).toBe("LinkLostError")
      expect(error.reason).toMatch(/NetworkError/)
    }
  })

  it("bytes on both sides of a break error arrive, in order", async () => {
    const fake = fakePort()
    const got = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openWebSerialLink({ port: fake.port })
          const reading = yield* Effect.forkChild(takeBytes(link.received, 4))
          fake.send(encode("ab"))
          yield* Effect.sleep(1)
          fake.readError("BreakError", false)
          yield* Effect.sleep(1)
          fake.send(encode("cd"))
          return yield* Fiber.join(reading)
        }),
      ),
    )
    expect(decode(got)).toBe("abcd")
  })

  it("a write the port refuses fails with LinkLostError naming why", async () => {
    const fake = fakePort()
    const exit = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openWebSerialLink({ port: fake.port })
          fake.failWritesWith(new NamedError("NetworkError", "device lost"))
          return yield* Effect.exit(link.write(encode("x")))
        }),
      ),
    )
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit)) expect(String(Cause.squash(exit.cause))).toMatch(/LinkLostError|write failed/)
  })

  it("an open the browser refuses is a LinkOpenError that says why", async () => {
    for (const [name, expected] of [
      ["InvalidStateError", /already open/],
      ["NetworkError", /could not be opened/],
    ] as const) {
      const fake = fakePort({ openError: new NamedError(name, "Failed to open serial port.") })
      const exit = await Effect.runPromise(Effect.exit(Effect.scoped(openWebSerialLink({ port: fake.port }))))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const error = Cause.squash(exit.cause) as { _tag: string; reason: string }
        expect(error._tag).toBe("LinkOpenError")
        expect(error.reason).toMatch(expected)
      }
    }
  })

  it("an open that never finishes is bounded", async () => {
    const fake = fakePort()
    const port: WebSerialPort = { ...fake.port, open: () => new Promise(() => {}) }
    const exit = await Effect.runPromise(
      Effect.exit(Effect.scoped(openWebSerialLink({ port, openTimeoutMs: 50 }))),
    )
    expect(Exit.isFailure(exit) && String(Cause.squash(exit.cause))).toMatch(/did not open within 50 ms/)
  })
})

describe("requestWebSerialPort", () => {
  it("asks navigator.serial with the filters; no Web Serial or no choice is a LinkOpenError", async () => {
    const fake = fakePort()
    const asked: unknown[] = []
    const serial: WebSerial = {
      requestPort: async (options) => {
        asked.push(options)
        return fake.port
      },
      getPorts: async () => [],
    }
    const port = await Effect.runPromise(requestWebSerialPort({ serial, filters: [{ usbVendorId: 0x2e8a }] }))
    expect(port).toBe(fake.port)
    expect(asked).toEqual([{ filters: [{ usbVendorId: 0x2e8a }] }])

    const none = await Effect.runPromise(Effect.exit(requestWebSerialPort()))
    expect(Exit.isFailure(none) && String(Cause.squash(none.cause))).toMatch(/no Web Serial API/)

    const dismissed: WebSerial = {
      ...serial,
      requestPort: async () => {
        throw new NamedError("NotFoundError", "No port selected by the user.")
      },
    }
    const exit = await Effect.runPromise(Effect.exit(requestWebSerialPort({ serial: dismissed })))
    expect(Exit.isFailure(exit) && String(Cause.squash(exit.cause))).toMatch(/no port was chosen/)
  })
})

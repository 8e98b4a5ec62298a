import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Stream } from "effect"
import { describe, expect, it } from "vitest"
import type { ByteLink } from "../src/ByteLink.js"
import type { LinkError } from "../src/errors.js"
import { listSerialPorts, openSerialLink } from "../src/serial/index.js"

const encode = (text: string) => new TextEncoder().encode(text)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

interface Received {
  bytes: Uint8Array
  end: Exit.Exit<void, LinkError> | undefined
}

/** Consume `link.received` in the background (in the test's scope). */
const collect = (link: ByteLink) =>
  Effect.gen(function* () {
    const received: Received = { bytes: new Uint8Array(0), end: undefined }
    yield* Stream.runForEach(link.received, (chunk) =>
      Effect.sync(() => {
        const joined = new Uint8Array(received.bytes.length + chunk.length)
        joined.set(received.bytes)
        joined.set(chunk, received.bytes.length)
        received.bytes = joined
      }),
    ).pipe(
      Effect.exit,
      Effect.tap((exit) => Effect.sync(() => (received.end = exit))),
      Effect.forkScoped,
    )
    return received
  })

/** Poll until `condition` holds; fail with `what` after `ms`. */
const waitUntil = (what: string, condition: () => boolean, ms = 5000) =>
  Effect.gen(function* () {
    while (!condition()) yield* Effect.sleep(5)
  }).pipe(
    Effect.timeoutOrElse({
      duration: ms,
      orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)),
    }),
  )

let pairs = 0

/**
 * Two connected pseudo-terminals made by socat, as `{ a, b }` paths (symlinks to /dev/pts/N),
 * and `stop` to kill socat early. socat is killed when the scope closes.
 */
const ptyPair = Effect.gen(function* () {
  const base = join(tmpdir(), `belay-serial-${process.pid}-${++pairs}`)
  const a = `${base}-a`
  const b = `${base}-b`
  const socat = yield* Effect.acquireRelease(
    Effect.sync(() =>
      spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
        stdio: ["ignore", "ignore", "pipe"],
      }),
    ),
    (socat) =>
      Effect.callback<void>((resume) => {
        if (socat.exitCode !== null || socat.signalCode !== null) return resume(Effect.void)
        socat.once("exit", () => resume(Effect.void))
        socat.kill("SIGTERM")
      }).pipe(
        Effect.timeoutOrElse({ duration: 3000, orElse: () => Effect.sync(() => socat.kill("SIGKILL")) }),
      ),
  )
  let log = ""
  socat.stderr?.on("data", (chunk: Buffer) => {
    log += chunk.toString()
  })
  socat.on("error", (error) => {
    log += String(error)
  })
  yield* waitUntil(`socat to start (${log})`, () => log.includes("starting data transfer loop"))
  expect(existsSync(a) && existsSync(b)).toBe(true)
  const stop = Effect.callback<void>((resume) => {
    socat.once("exit", () => resume(Effect.void))
    socat.kill("SIGTERM")
  })
  return { a, b, stop }
})

const allByteValues = Uint8Array.from({ length: 256 }, (_, i) => i)

describe("openSerialLink", () => {
  it("moves bytes both ways over a pseudo-terminal pair, all 256 byte values included", async () => {
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const { a, b } = yield* ptyPair
          const left = yield* openSerialLink({ path: a })
          const right = yield* openSerialLink({ path: b, baudRate: 9600 })
          expect(left.description).toBe(`serial:${a}`)
          expect(yield* left.isOpen).toBe(true)
          const atLeft = yield* collect(left)
          const atRight = yield* collect(right)

          yield* left.write(encode("hello "))
          yield* left.write(allByteValues)
          yield* right.write(allByteValues.slice().reverse())
          yield* right.write(encode(" world"))
          yield* waitUntil("bytes at the right end", () => atRight.bytes.length >= 6 + 256)
          yield* waitUntil("bytes at the left end", () => atLeft.bytes.length >= 256 + 6)
          return { atLeft: atLeft.bytes, atRight: atRight.bytes }
        }),
      ),
    )
    expect(decode(result.atRight.subarray(0, 6))).toBe("hello ")
    expect(Array.from(result.atRight.subarray(6))).toEqual(Array.from(allByteValues))
    expect(Array.from(result.atLeft.subarray(0, 256))).toEqual(Array.from(allByteValues).reverse())
    expect(decode(result.atLeft.subarray(256))).toBe(" world")
  })

  it("carries a larger transfer intact, write by write", async () => {
    const payload = Uint8Array.from({ length: 48 * 1024 }, (_, i) => (i * 7 + (i >> 8)) & 0xff)
    const received = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const { a, b } = yield* ptyPair
          const left = yield* openSerialLink({ path: a })
          const right = yield* openSerialLink({ path: b })
          const atRight = yield* collect(right)
          for (let offset = 0; offset < payload.length; offset += 4096) {
            yield* left.write(payload.subarray(offset, offset + 4096))
          }
          yield* waitUntil("the whole payload", () => atRight.bytes.length >= payload.length, 10000)
          return atRight.bytes
        }),
      ),
    )
    expect(received.length).toBe(payload.length)
    expect(Buffer.compare(Buffer.from(received), Buffer.from(payload))).toBe(0)
  })

  it("accepts DTR/RTS policies on a pseudo-terminal, which has no modem lines", async () => {
    const echoed = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const { a, b } = yield* ptyPair
          const left = yield* openSerialLink({ path: a, controlLines: "deassert", hupcl: false })
          const right = yield* openSerialLink({ path: b, controlLines: "assert", dtr: false })
          const atRight = yield* collect(right)
          yield* left.write(encode("ok"))
          yield* waitUntil("the bytes", () => atRight.bytes.length >= 2)
          return decode(atRight.bytes)
        }),
      ),
    )
    expect(echoed).toBe("ok")
  })

  it("fails with LinkOpenError for a path that does not exist", async () => {
    const error = await Effect.runPromise(
      Effect.scoped(Effect.flip(openSerialLink({ path: "/dev/belay-no-such-port" }))),
    )
    expect(error._tag).toBe("LinkOpenError")
    expect(error.link).toBe("serial:/dev/belay-no-such-port")
    expect(error.reason).toContain("no such device")
  })

  it("fails with LinkOpenError when another link holds the port's lock", async () => {
    const error = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const { a } = yield* ptyPair
          yield* openSerialLink({ path: a })
          return yield* Effect.flip(openSerialLink({ path: a }))
        }),
      ),
    )
    expect(error._tag).toBe("LinkOpenError")
    expect(error.reason).toContain("in use")
  })

  // The other side can vanish while the reader waits in poll (idle link) or between reads;
  // serialport only reports the first, the hang-up check catches the second.
  for (const when of ["right after open", "after an exchange"] as const) {
    it(`fails the received stream with LinkLostError when the other side goes away ${when}`, async () => {
      const outcome = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const { a, b, stop } = yield* ptyPair
            const link = yield* openSerialLink({ path: a })
            const received = yield* collect(link)
            if (when === "after an exchange") {
              const peer = yield* openSerialLink({ path: b })
              yield* peer.write(encode("ping"))
              yield* waitUntil("the ping", () => received.bytes.length >= 4)
            }
            yield* stop
            yield* waitUntil("the stream to fail", () => received.end !== undefined)
            const write = yield* Effect.flip(link.write(encode("x")))
            return { end: received.end!, open: yield* link.isOpen, write }
          }),
        ),
      )
      expect(Exit.isFailure(outcome.end)).toBe(true)
      if (Exit.isFailure(outcome.end)) {
        const reason = outcome.end.cause.reasons[0]
        expect(reason?._tag === "Fail" && reason.error._tag).toBe("LinkLostError")
      }
      expect(outcome.open).toBe(false)
      expect(outcome.write._tag).toBe("LinkLostError")
    })
  }

  it("closes the port with the scope: the stream ends, writes fail with LinkClosedError, the path opens again", async () => {
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const { a } = yield* ptyPair
          const first = yield* Effect.scoped(openSerialLink({ path: a }))
          const lateWrite = yield* Effect.flip(first.write(encode("late")))
          const firstOpen = yield* first.isOpen
          const ended = yield* Stream.runCollect(first.received).pipe(Effect.timeoutOption(2000))
          // The lock was released: the same path opens again.
          const second = yield* openSerialLink({ path: a })
          return { lateWrite, firstOpen, ended, secondOpen: yield* second.isOpen }
        }),
      ),
    )
    expect(result.lateWrite._tag).toBe("LinkClosedError")
    expect(result.firstOpen).toBe(false)
    expect(result.ended._tag).toBe("Some")
    expect(result.secondOpen).toBe(true)
  })
})

describe("listSerialPorts", () => {
  it("returns an array of ports with a MicroPython hint", async () => {
    const ports = await Effect.runPromise(listSerialPorts())
    expect(Array.isArray(ports)).toBe(true)
    for (const port of ports) {
      expect(typeof port.path).toBe("string")
      expect(typeof port.likelyMicroPython).toBe("boolean")
      if (port.vendorId !== undefined) expect(port.vendorId).toMatch(/^[0-9a-f]{4}$/)
      if (port.productId !== undefined) expect(port.productId).toMatch(/^[0-9a-f]{4}$/)
    }
  })
})

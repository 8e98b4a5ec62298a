/**
 * The virtual board's raw-paste flow control (issue 18): like firmware with a small receive
 * buffer, it loses code sent beyond the windows it granted, including code that came with the
 * request (pipelined), so a host whose window credit is off by one is caught on it. (Kept here,
 * beside the sessions that run on the virtual board, since `@belay/core` is the package whose
 * tests use both the transport and the virtual board.)
 *
 * Mutations tried on `packages/virtual-device/src/VirtualBoard.ts`: pipelined code not charged to
 * the first two windows (the code before issue 18): caught by "code sent with the request counts
 * against the first two windows" and "a host whose window is one byte too large…".
 */
import { type ByteLink, makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Exit, Stream } from "effect"
import { describe, expect, it } from "vitest"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Read the link until `text` has arrived; what arrived. */
const readUntil = (link: ByteLink, text: string) =>
  Effect.gen(function* () {
    let seen = ""
    yield* link.received.pipe(
      Stream.takeUntil((chunk) => {
        seen += decoder.decode(chunk)
        return seen.includes(text)
      }),
      Stream.runDrain,
      Effect.timeout("10 seconds"),
    )
    return seen
  })

/** The board's `R\x01` answer as a host reading one byte too much into the window sees it. */
const windowOneTooLarge = (link: ByteLink): ByteLink => {
  let seen: number[] = []
  return {
    ...link,
    received: Stream.map(link.received, (chunk) => {
      const out = Uint8Array.from(chunk)
      for (let i = 0; i < out.length; i++) {
        seen.push(out[i]!)
        if (seen.length > 4) seen = seen.slice(-4)
        if (seen.length === 4 && seen[0] === 0x52 && seen[1] === 0x01) {
          const window = (seen[2]! | (seen[3]! << 8)) + 1
          if (i >= 1) out[i - 1] = window & 0xff
          out[i] = window >> 8
          seen = []
        }
      }
      return out
    }),
  }
}

/** Python of about `windows` windows that prints the length of a string literal it holds. */
const program = (bytes: number) => {
  const body = "a".repeat(Math.max(1, bytes - 20))
  return { code: `s = '${body}'\nprint(len(s))`, expected: `${body.length}\r\n` }
}

describe("the virtual board's raw-paste window", () => {
  it("code sent with the request counts against the first two windows", { timeout: 30_000 }, async () => {
    const window = 32
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openVirtualBoard({ rawPasteWindow: window })
          yield* link.write(encoder.encode("\r\x03\x03\r\x01"))
          yield* readUntil(link, "raw REPL; CTRL-B to exit\r\n>")
          // Request, two windows and one byte of code, and the end, in one write.
          const { code } = program(2 * window + 1)
          expect(code.length).toBe(2 * window + 1)
          yield* link.write(encoder.encode(`\x05A\x01${code}\x04`))
          const reply = yield* readUntil(link, "\x04>")
          return { reply, stats: yield* link.stats }
        }),
      ),
    )
    expect(result.stats.rawPasteOverflow).toBe(1)
    expect(result.reply).toContain("SyntaxError")
  })

  it("a host whose window is one byte too large loses code; with the true window nothing is lost", {
    timeout: 60_000,
  }, async () => {
    const window = 32
    const codes = [program(10), program(9 * window), program(12 * window), program(20 * window)]
    const runAll = (wrap: (link: ByteLink) => ByteLink) =>
      Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const link = yield* openVirtualBoard({ rawPasteWindow: window })
            const device = yield* makeDeviceCommunication(wrap(link), { integrity: "unchecked" } as never)
            const outputs: Array<string | undefined> = []
            for (const { code } of codes) {
              const exit = yield* Effect.exit(device.execBytes(code))
              outputs.push(Exit.isSuccess(exit) ? decoder.decode(exit.value) : undefined)
            }
            return { outputs, overflow: (yield* link.stats).rawPasteOverflow }
          }),
        ),
      )
    const honest = await runAll((link) => link)
    expect(honest).toEqual({ outputs: codes.map((c) => c.expected), overflow: 0 })
    const overSending = await runAll(windowOneTooLarge)
    expect(overSending.overflow).toBeGreaterThan(0)
    expect(overSending.outputs).not.toEqual(codes.map((c) => c.expected))
  })
})

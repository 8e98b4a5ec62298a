import type { ByteLink, LinkError } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { Effect, type Exit, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { isQemuMicrobitAvailable, QemuStartError, startQemuMicrobit } from "../src/qemu.ts"

// The QEMU micro:bit runs MicroPython 1.9.2 (Debian packages qemu-system-arm and
// firmware-microbit-micropython). These tests are never skipped: without QEMU they fail with
// QemuStartError, which names the package to install.

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
const hex = (text: string) => Buffer.from(text, "latin1").toString("hex").replace(/(..)/g, "$1 ").trim()

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

/**
 * A conversation with the board: what arrived since the last `take`, paced writes, and
 * bounded waits for a reply.
 */
const converse = (link: ByteLink) =>
  Effect.gen(function* () {
    const received = yield* collect(link)
    let consumed = 0
    const pending = () => latin1(received.bytes.subarray(consumed))
    /**
     * Wait until what arrived since the last take contains `expected`; return it all up to there
     * and consume it, or `undefined` after `ms`.
     */
    const takeWithin = (expected: string, ms: number) =>
      Effect.gen(function* () {
        while (!pending().includes(expected)) {
          if (received.end !== undefined) {
            return yield* Effect.die(new Error(`the link ended waiting for ${JSON.stringify(expected)}`))
          }
          yield* Effect.sleep(2)
        }
        const text = pending()
        const end = text.indexOf(expected) + expected.length
        consumed += end
        return text.slice(0, end)
      }).pipe(Effect.timeoutOrElse({ duration: ms, orElse: () => Effect.succeed(undefined) }))
    /** Like `takeWithin`, and a timeout fails the test with what did arrive. */
    const takeUntil = (expected: string, ms = 5000) =>
      Effect.flatMap(takeWithin(expected, ms), (text) =>
        text !== undefined
          ? Effect.succeed(text)
          : Effect.die(
              new Error(`no ${JSON.stringify(expected)} within ${ms} ms; got ${JSON.stringify(pending())}`),
            ),
      )
    /** Whatever arrives until the board has been quiet for `quietMs` (bounded by `ms`). */
    const takeQuiet = (quietMs = 300, ms = 5000) =>
      Effect.gen(function* () {
        let seen = -1
        while (seen !== received.bytes.length) {
          seen = received.bytes.length
          yield* Effect.sleep(quietMs)
        }
        const text = pending()
        consumed = received.bytes.length
        return text
      }).pipe(
        Effect.timeoutOrElse({
          duration: ms,
          orElse: () => Effect.die(new Error("the board never went quiet")),
        }),
      )
    /** Write in `chunk`-byte pieces, `gapMs` apart. */
    const send = (text: string, chunk = 256, gapMs = 10) =>
      Effect.gen(function* () {
        const bytes = Buffer.from(text, "latin1")
        for (let offset = 0; offset < bytes.length; offset += chunk) {
          if (offset > 0 && gapMs > 0) yield* Effect.sleep(gapMs)
          yield* link.write(bytes.subarray(offset, offset + chunk))
        }
      })
    return { takeWithin, takeUntil, takeQuiet, send }
  })

const rawBanner = "raw REPL; CTRL-B to exit\r\n>"

describe("startQemuMicrobit", () => {
  it("boots MicroPython on the emulated micro:bit and runs code over the raw REPL", {
    timeout: 90_000,
  }, async () => {
    const facts = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const startedAt = performance.now()
          const board = yield* startQemuMicrobit()
          expect(board.ptyPath).toMatch(/^\/dev\/pts\/\d+$/)
          expect(board.pid).toBeTypeOf("number")
          const link = yield* openSerialLink({ path: board.ptyPath })
          const { takeWithin, takeUntil, takeQuiet, send } = yield* converse(link)

          // The power-on banner comes about 150 ms after start; a link opened later misses it,
          // so ask for a prompt (every 100 ms) until the board answers.
          let bootOutput = yield* takeWithin(">>> ", 300)
          const bannerSeen = bootOutput?.includes("MicroPython") ?? false
          for (let attempt = 0; bootOutput === undefined && attempt < 150; attempt++) {
            yield* send("\r")
            bootOutput = yield* takeWithin(">>> ", 100)
          }
          const bootMs = Math.round(performance.now() - startedAt)
          if (bootOutput === undefined) return yield* Effect.die(new Error("the board never showed a prompt"))
          if (bannerSeen) expect(bootOutput).toContain("MicroPython v1.9.2")
          yield* takeQuiet(200) // prompts answering the extra \r

          // Soft reset at the friendly prompt: the full banner, always.
          yield* send("\x04")
          const friendlySoftReset = yield* takeUntil(">>> ")
          expect(friendlySoftReset).toContain("soft reboot\r\nMicroPython v1.9.2")
          expect(friendlySoftReset).toContain("micro:bit")

          // Enter the raw REPL: interrupt, drain, Ctrl-A.
          yield* send("\r\x03\x03")
          yield* takeQuiet(200)
          yield* send("\r\x01")
          yield* takeUntil(rawBanner)

          // Plain raw mode exec.
          yield* send("print(1+1)\x04")
          expect(yield* takeUntil("\x04>")).toBe("OK2\r\n\x04\x04>")

          // Errors come back after the first \x04.
          yield* send("1/0\x04")
          const traceback = yield* takeUntil("\x04>")
          expect(traceback).toMatch(/^OK\x04Traceback \(most recent call last\):\r\n.*ZeroDivisionError/s)

          // Soft reset at an empty raw prompt.
          yield* send("\x04")
          const softReset = yield* takeUntil(rawBanner)
          expect(softReset).toContain("soft reboot\r\n")

          // Free memory right after the reset: the filesystem and executors plan for about 6 KB or more.
          yield* send("import gc; print(gc.mem_free())\x04")
          const memReply = yield* takeUntil("\x04>")
          const memFree = Number(/^OK(\d+)\r\n/.exec(memReply)?.[1])
          expect(memFree).toBeGreaterThan(4000)
          yield* send("import gc; gc.collect(); print(gc.mem_free())\x04")
          const memFreeAfterCollect = Number(/^OK(\d+)\r\n/.exec(yield* takeUntil("\x04>"))?.[1])

          // Raw-paste request: this 1.9.2 firmware does not know it and answers with the raw banner ("ra…").
          yield* send("\x05A\x01")
          const rawPasteReply = yield* takeQuiet(300)
          expect(rawPasteReply.startsWith("ra")).toBe(true)
          // Back to a clean raw prompt, and the board still works.
          yield* send("\r\x03\x03")
          yield* takeQuiet(200)
          yield* send("\r\x01")
          yield* takeUntil(rawBanner)
          yield* send("print('still here')\x04")
          expect(yield* takeUntil("\x04>")).toBe("OKstill here\r\n\x04\x04>")

          // Write pacing: about 1 KB of code where any dropped byte shows (SyntaxError or a wrong count).
          const lines = 190
          const program = `s=0\n${"s+=1\n".repeat(lines)}print(s)`
          const pacings = [
            { chunk: 256, gapMs: 10 },
            { chunk: 64, gapMs: 1 },
            { chunk: program.length, gapMs: 0 },
          ]
          const pacing: Array<string> = []
          for (const { chunk, gapMs } of pacings) {
            const t = performance.now()
            yield* send(`${program}\x04`, chunk, gapMs)
            const reply = yield* takeUntil("\x04>")
            const ms = performance.now() - t
            const intact = reply === `OK${lines}\r\n\x04\x04>`
            pacing.push(
              `${chunk} B every ${gapMs} ms: ${intact ? "intact" : `DROPPED (${JSON.stringify(reply.slice(0, 60))})`}, ` +
                `${program.length} B in ${ms.toFixed(0)} ms (${(program.length / ms).toFixed(1)} B/ms incl. exec)`,
            )
            if (chunk === 256 && gapMs === 10) expect(intact).toBe(true)
          }

          return {
            bootMs,
            bannerSeen,
            bootOutput,
            friendlySoftReset,
            softReset,
            rawPasteReply,
            memFree,
            memFreeAfterCollect,
            pacing,
          }
        }),
      ),
    )
    // The measured facts behind the protocol engine's defaults (pacing, timeouts), printed for the log.
    console.log(
      [
        `first prompt after spawn: ${facts.bootMs} ms (${facts.bannerSeen ? "power-on banner seen" : "banner missed, prompted with \\r"})`,
        `power-on output: ${JSON.stringify(facts.bootOutput)}`,
        `soft reset (\\x04 at the friendly prompt): ${JSON.stringify(facts.friendlySoftReset)}`,
        `soft reset (\\x04 at the raw prompt): ${JSON.stringify(facts.softReset)}`,
        `raw-paste reply to \\x05A\\x01: ${JSON.stringify(facts.rawPasteReply)} = ${hex(facts.rawPasteReply)}`,
        `gc.mem_free() after soft reset: ${facts.memFree} (after gc.collect(): ${facts.memFreeAfterCollect})`,
        ...facts.pacing.map((line) => `pacing: ${line}`),
      ].join("\n"),
    )
  })

  it("kills QEMU when the scope closes", { timeout: 30_000 }, async () => {
    const pid = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const board = yield* startQemuMicrobit()
          process.kill(board.pid, 0) // alive: throws otherwise
          return board.pid
        }),
      ),
    )
    expect(() => process.kill(pid, 0)).toThrow()
  })

  it("fails with QemuStartError naming the apt package when QEMU is missing", async () => {
    const error = await Effect.runPromise(
      Effect.scoped(Effect.flip(startQemuMicrobit({ qemuBinary: "qemu-system-arm-belay-missing" }))),
    )
    expect(error).toBeInstanceOf(QemuStartError)
    expect(error.aptPackage).toBe("qemu-system-arm")
    expect(error.message).toContain("apt-get install qemu-system-arm")
  })

  it("fails with QemuStartError when the firmware file is missing", async () => {
    const error = await Effect.runPromise(
      Effect.scoped(Effect.flip(startQemuMicrobit({ firmwarePath: "/nonexistent/belay-firmware.hex" }))),
    )
    expect(error._tag).toBe("QemuStartError")
    expect(error.reason).toContain("/nonexistent/belay-firmware.hex")
  })

  it("fails with QemuStartError when QEMU exits before it opens the serial port", async () => {
    const error = await Effect.runPromise(
      Effect.scoped(Effect.flip(startQemuMicrobit({ qemuBinary: "false" }))),
    )
    expect(error._tag).toBe("QemuStartError")
    expect(error.reason).toContain("exited with code 1")
  })

  it("reports availability", () => {
    expect(isQemuMicrobitAvailable()).toBe(true)
    expect(isQemuMicrobitAvailable({ qemuBinary: "qemu-system-arm-belay-missing" })).toBe(false)
    expect(isQemuMicrobitAvailable({ firmwarePath: "/nonexistent/belay-firmware.hex" })).toBe(false)
  })
})

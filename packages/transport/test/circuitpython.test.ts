import { Effect } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type ByteLink, makeDeviceCommunication, makeReceiveQueue } from "../src/index.js"
import { run } from "./helpers.js"

// CircuitPython's REPL edges at the byte level, against a scripted board whose every reply is cut
// at arbitrary places: the wait for a key (`Press any key to enter the REPL`) on connecting, a
// Ctrl-C that makes its USB serial drop the rest of the write, and 7.0's soft reboot that runs
// code.py (forever, here) before it waits for a key and goes back to the raw REPL.

const PRESS = "\r\nCode done running.\r\n\r\nPress any key to enter the REPL. Use CTRL-D to reload.\r\n"
const BANNER = "\r\nAdafruit CircuitPython 7.0.0 on 2021-09-20; Scripted board with samd51\r\n>>> "
const RAW = "raw REPL; CTRL-B to exit\r\n>"
const RELOAD =
  "soft reboot\r\n\r\n\x1b[2K\x1b[0GAuto-reload is on. Simply save files over USB to run them or enter REPL to disable.\r\n\x1b[2K\x1b[0Gcode.py output:\r\nblink\r\n"
const STOPPED =
  'Traceback (most recent call last):\r\n  File "code.py", line 3, in <module>\r\nKeyboardInterrupt: \r\n'

/**
 * A CircuitPython 7.0 board, scripted: it starts running code.py (forever); raw-paste is refused
 * (`R\x00`); a soft reboot in the raw REPL runs code.py again. `cut` splits each reply into chunks.
 */
const scriptedBoard = (cut: (reply: string) => ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const rx = yield* makeReceiveQueue("scripted-circuitpython")
    let state: "code" | "waiting" | "friendly" | "raw" = "code"
    let rawAfterKey = false
    let line = ""
    const stats = { keys: 0, dropped: 0, interrupts: 0 }
    const send = (reply: string) => {
      for (const chunk of cut(reply)) rx.push(new Uint8Array(Buffer.from(chunk, "latin1")))
    }
    const take = (bytes: Uint8Array) => {
      for (let i = 0; i < bytes.length; i++) {
        const c = String.fromCharCode(bytes[i]!)
        if (state === "code") {
          if (c === "\x03") {
            stats.interrupts++
            // The USB serial drops the rest of the write with the interrupt character.
            stats.dropped += bytes.length - i - 1
            state = "waiting"
            send(STOPPED + PRESS)
            return
          }
        } else if (state === "waiting") {
          stats.keys++
          if (rawAfterKey) {
            state = "raw"
            send(RAW)
          } else {
            state = "friendly"
            send(BANNER)
          }
        } else if (state === "friendly") {
          if (c === "\x01") {
            state = "raw"
            line = ""
            send(`\r\n${RAW}`)
          } else if (c === "\x03" || c === "\r") send("\r\n>>> ")
        } else if (c === "\x01") {
          if (line === "\x05A") send("R\x00>")
          else send(RAW)
          line = ""
        } else if (c === "\x03") line = ""
        else if (c === "\x04") {
          if (line === "") {
            // 7.0: code.py runs after a soft reboot even in the raw REPL; the raw REPL after the key.
            state = "code"
            rawAfterKey = true
            send(`OK\r\n${RELOAD}`)
          } else send(`OKran ${line.length}\r\n\x04\x04>`)
          line = ""
        } else line += c
      }
    }
    const link: ByteLink = {
      description: "scripted-circuitpython",
      write: (bytes) => Effect.sync(() => take(bytes)),
      received: rx.stream,
      isOpen: Effect.succeed(true),
    }
    send(`\x1b[2K\x1b[0GAuto-reload is on.\r\n\x1b[2K\x1b[0Gcode.py output:\r\nblink\r\n`)
    return { link, stats }
  })

const fast = {
  replyTimeoutMs: 800,
  enterRawTimeoutMs: 4000,
  interruptTimeoutMs: 1000,
  drainQuietMs: 2,
  plainRawChunkDelayMs: 0,
  integrity: "unchecked",
} as const

/** Cut `reply` before each of the given offsets (taken modulo its length). */
const cutAt =
  (offsets: ReadonlyArray<number>) =>
  (reply: string): ReadonlyArray<string> => {
    const at = [...new Set(offsets.map((o) => o % Math.max(1, reply.length)))]
      .filter((o) => o > 0)
      .sort((a, b) => a - b)
    const chunks: string[] = []
    let from = 0
    for (const to of at) {
      chunks.push(reply.slice(from, to))
      from = to
    }
    chunks.push(reply.slice(from))
    return chunks
  }

describe("CircuitPython at the byte level", () => {
  it(
    "connects while code.py runs, then soft-resets through 7.0's code.py and the key, however the replies are cut",
    { timeout: 120_000 },
    () =>
      fc.assert(
        fc.asyncProperty(fc.array(fc.nat({ max: 400 }), { maxLength: 12 }), async (offsets) => {
          const result = await run(
            Effect.gen(function* () {
              const board = yield* scriptedBoard(cutAt(offsets))
              const comm = yield* makeDeviceCommunication(board.link, fast)
              const first = yield* comm.exec("x = 1")
              yield* comm.softReset
              const second = yield* comm.exec("y")
              return {
                first,
                second,
                stats: board.stats,
                rawPaste: (yield* comm.protocolCapabilities).rawPaste,
                generation: yield* comm.generation,
              }
            }),
          )
          expect(result.first).toBe("ran 5\r\n")
          expect(result.second).toBe("ran 1\r\n")
          expect(result.rawPaste).toBe(false)
          expect(result.generation).toBe(1)
          // One key on connecting (after the Ctrl-C), one after the soft reboot's code.py.
          expect(result.stats.keys).toBe(2)
          expect(result.stats.interrupts).toBe(2)
        }),
        { numRuns: 20 },
      ),
  )

  it(
    "the output of a call that ends in the wait for a key is a reset of the board",
    { timeout: 30_000 },
    () =>
      run(
        Effect.gen(function* () {
          const rx = yield* makeReceiveQueue("resetting")
          let entered = 0
          const link: ByteLink = {
            description: "resetting",
            write: (bytes) =>
              Effect.sync(() => {
                const text = Buffer.from(bytes).toString("latin1")
                if (text.includes("\x01")) {
                  entered++
                  rx.push(new Uint8Array(Buffer.from(`\r\n${RAW}`, "latin1")))
                } else if (text.endsWith("\x04") && entered === 1) {
                  // The board resets under the code: what code.py prints, then the wait for a key.
                  rx.push(
                    new Uint8Array(
                      Buffer.from(`OKpartial\r\n\x1b[2K\x1b[0GAuto-reload is on.\r\n${PRESS}`, "latin1"),
                    ),
                  )
                } else if (text.endsWith("\x04"))
                  rx.push(new Uint8Array(Buffer.from("OKagain\r\n\x04\x04>", "latin1")))
              }),
            received: rx.stream,
            isOpen: Effect.succeed(true),
          }
          const comm = yield* makeDeviceCommunication(link, { ...fast, rawPaste: "never" })
          const failed = yield* Effect.flip(comm.exec("long()"))
          const next = yield* comm.exec("again()")
          return { failed: failed._tag, next, entered, generation: yield* comm.generation }
        }),
      ).then((result) => {
        expect(result.failed).toBe("BoardResetError")
        expect(result.next).toBe("again\r\n")
        expect(result.entered).toBe(2)
        expect(result.generation).toBe(1)
      }),
  )
})

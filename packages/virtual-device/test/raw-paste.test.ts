import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { type Conversation, parseRawReply, RAW_BANNER, withBoard } from "./helpers.ts"

/**
 * A host's side of raw-paste, as mpremote does it: read the window, never have more than the
 * granted windows in flight, end with Ctrl-D. Returns the window, the acknowledgements seen,
 * and the reply after the board's echo of Ctrl-D.
 */
const rawPaste = async (board: Conversation, code: string) => {
  await board.send("\x05A\x01")
  expect(await board.exactly(2)).toBe("R\x01")
  const header = await board.exactly(3)
  const window = header.charCodeAt(0) | (header.charCodeAt(1) << 8)
  expect(header[2]).toBe("\x01")
  let credit = 2 * window
  let acks = 0
  let sent = 0
  const countAcks = (text: string) => {
    for (const c of text) {
      if (c !== "\x01") throw new Error(`unexpected byte during raw-paste: ${JSON.stringify(text)}`)
      credit += window
      acks++
    }
  }
  while (sent < code.length) {
    countAcks(board.take())
    if (credit === 0) {
      await board.waitFor((text) => (text.length > 0 ? true : undefined), "a window acknowledgement", 10_000)
      continue
    }
    const n = Math.min(credit, code.length - sent)
    await board.send(code.slice(sent, sent + n))
    sent += n
    credit -= n
  }
  await board.send("\x04")
  const rest = await board.until("\x04>")
  const echo = rest.indexOf("\x04")
  countAcks(rest.slice(0, echo))
  return { window, acks, reply: rest.slice(echo) }
}

/** Python source of about `size` bytes that prints a checksum of its own data. */
const bigProgram = (lines: number) => {
  const body = Array.from({ length: lines }, (_, i) => `v${i} = ${i}  # some padding to make lines longer`)
  return `${body.join("\n")}\nprint(sum(globals()['v%d' % i] for i in range(${lines})))`
}

describe("raw-paste", () => {
  it("announces the window and acknowledges each window consumed", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      const code = bigProgram(120)
      expect(code.length).toBeGreaterThan(5 * 256)
      const { window, acks, reply } = await rawPaste(board, code)
      expect(window).toBe(256)
      expect(acks).toBe(Math.floor(code.length / window))
      expect(reply).toBe(`\x04${(119 * 120) / 2}\r\n\x04\x04>`)
      // Back at the raw prompt: plain raw works, and raw-paste again.
      expect(await board.rawExec("print('plain')")).toBe("OKplain\r\n\x04\x04>")
      expect((await rawPaste(board, "1/0")).reply).toBe(
        '\x04\x04Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\nZeroDivisionError: divide by zero\r\n\x04>',
      )
    }),
  )

  it("uses the configured window (a small board's 128 bytes)", { timeout: 20_000 }, () =>
    withBoard({ rawPasteWindow: 128 }, async (board) => {
      await board.enterRaw()
      const code = bigProgram(100)
      const { window, acks, reply } = await rawPaste(board, code)
      expect(window).toBe(128)
      expect(acks).toBe(Math.floor(code.length / 128))
      expect(reply).toBe(`\x04${(99 * 100) / 2}\r\n\x04\x04>`)
    }),
  )

  it("loses what a host sends beyond the window, like an overflowing UART", { timeout: 20_000 }, () =>
    withBoard({ rawPasteWindow: 128 }, async (board) => {
      await board.enterRaw()
      await board.send("\x05A\x01")
      expect(await board.exactly(5)).toBe("R\x01\x80\x00\x01")
      const code = `s = '${"a".repeat(1000)}'\nprint(len(s))`
      await board.send(`${code}\x04`)
      const reply = await board.until("\x04>")
      expect(reply).toContain("SyntaxError")
      const stats = await Effect.runPromise(board.link.stats)
      expect(stats.rawPasteOverflow).toBe(code.length - 256)
    }),
  )

  it("stops reading on Ctrl-C: KeyboardInterrupt without traceback entries", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await board.send("\x05A\x01")
      await board.exactly(5)
      await board.send("print('never')\x03")
      expect(await board.until("\x04>")).toBe("\x04\x04KeyboardInterrupt: \r\n\x04>")
      expect(await board.rawExec("print('next')")).toBe("OKnext\r\n\x04\x04>")
    }),
  )

  it("runs what arrived when the host ends early with Ctrl-D", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await board.send("\x05A\x01")
      await board.exactly(5)
      await board.send("print('short')\x04")
      expect(await board.until("\x04>")).toBe("\x04short\r\n\x04\x04>")
    }),
  )

  it("answers R\\x00 and returns to the prompt when raw-paste is refused", { timeout: 20_000 }, () =>
    withBoard({ rawPaste: false }, async (board) => {
      await board.enterRaw()
      await board.send("\x05A\x01")
      expect(await board.until(">")).toBe("R\x00>")
      expect(await board.rawExec("print(6*7)")).toBe("OK42\r\n\x04\x04>")
    }),
  )

  it("answers like firmware before 1.14 (no raw-paste: the raw banner again)", { timeout: 20_000 }, () =>
    withBoard({ firmware: "old" }, async (board) => {
      await board.enterRaw()
      await board.send("\x05A\x01")
      const reply = await board.until(RAW_BANNER)
      expect(reply.startsWith("ra")).toBe(true)
      expect(reply).toBe(RAW_BANNER)
      expect(await board.rawExec("print(6*7)")).toBe("OK42\r\n\x04\x04>")
      await board.send("\x04")
      expect(await board.until(RAW_BANNER)).toBe(`OK\r\nsoft reboot\r\n${RAW_BANNER}`)
    }),
  )
})

describe("banner quirks", () => {
  it(
    "prints soft reboot without MPY: and banner lines ending in \\r\\r\\n when asked",
    { timeout: 20_000 },
    () =>
      withBoard({ softRebootBanner: "soft reboot", bannerLineEnding: "\r\r\n" }, async (board) => {
        const banner = await board.until(">>> ")
        expect(banner).toMatch(
          /^MicroPython v1\.27\.0 on [^\r]+\r\r\nType "help\(\)" for more information\.\r\r\n>>> $/,
        )
        await board.send("\r\x01")
        await board.until("raw REPL; CTRL-B to exit\r\r\n>")
        await board.send("\x04")
        expect(await board.until(">")).toBe("OK\r\nsoft reboot\r\r\nraw REPL; CTRL-B to exit\r\r\n>")
        expect(parseRawReply(await board.rawExec("print(1)")).stdout).toBe("1\r\n")
      }),
  )
})

describe("line speed", () => {
  it("delivers no faster than bytesPerSecond in either direction", { timeout: 30_000 }, () =>
    withBoard({ bytesPerSecond: 4000 }, async (board) => {
      await board.enterRaw()
      // Host to board: 2000 bytes of code.
      const code = `s = '${"x".repeat(1990)}'`
      let started = performance.now()
      await board.send(`${code}\x04`)
      const sendMs = performance.now() - started
      expect(await board.until("\x04>")).toBe("OK\x04\x04>")
      expect(sendMs).toBeGreaterThanOrEqual(0.8 * ((code.length + 1) / 4000) * 1000)
      // Board to host: 2000 bytes of output.
      started = performance.now()
      await board.send("print('y' * 2000)\x04")
      const reply = await board.until("\x04>")
      const receiveMs = performance.now() - started
      expect(reply).toBe(`OK${"y".repeat(2000)}\r\n\x04\x04>`)
      expect(receiveMs).toBeGreaterThanOrEqual(0.8 * (reply.length / 4000) * 1000)
    }),
  )
})

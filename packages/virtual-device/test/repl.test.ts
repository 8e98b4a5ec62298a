import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"
import { parseRawReply, RAW_BANNER, withBoard } from "./helpers.ts"

const BANNER =
  /^MicroPython v1\.27\.0 on \d{4}-\d{2}-\d{2}; [^\r\n]+\r\nType "help\(\)" for more information\.\r\n>>> $/

describe("power-on and the friendly REPL", () => {
  it("prints the boot banner and a prompt", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      expect(await board.until(">>> ")).toMatch(BANNER)
    }),
  )

  it("echoes input, prints results and output, and shows tracebacks", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.until(">>> ")
      await board.send("1+1\r")
      expect(await board.until(">>> ")).toBe("1+1\r\n2\r\n>>> ")
      await board.send("print('a'); print('b')\r")
      expect(await board.until(">>> ")).toBe("print('a'); print('b')\r\na\r\nb\r\n>>> ")
      await board.send("x = 5\r")
      expect(await board.until(">>> ")).toBe("x = 5\r\n>>> ")
      await board.send("x * 2\r")
      expect(await board.until(">>> ")).toBe("x * 2\r\n10\r\n>>> ")
      await board.send("1/0\r")
      expect(await board.until(">>> ")).toBe(
        '1/0\r\nTraceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\nZeroDivisionError: divide by zero\r\n>>> ',
      )
      await board.send("1 +\r")
      expect(await board.until(">>> ")).toBe(
        '1 +\r\nTraceback (most recent call last):\r\n  File "<stdin>", line 1\r\nSyntaxError: invalid syntax\r\n>>> ',
      )
    }),
  )

  it("edits the line: backspace, Ctrl-C cancels, an empty line gives a new prompt", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.until(">>> ")
      await board.send("12\x7f3\r")
      expect(await board.until(">>> ")).toBe("12\b\x1b[K3\r\n13\r\n>>> ")
      await board.send("garbage\x03")
      expect(await board.until(">>> ")).toBe("garbage\r\n>>> ")
      await board.send("\r")
      expect(await board.until(">>> ")).toBe("\r\n>>> ")
      await board.send("\x03")
      expect(await board.until(">>> ")).toBe("\r\n>>> ")
    }),
  )

  it("continues compound statements with auto-indent, like MicroPython's readline", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.until(">>> ")
      await board.send("for i in range(3):\r")
      expect(await board.until("... ")).toBe("for i in range(3):\r\n... ")
      expect(await board.exactly(4)).toBe("    ")
      await board.send("print(i * 10)\r")
      expect(await board.until("...     ")).toBe("print(i * 10)\r\n...     ")
      // A line of only spaces is kept indented once more; the next one is not.
      await board.send("\r")
      expect(await board.until("...     ")).toBe("\r\n...     ")
      await board.send("\r")
      expect(await board.until("... ")).toBe("\r\n... ")
      await board.send("\r")
      expect(await board.until(">>> ")).toBe("\r\n0\r\n10\r\n20\r\n>>> ")
    }),
  )

  it("runs paste mode (Ctrl-E) as a module", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.until(">>> ")
      await board.send("\x05")
      expect(await board.until("=== ")).toBe("\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
      await board.send("def f():\r    return 7\rprint(f())\r\x04")
      expect(await board.until(">>> ")).toBe(
        "def f():\r\n===     return 7\r\n=== print(f())\r\n=== \r\n7\r\n>>> ",
      )
    }),
  )

  it("soft resets on Ctrl-D: banner again, globals gone", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.until(">>> ")
      await board.send("y = 1\r")
      await board.until(">>> ")
      await board.send("\x04")
      const reply = await board.until(">>> ")
      expect(reply.startsWith("\r\nMPY: soft reboot\r\nMicroPython v1.27.0")).toBe(true)
      await board.send("y\r")
      expect(await board.until(">>> ")).toContain("NameError: name 'y' isn't defined")
    }),
  )
})

describe("the raw REPL", () => {
  it("enters with Ctrl-A and leaves with Ctrl-B", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.until(">>> ")
      await board.send("\r\x01")
      expect(await board.until(RAW_BANNER)).toBe(`\r\n>>> \r\n${RAW_BANNER}`)
      // Ctrl-A at the raw prompt prints the raw banner again.
      await board.send("\x01")
      expect(await board.until(RAW_BANNER)).toBe(RAW_BANNER)
      await board.send("\x02")
      const friendly = await board.until(">>> ")
      expect(friendly.slice(0, 2)).toBe("\r\n")
      expect(friendly.slice(2)).toMatch(BANNER)
    }),
  )

  it("runs code: OK, stdout, EOF, traceback, EOF, prompt", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      expect(await board.rawExec("print(1+1)")).toBe("OK2\r\n\x04\x04>")
      expect(await board.rawExec("print('a\\nb', end='')")).toBe("OKa\r\nb\x04\x04>")
      expect(await board.rawExec("x = 1")).toBe("OK\x04\x04>")
      expect(await board.rawExec("print(x + 1)")).toBe("OK2\r\n\x04\x04>")
    }),
  )

  it("reports exceptions in MicroPython's traceback format", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      expect(await board.rawExec("1/0")).toBe(
        'OK\x04Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\nZeroDivisionError: divide by zero\r\n\x04>',
      )
      const nested = parseRawReply(
        await board.rawExec("print('before')\ndef f(n):\n    raise ValueError('bad %d' % n)\nf(3)"),
      )
      expect(nested.stdout).toBe("before\r\n")
      expect(nested.traceback).toBe(
        'Traceback (most recent call last):\r\n  File "<stdin>", line 4, in <module>\r\n  File "<stdin>", line 3, in f\r\nValueError: bad 3\r\n',
      )
      expect(parseRawReply(await board.rawExec("def g(:")).traceback).toBe(
        'Traceback (most recent call last):\r\n  File "<stdin>", line 1\r\nSyntaxError: invalid syntax\r\n',
      )
      expect(parseRawReply(await board.rawExec("import nosuchmodule")).traceback).toContain(
        "ImportError: no module named 'nosuchmodule'\r\n",
      )
    }),
  )

  it("ignores Ctrl-C at the raw prompt except that it clears the line", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await board.send("print('dropped')\x03")
      expect(await board.rawExec("print('kept')")).toBe("OKkept\r\n\x04\x04>")
    }),
  )

  it(
    "soft resets on Ctrl-D at an empty prompt: fresh globals, back at the raw prompt",
    { timeout: 20_000 },
    () =>
      withBoard({}, async (board) => {
        await board.enterRaw()
        await board.rawExec("secret = 42")
        await board.send("\x04")
        expect(await board.until(RAW_BANNER)).toBe(`OK\r\nMPY: soft reboot\r\n${RAW_BANNER}`)
        expect(parseRawReply(await board.rawExec("print(secret)")).traceback).toContain(
          "NameError: name 'secret' isn't defined",
        )
        // sys.exit() soft resets too.
        await board.send("import sys\nsys.exit()\x04")
        expect(await board.until(RAW_BANNER)).toBe(`OK\x04\x04MPY: soft reboot\r\n${RAW_BANNER}`)
        expect(await board.rawExec("print('still here')")).toBe("OKstill here\r\n\x04\x04>")
      }),
  )

  it("streams output while code runs", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await board.send("import time\nfor i in range(3):\n    print('tick', i)\n    time.sleep_ms(300)\x04")
      // The first line arrives while the code is still sleeping (no EOF marker yet).
      const first = await board.until("tick 0\r\n")
      expect(first).toBe("OKtick 0\r\n")
      expect(board.peek()).not.toContain("\x04")
      expect(await board.until("\x04>")).toBe("tick 1\r\ntick 2\r\n\x04\x04>")
    }),
  )

  it("feeds bytes sent while code runs to its stdin", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await board.send("import sys\nprint('ready')\nprint(repr(sys.stdin.read(3)))\x04")
      await board.until("ready\r\n")
      await board.send("abc")
      expect(await board.until("\x04>")).toBe("'abc'\r\n\x04\x04>")
      await board.send("name = input('who? ')\nprint('hi', name)\x04")
      await board.until("who? ")
      await board.send("ann\r")
      expect(await board.until("\x04>")).toBe("ann\r\nhi ann\r\n\x04\x04>")
    }),
  )
})

describe("Ctrl-C while code runs", () => {
  it("raises KeyboardInterrupt in while True: pass, and the board answers again", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await board.send("print('spinning')\nwhile True:\n    pass\x04")
      await board.until("spinning\r\n")
      await board.send("\x03")
      expect(await board.until("\x04>")).toBe(
        '\x04Traceback (most recent call last):\r\n  File "<stdin>", line 3, in <module>\r\nKeyboardInterrupt: \r\n\x04>',
      )
      expect(await board.rawExec("print('alive')")).toBe("OKalive\r\n\x04\x04>")
      // A second interrupt gets a fresh traceback too.
      await board.send("def spin():\n    while True:\n        pass\nspin()\x04")
      await board.until("OK")
      await board.send("\x03")
      expect(await board.until("\x04>")).toBe(
        '\x04Traceback (most recent call last):\r\n  File "<stdin>", line 4, in <module>\r\n  File "<stdin>", line 3, in spin\r\nKeyboardInterrupt: \r\n\x04>',
      )
    }),
  )

  it("interrupts time.sleep and input() where the code is", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await board.send("import time\nprint('sleeping')\ntime.sleep(60)\nprint('woke')\x04")
      await board.until("sleeping\r\n")
      await board.send("\x03")
      const sleep = parseRawReply(`OK${await board.until("\x04>")}`)
      expect(sleep.traceback).toBe(
        'Traceback (most recent call last):\r\n  File "<stdin>", line 3, in <module>\r\nKeyboardInterrupt: \r\n',
      )
      await board.send("print('asking')\ninput()\x04")
      await board.until("asking\r\n")
      await board.send("\x03")
      expect(parseRawReply(`OK${await board.until("\x04>")}`).traceback).toContain("KeyboardInterrupt: \r\n")
      expect(await board.rawExec("print('alive')")).toBe("OKalive\r\n\x04\x04>")
    }),
  )

  it("interrupts code at the friendly prompt", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.until(">>> ")
      // A compound statement on one line still asks for more (an empty line ends it).
      await board.send("while True: pass\r")
      expect(await board.until("... ")).toBe("while True: pass\r\n... ")
      await board.send("\r")
      await board.until("\r\n")
      await board.send("\x03")
      expect(await board.until(">>> ")).toBe(
        'Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\nKeyboardInterrupt: \r\n>>> ',
      )
    }),
  )

  it(
    "hard resets a board whose code does not stop (a long loop inside a built-in)",
    { timeout: 20_000 },
    () =>
      withBoard({ interruptTimeoutMs: 300 }, async (board) => {
        await board.enterRaw()
        await board.rawExec("kept = 1")
        await board.send("print(max(range(10**9)))\x04")
        await board.until("OK")
        await board.send("\x03")
        // Reset: the power-on banner, friendly REPL, RAM gone.
        expect(await board.until(">>> ")).toMatch(BANNER)
        await board.send("\x01")
        await board.until(RAW_BANNER)
        expect(parseRawReply(await board.rawExec("print(kept)")).traceback).toContain("NameError")
        expect((await Effect.runPromise(board.link.stats)).hardResets).toBe(1)
      }),
  )
})

describe("the link", () => {
  it("hardReset and unplug behave like the button and the cable", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await Effect.runPromise(board.link.hardReset)
      expect(await board.until(">>> ")).toMatch(BANNER)
      await Effect.runPromise(board.link.unplug)
      expect(await Effect.runPromise(board.link.isOpen)).toBe(false)
      const failure = await Effect.runPromise(Effect.flip(board.link.write(new Uint8Array([13]))))
      expect(failure._tag).toBe("LinkLostError")
    }),
  )

  it("rejects bad options with LinkOpenError", { timeout: 20_000 }, async () => {
    const error = await Effect.runPromise(Effect.scoped(Effect.flip(openVirtualBoard({ rawPasteWindow: 0 }))))
    expect(error._tag).toBe("LinkOpenError")
    expect(error.message).toContain("rawPasteWindow")
  })
})

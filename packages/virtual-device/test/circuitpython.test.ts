import { spawn, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { type Conversation, parseRawReply, RAW_BANNER, withBoard } from "./helpers.ts"

// The virtual board playing CircuitPython, byte by byte: what its firmware prints around resets,
// the wait for a key, auto-reload, the read-only flash and the modules code sees. The facts come
// from CircuitPython's main.c and pyexec.c (9.x), its pull request 5602 (7.1: no code.py after a
// soft reboot in the raw REPL) and Thonny's and Python Belay's CircuitPython support.

const PRESS_ANY_KEY = "Press any key to enter the REPL. Use CTRL-D to reload.\r\n"
const AUTO_RELOAD = "Auto-reload is on. Simply save files over USB to run them or enter REPL to disable.\r\n"
const CP = { flavor: "circuitpython" } as const

/** CircuitPython's status bar (the terminal's title), as the conversation's latin1 text has it. */
const statusBar = (running: string, version = "9.2.1") =>
  Buffer.from(`\x1b]0;🐍${running} | ${version}\x1b\\`).toString("latin1")
/** Text without the status bar's title updates. */
const plain = (text: string) => text.replace(/\x1b\]0;[^\x1b]*\x1b\\/g, "")

/** From power-on (no code.py): the wait for a key, a key, the friendly banner. */
const toFriendly = async (board: Conversation): Promise<string> => {
  const boot = await board.until(PRESS_ANY_KEY)
  await board.send("\r")
  return boot + (await board.until(">>> "))
}

/** From power-on to the raw prompt. */
const toRaw = async (board: Conversation) => {
  await toFriendly(board)
  await board.send("\x01")
  await board.until(RAW_BANNER)
}

const usbWrite = (board: Conversation, path: string, text: string) =>
  Effect.runPromise(board.link.usbWrite(path, text))

/**
 * Put code.py on a board that is booting: it runs it at once, or reloads to run it. Waits for what
 * it prints, `printed`, then for the wait for a key.
 */
const bootWith = async (board: Conversation, code: string, printed: string) => {
  await usbWrite(board, "/code.py", code)
  await board.until("code.py output:\r\n")
  await board.until(printed)
  await board.until(PRESS_ANY_KEY)
}

describe("the virtual board playing CircuitPython", () => {
  it(
    "boots through code.py to the wait for a key; a key gives CircuitPython's banner",
    { timeout: 20_000 },
    () =>
      withBoard(CP, async (board) => {
        const boot = await toFriendly(board)
        expect(boot).toContain(AUTO_RELOAD)
        expect(boot).toContain("\r\nCode done running.\r\n\r\nPress any key")
        expect(boot).toMatch(/\r\nAdafruit CircuitPython 9\.2\.1 on [\d-]+; [^\r\n]+\r\n>>> $/)
        // The status bar says what runs: the REPL, then (after it) done.
        expect(boot).toContain(`${statusBar("REPL")}\r\nAdafruit CircuitPython`)
        expect(boot).not.toContain("help()")
        await board.send("\x01")
        await board.until(RAW_BANNER)
        const reply = parseRawReply(
          await board.rawExec(
            "import sys, os, storage\nprint(sys.implementation.name, sys.implementation.version)\n" +
              "print(hasattr(os, 'ilistdir'), hasattr(os, 'sync'), os.uname().release, storage.getmount('/').readonly)",
          ),
        )
        expect(reply).toEqual({
          stdout: "circuitpython (9, 2, 1)\r\nFalse True 9.2.1 True\r\n",
          traceback: "",
        })
        for (const module of ["_thread", "machine"]) {
          const missing = parseRawReply(await board.rawExec(`import ${module}`))
          expect(missing.traceback).toContain(`ImportError: no module named '${module}'`)
        }
      }),
  )

  it(
    "code sees the flash read-only until boot.py remounts it; then the drive is read-only to the computer",
    { timeout: 30_000 },
    () =>
      withBoard(CP, async (board) => {
        await toRaw(board)
        const refused = parseRawReply(await board.rawExec("open('/x.txt', 'w').write('x')"))
        expect(refused.traceback).toMatch(/OSError: \[Errno 30\] Read-only filesystem\r\n$/)
        const errno = parseRawReply(
          await board.rawExec(
            "import os\ntry:\n    os.mkdir('/d')\nexcept OSError as e:\n    print(e.errno)",
          ),
        )
        expect(errno.stdout).toBe("30\r\n")
        const notInBoot = parseRawReply(await board.rawExec("import storage\nstorage.remount('/', False)"))
        expect(notInBoot.traceback).toContain("RuntimeError: Cannot remount '/' when visible via USB.")
        // The computer writes boot.py through the drive; boot.py runs at the next power-on only.
        await usbWrite(
          board,
          "/boot.py",
          "import storage\nstorage.remount('/', False)\nprint('boot output')\n",
        )
        await board.send("\x04")
        await board.until(`soft reboot\r\n${RAW_BANNER}`)
        expect(parseRawReply(await board.rawExec("open('/x.txt', 'w')")).traceback).toContain("Errno 30")
        await Effect.runPromise(board.link.hardReset)
        const boot = await toFriendly(board)
        expect(boot).not.toContain("boot output")
        await board.send("\x01")
        await board.until(RAW_BANNER)
        const written = parseRawReply(
          await board.rawExec(
            "open('/x.txt', 'w').write('ok')\nimport storage\nprint(storage.getmount('/').readonly)",
          ),
        )
        expect(written).toEqual({ stdout: "False\r\n", traceback: "" })
        const error = await Effect.runPromise(Effect.flip(board.link.usbWrite("/y.txt", "y")))
        expect(error._tag).toBe("UsbDriveError")
        expect(error.reason).toContain("read-only to the computer")
      }),
  )

  it(
    "microcontroller.reset() is the reset button: code.py and the wait for a key again",
    { timeout: 20_000 },
    () =>
      withBoard(CP, async (board) => {
        await toRaw(board)
        const uid = parseRawReply(
          await board.rawExec(
            "import microcontroller\nprint(type(microcontroller.cpu.uid).__name__, len(microcontroller.cpu.uid))",
          ),
        )
        expect(uid.stdout).toBe("bytearray 8\r\n")
        await board.send("import microcontroller\nmicrocontroller.reset()\x04")
        const reset = plain(await board.until(PRESS_ANY_KEY))
        expect(reset).toContain(AUTO_RELOAD)
        expect(reset).not.toContain("soft reboot")
        expect((await Effect.runPromise(board.link.stats)).hardResets).toBe(1)
      }),
  )

  it(
    "a soft reboot in the raw REPL comes back to it with RAM gone and without running code.py (7.1 on)",
    { timeout: 20_000 },
    () =>
      withBoard(CP, async (board) => {
        await bootWith(board, "print('code.py ran')\n", "code.py ran\r\n")
        await board.send("\r\x01")
        await board.until(RAW_BANNER)
        await board.rawExec("marker = 1")
        await board.send("\x04")
        expect(await board.until(RAW_BANNER)).toBe(`OK\r\nsoft reboot\r\n${RAW_BANNER}`)
        expect(parseRawReply(await board.rawExec("print('marker' in globals())")).stdout).toBe("False\r\n")
      }),
  )

  it(
    "Ctrl-D in the friendly REPL soft-reboots into code.py and the wait for a key",
    { timeout: 20_000 },
    () =>
      withBoard(CP, async (board) => {
        await bootWith(board, "print('hello')\n", "hello\r\n")
        await board.send("\r")
        await board.until(">>> ")
        await board.send("\x04")
        const reboot = await board.until(PRESS_ANY_KEY)
        expect(plain(reboot)).toMatch(/^\r\nsoft reboot\r\n/)
        expect(plain(reboot)).toContain("code.py output:\r\nhello\r\n\r\nCode done running.\r\n")
        // The status bar: the file while it runs, then done.
        expect(reboot).toContain(`code.py output:\r\n${statusBar("code.py")}hello\r\n${statusBar("Done")}`)
        // Ctrl-D at the wait reloads again instead of entering the REPL.
        await board.send("\x04")
        expect(plain(await board.until(PRESS_ANY_KEY))).toMatch(/^soft reboot\r\n[\s\S]*hello/)
      }),
  )

  it("entering a REPL starts a fresh VM, also from the other REPL", { timeout: 20_000 }, () =>
    withBoard(CP, async (board) => {
      await toRaw(board)
      await board.rawExec("marker = 1")
      await board.send("\x02")
      expect(plain(await board.until(">>> "))).toMatch(/^\r\n\r\nAdafruit CircuitPython /)
      await board.send("\x01")
      await board.until(RAW_BANNER)
      expect(parseRawReply(await board.rawExec("print('marker' in globals())")).stdout).toBe("False\r\n")
    }),
  )

  it("Ctrl-C stops code.py, and the USB serial drops what came with it", { timeout: 20_000 }, () =>
    withBoard(CP, async (board) => {
      await usbWrite(board, "/code.py", "import time\nprint('running')\nwhile True:\n    time.sleep(0.01)\n")
      await board.until("running\r\n")
      // `\r\x01` after the Ctrl-C is lost: the board waits for a key, not in the raw REPL.
      await board.send("\x03\r\x01")
      const stopped = await board.until(PRESS_ANY_KEY)
      expect(stopped).toContain("KeyboardInterrupt")
      expect(stopped).toContain(statusBar("4@code.py KeyboardInterrupt"))
      expect(stopped).toContain("\r\nCode done running.\r\n")
      expect(board.peek()).toBe("")
      await board.send("\r")
      await board.until(">>> ")
    }),
  )

  it(
    "a file written over USB reloads running code.py and the wait for a key, not a REPL",
    { timeout: 30_000 },
    () =>
      withBoard(CP, async (board) => {
        await usbWrite(board, "/code.py", "import time\nprint('first')\nwhile True:\n    time.sleep(0.01)\n")
        await board.until("first\r\n")
        await usbWrite(board, "/code.py", "print('second')\n")
        const reload = plain(await board.until(PRESS_ANY_KEY))
        expect(reload).toMatch(
          /^\r\nCode stopped by auto-reload\. Reloading soon\.\r\nsoft reboot\r\n[\s\S]*code\.py output:\r\nsecond\r\n/,
        )
        expect(reload).not.toContain("Traceback")
        await usbWrite(board, "/code.py", "print('third')\n")
        expect(plain(await board.until(PRESS_ANY_KEY))).toMatch(/^soft reboot\r\n[\s\S]*third\r\n/)
        await board.send("\r\x01")
        await board.until(RAW_BANNER)
        await board.rawExec("marker = 1")
        await usbWrite(board, "/data.txt", "new")
        const after = parseRawReply(await board.rawExec("print(marker, open('/data.txt').read())"))
        expect(after).toEqual({ stdout: "1 new\r\n", traceback: "" })
      }),
  )

  it("sys.exit() in the raw REPL ends the code and nothing more", { timeout: 20_000 }, () =>
    withBoard(CP, async (board) => {
      await toRaw(board)
      await board.rawExec("marker = 1")
      expect(await board.rawExec("import sys\nsys.exit()")).toBe("OK\x04\x04>")
      expect(parseRawReply(await board.rawExec("print(marker)")).stdout).toBe("1\r\n")
    }),
  )

  it(
    "before 7.1 a soft reboot in the raw REPL runs code.py and waits for a key first",
    { timeout: 20_000 },
    () =>
      withBoard({ ...CP, circuitPythonVersion: "7.0.0" }, async (board) => {
        await bootWith(board, "print('code')\n", "code\r\n")
        await board.send("\r\x01")
        await board.until(RAW_BANNER)
        await board.send("\x04")
        const reboot = plain(await board.until(PRESS_ANY_KEY))
        expect(reboot).toMatch(/^OK\r\nsoft reboot\r\n[\s\S]*code\.py output:\r\ncode\r\n/)
        await board.send("\r")
        expect(await board.until(RAW_BANNER)).toBe(RAW_BANNER)
      }),
  )

  it("before 7.0 there is no raw-paste: the request gets the raw banner again", { timeout: 20_000 }, () =>
    withBoard({ ...CP, circuitPythonVersion: "6.3.0" }, async (board) => {
      await toRaw(board)
      await board.send("\x05A\x01")
      expect(await board.until(RAW_BANNER)).toBe(RAW_BANNER)
    }),
  )
})

describe("belay-virtual-board --circuitpython", () => {
  const script = fileURLToPath(new URL("../bin/virtual-board.mjs", import.meta.url))

  it("runs the board playing CircuitPython on stdin/stdout", { timeout: 20_000 }, async () => {
    const child = spawn(process.execPath, [script, "--circuitpython", "--circuitpython-version", "8.2.10"], {
      stdio: ["pipe", "pipe", "pipe"],
    })
    let out = ""
    const until = (marker: string) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${JSON.stringify(marker)} in ${JSON.stringify(out)}`)),
          10_000,
        )
        const look = () => {
          if (!out.includes(marker)) return
          clearTimeout(timer)
          child.stdout.off("data", look)
          resolve()
        }
        child.stdout.on("data", look)
        look()
      })
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("latin1")
    })
    try {
      await until(PRESS_ANY_KEY)
      child.stdin.write("\r\x01import sys\nprint(sys.implementation.name, sys.implementation.version)\x04")
      await until("\x04>")
      expect(out).toContain("Adafruit CircuitPython 8.2.10")
      expect(out).toContain("OKcircuitpython (8, 2, 10)\r\n\x04\x04>")
    } finally {
      child.kill()
    }
  })

  it("refuses --writable without --circuitpython", () => {
    const result = spawnSync(process.execPath, [script, "--writable"], { input: "", encoding: "utf8" })
    // A usage error, as the script's other bad arguments.
    expect(result.status).toBe(2)
    expect(result.stderr).toContain("--writable goes with --circuitpython")
  })
})

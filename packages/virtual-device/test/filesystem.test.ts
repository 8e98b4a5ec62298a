import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { parseRawReply, RAW_BANNER, withBoard } from "./helpers.ts"

const dirs: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "belay-vboard-test-"))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const stdoutOf = (reply: string) => {
  const { stdout, traceback } = parseRawReply(reply)
  if (traceback !== "") throw new Error(`unexpected exception: ${traceback}`)
  return stdout
}

describe("the flash filesystem", () => {
  it(
    "works like a littlefs root: listdir, open/write, stat, mkdir, rename, remove",
    { timeout: 20_000 },
    () =>
      withBoard({}, async (board) => {
        await board.enterRaw()
        expect(stdoutOf(await board.rawExec("import os\nprint(os.listdir(), os.getcwd())"))).toBe("[] /\r\n")
        expect(
          stdoutOf(
            await board.rawExec(
              "with open('data.txt', 'w') as f:\n    print(f.write('hello'))\nprint(os.listdir('/'), os.stat('data.txt'))",
            ),
          ),
        ).toMatch(/^5\r\n\['data\.txt'\] \(32768, 0, 0, 0, 0, 0, 5, \d+, \d+, \d+\)\r\n$/)
        expect(
          stdoutOf(
            await board.rawExec(
              "os.mkdir('lib')\nos.rename('data.txt', 'lib/moved.txt')\nprint(sorted(os.listdir()), os.listdir('lib'), os.stat('lib')[0])\nprint(open('/lib/moved.txt').read())",
            ),
          ),
        ).toBe("['lib'] ['moved.txt'] 16384\r\nhello\r\n")
        expect(stdoutOf(await board.rawExec("print(list(os.ilistdir('/lib')))"))).toBe(
          "[('moved.txt', 32768, 0, 5)]\r\n",
        )
        expect(
          stdoutOf(
            await board.rawExec(
              "os.chdir('lib')\nprint(os.getcwd(), os.listdir())\nos.chdir('..')\nprint(os.getcwd())",
            ),
          ),
        ).toBe("/lib ['moved.txt']\r\n/\r\n")
        expect(
          stdoutOf(
            await board.rawExec(
              "os.remove('lib/moved.txt')\nos.rmdir('lib')\nprint(os.listdir())\nst = os.statvfs('/')\nprint(len(st), st[0], st[2] * st[0])",
            ),
          ),
        ).toBe(`[]\r\n10 4096 ${2 * 1024 * 1024}\r\n`)
      }),
  )

  it("raises OSError with MicroPython's errno numbers", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      expect(parseRawReply(await board.rawExec("open('missing.txt')")).traceback).toBe(
        'Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\nOSError: [Errno 2] ENOENT\r\n',
      )
      expect(
        stdoutOf(
          await board.rawExec(
            "import os, errno\nos.mkdir('d')\ntry:\n    os.mkdir('d')\nexcept OSError as e:\n    print(e.errno == errno.EEXIST, e.errno)\ntry:\n    os.stat('nope')\nexcept OSError as e:\n    print(e.errno == errno.ENOENT)",
          ),
        ),
      ).toBe("True 17\r\nTrue\r\n")
    }),
  )

  it("imports modules from the flash, /lib included", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await board.rawExec(
        "import os\nos.mkdir('lib')\nopen('lib/helper.py', 'w').write('def twice(x):\\n    return 2 * x\\n')",
      )
      expect(stdoutOf(await board.rawExec("import helper\nprint(helper.twice(21))"))).toBe("42\r\n")
    }),
  )

  it("keeps files across soft and hard resets, not globals", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await board.rawExec("open('keep.txt', 'w').write('kept')\nremembered = 1")
      await board.send("\x04")
      await board.until(RAW_BANNER)
      expect(stdoutOf(await board.rawExec("print(open('keep.txt').read(), 'remembered' in globals())"))).toBe(
        "kept False\r\n",
      )
      await Effect.runPromise(board.link.hardReset)
      await board.until(">>> ")
      await board.send("\x01")
      await board.until(RAW_BANNER)
      expect(stdoutOf(await board.rawExec("print(open('keep.txt').read())"))).toBe("kept\r\n")
      const files = await Effect.runPromise(board.link.files)
      expect(Buffer.from(files.get("/keep.txt")!).toString()).toBe("kept")
    }),
  )

  it("runs boot.py on every reset and main.py in the friendly REPL", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await board.rawExec("open('boot.py', 'w').write('print(\"boot ran\")\\nbooted = True\\n')")
      await board.rawExec("open('main.py', 'w').write('print(\"main ran\")\\n')")
      // Soft reset in the raw REPL: boot.py only.
      await board.send("\x04")
      expect(await board.until(RAW_BANNER)).toBe(`OK\r\nMPY: soft reboot\r\nboot ran\r\n${RAW_BANNER}`)
      expect(stdoutOf(await board.rawExec("print(booted)"))).toBe("True\r\n")
      // Soft reset in the friendly REPL: boot.py, then main.py, then the banner.
      await board.send("\x02")
      await board.until(">>> ")
      await board.send("\x04")
      const reply = await board.until(">>> ")
      expect(reply.startsWith("\r\nMPY: soft reboot\r\nboot ran\r\nmain ran\r\nMicroPython v1.27.0")).toBe(
        true,
      )
    }),
  )

  it("keeps the flash in flashDir, between boards and processes", { timeout: 30_000 }, async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "preloaded.py"), "VALUE = 'from the host'\n")
    await withBoard({ flashDir: dir }, async (board) => {
      await board.enterRaw()
      expect(stdoutOf(await board.rawExec("import preloaded\nprint(preloaded.VALUE)"))).toBe(
        "from the host\r\n",
      )
      await board.rawExec("import os\nos.mkdir('sub')\nopen('sub/state.json', 'w').write('{\"n\": 1}')")
    })
    expect(readFileSync(join(dir, "sub", "state.json"), "utf8")).toBe('{"n": 1}')
    await withBoard({ flashDir: dir }, async (board) => {
      await board.enterRaw()
      expect(
        stdoutOf(await board.rawExec("import json\nprint(json.load(open('sub/state.json'))['n'])")),
      ).toBe("1\r\n")
    })
  })
})

describe("what the WebAssembly board has", () => {
  it("reports its modules like a board's capability probe would find them", { timeout: 20_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      const probe = [
        "def has(name):",
        "    try:",
        "        __import__(name)",
        "        return True",
        "    except ImportError:",
        "        return False",
        "import os, gc",
        "print([n for n in ('_thread', 'machine', 'hashlib', 'binascii', 'json', 'micropython', 'struct', 'time', 'select', 'asyncio') if has(n)])",
        "print(hasattr(os, 'statvfs'), hasattr(gc, 'mem_free'), hasattr(os, 'uname'))",
      ].join("\n")
      expect(stdoutOf(await board.rawExec(probe))).toBe(
        "['machine', 'hashlib', 'binascii', 'json', 'micropython', 'struct', 'time', 'select', 'asyncio']\r\nTrue True False\r\n",
      )
    }),
  )
})

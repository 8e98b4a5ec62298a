import { createHash } from "node:crypto"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { belayCommand, signalGroup, startPtyBoard, stdoutJson } from "./belayProcess.js"
import { freePort, startRelay, startSer2net, startTcpBoard, startWebReplBoard } from "./networkBoards.js"

// The commands e2e-network and e2e-webrepl leave out, over each network link, all on 127.0.0.1:
// `tcp:` to `belay-virtual-board --tcp`, `ws://` to `belay-virtual-board --webrepl` (the password
// from BELAY_WEBREPL_PASSWORD) and `rfc2217:` to Debian's ser2net serving the virtual board's
// pseudo-terminal. Each link has one board for the whole file: unlike a process board (`exec:`,
// e2e-exec), its RAM, working directory and running script outlive each command, so every test
// leaves the board at `/` with nothing running.

const PASSWORD = "n3tpw"
const cli = belayCommand("belay-net-cmds-")

/** A board on the network: the `--device` string, the environment it needs, and how to stop it all. */
interface NetworkBoard {
  readonly device: string
  readonly env: NodeJS.ProcessEnv
  readonly stop: () => Promise<void>
}

const links: ReadonlyArray<{ readonly name: string; readonly start: () => Promise<NetworkBoard> }> = [
  {
    name: "tcp: to belay-virtual-board --tcp",
    start: async () => {
      const board = await startTcpBoard()
      return { device: `tcp:127.0.0.1:${board.port}`, env: {}, stop: () => board.stop() }
    },
  },
  {
    name: "ws:// to belay-virtual-board --webrepl",
    start: async () => {
      const board = await startWebReplBoard(PASSWORD)
      return { device: board.url, env: { BELAY_WEBREPL_PASSWORD: PASSWORD }, stop: () => board.stop() }
    },
  },
  {
    name: "rfc2217: through ser2net to the virtual board on a pseudo-terminal",
    start: async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), "belay-net-cmds-pty-"))
      const pty = await startPtyBoard(dir)
      const stopPty = async () => {
        const gone = new Promise<void>((resolve) =>
          pty.child.exitCode !== null || pty.child.signalCode !== null
            ? resolve()
            : pty.child.once("exit", () => resolve()),
        )
        signalGroup(pty.child, "SIGTERM")
        await gone
        await rm(dir, { recursive: true, force: true })
      }
      try {
        const ser2net = await startSer2net(pty.link)
        return {
          device: `rfc2217:127.0.0.1:${ser2net.port}?baud=115200`,
          env: {},
          stop: async () => {
            await ser2net.stop()
            await stopPty()
          },
        }
      } catch (error) {
        await stopPty()
        throw error
      }
    },
  },
]

const sha256 = (data: string) => createHash("sha256").update(data).digest("hex")
const paths = (entries: ReadonlyArray<{ path: string }>) => entries.map((e) => e.path).sort()

describe.each(links)("$name", (link) => {
  let board: NetworkBoard | undefined
  beforeAll(async () => {
    board = await link.start()
  })
  afterAll(async () => {
    await board?.stop()
  })
  const device = () => {
    if (board === undefined) throw new Error(`no board for ${link.name}`)
    return board.device
  }
  /** Run belay on this link's board, with the link's environment. */
  const belay = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
    cli.run([...args, "--device", device()], { env: { ...board?.env, ...env }, timeoutMs: 120_000 })
  /** This link's device string with another port: a relay's, or one nothing listens on. */
  const throughPort = (port: number) => device().replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`)
  /** A host directory of the test's own, made empty. */
  const hostDir = async (name: string) => {
    const dir = path.join(cli.home(), link.name.split(":")[0] ?? "", name)
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
    return dir
  }

  it("mkdir (parents), touch, cat, sha256sum, rmdir, tree, df, rm -r, at the top level and under fs", async () => {
    const chain = await belay([
      "mkdir",
      "/fx/a/b",
      "+",
      "fs",
      "touch",
      "/fx/a/t.txt",
      "+",
      "exec",
      "open('/fx/s.txt', 'w').write('abc')",
      "+",
      "fs",
      "ls",
      "/fx/a",
      "+",
      "cat",
      ":/fx/s.txt",
      "+",
      "fs",
      "sha256sum",
      "/fx/s.txt",
      "+",
      "rmdir",
      "/fx/a/b",
      "+",
      "fs",
      "tree",
      "/fx",
    ])
    expect(chain.stderr).toBe("")
    expect(chain).toMatchObject({
      code: 0,
      stdout: [
        "d        0  /fx/a/b/",
        "-        0  /fx/a/t.txt",
        `abc${sha256("abc")}  /fx/s.txt`,
        ":/fx",
        "├── a",
        "│   └── t.txt",
        "└── s.txt",
        "",
      ].join("\n"),
    })
    const df = stdoutJson(await belay(["df", "--json"]))
    expect(df.usedBytes + df.freeBytes).toBe(df.totalBytes)
    expect((await belay(["fs", "df"])).stdout).toMatch(/^path +size +used +free +use%\n\/ /)
    const notEmpty = await belay(["fs", "rmdir", "/fx"])
    expect(notEmpty.code).toBe(1)
    expect(notEmpty.stderr).toMatch(/not empty/)
    expect((await belay(["rm", "/fx"])).code).toBe(1)
    expect((await belay(["rm", "-r", "/fx"])).code).toBe(0)
    expect(paths(stdoutJson(await belay(["ls", "--json"])))).not.toContain("/fx")
  })

  it("relative board paths start at the board's working directory, which outlives the command", async () => {
    const local = path.join(await hostDir("cwd"), "x.py")
    await writeFile(local, "X = 1\n")
    const chain = await belay([
      "mkdir",
      "/w/sub",
      "+",
      "exec",
      "import os; os.chdir('/w')",
      "+",
      "fs",
      "put",
      local,
      "main.py",
      "+",
      "cp",
      local,
      ":sub/",
      "+",
      "touch",
      "t.txt",
      "+",
      "ls",
      "--json",
    ])
    expect(chain.code, chain.stderr).toBe(0)
    const listing = chain.stdout.split("\n").find((line) => line.startsWith("["))
    expect(paths(JSON.parse(listing ?? "[]"))).toEqual(["/w/main.py", "/w/sub", "/w/t.txt"])
    // A long-lived board: the next command starts where the last one left the working directory.
    expect(await belay(["cat", "sub/x.py"])).toMatchObject({ code: 0, stdout: "X = 1\n" })
    expect((await belay(["exec", "import os; os.chdir('/')", "+", "rm", "-r", "/w"])).code).toBe(0)
    expect((await belay(["eval", "__import__('os').getcwd()"])).stdout).toBe("'/'\n")
  })

  it("fs clean removes a temporary file whose upload is gone", async () => {
    const made = await belay([
      "mkdir",
      "/cl",
      "+",
      "exec",
      "open('/cl/.belay-zz9-1.tmp', 'w').write('partial')",
    ])
    expect(made.code, made.stderr).toBe(0)
    const clean = await belay(["fs", "clean", "/cl", "--json"])
    expect(clean.code, clean.stderr).toBe(0)
    expect(stdoutJson(clean)).toEqual({ removed: ["/cl/.belay-zz9-1.tmp"], kept: [] })
    expect((await belay(["rm", "-r", "/cl"])).code).toBe(0)
  })

  it("edit writes back only what the editor changed", async () => {
    const dir = await hostDir("edit")
    const editor = path.join(dir, "editor.mjs")
    await writeFile(
      editor,
      'import { readFileSync, writeFileSync } from "node:fs"\nconst f = process.argv[2]\nwriteFileSync(f, readFileSync(f, "utf8").replace("old", "new"))\n',
    )
    const env = { EDITOR: `${process.execPath} ${editor}` }
    expect((await belay(["exec", "open('ed.txt', 'w').write('old text')"])).code).toBe(0)
    expect(await belay(["edit", "ed.txt"], env)).toMatchObject({
      code: 0,
      stdout: "/ed.txt: 8 B written and verified\n",
    })
    expect(await belay(["fs", "edit", "ed.txt"], env)).toMatchObject({
      code: 0,
      stdout: "/ed.txt: unchanged\n",
    })
    expect((await belay(["cat", "ed.txt", "+", "rm", "ed.txt"])).stdout).toBe("new text")
  })

  it("RAM outlives the command; + chains; soft-reset clears RAM; sleep waits between commands", async () => {
    expect((await belay(["exec", "x = 41"])).code).toBe(0)
    const chain = await belay([
      "exec",
      "x += 1",
      "+",
      "eval",
      "x",
      "+",
      "soft-reset",
      "+",
      "sleep",
      "0.1",
      "+",
      "eval",
      "'x' in globals()",
    ])
    expect(chain).toMatchObject({ code: 0, stdout: "42\nFalse\n" })
  })

  it("reset: the board boots again (main.py runs), RAM set by an earlier command gone, files kept", async () => {
    const main = path.join(await hostDir("reset"), "main.py")
    await writeFile(main, "open('booted.txt', 'w').write('main ran')\n")
    expect((await belay(["cp", main, ":", "+", "exec", "z = 1"])).code).toBe(0)
    expect((await belay(["eval", "'z' in globals()"])).stdout).toBe("True\n")
    const reset = await belay(["reset"])
    expect(reset.stderr).toBe("")
    expect(reset).toMatchObject({ code: 0, stdout: "reset; the board answers again (MicroPython 1.27.0)\n" })
    const after = await belay([
      "eval",
      "'z' in globals()",
      "+",
      "cat",
      "booted.txt",
      "+",
      "rm",
      "main.py",
      "booted.txt",
    ])
    expect(after).toMatchObject({ code: 0, stdout: "False\nmain ran" })
  })

  it("rtc reads machine.RTC; rtc --set sets it to the host's local time; the clock survives a reset", async () => {
    const chain = await belay([
      "exec",
      "import machine; machine.RTC().datetime((2001, 2, 3, 0, 4, 5, 6, 0))",
      "+",
      "rtc",
      "+",
      "reset",
      "+",
      "rtc",
      "+",
      "rtc",
      "--set",
      "--json",
    ])
    expect(chain.stderr).toBe("")
    expect(chain.code).toBe(0)
    const lines = chain.stdout.split("\n")
    expect(lines[0]).toMatch(
      /^2001-02-03 04:05:0[6-9], local time; the board is \d+\.\d ms \(about \d+\.\d years\) behind this computer \(±\d+\.\d ms\)$/,
    )
    expect(lines[2]).toMatch(
      /^2001-02-03 04:05:\d\d, local time; the board is \d+\.\d ms \(about \d+\.\d years\) behind this computer \(±\d+\.\d ms\)$/,
    )
    const { datetime, set, offsetMs } = JSON.parse(lines[3] ?? "{}")
    // Set from this computer's clock, aimed at a whole second: the board now reads it.
    expect(set.datetime[7]).toBe(0)
    expect(Math.abs(offsetMs)).toBeLessThan(250)
    const [year, month, day, weekday] = datetime
    const now = new Date()
    expect([year, month, day]).toEqual([now.getFullYear(), now.getMonth() + 1, now.getDate()])
    expect(weekday).toBe((now.getDay() + 6) % 7)
  })

  it("run streams a file's output to its end", async () => {
    const file = path.join(await hostDir("run"), "count.py")
    await writeFile(file, "for i in range(3):\n    print('n', i)\n")
    expect(await belay(["run", file])).toMatchObject({ code: 0, stdout: "n 0\nn 1\nn 2\n" })
  })

  it("run --no-follow returns while the script runs; the next command interrupts it and finds its globals", async () => {
    const file = path.join(await hostDir("no-follow"), "forever.py")
    await writeFile(
      file,
      "import time\nf = open('nf.txt', 'w')\nf.write('ran')\nf.close()\nprint('not followed')\nrunning = True\nwhile True:\n    time.sleep_ms(10)\n",
    )
    const started = await belay(["run", file, "--no-follow"])
    expect(started.code, started.stderr).toBe(0)
    expect(started.stderr).toContain("started on the board")
    // A later connection finds the script's globals: it ran on this board and was interrupted, not lost.
    const next = await belay(["cat", "nf.txt", "+", "rm", "nf.txt", "+", "eval", "running"])
    expect(next).toMatchObject({ code: 0, stdout: "ranTrue\n" })
  })

  it("repl --capture keeps what the board printed; --inject-code types its code on Ctrl-J", async () => {
    const capture = path.join(await hostDir("repl"), "repl.log")
    const repl = cli.start(
      ["repl", "--capture", capture, "--inject-code", "print('injected', 6 * 7)", "--device", device()],
      { stdin: "pipe", env: board?.env },
    )
    await repl.until("Ctrl-] leaves", "stderr")
    await repl.until(">>> ")
    repl.child.stdin?.write("\n")
    await repl.until("injected 42")
    repl.child.stdin?.write("\x1d")
    expect((await repl.finished).code).toBe(0)
    expect(await readFile(capture, "utf8")).toContain("injected 42")
    // The board is left at its prompt for the next command.
    expect(await belay(["eval", "6 * 7"])).toMatchObject({ code: 0, stdout: "42\n" })
  })

  it("exit codes 1 and 2, as text and as --json", async () => {
    const python = await belay(["exec", "1/0", "--json"])
    expect(python.code).toBe(1)
    expect(stdoutJson(python)).toMatchObject({ error: "PythonError", exitCode: 1 })
    expect(stdoutJson(python).message).toContain("ZeroDivisionError")
    const missing = await belay(["cat", "/no-such-file"])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain("/no-such-file")
    const statement = await belay(["eval", "x = 1", "--json"])
    expect(statement.code).toBe(2)
    expect(stdoutJson(statement)).toMatchObject({ error: "UsageError", exitCode: 2 })
    // The device before the `+`: nothing follows it.
    const chain = await cli.run(["exec", "pass", "--device", device(), "+"], { env: board?.env })
    expect(chain.code).toBe(2)
    expect(chain.stderr).toContain("empty command in a chain")
  })

  it("exit code 3 for a link with no server behind it, as text and as --json", async () => {
    const port = await freePort()
    const nobody = throughPort(port)
    const gone = await cli.run(["exec", "1", "--json", "--device", nobody], { env: board?.env })
    expect(gone.code).toBe(3)
    expect(stdoutJson(gone)).toMatchObject({ error: "LinkOpenError", exitCode: 3 })
    const text = await cli.run(["exec", "1", "--device", nobody], { env: board?.env })
    expect(text.code).toBe(3)
    expect(text.stderr).toContain(`cannot open ${nobody.replace(/\?.*$/, "")}: connection refused`)
  })

  it("exit code 3 when the connection drops in the middle of run; the board, still running the script, answers the next command", async () => {
    const file = path.join(await hostDir("dropped"), "ticks.py")
    await writeFile(
      file,
      "import time\nticks = 0\nwhile True:\n    ticks += 1\n    print('tick', ticks)\n    time.sleep_ms(20)\n",
    )
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(device())?.[1])
    // A relay of one connection in front of the server: killing it drops the connection, the board stays up.
    const relay = await startRelay(port)
    try {
      const run = cli.start(["run", file, "--json", "--device", throughPort(relay.port)], { env: board?.env })
      await run.until("tick 3")
      await relay.stop("SIGKILL")
      const dropped = await run.finished
      expect(dropped.code).toBe(3)
      expect(dropped.stdout).toMatch(/"error":"LinkLostError"/)
    } finally {
      await relay.stop()
    }
    // The script ran on past the drop; the next command interrupts it and finds its globals.
    const after = await belay(["eval", "ticks > 3"])
    expect(after).toMatchObject({ code: 0, stdout: "True\n" })
  })
})

import { createHash } from "node:crypto"
import { mkdir, readFile, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  belayCommand,
  qemuMicrobitForBlock,
  signalGroup,
  startPtyBoard,
  stdoutJson,
  withoutResendWarnings,
} from "./belayProcess.js"

// mpremote's everyday commands, spawned as a user runs them: `cp` with ':' paths, the file
// commands (under `fs` and top level), board control, `+` chains, and board paths relative to
// the board's working directory. On the virtual board (the default), the virtual board behind a
// pseudo-terminal (for what must outlive the command), and the QEMU micro:bit (MicroPython 1.9.2,
// a flat filesystem).

const cli = belayCommand("belay-commands-")
const belay = cli.run

/** A host directory of the test's own, made empty. */
const hostDir = async (name: string) => {
  const dir = path.join(cli.home(), name)
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  return dir
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex")

describe("file commands on the virtual board", () => {
  it("cp: ':' marks the board; ':' alone is the working directory; a second copy is skipped unless -f", async () => {
    const dir = await hostDir("cp-basic")
    const local = path.join(dir, "main.py")
    await writeFile(local, "print('hi')\n")
    const first = await belay(["cp", local, ":"])
    expect(first).toMatchObject({ code: 0, stdout: `${local} -> :/main.py: 12 B copied and verified\n` })
    const again = await belay(["cp", local, ":", "--json"])
    expect(stdoutJson(again)).toEqual([{ from: local, to: ":/main.py", bytes: 12, unchanged: true }])
    const forced = await belay(["cp", "-f", local, ":main.py", "--json"])
    expect(stdoutJson(forced)).toEqual([{ from: local, to: ":/main.py", bytes: 12, unchanged: false }])
    const back = path.join(dir, "back.py")
    expect((await belay(["cp", ":main.py", back])).code).toBe(0)
    expect(await readFile(back, "utf8")).toBe("print('hi')\n")
    const backAgain = await belay(["cp", ":main.py", back, "--json"])
    expect(stdoutJson(backAgain)).toEqual([{ from: ":/main.py", to: back, bytes: 12, unchanged: true }])
    // Into the host's current directory, as `belay cp :main.py .` would be typed there.
    const into = await belay(["cp", ":main.py", `${dir}/.`])
    expect(into.code).toBe(0)
    expect(await readFile(path.join(dir, "main.py"), "utf8")).toBe("print('hi')\n")
    // Board to board, and several board files into a host directory.
    const onBoard = await belay(["cp", ":main.py", ":copy.py", "+", "cat", "copy.py"])
    expect(onBoard).toMatchObject({
      code: 0,
      stdout: ":/main.py -> :/copy.py: 12 B copied and verified\nprint('hi')\n",
    })
    const several = path.join(dir, "several")
    expect((await belay(["cp", ":main.py", ":copy.py", several])).code).toBe(0)
    expect(await readFile(path.join(several, "copy.py"), "utf8")).toBe("print('hi')\n")
    expect((await belay(["rm", ":main.py", "copy.py"])).code).toBe(0)
  })

  it("cp into directories, with or without a trailing slash; several sources; -r both ways", async () => {
    const dir = await hostDir("cp-dirs")
    await mkdir(path.join(dir, "src", "sub"), { recursive: true })
    await writeFile(path.join(dir, "src", "a.py"), "A = 1\n")
    await writeFile(path.join(dir, "src", "sub", "b.py"), "B = 2\n")
    await writeFile(path.join(dir, "one.txt"), "one")
    await writeFile(path.join(dir, "two.txt"), "two")
    expect((await belay(["mkdir", ":/cpd/into"])).code).toBe(0)
    expect((await belay(["cp", path.join(dir, "one.txt"), ":/cpd/into"])).code).toBe(0)
    expect(
      (await belay(["cp", path.join(dir, "one.txt"), path.join(dir, "two.txt"), ":/cpd/into/"])).code,
    ).toBe(0)
    expect((await belay(["cp", "-r", path.join(dir, "src"), ":/cpd/lib"])).code).toBe(0)
    // The target exists now: a second -r copy goes into it, as cp -r does.
    const nested = await belay(["cp", "-r", path.join(dir, "src"), ":/cpd/lib", "--json"])
    expect(
      stdoutJson(nested)
        .map((c: { to: string }) => c.to)
        .sort(),
    ).toEqual([":/cpd/lib/src/a.py", ":/cpd/lib/src/sub/b.py"])
    const tree = await belay(["tree", ":/cpd"])
    expect(tree).toMatchObject({
      code: 0,
      stdout: [
        ":/cpd",
        "├── into",
        "│   ├── one.txt",
        "│   └── two.txt",
        "└── lib",
        "    ├── a.py",
        "    ├── src",
        "    │   ├── a.py",
        "    │   └── sub",
        "    │       └── b.py",
        "    └── sub",
        "        └── b.py",
        "",
      ].join("\n"),
    })
    const unchanged = await belay(["cp", "-r", path.join(dir, "src"), ":/cpd/lib", "--json"])
    expect(stdoutJson(unchanged).every((c: { unchanged: boolean }) => c.unchanged)).toBe(true)
    const down = path.join(dir, "down")
    expect((await belay(["cp", "-r", ":/cpd/lib", down])).code).toBe(0)
    expect(await readFile(path.join(down, "sub", "b.py"), "utf8")).toBe("B = 2\n")
    expect(await readFile(path.join(down, "src", "sub", "b.py"), "utf8")).toBe("B = 2\n")
    const noR = await belay(["cp", path.join(dir, "src"), ":/cpd/x"])
    expect(noR.code).toBe(2)
    expect(noR.stderr).toContain("copy it with -r")
    const hostToHost = await belay(["cp", path.join(dir, "one.txt"), path.join(dir, "three.txt")])
    expect(hostToHost.code).toBe(2)
    expect(hostToHost.stderr).toContain("mark board paths with ':'")
    expect((await belay(["rm", "-r", ":/cpd"])).code).toBe(0)
  })

  it("fs put into a directory without a trailing slash; fs get into a host directory ending in /", async () => {
    const dir = await hostDir("put-get")
    const local = path.join(dir, "f.txt")
    await writeFile(local, "content\n")
    expect((await belay(["fs", "mkdir", "/pg"])).code).toBe(0)
    const put = await belay(["fs", "put", local, "/pg"])
    expect(put).toMatchObject({ code: 0, stdout: `${local} -> :/pg/f.txt: 8 B copied and verified\n` })
    const into = `${path.join(dir, "localdir")}/`
    const get = await belay(["fs", "get", "/pg/f.txt", into])
    expect(get.code).toBe(0)
    expect(await readFile(path.join(dir, "localdir", "f.txt"), "utf8")).toBe("content\n")
    expect((await belay(["fs", "rm", "-r", "/pg"])).code).toBe(0)
  })

  it("relative board paths start at the board's working directory, not /", async () => {
    const dir = await hostDir("cwd")
    const local = path.join(dir, "x.py")
    await writeFile(local, "X = 1\n")
    // os.chdir lasts as long as the board's RAM: here one chain, one connection. The kept virtual
    // board keeps its RAM between commands too, so the chain goes back to / at its end.
    const chain = await belay([
      "mkdir",
      "/work/sub",
      "+",
      "exec",
      "import os; os.chdir('/work')",
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
      "+",
      "cat",
      "main.py",
      "+",
      "cp",
      ":../work/sub/x.py",
      path.join(dir, "copy.py"),
      "+",
      "fs",
      "sync",
      dir,
      "synced",
      "+",
      "exec",
      "os.chdir('/')",
    ])
    expect(chain.code).toBe(0)
    expect(chain.stdout).toContain(`${local} -> :/work/main.py`)
    expect(chain.stdout).toContain(`${local} -> :/work/sub/x.py`)
    const listing = chain.stdout.split("\n").find((line) => line.startsWith("["))
    expect(
      JSON.parse(listing ?? "[]")
        .map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(["/work/main.py", "/work/sub", "/work/t.txt"])
    expect(chain.stdout).toContain("X = 1\n")
    expect(await readFile(path.join(dir, "copy.py"), "utf8")).toBe("X = 1\n")
    expect(chain.stdout).toContain("upload /work/synced/x.py (new, 6 B)")
    // The root holds no main.py: the relative path did not go there.
    const root = await belay(["ls", "/", "--json"])
    expect(stdoutJson(root).map((e: { path: string }) => e.path)).not.toContain("/main.py")
    expect((await belay(["rm", "-r", "/work"])).code).toBe(0)
  })

  it("ls, cat, mkdir (parents), touch, rmdir, rm -r, df and sha256sum, under fs and at the top level", async () => {
    expect((await belay(["mkdir", "/fc/a/b"])).code).toBe(0)
    expect((await belay(["fs", "touch", "/fc/a/t.txt"])).code).toBe(0)
    const ls = await belay(["fs", "ls", "/fc/a", "--json"])
    expect(stdoutJson(ls)).toEqual([
      { path: "/fc/a/b", type: "dir", size: 0 },
      { path: "/fc/a/t.txt", type: "file", size: 0 },
    ])
    const text = await belay(["ls", ":/fc/a"])
    expect(text.stdout).toBe("d        0  /fc/a/b/\n-        0  /fc/a/t.txt\n")
    const notEmpty = await belay(["rmdir", "/fc/a"])
    expect(notEmpty.code).toBe(1)
    expect(notEmpty.stderr).toMatch(/not empty/)
    const notDir = await belay(["rmdir", "/fc/a/t.txt"])
    expect(notDir.code).toBe(1)
    expect((await belay(["rmdir", "/fc/a/b"])).code).toBe(0)
    const sums = await belay(["exec", "open('/fc/s.txt', 'w').write('abc')", "+", "sha256sum", "/fc/s.txt"])
    expect(sums).toMatchObject({ code: 0, stdout: `${sha256("abc")}  /fc/s.txt\n` })
    expect((await belay(["cat", ":/fc/s.txt", "/fc/a/t.txt"])).stdout).toBe("abc")
    const df = await belay(["df", "--json"])
    expect(df.code).toBe(0)
    const usage = stdoutJson(df)
    expect(usage.totalBytes).toBeGreaterThan(0)
    expect(usage.usedBytes + usage.freeBytes).toBe(usage.totalBytes)
    expect((await belay(["df"])).stdout).toMatch(/^path +size +used +free +use%\n\/ /)
    expect((await belay(["rm", "/fc"])).code).toBe(1)
    expect((await belay(["rm", "-r", "/fc"])).code).toBe(0)
    expect(stdoutJson(await belay(["ls", "--json"])).map((e: { path: string }) => e.path)).not.toContain(
      "/fc",
    )
  })

  it("edit writes back only what the editor changed", async () => {
    const dir = await hostDir("edit")
    const editor = path.join(dir, "editor.mjs")
    await writeFile(
      editor,
      'import { readFileSync, writeFileSync } from "node:fs"\nconst f = process.argv[2]\nwriteFileSync(f, readFileSync(f, "utf8").replace("old", "new"))\n',
    )
    expect((await belay(["exec", "open('/ed.txt', 'w').write('old text')"])).code).toBe(0)
    const edited = await belay(["edit", "ed.txt"], { env: { EDITOR: `${process.execPath} ${editor}` } })
    expect(edited).toMatchObject({ code: 0, stdout: "/ed.txt: 8 B written and verified\n" })
    expect((await belay(["cat", "ed.txt"])).stdout).toBe("new text")
    const same = await belay(["edit", "ed.txt"], { env: { EDITOR: `${process.execPath} ${editor}` } })
    expect(same).toMatchObject({ code: 0, stdout: "/ed.txt: unchanged\n" })
    const failed = await belay(["edit", "ed.txt"], { env: { EDITOR: "false" } })
    expect(failed.code).toBe(2)
    expect(failed.stderr).toContain("the board file is unchanged")
    expect((await belay(["rm", "ed.txt"])).code).toBe(0)
  })
})

describe("board control and chains on the virtual board", () => {
  it("+ chains commands on one connection: the board's RAM carries from one to the next", async () => {
    const chain = await belay(["exec", "x = 41", "+", "exec", "x += 1", "+", "eval", "x"])
    expect(chain).toMatchObject({ code: 0, stdout: "42\n" })
    // Separate invocations are separate connections: the kept virtual board (the default) keeps
    // its RAM between them, as a real board does; one in the command's own process starts afresh.
    expect(await belay(["eval", "x"])).toMatchObject({ code: 0, stdout: "42\n" })
    const alone = await belay(["eval", "x", "-d", "virtual?keep=false"])
    expect(alone.code).toBe(1)
    expect(alone.stderr).toContain("NameError")
    const stops = await belay(["exec", "print('a')", "+", "exec", "1/0", "+", "exec", "print('never')"])
    expect(stops.code).toBe(1)
    expect(stops.stdout).toBe("a\n")
    expect(stops.stderr).toContain("ZeroDivisionError")
    const empty = await belay(["exec", "pass", "+"])
    expect(empty.code).toBe(2)
    expect(empty.stderr).toContain("empty command in a chain")
  })

  it("soft-reset clears the board's RAM; sleep waits between chained commands", async () => {
    const chain = await belay([
      "exec",
      "y = 1",
      "+",
      "soft-reset",
      "+",
      "sleep",
      "0.1",
      "+",
      "eval",
      "'y' in globals()",
    ])
    expect(chain).toMatchObject({ code: 0, stdout: "False\n" })
    const bad = await belay(["sleep", "-1"])
    expect(bad.code).toBe(2)
  })

  it("rtc reads machine.RTC; rtc --set sets it to the host's local time; the clock outlives a reset, not the board", async () => {
    const chain = await belay([
      "exec",
      "import machine; machine.RTC().datetime((2000, 1, 2, 0, 3, 4, 5, 0))",
      "+",
      "rtc",
      "+",
      "reset",
      "+",
      "rtc",
      "--json",
      "+",
      "rtc",
      "--set",
      "--json",
    ])
    expect(chain.stderr).toBe("")
    expect(chain.code).toBe(0)
    const [set, , afterReset, now] = chain.stdout.split("\n")
    expect(set).toMatch(
      /^2000-01-02 03:04:0[5-9], local time; the board is \d+\.\d ms \(about \d+\.\d years\) behind this computer \(±\d+\.\d ms\)$/,
    )
    // 2 January 2000 was a Sunday: the board keeps the weekday (Monday is 0).
    const kept = JSON.parse(afterReset ?? "{}")
    expect(kept.datetime.slice(0, 4)).toEqual([2000, 1, 2, 6])
    expect(kept).toMatchObject({
      zone: "local",
      offsetMs: expect.any(Number),
      uncertaintyMs: expect.any(Number),
    })
    expect(kept.offsetMs).toBeLessThan(-20 * 365 * 86_400_000)
    expect(kept.set).toBeUndefined()
    const synced = JSON.parse(now ?? "{}")
    // Set from this computer's clock, aimed at a whole second: the board now reads it.
    expect(synced.set.datetime[7]).toBe(0)
    expect(Math.abs(synced.offsetMs)).toBeLessThan(250)
    expect(synced.uncertaintyMs).toBeGreaterThan(0)
    const [year, month, day, weekday] = synced.datetime
    const host = new Date()
    expect([year, month, day, weekday]).toEqual([
      host.getFullYear(),
      host.getMonth() + 1,
      host.getDate(),
      (host.getDay() + 6) % 7,
    ])
    // A new process powers on a new board, whose clock starts at the host's (UTC) time.
    const fresh = await belay(["rtc", "--json", "--utc"])
    expect(stdoutJson(fresh).datetime[0]).toBe(new Date().getUTCFullYear())
    expect(Math.abs(stdoutJson(fresh).offsetMs)).toBeLessThan(250)
  })

  it("syncClock in the config file sets the clock on connect; BELAY_SYNC_CLOCK wins; a bad value is a usage error", async () => {
    const dir = path.join(cli.home(), "config", "belay")
    await mkdir(dir, { recursive: true })
    const file = path.join(dir, "config.json")
    // Each command powers on a fresh virtual board, at UTC; set to the local time of +05:30, it
    // reads 5.5 hours ahead in UTC.
    const env = { TZ: "Asia/Kolkata" }
    const utcOffset = async (extra: Record<string, string> = {}) => {
      const result = await belay(["rtc", "--json", "--utc"], { env: { ...env, ...extra } })
      expect(result.code, result.stderr).toBe(0)
      return stdoutJson(result).offsetMs as number
    }
    const KOLKATA = 5.5 * 3_600_000
    try {
      expect(Math.abs(await utcOffset())).toBeLessThan(250)
      await writeFile(file, JSON.stringify({ syncClock: "local" }))
      expect(Math.abs((await utcOffset()) - KOLKATA)).toBeLessThan(250)
      await writeFile(file, JSON.stringify({ syncClock: true }))
      expect(Math.abs((await utcOffset()) - KOLKATA)).toBeLessThan(250)
      expect(Math.abs(await utcOffset({ BELAY_SYNC_CLOCK: "false" }))).toBeLessThan(250)
      await writeFile(file, JSON.stringify({ syncClock: "utc" }))
      expect(Math.abs(await utcOffset())).toBeLessThan(250)
      expect(Math.abs((await utcOffset({ BELAY_SYNC_CLOCK: "local" })) - KOLKATA)).toBeLessThan(250)
      await writeFile(file, JSON.stringify({ syncClock: "yes" }))
      const broken = await belay(["rtc"], { env })
      expect(broken.code).toBe(2)
      expect(broken.stderr).toContain(`has a "syncClock" that is not "local", "utc", true or false`)
      await writeFile(file, "{}")
      const badEnv = await belay(["rtc"], { env: { BELAY_SYNC_CLOCK: "sometimes" } })
      expect(badEnv.code).toBe(2)
      expect(badEnv.stderr).toContain("BELAY_SYNC_CLOCK")
    } finally {
      await rm(file, { force: true })
    }
  })

  it("reset: machine.reset(), then a new connection once the board answers; RAM gone, boot.py and main.py run, files kept", async () => {
    const dir = await hostDir("reset")
    await writeFile(path.join(dir, "boot.py"), "open('boot.txt', 'w').write('boot ran')\n")
    await writeFile(path.join(dir, "main.py"), "open('main.txt', 'w').write('main ran')\n")
    const chain = await belay([
      "cp",
      path.join(dir, "boot.py"),
      path.join(dir, "main.py"),
      ":",
      "+",
      "exec",
      "z = 1",
      "+",
      "reset",
      "+",
      "eval",
      "'z' in globals()",
      "+",
      "cat",
      "boot.txt",
      "main.txt",
      "+",
      "rm",
      "boot.py",
      "main.py",
      "boot.txt",
      "main.txt",
    ])
    expect(chain.stderr).toBe("")
    expect(chain.code).toBe(0)
    expect(chain.stdout).toContain(
      "reset; the board answers again (MicroPython 1.27.0)\nFalse\nboot ranmain ran",
    )
    const alone = await belay(["reset", "--json"])
    expect(alone).toMatchObject({ code: 0, stdout: "reset; the board answers again (MicroPython 1.27.0)\n" })
  })

  it("repl --capture keeps what the board printed; --inject-code types its code on Ctrl-J", async () => {
    const capture = path.join(cli.home(), "repl.log")
    const repl = cli.start(["repl", "--capture", capture, "--inject-code", "print('injected', 6 * 7)"], {
      stdin: "pipe",
    })
    await repl.until("Ctrl-] leaves", "stderr")
    await repl.until(">>> ")
    repl.child.stdin?.write("\n")
    await repl.until("injected 42")
    repl.child.stdin?.write("\x1d")
    expect((await repl.finished).code).toBe(0)
    expect(await readFile(capture, "utf8")).toContain("injected 42")
  })
})

describe("commands that outlive the command, on the virtual board behind a pseudo-terminal", () => {
  let board: Awaited<ReturnType<typeof startPtyBoard>>
  let device: string
  let dir: string
  beforeAll(async () => {
    dir = path.join(os.tmpdir(), `belay-commands-pty-${process.pid}`)
    await mkdir(dir, { recursive: true })
    board = await startPtyBoard(dir)
    device = `serial:${board.link}`
  })
  afterAll(async () => {
    if (board) signalGroup(board.child, "SIGTERM")
    await rm(dir, { recursive: true, force: true })
  })

  it("run --no-follow starts a script and returns while it runs; the next command interrupts it", async () => {
    const script = path.join(cli.home(), "forever.py")
    await writeFile(
      script,
      "import time\nf = open('nf.txt', 'w')\nf.write('ran')\nf.close()\nprint('not followed')\nwhile True:\n    time.sleep_ms(10)\n",
    )
    const run = await belay(["run", script, "--no-follow", "--device", device])
    expect(run.code).toBe(0)
    expect(run.stdout).toBe("")
    expect(run.stderr).toContain("started on the board")
    const cat = await belay(["cat", "nf.txt", "+", "rm", "nf.txt", "--device", device])
    expect(cat).toMatchObject({ code: 0, stdout: "ran" })
  })

  it("a script that catches the first KeyboardInterrupt and goes on is still stopped by the next command", async () => {
    // The next command's first try sends its two Ctrl-Cs at once (the script takes them as one);
    // with no banner coming, it tries again the slow way, whose second Ctrl-C ends the script.
    const script = path.join(cli.home(), "stubborn.py")
    await writeFile(
      script,
      "import time\ntry:\n    while True:\n        time.sleep_ms(10)\nexcept KeyboardInterrupt:\n    print('caught one')\nwhile True:\n    time.sleep_ms(10)\n",
    )
    const run = await belay(["run", script, "--no-follow", "--device", device])
    expect(run.code).toBe(0)
    const next = await belay(["exec", "print('stopped')", "--device", device])
    expect(next).toMatchObject({ code: 0, stdout: "stopped\n" })
    const after = await belay(["eval", "1 + 1", "--device", device])
    expect(after).toMatchObject({ code: 0, stdout: "2\n" })
  })
})

describe("commands on the QEMU micro:bit (MicroPython 1.9.2, a flat filesystem)", () => {
  const qemu = qemuMicrobitForBlock()
  let device: string
  beforeAll(() => {
    device = `serial:${qemu.ptyPath()}`
  })

  it("cp both ways with ':' paths, skipping what is the same; ls, cat, touch, sha256sum, tree, rm in one chain", async () => {
    const dir = await hostDir("microbit")
    const local = path.join(dir, "mb.py")
    await writeFile(local, "print('microbit')\n")
    const chain = await belay(
      [
        "cp",
        local,
        ":",
        "+",
        "cp",
        local,
        ":",
        "+",
        "touch",
        "e.txt",
        "+",
        "ls",
        "+",
        "cat",
        ":mb.py",
        "+",
        "sha256sum",
        "mb.py",
        "+",
        "cp",
        ":mb.py",
        `${dir}/back/`,
        "+",
        "tree",
        "+",
        "rm",
        "e.txt",
        "--device",
        device,
      ],
      { timeoutMs: 180_000 },
    )
    expect(withoutResendWarnings(chain.stderr)).toBe("")
    expect(chain.code).toBe(0)
    expect(chain.stdout).toContain(`${local} -> :/mb.py: 18 B copied and verified\n`)
    expect(chain.stdout).toContain(`${local} -> :/mb.py: unchanged (same content)\n`)
    expect(chain.stdout).toContain("-        0  /e.txt\n")
    expect(chain.stdout).toContain("-       18  /mb.py\n")
    expect(chain.stdout).toContain("print('microbit')\n")
    expect(chain.stdout).toContain(`${sha256("print('microbit')\n")}  /mb.py\n`)
    expect(chain.stdout).toContain(":/\n")
    expect(await readFile(path.join(dir, "back", "mb.py"), "utf8")).toBe("print('microbit')\n")
    const one = await belay(["ls", "mb.py", "--json", "--device", device])
    expect(stdoutJson(one)).toEqual([{ path: "/mb.py", type: "file", size: 18 }])
    expect((await belay(["rm", ":mb.py", "--device", device])).code).toBe(0)
    const ls = await belay(["ls", "--json", "--device", device])
    expect(stdoutJson(ls).map((e: { path: string }) => e.path)).not.toContain("/mb.py")
  })

  it("directories are refused up front: mkdir, rmdir, a path below the root", async () => {
    for (const args of [
      ["mkdir", "lib"],
      ["rmdir", "lib"],
      ["cat", "lib/x.py"],
    ]) {
      const refused = await belay([...args, "--device", device])
      expect(refused.code).toBe(1)
      expect(refused.stderr).toMatch(/flat/)
    }
  })

  it("reset: machine.reset(), then a new connection once the board answers; its RAM is gone", async () => {
    const chain = await belay(
      ["exec", "z = 1", "+", "reset", "+", "eval", "'z' in globals()", "--device", device],
      {
        timeoutMs: 120_000,
      },
    )
    expect(chain.code).toBe(0)
    expect(chain.stdout).toBe("reset; the board answers again (MicroPython 1.9.2)\nFalse\n")
    const alone = await belay(["reset", "--device", device], { timeoutMs: 120_000 })
    expect(alone).toMatchObject({ code: 0, stdout: "reset; the board answers again (MicroPython 1.9.2)\n" })
  })

  it("soft-reset, then exec on the same connection", async () => {
    const chain = await belay([
      "exec",
      "w = 2",
      "+",
      "soft-reset",
      "+",
      "eval",
      "'w' in globals()",
      "--device",
      device,
    ])
    expect(chain).toMatchObject({ code: 0, stdout: "False\n" })
  })
})

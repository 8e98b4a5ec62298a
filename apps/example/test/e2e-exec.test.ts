import { createHash } from "node:crypto"
import { mkdir, readFile, rm, writeFile } from "node:fs/promises"
import path from "node:path"
import { virtualBoardScript } from "@belay/virtual-device"
import { beforeAll, describe, expect, it } from "vitest"
import { belayCommand, stdoutJson } from "./belayProcess.js"

// Every command on a process board, `--device exec:<command>`: the board is a child process the
// CLI starts for each invocation and talks to on its stdio. No MicroPython unix build is installed
// here, so the process is the virtual board's script (MicroPython in WebAssembly on stdin/stdout),
// with its flash in a folder of the test's own: files stay between invocations, RAM does not (each
// invocation powers on a new process). The coverage matrix is at the top of e2e-virtual.test.ts.

const cli = belayCommand("belay-e2e-exec-")

let device = ""
beforeAll(async () => {
  const flash = path.join(cli.home(), "flash-exec")
  await mkdir(flash, { recursive: true })
  device = `exec:${process.execPath} ${virtualBoardScript()} --flash-dir ${flash}`
})

/** Run belay on the process board. */
const belay = (args: ReadonlyArray<string>, options?: Parameters<typeof cli.run>[1]) =>
  cli.run([...args, "--device", device], options)

/** A host directory of the test's own, made empty. */
const hostDir = async (name: string) => {
  const dir = path.join(cli.home(), name)
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  return dir
}

const sha256 = (data: string) => createHash("sha256").update(data).digest("hex")
const paths = (entries: ReadonlyArray<{ path: string }>) => entries.map((e) => e.path).sort()

describe("exec, eval, run and info on a process board", () => {
  it("exec prints, eval prints the repr (JSON with --json), run streams a file, info says what the board is", async () => {
    expect(await belay(["exec", "print(6 * 7)"])).toMatchObject({ code: 0, stdout: "42\n" })
    expect(await belay(["eval", "{1: b'x'}"])).toMatchObject({ code: 0, stdout: "{1: b'x'}\n" })
    expect(stdoutJson(await belay(["eval", "[1, None]", "--json"]))).toEqual([1, null])
    const file = path.join(await hostDir("run"), "count.py")
    await writeFile(file, "for i in range(3):\n    print('n', i)\n")
    expect(await belay(["run", file])).toMatchObject({ code: 0, stdout: "n 0\nn 1\nn 2\n" })
    const info = await belay(["info", "--json"])
    expect(info.code).toBe(0)
    expect(stdoutJson(info).capabilities.platform).toBe("webassembly")
  })

  it("run --no-follow returns while the script runs; the next chained command interrupts it", async () => {
    const file = path.join(await hostDir("no-follow"), "forever.py")
    await writeFile(
      file,
      "import time\nf = open('nf.txt', 'w')\nf.write('ran')\nf.close()\nprint('not followed')\nwhile True:\n    time.sleep_ms(10)\n",
    )
    const chain = await belay([
      "run",
      file,
      "--no-follow",
      "+",
      "sleep",
      "0.2",
      "+",
      "cat",
      "nf.txt",
      "+",
      "rm",
      "nf.txt",
    ])
    expect(chain).toMatchObject({ code: 0, stdout: "ran" })
    expect(chain.stderr).toContain("started on the board")
  })
})

describe("files on a process board", () => {
  it("cp with ':' paths both ways, skipping what is the same unless -f; directory targets; -r both ways", async () => {
    const dir = await hostDir("cp")
    const local = path.join(dir, "main.py")
    await writeFile(local, "print('hi')\n")
    await mkdir(path.join(dir, "src", "sub"), { recursive: true })
    await writeFile(path.join(dir, "src", "a.py"), "A = 1\n")
    await writeFile(path.join(dir, "src", "sub", "b.py"), "B = 2\n")
    expect(await belay(["cp", local, ":"])).toMatchObject({
      code: 0,
      stdout: `${local} -> :/main.py: 12 B copied and verified\n`,
    })
    expect(stdoutJson(await belay(["cp", local, ":main.py", "--json"]))).toEqual([
      { from: local, to: ":/main.py", bytes: 12, unchanged: true },
    ])
    expect(stdoutJson(await belay(["cp", "-f", local, ":main.py", "--json"]))).toEqual([
      { from: local, to: ":/main.py", bytes: 12, unchanged: false },
    ])
    // A board directory as the target, with and without a trailing slash.
    const into = await belay([
      "mkdir",
      ":/cpx",
      "+",
      "cp",
      local,
      ":/cpx",
      "+",
      "cp",
      ":main.py",
      ":/cpx/",
      "+",
      "ls",
      ":/cpx",
    ])
    expect(into.code).toBe(0)
    expect(into.stdout).toContain("-       12  /cpx/main.py\n")
    expect((await belay(["cp", "-r", path.join(dir, "src"), ":/cpx/lib"])).code).toBe(0)
    const back = path.join(dir, "back")
    expect((await belay(["cp", "-r", ":/cpx", back])).code).toBe(0)
    expect(await readFile(path.join(back, "lib", "sub", "b.py"), "utf8")).toBe("B = 2\n")
    expect(await readFile(path.join(back, "main.py"), "utf8")).toBe("print('hi')\n")
    // Into a host directory, and the second copy down is skipped.
    expect((await belay(["cp", ":main.py", `${dir}/down/`])).code).toBe(0)
    expect(stdoutJson(await belay(["cp", ":main.py", `${dir}/down/`, "--json"]))).toEqual([
      { from: ":/main.py", to: path.join(dir, "down", "main.py"), bytes: 12, unchanged: true },
    ])
    const noR = await belay(["cp", path.join(dir, "src"), ":/cpx/x"])
    expect(noR.code).toBe(2)
    expect(noR.stderr).toContain("copy it with -r")
    expect((await belay(["rm", "-r", ":/cpx", "+", "rm", "main.py"])).code).toBe(0)
  })

  it("ls, cat, mkdir (parents), touch, rmdir, tree, df, sha256sum, rm -r at the top level and under fs", async () => {
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
    expect((await belay(["fs", "rm", "-r", "/fx"])).code).toBe(0)
    expect(paths(stdoutJson(await belay(["ls", "--json"])))).not.toContain("/fx")
  })

  it("relative board paths start at the board's working directory", async () => {
    const dir = await hostDir("cwd")
    const local = path.join(dir, "x.py")
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
    expect(chain.code).toBe(0)
    const listing = chain.stdout.split("\n").find((line) => line.startsWith("["))
    expect(paths(JSON.parse(listing ?? "[]"))).toEqual(["/w/main.py", "/w/sub", "/w/t.txt"])
    expect((await belay(["cat", "/w/sub/x.py"])).stdout).toBe("X = 1\n")
    expect((await belay(["rm", "-r", "/w"])).code).toBe(0)
  })

  it("fs put, get, sync and clean", async () => {
    const dir = await hostDir("fs")
    const local = path.join(dir, "f.txt")
    await writeFile(local, "content\n")
    await mkdir(path.join(dir, "tree", "lib"), { recursive: true })
    await writeFile(path.join(dir, "tree", "main.py"), "print('main')\n")
    await writeFile(path.join(dir, "tree", "lib", "a.py"), "A = 1\n")
    expect((await belay(["fs", "mkdir", "/pg", "+", "fs", "put", local, "/pg"])).stdout).toBe(
      `${local} -> :/pg/f.txt: 8 B copied and verified\n`,
    )
    expect((await belay(["fs", "get", "/pg/f.txt", `${dir}/got/`])).code).toBe(0)
    expect(await readFile(path.join(dir, "got", "f.txt"), "utf8")).toBe("content\n")
    const sync = await belay(["fs", "sync", path.join(dir, "tree"), "/pg/app", "--json"])
    expect(
      stdoutJson(sync)
        .uploaded.map((u: { path: string }) => u.path)
        .sort(),
    ).toEqual(["/pg/app/lib/a.py", "/pg/app/main.py"])
    const again = await belay(["fs", "sync", path.join(dir, "tree"), "/pg/app", "--json"])
    expect(stdoutJson(again)).toMatchObject({ uploaded: [], bytesUploaded: 0 })
    // A temporary file an upload left behind (a killed host): its owner is gone, clean removes it.
    expect((await belay(["exec", "open('/pg/.belay-zz9-1.tmp', 'w').write('partial')"])).code).toBe(0)
    const clean = await belay(["fs", "clean", "/pg", "--json"])
    expect(clean.code).toBe(0)
    expect(stdoutJson(clean)).toEqual({ removed: ["/pg/.belay-zz9-1.tmp"], kept: [] })
    expect((await belay(["fs", "rm", "-r", "/pg"])).code).toBe(0)
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
    expect(await belay(["edit", "ed.txt"], { env })).toMatchObject({
      code: 0,
      stdout: "/ed.txt: 8 B written and verified\n",
    })
    expect(await belay(["fs", "edit", "ed.txt"], { env })).toMatchObject({
      code: 0,
      stdout: "/ed.txt: unchanged\n",
    })
    expect((await belay(["cat", "ed.txt", "+", "rm", "ed.txt"])).stdout).toBe("new text")
  })
})

describe("board control and chains on a process board", () => {
  it("+ chains share one connection; soft-reset clears RAM; sleep waits between commands", async () => {
    const chain = await belay([
      "exec",
      "x = 41",
      "+",
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

  it("reset: machine.reset(), the board boots again (main.py runs), RAM gone, files kept", async () => {
    const dir = await hostDir("reset")
    const main = path.join(dir, "main.py")
    await writeFile(main, "open('booted.txt', 'w').write('main ran')\n")
    const chain = await belay([
      "cp",
      main,
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
      "booted.txt",
      "+",
      "rm",
      "main.py",
      "booted.txt",
    ])
    expect(chain.stderr).toBe("")
    expect(chain).toMatchObject({
      code: 0,
      stdout: `${main} -> :/main.py: 42 B copied and verified\nreset; the board answers again (MicroPython 1.27.0)\nFalse\nmain ran`,
    })
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
    const [year, month, day, weekday, hours] = datetime
    const now = new Date()
    expect([year, month, day]).toEqual([now.getFullYear(), now.getMonth() + 1, now.getDate()])
    expect(weekday).toBe((now.getDay() + 6) % 7)
    expect(hours).toBeGreaterThanOrEqual(0)
  })

  it("repl --capture keeps what the board printed; --inject-code types its code on Ctrl-J", async () => {
    const capture = path.join(cli.home(), "exec-repl.log")
    const repl = cli.start(
      ["repl", "--capture", capture, "--inject-code", "print('injected', 6 * 7)", "--device", device],
      { stdin: "pipe" },
    )
    await repl.until("Ctrl-] leaves", "stderr")
    await repl.until(">>> ")
    repl.child.stdin?.write("\n")
    await repl.until("injected 42")
    repl.child.stdin?.write("\x1d")
    expect((await repl.finished).code).toBe(0)
    expect(await readFile(capture, "utf8")).toContain("injected 42")
  })
})

describe("errors on a process board: the exit-code table, as text and as --json", () => {
  it("1 for a Python exception or a board-side refusal, 2 for usage, 3 for a process that is not a board", async () => {
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
    const chain = await cli.run(["exec", "pass", "--device", device, "+"])
    expect(chain.code).toBe(2)
    expect(chain.stderr).toContain("empty command in a chain")
    const gone = await cli.run(["exec", "1", "--json", "--device", "exec:true"])
    expect(gone.code).toBe(3)
    expect(stdoutJson(gone)).toMatchObject({ error: "LinkLostError", exitCode: 3 })
    const notInstalled = await cli.run(["exec", "1", "--device", "exec:/no/such/board"])
    expect(notInstalled.code).toBe(3)
    expect(notInstalled.stderr).toContain("command not found: /no/such/board")
  })
})

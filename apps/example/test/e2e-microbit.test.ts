import { createHash } from "node:crypto"
import { mkdir, readFile, rm, writeFile } from "node:fs/promises"
import path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { belayCommand, qemuMicrobitForBlock, stdoutJson } from "./belayProcess.js"

// What commands.test.ts and cli.test.ts leave out on the QEMU micro:bit (MicroPython 1.9.2, a flat
// filesystem, about 9 KB of heap, no machine.RTC), one emulator for the file, each test one
// process (a `+` chain), so that nothing depends on the board outliving a command. Where the
// board cannot do what a command needs, the refusal is pinned: exit code 1 and a message that
// says why. The coverage matrix is at the top of e2e-virtual.test.ts.

const cli = belayCommand("belay-e2e-microbit-")

/** A host directory of the test's own, made empty. */
const hostDir = async (name: string) => {
  const dir = path.join(cli.home(), name)
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  return dir
}

const sha256 = (data: string) => createHash("sha256").update(data).digest("hex")

/** Bound on one chain on the emulated board, which is slow under load. */
const CHAIN_TIMEOUT_MS = 180_000

describe("every command on the QEMU micro:bit through --device serial:/dev/pts/N", () => {
  const qemu = qemuMicrobitForBlock()
  let device = ""
  beforeAll(() => {
    device = `serial:${qemu.ptyPath()}`
  })
  const belay = (args: ReadonlyArray<string>, options?: Parameters<typeof cli.run>[1]) =>
    cli.run([...args, "--device", device], { timeoutMs: CHAIN_TIMEOUT_MS, ...options })

  it("+ chains carry the board's RAM; sleep waits; cp -f copies again; a board-to-board cp; the fs forms", async () => {
    const dir = await hostDir("chain")
    const local = path.join(dir, "c.py")
    await writeFile(local, "C = 3\n")
    const chain = await belay([
      "exec",
      "x = 41",
      "+",
      "exec",
      "x += 1",
      "+",
      "sleep",
      "0.1",
      "+",
      "eval",
      "x",
      "+",
      "fs",
      "cp",
      local,
      ":c.py",
      "+",
      "cp",
      "-f",
      local,
      ":",
      "+",
      "cp",
      ":c.py",
      ":d.py",
      "+",
      "fs",
      "cat",
      "d.py",
      "+",
      "fs",
      "sha256sum",
      "/d.py",
      "+",
      "fs",
      "rm",
      "c.py",
      "d.py",
    ])
    expect(chain.stderr).toBe("")
    expect(chain).toMatchObject({
      code: 0,
      stdout: [
        "42",
        `${local} -> :/c.py: 6 B copied and verified`,
        `${local} -> :/c.py: 6 B copied and verified`,
        ":/c.py -> :/d.py: 6 B copied and verified",
        `C = 3\n${sha256("C = 3\n")}  /d.py`,
        "",
      ].join("\n"),
    })
  })

  it("edit writes back what the editor changed, and nothing when it changed nothing", async () => {
    const dir = await hostDir("edit")
    const editor = path.join(dir, "editor.mjs")
    await writeFile(
      editor,
      'import { readFileSync, writeFileSync } from "node:fs"\nconst f = process.argv[2]\nwriteFileSync(f, readFileSync(f, "utf8").replace("old", "new"))\n',
    )
    const chain = await belay(
      [
        "exec",
        "f = open('ed.txt', 'w')\nf.write('old text')\nf.close()",
        "+",
        "edit",
        "ed.txt",
        "+",
        "fs",
        "edit",
        "ed.txt",
        "+",
        "cat",
        "ed.txt",
        "+",
        "rm",
        "ed.txt",
      ],
      { env: { EDITOR: `${process.execPath} ${editor}` } },
    )
    expect(chain.stderr).toBe("")
    expect(chain).toMatchObject({
      code: 0,
      stdout: "/ed.txt: 8 B written and verified\n/ed.txt: unchanged\nnew text",
    })
  })

  it("run --no-follow returns while the script runs; the next command in the chain interrupts it", async () => {
    const script = path.join(await hostDir("no-follow"), "forever.py")
    await writeFile(
      script,
      "import time\nf = open('nf.txt', 'w')\nf.write('ran')\nf.close()\nwhile True:\n    time.sleep_ms(10)\n",
    )
    const chain = await belay([
      "run",
      script,
      "--no-follow",
      "+",
      "sleep",
      "0.5",
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

  it("files written after one is removed leave the others whole (the flash starts erased, as on a real board)", async () => {
    // On a zeroed flash (QEMU's default) the filesystem took chunks of live files for new ones:
    // /b.txt's hash changed once /c.txt and /d.txt were written over the space /a.txt freed.
    const dir = await hostDir("reuse")
    const content = "x".repeat(3000)
    const local = path.join(dir, "f.txt")
    await writeFile(local, content)
    const chain = await belay([
      ...["cp", local, ":a.txt", "+", "cp", local, ":b.txt", "+", "rm", "a.txt", "+"],
      ...["cp", local, ":c.txt", "+", "cp", local, ":d.txt", "+", "sha256sum", "b.txt", "c.txt", "d.txt"],
      // The board's RAM back as it was for the tests after this one: new names stay interned
      // until a reset, and the micro:bit's 10 KB heap has little room to spare.
      ...["+", "rm", "b.txt", "c.txt", "d.txt", "+", "soft-reset"],
    ])
    expect(chain.code, chain.stderr).toBe(0)
    for (const name of ["b", "c", "d"]) expect(chain.stdout).toContain(`${sha256(content)}  /${name}.txt\n`)
  })

  it("fs clean removes a temporary file whose upload can no longer finish", async () => {
    const chain = await belay([
      "exec",
      "f = open('.belay-zz9-1.tmp', 'w')\nf.write('partial')\nf.close()",
      "+",
      "fs",
      "clean",
      "+",
      "ls",
      "--json",
    ])
    expect(chain.code).toBe(0)
    const [removed, summary, listing] = chain.stdout.split("\n")
    expect(removed).toBe("removed /.belay-zz9-1.tmp")
    expect(summary).toBe("1 temporary file(s) removed, 0 kept (uploads in progress)")
    expect(JSON.parse(listing ?? "[]").map((e: { path: string }) => e.path)).not.toContain(
      "/.belay-zz9-1.tmp",
    )
  })

  it("repl --capture keeps what the board printed; --inject-code types its code on Ctrl-J", async () => {
    const capture = path.join(cli.home(), "microbit-repl.log")
    const repl = cli.start(
      ["repl", "--capture", capture, "--inject-code", "print('injected', 6 * 7)", "--device", device],
      {
        stdin: "pipe",
      },
    )
    await repl.until("Ctrl-] leaves", "stderr")
    repl.child.stdin?.write("\r")
    await repl.until(">>> ")
    repl.child.stdin?.write("\n")
    await repl.until("injected 42")
    repl.child.stdin?.write("\x1d")
    expect((await repl.finished).code).toBe(0)
    expect(await readFile(capture, "utf8")).toContain("injected 42")
  })

  it("refusals say why, with exit 1: no machine.RTC, no os.statvfs, no directories", async () => {
    const dir = await hostDir("refusals")
    await mkdir(path.join(dir, "tree"), { recursive: true })
    await writeFile(path.join(dir, "tree", "a.py"), "A = 1\n")
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [
        ["rtc"],
        /reading the board's clock needs machine\.RTC with datetime\(\), which this board does not have/,
      ],
      [
        ["rtc", "--set"],
        /setting the board's clock needs machine\.RTC with datetime\(\), which this board does not have/,
      ],
      [["df"], /os\.statvfs, which this board does not have/],
      [["cp", "-r", path.join(dir, "tree"), ":"], /needs directories \(its filesystem is flat/],
      [["tree", "lib"], /needs directories \(its filesystem is flat/],
      [["rm", "-r", "lib/x.py"], /needs directories \(its filesystem is flat/],
      [["mkdir", "lib"], /flat/],
      [["rmdir", "lib"], /flat/],
    ]
    for (const [args, why] of cases) {
      const refused = await belay(args)
      expect({ args, code: refused.code }).toEqual({ args, code: 1 })
      expect(refused.stderr).toMatch(why)
    }
    const json = await belay(["rtc", "--json"])
    expect(json.code).toBe(1)
    expect(stdoutJson(json)).toMatchObject({ error: "CapabilityMissingError", exitCode: 1 })
  })

  it("the exit-code table under --json: a Python exception 1, a missing file 1, usage 2", async () => {
    const python = await belay(["exec", "1/0", "--json"])
    expect(python.code).toBe(1)
    expect(stdoutJson(python)).toMatchObject({ error: "PythonError", exitCode: 1 })
    expect(stdoutJson(python).message).toContain("ZeroDivisionError")
    const missing = await belay(["cat", "no-such-file.py", "--json"])
    expect(missing.code).toBe(1)
    expect(stdoutJson(missing)).toMatchObject({ exitCode: 1 })
    const usage = await belay(["cp", path.join(cli.home(), "a"), path.join(cli.home(), "b"), "--json"])
    expect(usage.code).toBe(2)
    expect(stdoutJson(usage)).toMatchObject({ exitCode: 2 })
    expect(stdoutJson(usage).message).toContain("mark board paths with ':'")
  })
})

import { mkdir, rm, writeFile } from "node:fs/promises"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { publish, startServer, type TestServer } from "../../../packages/install/test/server.js"
import { belayCommand } from "./belayProcess.js"

// A board's REPL namespace belongs to the person using it: a program they ran with `exec` may keep
// its state in globals named `f`, `e` or `n`, and a background thread may read them. Belay's own
// code runs in that namespace too, so it must bind nothing there but its private `_b...` names,
// and delete nothing it did not make: after every command, each name a person set holds the same
// value, and no public name has appeared. One exception, for the micro:bit's 16 KB heap (where a
// name the board has not seen costs memory for good, and uploads fit with a few bytes to spare):
// Belay's code imports `os`, `gc`, `sys`, `binascii`, `io` and `errno` under their own names, so a
// global of that name may become that module.
const cli = belayCommand("belay-board-globals-")
const belay = cli.run

// A package index on 127.0.0.1 (mip's layout), for `install`, `list` and `uninstall`.
let index: TestServer
beforeAll(async () => {
  index = await startServer()
  publish(index, {
    name: "blink",
    version: "1.0.0",
    files: {
      py: { "blink.py": "def on():\n    return 1\n" },
      "6": { "blink.py": "def on():\n    return 1\n" },
    },
  })
})
afterAll(() => index.close())

/** Every one-letter name and the modules Belay's own code imports, each set to a value of its own. */
const NAMES = [
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
  "gc",
  "os",
  "uos",
  "sys",
  "io",
  "time",
  "utime",
  "machine",
  "binascii",
  "hashlib",
  "errno",
  "uerrno",
  "json",
  "vfs",
  "builtins",
  "micropython",
  "_thread",
]
const SET = NAMES.map((n, i) => `${n}=('mine',${i})`).join("\n")
/** The names that are not the person's (theirs and Belay's private `_b...` ones left out), then the sentinels that changed. */
const MODULES = ["gc", "os", "uos", "sys", "binascii", "io", "errno", "uerrno"]
const CHECK = `print(sorted(n for n in globals() if n not in ${JSON.stringify(NAMES)} and n[:2]!='_b' and n!='__name__' and not (n in ${JSON.stringify(MODULES)} and type(globals()[n]).__name__=='module')))
print([n for i,n in enumerate(${JSON.stringify(NAMES)}) if globals().get(n)!=('mine',i) and not (n in ${JSON.stringify(MODULES)} and type(globals().get(n)).__name__=='module' and globals().get(n).__name__ in (n,'u'+n))])`

const check = async (after: string) => {
  const result = await belay(["exec", CHECK])
  expect(result.code, `${after}: ${result.stderr}`).toBe(0)
  expect(result.stdout, `after ${after}`).toBe("[]\n[]\n")
}

describe("the board's globals, on the virtual board", () => {
  it("keep the person's values and gain no public name, whatever commands ran", async () => {
    const dir = path.join(cli.home(), "globals")
    await rm(dir, { recursive: true, force: true })
    await mkdir(path.join(dir, "tree", "sub"), { recursive: true })
    await writeFile(path.join(dir, "a.txt"), "abc\n")
    await writeFile(path.join(dir, "b.bin"), Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256)))
    await writeFile(path.join(dir, "tree", "c.py"), "print('c')\n")
    await writeFile(path.join(dir, "tree", "sub", "d.txt"), "d\n")
    await mkdir(path.join(dir, "project"), { recursive: true })
    await writeFile(
      path.join(dir, "project", "package.json"),
      JSON.stringify({
        micropython: { dependencies: { blink: "latest" }, index: index.url, target: "/g/lib" },
      }),
    )
    // A fresh interpreter: the names the session starts with are the board's own.
    expect((await belay(["soft-reset"])).code).toBe(0)
    expect((await belay(["exec", SET])).code).toBe(0)
    await check("setting them")
    const steps: ReadonlyArray<ReadonlyArray<string>> = [
      ["exec", "print(1)"],
      ["eval", "1+1"],
      ["info"],
      ["mkdir", "/g/sub"],
      ["cp", path.join(dir, "a.txt"), ":/g/a.txt"],
      ["fs", "put", path.join(dir, "b.bin"), "/g/b.bin"],
      ["cat", "/g/a.txt"],
      ["fs", "get", "/g/b.bin", path.join(dir, "b.back")],
      ["ls", "/g"],
      ["tree", "/g"],
      ["sha256sum", "/g/a.txt", "/g/b.bin"],
      ["touch", "/g/t.txt"],
      ["df"],
      ["fs", "sync", path.join(dir, "tree"), "/g/tree"],
      ["rm", "/g/t.txt"],
      ["rm", "-r", "/g/tree"],
      ["rmdir", "/g/sub"],
      ["fs", "clean"],
      ["rtc"],
      ["latency", "-n", "3"],
      ["run", "--no-follow", path.join(dir, "tree", "c.py")],
      ["mount", path.join(dir, "tree"), "ls", "/remote"],
      ["mount", path.join(dir, "tree"), "exec", "print(open('c.py').read())"],
      ["edit", "/g/a.txt"],
      ["install"],
      ["list"],
      ["uninstall", "blink"],
    ]
    for (const step of steps) {
      // `edit` with an editor that changes nothing: the file is read, and not written back.
      const result = await belay(step, {
        cwd: path.join(dir, "project"),
        env: { EDITOR: "true", VISUAL: "true", BELAY_CACHE_DIR: path.join(dir, "cache") },
      })
      expect(result.code, `${step.join(" ")}: ${result.stderr}`).toBe(0)
      await check(step.join(" "))
    }
  })
})

/**
 * Several boards on one command line (`--device a,b,c`), spawning the bundle as a user runs it:
 * two named kept virtual boards and a board that fails (a TCP port nothing listens on, a process
 * that exits). Output prefixed by board, `--json` keyed by board, exit codes, `belay each`,
 * refusals, and Ctrl-C reaching every board.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises"
import net from "node:net"
import path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { belayCommand, stdoutJson } from "./belayProcess.js"
import { startTcpBoard } from "./networkBoards.js"

const cli = belayCommand("belay-pool-")
const belay = cli.run

const A = "virtual?name=a"
const B = "virtual?name=b"
/** A TCP port nothing listens on (found free, then closed). */
let closed = ""

/** `text`'s lines, in order, of one board. */
const linesOf = (text: string, key: string) =>
  text
    .split("\n")
    .filter((line) => line.startsWith(`[${key}] `))
    .map((line) => line.slice(key.length + 3))

beforeAll(async () => {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  closed = `tcp:127.0.0.1:${port}`
  // Board b holds a file that board a has not: a command fails on b alone.
  const marked = await belay(["exec", "open('only-b', 'w').write('b')", "--device", B])
  expect(marked.code).toBe(0)
})

describe("one command on several boards", () => {
  it("runs on each, every line prefixed by its board; a board that does not open is exit 3 and stops nothing", async () => {
    const result = await belay([
      "exec",
      "import os\nprint('files', sorted(os.listdir()))\nprint('done')",
      "--device",
      `${A},${B},${closed}`,
    ])
    expect(linesOf(result.stdout, A)).toEqual(["files []", "done"])
    expect(linesOf(result.stdout, B)).toEqual(["files ['only-b']", "done"])
    expect(result.stdout.split("\n").filter((l) => l !== "" && !l.startsWith("[virtual?name="))).toEqual([])
    expect(linesOf(result.stderr, closed)[0]).toMatch(
      /^belay: cannot open tcp:127\.0\.0\.1:\d+: connection refused/,
    )
    expect(result.stderr).toContain(`belay: 1 of 3 boards failed: ${closed} (exit 3)`)
    expect(result.code).toBe(3)
  })

  it("exit code 0 when every board succeeds; a Python error on one board is exit 1, the others' output intact", async () => {
    const ok = await belay(["eval", "1 + 1", "--device", `${A},${B}`])
    expect(ok).toMatchObject({ code: 0, stderr: "" })
    expect(ok.stdout.split("\n").sort()).toEqual(["", `[${A}] 2`, `[${B}] 2`])
    const one = await belay([
      "exec",
      "import os\nprint('start')\nif 'only-b' in os.listdir(): raise ValueError('b says no')\nprint('end')",
      "--device",
      `${A},${B}`,
    ])
    expect(linesOf(one.stdout, A)).toEqual(["start", "end"])
    expect(linesOf(one.stdout, B)).toEqual(["start"])
    expect(linesOf(one.stderr, B).at(-1)).toBe("ValueError: b says no")
    expect(one.stderr).toContain(`belay: 1 of 2 boards failed: ${B} (exit 1)`)
    expect(one.code).toBe(1)
  })

  it("the exit code is the worst board's: a Python error (1) and a closed port (3) give 3", async () => {
    const result = await belay([
      "exec",
      "import os\nif 'only-b' in os.listdir(): raise ValueError('no')",
      "--device",
      `${A},${B},${closed}`,
    ])
    expect(result.code).toBe(3)
    expect(result.stderr).toContain(`belay: 2 of 3 boards failed: ${B} (exit 1), ${closed} (exit 3)`)
  })

  it("--json: one object keyed by board, each value what the command prints for that board alone", async () => {
    const result = await belay(["eval", "[1, None, 'x']", "--json", "--device", `${A},${B},${closed}`])
    const value = stdoutJson(result)
    expect(Object.keys(value)).toEqual([A, B, closed])
    expect(value[A]).toEqual([1, null, "x"])
    expect(value[B]).toEqual([1, null, "x"])
    expect(value[closed]).toMatchObject({ error: "LinkOpenError", exitCode: 3 })
    expect(result.code).toBe(3)
    // The same board alone prints the value itself.
    const alone = await belay(["eval", "[1, None, 'x']", "--json", "--device", A])
    expect(stdoutJson(alone)).toEqual(value[A])
  })

  it("the boards are independent: RAM set on one is not on the other", async () => {
    expect((await belay(["exec", "who = 'a'", "--device", A])).code).toBe(0)
    const result = await belay(["eval", "who", "--json", "--device", `${A},${B}`])
    const value = stdoutJson(result)
    expect(value[A]).toBe("a")
    expect(value[B]).toMatchObject({ error: "PythonError", exitCode: 1 })
    expect(value[B].message).toContain("NameError")
  })

  it("a list in BELAY_DEVICE, and a process board that exits, work the same", async () => {
    const result = await belay(["eval", "3 * 3"], { env: { BELAY_DEVICE: `${A},exec:false` } })
    expect(linesOf(result.stdout, A)).toEqual(["9"])
    expect(linesOf(result.stderr, "exec:false")[0]).toMatch(/^belay: link exec:false was lost/)
    expect(result.code).toBe(3)
  })

  it("a chain runs in turn on each board, on one connection per board", async () => {
    const result = await belay(["exec", "n = 20", "+", "eval", "n + 1", "--device", `${A},${B}`])
    expect(linesOf(result.stdout, A)).toEqual(["21"])
    expect(linesOf(result.stdout, B)).toEqual(["21"])
    expect(result.code).toBe(0)
  })

  it("cp from the boards to this computer takes {board} in the host path, made each board's file name", async () => {
    const dir = path.join(cli.home(), "copies")
    await mkdir(dir, { recursive: true })
    const result = await belay([
      "exec",
      "import os\nopen('id.txt', 'w').write('here: ' + ('b' if 'only-b' in os.listdir() else 'a'))",
      "+",
      "cp",
      ":id.txt",
      path.join(dir, "{board}.txt"),
      "--device",
      `${A},${B}`,
    ])
    expect(result.code).toBe(0)
    expect(await readFile(path.join(dir, "virtual_name_a.txt"), "utf8")).toBe("here: a")
    expect(await readFile(path.join(dir, "virtual_name_b.txt"), "utf8")).toBe("here: b")
  })
})

describe("one connection per board", () => {
  it("boards that take one client at a time (TCP servers): every command of a chain uses the pool's connection", async () => {
    const servers = await Promise.all([startTcpBoard(), startTcpBoard()])
    try {
      const [one, two] = servers.map((s) => `tcp:127.0.0.1:${s.port}`) as [string, string]
      // A second connection to either server would be refused (exit 3): the chain must reuse the pool's.
      const result = await belay([
        "exec",
        "n = 1",
        "+",
        "exec",
        "n += 1",
        "+",
        "eval",
        "n",
        "--device",
        `${one},${two}`,
      ])
      expect(result).toMatchObject({ code: 0, stderr: "" })
      expect(linesOf(result.stdout, one)).toEqual(["2"])
      expect(linesOf(result.stdout, two)).toEqual(["2"])
    } finally {
      await Promise.all(servers.map((s) => s.stop()))
    }
  })
})

describe("what several boards refuse", () => {
  it("interactive commands, a copy of every board to one host path, the same board twice: usage errors (exit 2)", async () => {
    const repl = await belay(["repl", "--device", `${A},${B}`])
    expect(repl.code).toBe(2)
    expect(repl.stderr).toContain("belay: repl works on one board at a time, and --device names several")
    const edit = await belay(["fs", "edit", "main.py", "--device", `${A},${B}`])
    expect(edit.code).toBe(2)
    const copy = await belay(["cp", ":id.txt", ".", "--device", `${A},${B}`])
    expect(copy.code).toBe(2)
    expect(copy.stderr).toContain("{board}")
    const twice = await belay(["exec", "pass", "--device", "virtual,virtual"])
    expect(twice.code).toBe(2)
    expect(twice.stderr).toContain("virtual?name=a,virtual?name=b")
  })

  it("a usage error of the command line itself is told once, not once per board", async () => {
    const result = await belay(["exec", "pass", "--bogus", "--device", `${A},${B}`])
    expect(result.code).toBe(2)
    const told = `${result.stdout}${result.stderr}`
    expect(told.match(/Unrecognized flag: --bogus/g)).toHaveLength(1)
    expect(told).not.toContain(`[${A}]`)
  })
})

describe("belay each <file>", () => {
  const file = () => path.join(cli.home(), "each.txt")

  beforeAll(async () => {
    await writeFile(
      file(),
      [
        "# a setup, then a check",
        "exec 'total = 0'",
        "",
        "belay exec 'total += 5' + eval total",
        "  # done",
      ].join("\n"),
    )
  })

  it("runs the file's commands in turn on each board, prefixed", async () => {
    const result = await belay(["each", file(), "--device", `${A},${B}`])
    expect(linesOf(result.stdout, A)).toEqual(["5"])
    expect(linesOf(result.stdout, B)).toEqual(["5"])
    expect(result.code).toBe(0)
  })

  it("--json keyed by board; one board alone prints as the chain would", async () => {
    const json = await belay(["each", file(), "--json", "--device", `${A},${closed}`])
    const value = stdoutJson(json)
    expect(value[A]).toBe(5)
    expect(value[closed]).toMatchObject({ exitCode: 3 })
    expect(json.code).toBe(3)
    const alone = await belay(["each", file(), "--device", A])
    const chain = await belay([
      "exec",
      "total = 0",
      "+",
      "exec",
      "total += 5",
      "+",
      "eval",
      "total",
      "--device",
      A,
    ])
    expect(alone).toMatchObject({ code: 0, stdout: chain.stdout, stderr: chain.stderr })
    expect(alone.stdout).toBe("5\n")
  })

  it("a missing file, an empty one, a bad line: usage errors", async () => {
    expect((await belay(["each", path.join(cli.home(), "none.txt"), "--device", A])).code).toBe(2)
    const empty = path.join(cli.home(), "empty.txt")
    await writeFile(empty, "# nothing\n\n")
    const none = await belay(["each", empty, "--device", A])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain("holds no command")
    const bad = path.join(cli.home(), "bad.txt")
    await writeFile(bad, "exec 'unterminated\n")
    const refused = await belay(["each", bad, "--device", `${A},${B}`])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain("bad.txt, line 1: unterminated quote")
  })
})

describe("Ctrl-C on several boards", () => {
  it("interrupts every board's code, cleans up, exits 130; the boards answer the next command", async () => {
    const running = cli.start([
      "exec",
      "import time\nprint('looping')\nwhile True:\n    time.sleep(0.05)",
      "--device",
      `${A},${B}`,
    ])
    await running.until(`[${A}] looping`)
    await running.until(`[${B}] looping`)
    running.child.kill("SIGINT")
    const result = await running.finished
    expect(result.code).toBe(130)
    const after = await belay(["eval", "'alive'", "--device", `${A},${B}`])
    expect(after.code).toBe(0)
    expect(after.stdout.split("\n").sort()).toEqual(["", `[${A}] 'alive'`, `[${B}] 'alive'`])
  })
})

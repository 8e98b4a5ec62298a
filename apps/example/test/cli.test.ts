import { mkdir, readdir, readFile, writeFile } from "node:fs/promises"
import path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { belayCommand, qemuMicrobitForBlock, stdoutJson } from "./belayProcess.js"

// The belay command, spawned as a user runs it, on the virtual board (the default) and on the QEMU
// micro:bit reached as a serial port.

const cli = belayCommand("belay-cli-")
const belay = cli.run

describe("belay on the virtual board", () => {
  it("exec prints what the code prints; eval prints the repr, and JSON with --json", async () => {
    const exec = await belay(["exec", "for i in range(3): print(i)"])
    expect(exec).toMatchObject({ code: 0, stdout: "0\n1\n2\n" })
    expect(await belay(["eval", "[b'xy', None]"])).toMatchObject({ code: 0, stdout: "[b'xy', None]\n" })
    const value = await belay([
      "eval",
      "{'a': [1, 2.5, None, True], 's': 'x\\ny'}",
      "--device",
      "virtual",
      "--json",
    ])
    expect(value.code).toBe(0)
    expect(stdoutJson(value)).toEqual({ a: [1, 2.5, null, true], s: "x\ny" })
  })

  it("logs go to stderr, so --json output stays parseable at any log level", async () => {
    const ls = await belay(["fs", "ls", "--json"], { env: { BELAY_LOG_LEVEL: "Debug" } })
    expect(ls.code).toBe(0)
    expect(Array.isArray(stdoutJson(ls))).toBe(true)
    expect(ls.stderr).toContain("Session created")
  })

  it("exit codes: 1 with the traceback for a Python exception, 2 for usage, 3 for connection errors", async () => {
    const python = await belay(["exec", "1/0"])
    expect(python.code).toBe(1)
    expect(python.stderr).toContain("ZeroDivisionError")
    const usage = await belay(["frobnicate"])
    expect(usage.code).toBe(2)
    const badDevice = await belay(["exec", "1", "--device", "tcp://nowhere"])
    expect(badDevice.code).toBe(2)
    expect(badDevice.stderr).toContain("Expected one of")
    const connection = await belay(["exec", "1", "--device", "serial:/dev/belay-no-such-port"])
    expect(connection.code).toBe(3)
    expect(connection.stderr).toContain("cannot open")
    expect(connection.stderr).not.toMatch(/at .*\.js:\d+/)
  })

  it("a program that allocates without end on an in-process virtual board: MemoryError, nothing else on stderr", async () => {
    // The WebAssembly port collects garbage only when the program returns, so its memory grows to
    // its bound (here 64 MiB, memory=64M); the refused growths, which the port also reports on the
    // console, are not shown.
    const run = await belay([
      "exec",
      "n = 0\nwhile True:\n    x = bytearray(4000000)\n    n += 1",
      "--device",
      "virtual?keep=false&memory=64M",
    ])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(
      /^Traceback \(most recent call last\):\n {2}File "<stdin>", line 3, in <module>\nMemoryError: memory allocation failed/,
    )
    expect(run.stderr).not.toContain("grow")
  })

  it("BELAY_VIRTUAL_DIR and XDG_CACHE_HOME set empty count as unset", async () => {
    const cache = path.join(cli.home(), "cache")
    const run = await belay(["exec", "print(6*7)"], { env: { BELAY_VIRTUAL_DIR: "", XDG_CACHE_HOME: cache } })
    expect(run).toMatchObject({ code: 0, stdout: "42\n" })
    // The kept board's flash is in the cache folder's default place.
    await expect(readdir(path.join(cache, "belay", "virtual-board"))).resolves.toBeDefined()
    const bare = await belay(["exec", "print(7)", "--device", "virtual?keep=false"], {
      env: { BELAY_VIRTUAL_DIR: "", XDG_CACHE_HOME: "", HOME: cli.home() },
    })
    expect(bare).toMatchObject({ code: 0, stdout: "7\n" })
    await expect(readdir(path.join(cli.home(), ".cache", "belay", "virtual-board"))).resolves.toBeDefined()
  })

  it("info --json prints one JSON object", async () => {
    const info = await belay(["info", "--json"])
    expect(info.code).toBe(0)
    const report = stdoutJson(info)
    expect(report.capabilities.platform).toBe("webassembly")
    expect(report.health.ok).toBe(true)
  })

  it("run streams a file's output", async () => {
    const file = path.join(cli.home(), "script.py")
    await writeFile(file, "import time\nfor i in range(3):\n    print('line', i)\n    time.sleep_ms(20)\n")
    const run = await belay(["run", file])
    expect(run).toMatchObject({ code: 0, stdout: "line 0\nline 1\nline 2\n" })
  })

  it("fs put then fs get in separate invocations round-trips a binary file", async () => {
    const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 131 + 7) & 0xff))
    const local = path.join(cli.home(), "blob.bin")
    await writeFile(local, data)
    expect((await belay(["fs", "mkdir", "/data"])).code).toBe(0)
    const put = await belay(["fs", "put", local, "/data/blob.bin"])
    expect(put.code).toBe(0)
    const ls = await belay(["fs", "ls", "/data", "--json"])
    expect(stdoutJson(ls)).toEqual([
      expect.objectContaining({ path: "/data/blob.bin", size: 3000, type: "file" }),
    ])
    const back = path.join(cli.home(), "back.bin")
    expect((await belay(["fs", "get", "/data/blob.bin", back])).code).toBe(0)
    expect(Buffer.compare(await readFile(back), data)).toBe(0)
    expect((await belay(["fs", "rm", "-r", "/data"])).code).toBe(0)
    const gone = await belay(["fs", "cat", "/data/blob.bin"])
    expect(gone.code).toBe(1)
  })

  it("fs sync uploads only what changed, and --dry-run changes nothing", async () => {
    const tree = path.join(cli.home(), "tree")
    await mkdir(path.join(tree, "lib"), { recursive: true })
    await writeFile(path.join(tree, "main.py"), "print('main')\n")
    await writeFile(path.join(tree, "lib", "a.py"), "A = 1\n")
    const first = await belay(["fs", "sync", tree, "/app", "--json"])
    expect(first.code).toBe(0)
    expect(stdoutJson(first).uploaded).toHaveLength(2)
    const second = await belay(["fs", "sync", tree, "/app", "--json"])
    expect(stdoutJson(second)).toMatchObject({ uploaded: [], bytesUploaded: 0 })
    await writeFile(path.join(tree, "lib", "a.py"), "A = 2\n")
    const dry = await belay(["fs", "sync", tree, "/app", "--dry-run", "--json"])
    expect(stdoutJson(dry).uploaded.map((u: { path: string }) => u.path)).toEqual(["/app/lib/a.py"])
    const third = await belay(["fs", "sync", tree, "/app", "--json"])
    expect(stdoutJson(third).uploaded.map((u: { path: string }) => u.path)).toEqual(["/app/lib/a.py"])
    const text = await belay(["fs", "cat", "/app/lib/a.py"])
    expect(text.stdout).toBe("A = 2\n")
  })

  it("repl passes keystrokes to the friendly REPL and Ctrl-] leaves", async () => {
    const repl = cli.start(["repl"], { stdin: "pipe" })
    await repl.until("Ctrl-] leaves", "stderr")
    await repl.until(">>> ")
    repl.child.stdin?.write("print(6 * 7)\r")
    await repl.until("42")
    repl.child.stdin?.write("\x1d")
    expect((await repl.finished).code).toBe(0)
  })

  it("bench --json and ports --json print JSON; --device list lists ports", async () => {
    const bench = await belay(["bench", "--json"], { timeoutMs: 120_000 })
    expect(bench.code).toBe(0)
    const report = stdoutJson(bench)
    // The kept virtual board (the CLI's default), reached over a local TCP connection.
    expect(report.link).toMatch(/^virtual \(kept, tcp:127\.0\.0\.1:\d+\)$/)
    expect(report.rows.map((r: { layer: string }) => r.layer)).toEqual([
      "transport",
      "executors",
      "filesystem",
      "filesystem",
      "core",
    ])
    for (const row of report.rows) expect(row.value).toBeGreaterThan(0)
    const ports = await belay(["ports", "--json"])
    expect(ports.code).toBe(0)
    expect(Array.isArray(stdoutJson(ports))).toBe(true)
    expect((await belay(["--device", "list"])).code).toBe(0)
  })

  it("demo runs the tour and checks the cleanup on the board, leaving the user's files alone", async () => {
    expect((await belay(["exec", "open('/main.py', 'w').write('# mine')"])).code).toBe(0)
    const demo = await belay(["demo"], { timeoutMs: 120_000 })
    expect(demo.code).toBe(0)
    expect(demo.stdout).toContain("the board is as it was.")
    expect(demo.stdout).toContain("files: as they were")
    expect((await belay(["fs", "cat", "/main.py"])).stdout).toBe("# mine")
  })
})

describe("belay on the QEMU micro:bit through --device serial:/dev/pts/N", () => {
  // One emulated board for the whole block, reached as a serial port, as a USB board would be.
  const board = qemuMicrobitForBlock()
  let device: string
  beforeAll(() => {
    device = `serial:${board.ptyPath()}`
  })

  it("--device qemu:microbit?keep=false starts an emulated board of its own (@belay/virtual-device, loaded on demand)", async () => {
    const exec = await belay(["exec", "print(6 * 7)", "--device", "qemu:microbit?keep=false"])
    expect(exec).toMatchObject({ code: 0, stdout: "42\n" })
  })

  it("exec, eval, run, info --json and the exit codes on MicroPython 1.9.2", async () => {
    const exec = await belay(["exec", "print(sum(range(10)))", "--device", device])
    expect(exec).toMatchObject({ code: 0, stdout: "45\n" })
    const value = await belay(["eval", "[1, 'a', None, (2, 3)]", "--device", device, "--json"])
    expect(stdoutJson(value)).toEqual([1, "a", null, [2, 3]])
    const repr = await belay(["eval", "{1: 2}", "--device", device])
    expect(repr).toMatchObject({ code: 0, stdout: "{1: 2}\n" })
    const statement = await belay(["eval", "y = 2", "--device", device, "--json"])
    expect(stdoutJson(statement)).toMatchObject({ error: "UsageError", exitCode: 2 })
    const file = path.join(cli.home(), "count.py")
    await writeFile(file, "for i in range(3):\n    print(i)\n")
    expect(await belay(["run", file, "--device", device])).toMatchObject({ code: 0, stdout: "0\n1\n2\n" })
    const info = await belay(["info", "--json", "--device", device])
    expect(info.code).toBe(0)
    expect(stdoutJson(info).capabilities).toMatchObject({
      platform: "microbit",
      version: "1.9.2",
      rawPaste: false,
      threads: false,
    })
    const error = await belay(["exec", "import nosuchmodule", "--device", device])
    expect(error.code).toBe(1)
    expect(error.stderr).toContain("ImportError")
  })

  it("fs put, ls, cat, get, sync and rm on the flat filesystem; mkdir is refused up front", async () => {
    const local = path.join(cli.home(), "hello.txt")
    await writeFile(local, "hello from the host\n")
    expect((await belay(["fs", "put", local, "/hello.txt", "--device", device])).code).toBe(0)
    const ls = await belay(["fs", "ls", "--json", "--device", device])
    expect(stdoutJson(ls)).toContainEqual(expect.objectContaining({ path: "/hello.txt", size: 20 }))
    expect((await belay(["fs", "cat", "/hello.txt", "--device", device])).stdout).toBe(
      "hello from the host\n",
    )
    const back = path.join(cli.home(), "hello.back")
    expect((await belay(["fs", "get", "/hello.txt", back, "--device", device])).code).toBe(0)
    expect(await readFile(back, "utf8")).toBe("hello from the host\n")
    const flat = path.join(cli.home(), "flat")
    await mkdir(flat, { recursive: true })
    await writeFile(path.join(flat, "a.py"), "A = 1\n")
    const sync = await belay(["fs", "sync", flat, "/", "--json", "--device", device])
    expect(stdoutJson(sync).uploaded.map((u: { path: string }) => u.path)).toEqual(["/a.py"])
    const again = await belay(["fs", "sync", flat, "/", "--json", "--device", device])
    expect(stdoutJson(again).uploaded).toEqual([])
    expect((await belay(["fs", "rm", "/hello.txt", "--device", device])).code).toBe(0)
    const mkdirRefused = await belay(["fs", "mkdir", "/lib", "--device", device])
    expect(mkdirRefused.code).toBe(1)
    expect(mkdirRefused.stderr).toMatch(/director/)
  })

  it("demo runs on the small board without touching /main.py, and leaves its globals and memory as they were", async () => {
    const mine = "f = open('main.py', 'w')\nf.write('# mine')\nf.close()\ndel f"
    expect((await belay(["exec", mine, "--device", device])).code).toBe(0)
    // The names this file's earlier commands made the board intern (for good: about 1.3 KB of a
    // 9 KB heap) leave the demo's last check without room to parse: start it on a board whose RAM
    // was cleared, as it is after a reset (its files stay).
    expect((await belay(["soft-reset", "--device", device])).code).toBe(0)
    const demo = await belay(["demo", "--device", device], { timeoutMs: 180_000 })
    expect(demo.stderr).toBe("")
    expect(demo.code).toBe(0)
    expect(demo.stdout).toContain("the board is as it was.")
    expect(demo.stdout).toMatch(
      /free memory: \d+ B before, \d+ B after; names interned for good: \d+ B \(within 1024 B/,
    )
    expect((await belay(["fs", "cat", "/main.py", "--device", device])).stdout).toBe("# mine")
    expect((await belay(["fs", "rm", "/main.py", "--device", device])).code).toBe(0)
  })
})

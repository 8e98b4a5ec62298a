import { chmod, mkdir, readFile, writeFile } from "node:fs/promises"
import path from "node:path"
import { virtualBoardScript } from "@belay/virtual-device"
import { describe, expect, it } from "vitest"
import { belayCommand, stdoutJson } from "./belayProcess.js"

// Honest output, the exit-code table, choosing a device, and a process board on exec:.

const cli = belayCommand("belay-honest-")
const belay = cli.run

describe("eval and errors", () => {
  it("eval prints the board's repr; --json prints JSON", async () => {
    const repr = await belay(["eval", "{1: 2, 'b': b'xy'}"])
    expect(repr.code).toBe(0)
    expect(repr.stdout.trim()).toMatch(/^\{(1: 2, 'b': b'xy'|'b': b'xy', 1: 2)\}$/)
    const json = await belay(["eval", "[1, None, 'a']", "--json"])
    expect(stdoutJson(json)).toEqual([1, null, "a"])
  })

  it("a statement passed to eval is a usage error that points at exec", async () => {
    const statement = await belay(["eval", "x = 1"])
    expect(statement.code).toBe(2)
    expect(statement.stderr).toContain("is a statement")
    expect(statement.stderr).toContain('belay exec "x = 1"')
    // A keyword argument is not an assignment: the board's own error stands.
    const call = await belay(["eval", "sorted([2, 1], reverse=True)[0] + undefined_name"])
    expect(call.code).toBe(1)
    expect(call.stderr).toContain("NameError")
  })

  it("under --json every failure is one JSON object on stdout with its exit code (the table: 1, 2, 3)", async () => {
    const python = await belay(["exec", "1/0", "--json"])
    expect(python.code).toBe(1)
    expect(stdoutJson(python)).toMatchObject({ error: "PythonError", exitCode: 1 })
    expect(stdoutJson(python).message).toContain("ZeroDivisionError")
    const usage = await belay(["frobnicate", "--json"])
    expect(usage.code).toBe(2)
    expect(stdoutJson(usage)).toMatchObject({ error: "UnknownSubcommand", exitCode: 2 })
    const badDevice = await belay(["exec", "1", "--json", "--device", "tcp://nowhere"])
    expect(stdoutJson(badDevice)).toMatchObject({ error: "ConnectionStringError", exitCode: 2 })
    const link = await belay(["exec", "1", "--json", "--device", "serial:/dev/belay-no-such-port"])
    expect(link.code).toBe(3)
    expect(stdoutJson(link)).toMatchObject({ error: "LinkOpenError", exitCode: 3 })
    expect(stdoutJson(link).hint).toContain("belay ports")
    const missing = await belay(["fs", "cat", "/no-such-file", "--json"])
    expect(missing.code).toBe(1)
    expect(stdoutJson(missing)).toMatchObject({ exitCode: 1 })
  })

  it("durations in settings take units; a bad one says what is expected (exit 2)", async () => {
    for (const value of ["3000", "3s", "3000ms", "1 minute"]) {
      const ok = await belay(["exec", "print(1)"], { env: { BELAY_EXEC_TIMEOUT: value } })
      expect(ok).toMatchObject({ code: 0, stdout: "1\n" })
    }
    const bad = await belay(["exec", "print(1)"], { env: { BELAY_EXEC_TIMEOUT: "3 parsecs" } })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("BELAY_EXEC_TIMEOUT must be a duration such as 3s")
    expect(bad.stderr).not.toContain("SchemaError")
    const size = await belay(["exec", "print('x' * 10)"], { env: { BELAY_MAX_OUTPUT_BYTES: "1KB" } })
    expect(size).toMatchObject({ code: 0, stdout: "xxxxxxxxxx\n" })
  })
})

describe("choosing a device", () => {
  it("no --device, no BELAY_DEVICE and no board plugged in: a message saying how to pick one (exit 2)", async () => {
    const none = await belay(["exec", "print(1)"], { env: { BELAY_DEVICE: "" } })
    expect(none.code).toBe(2)
    expect(none.stderr).toContain("no --device given and no board found")
    expect(none.stderr).toContain("--device virtual")
    // The demo needs no hardware: it runs on the virtual board when nothing is named.
    const json = await belay(["eval", "1", "--json"], { env: { BELAY_DEVICE: "" } })
    expect(stdoutJson(json)).toMatchObject({ error: "UsageError", exitCode: 2 })
  })

  it("auto, id:, shortcuts and bare port names name serial ports", async () => {
    const auto = await belay(["exec", "1", "--device", "auto"])
    expect(auto.code).toBe(3)
    expect(auto.stderr).toContain("no serial port looks like a MicroPython board")
    const id = await belay(["exec", "1", "--device", "id:no-such-serial"])
    expect(id.code).toBe(3)
    expect(id.stderr).toMatch(
      /no serial port matches serial=no-such-serial(: there are no serial ports at all|; the ports: )/,
    )
    expect(id.stderr).toContain("--device usb:vid=")
    const usb = await belay(["exec", "1", "--device", "usb:vid=ffff,pid=0001", "--json"])
    expect(usb.code).toBe(3)
    expect(stdoutJson(usb)).toMatchObject({ error: "SerialPortMatchError", exitCode: 3 })
    expect(stdoutJson(usb).message).toMatch(/^no serial port matches vid=ffff,pid=0001/)
    const badUsb = await belay(["exec", "1", "--device", "usb:vid=pico"])
    expect(badUsb.code).toBe(2)
    expect(badUsb.stderr).toContain('usb: vid must be a USB id of 1 to 4 hex digits (e.g. 2e8a), got "pico"')
    for (const [short, port] of [
      ["a7", "/dev/ttyACM7"],
      ["u7", "/dev/ttyUSB7"],
      ["ttyACM7", "/dev/ttyACM7"],
    ]) {
      const result = await belay(["exec", "1", "--device", short as string])
      expect(result.code).toBe(3)
      expect(result.stderr).toContain(`cannot open serial:${port}`)
    }
  })

  it("the config file gives a default device and aliases; a broken one is a usage error", async () => {
    const dir = path.join(cli.home(), "config", "belay")
    await mkdir(dir, { recursive: true })
    const file = path.join(dir, "config.json")
    await writeFile(file, JSON.stringify({ device: "sim", aliases: { sim: "virtual", port: "a7" } }))
    const byDefault = await belay(["eval", "6 * 7"], { env: { BELAY_DEVICE: "" } })
    expect(byDefault).toMatchObject({ code: 0, stdout: "42\n" })
    const alias = await belay(["exec", "1", "--device", "port"])
    expect(alias.stderr).toContain("cannot open serial:/dev/ttyACM7")
    await writeFile(file, JSON.stringify({ device: 3 }))
    const broken = await belay(["exec", "1"], { env: { BELAY_DEVICE: "" } })
    expect(broken.code).toBe(2)
    expect(broken.stderr).toContain(`the config file ${file} has a "device" that is not a string`)
    await writeFile(file, "{}")
  })

  it("exec: a MicroPython unix build (named micropython...) gets -i and runs on a pipe", async () => {
    // A stand-in for the unix build: records its arguments, then runs the virtual board on its stdio.
    const bin = path.join(cli.home(), "bin")
    await mkdir(bin, { recursive: true })
    const args = path.join(bin, "args")
    const script = path.join(bin, "micropython")
    await writeFile(
      script,
      `#!/bin/sh\necho "$@" > ${JSON.stringify(args)}\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(virtualBoardScript())}\n`,
    )
    await chmod(script, 0o755)
    const exec = await belay(["exec", "print(6 * 7)", "--device", `exec:${script}`])
    expect(exec).toMatchObject({ code: 0, stdout: "42\n" })
    expect((await readFile(args, "utf8")).trim()).toBe("-i")
    const value = await belay(["eval", "[1, 2]", "--device", `exec:${script} -X heapsize=1M`])
    expect(value).toMatchObject({ code: 0, stdout: "[1, 2]\n" })
    expect((await readFile(args, "utf8")).trim()).toBe("-i -X heapsize=1M")
  })
})

describe("fs sync", () => {
  it("skips .git/, __pycache__/ and what .gitignore and .belayignore list, and --exclude", async () => {
    const tree = path.join(cli.home(), "project")
    for (const dir of [".git", "__pycache__", "build", "lib"])
      await mkdir(path.join(tree, dir), { recursive: true })
    await writeFile(path.join(tree, ".git", "HEAD"), "ref: refs/heads/main\n")
    await writeFile(path.join(tree, "__pycache__", "main.mpy"), "x")
    await writeFile(path.join(tree, "build", "out.bin"), "x")
    await writeFile(path.join(tree, ".gitignore"), "build/\n")
    await writeFile(path.join(tree, ".belayignore"), "*.md\n")
    await writeFile(path.join(tree, "README.md"), "# x\n")
    await writeFile(path.join(tree, "secrets.py"), "KEY = 1\n")
    await writeFile(path.join(tree, "main.py"), "print('main')\n")
    await writeFile(path.join(tree, "lib", "a.py"), "A = 1\n")
    const sync = await belay(["fs", "sync", tree, "/proj", "--exclude", "secrets.py", "--json"])
    expect(sync.code).toBe(0)
    expect(
      stdoutJson(sync)
        .uploaded.map((u: { path: string }) => u.path)
        .sort(),
    ).toEqual(["/proj/lib/a.py", "/proj/main.py"])
  })
})

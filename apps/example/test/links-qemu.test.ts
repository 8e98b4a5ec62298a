import { existsSync, readdirSync, readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { belayCommand, stdoutJson } from "./belayProcess.js"

// `--device qemu:microbit` keeps one emulated micro:bit running between commands (per firmware
// file), found again through a state file in the per-user runtime folder, here one of the test's
// own (XDG_RUNTIME_DIR). `belay qemu stop` ends it; one killed behind the CLI's back is replaced.

const cli = belayCommand("belay-links-qemu-")
let runtime = ""
let env: NodeJS.ProcessEnv = {}
beforeAll(async () => {
  runtime = path.join(cli.home(), "runtime")
  await mkdir(runtime, { mode: 0o700 })
  env = { XDG_RUNTIME_DIR: runtime, BELAY_DEVICE: "qemu:microbit" }
})
afterAll(async () => {
  // Nothing may outlive the tests, whatever failed.
  await cli.run(["qemu", "stop"], { env })
})
const belay = (args: ReadonlyArray<string>) => cli.run(args, { env })

const stateDir = () => path.join(runtime, "belay")
/** What the one state file records. */
const recorded = () => {
  const files = readdirSync(stateDir()).filter((name) => name.endsWith(".json"))
  expect(files).toHaveLength(1)
  return JSON.parse(readFileSync(path.join(stateDir(), files[0] as string), "utf8")) as {
    pid: number
    holderPid: number
    ptyPath: string
  }
}

/** True while `pid` runs (a zombie counts as gone: this container's init may not reap). */
const alive = (pid: number) => {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z")
  } catch {
    return false
  }
}
const gone = async (pid: number) => {
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25))
  return !alive(pid)
}

describe("the kept QEMU micro:bit behind the CLI", () => {
  it("cp then ls in separate processes sees the file; qemu stop ends QEMU and removes its state", async () => {
    const local = path.join(cli.home(), "hello.py")
    await writeFile(local, "print('hello')\n")
    expect(await belay(["cp", local, ":"])).toMatchObject({ code: 0 })
    const { pid, holderPid, ptyPath } = recorded()
    expect(alive(pid)).toBe(true)
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toContain("qemu-system-arm")
    const ls = await belay(["ls"])
    expect(ls.code).toBe(0)
    expect(ls.stdout).toContain("hello.py")
    expect(await belay(["exec", "import hello"])).toMatchObject({ code: 0, stdout: "hello\n" })

    const status = stdoutJson(await belay(["qemu", "status", "--json"]))
    expect(status).toEqual([expect.objectContaining({ pid, ptyPath, running: true })])

    const stop = await belay(["qemu", "stop"])
    expect(stop).toMatchObject({ code: 0 })
    expect(stop.stdout).toContain(`stopped pid ${pid}`)
    expect(await gone(pid)).toBe(true)
    expect(await gone(holderPid)).toBe(true)
    expect(readdirSync(stateDir())).toEqual([])
    expect(existsSync(ptyPath)).toBe(false)
    expect((await belay(["qemu", "status"])).stdout).toContain("no kept emulated micro:bit")
  })

  it("an emulator killed behind the CLI's back is replaced by the next command", async () => {
    expect(await belay(["exec", "print(6 * 7)"])).toMatchObject({ code: 0, stdout: "42\n" })
    const first = recorded()
    process.kill(first.pid, "SIGKILL")
    expect(await gone(first.pid)).toBe(true)
    expect(stdoutJson(await belay(["qemu", "status", "--json"]))).toEqual([
      expect.objectContaining({ pid: first.pid, running: false }),
    ])
    expect(await belay(["exec", "print(7 * 6)"])).toMatchObject({ code: 0, stdout: "42\n" })
    const second = recorded()
    expect(second.pid).not.toBe(first.pid)
    expect(alive(second.pid)).toBe(true)
    expect(await gone(first.holderPid)).toBe(true)
    await belay(["qemu", "stop"])
    expect(await gone(second.pid)).toBe(true)
  })

  it("two qemu start at once start one emulator; keep=false gives a command one of its own", async () => {
    const [a, b] = await Promise.all([belay(["qemu", "start", "--json"]), belay(["qemu", "start", "--json"])])
    const started = [stdoutJson(a), stdoutJson(b)]
    expect(started[0].pid).toBe(started[1].pid)
    expect(started.map((q) => q.reused).sort()).toEqual([false, true])

    const own = await belay(["exec", "print('own')", "--device", "qemu:microbit?keep=false"])
    expect(own).toMatchObject({ code: 0, stdout: "own\n" })
    expect(recorded().pid).toBe(started[0].pid)
    await belay(["qemu", "stop"])
    expect(await gone(started[0].pid)).toBe(true)
  })
})

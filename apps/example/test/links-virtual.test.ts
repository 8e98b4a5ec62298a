import { readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { belayCommand, runtimeDir, stdoutJson } from "./belayProcess.js"

// `--device virtual` keeps one virtual board running between commands (per flash folder), in a
// process of its own found again through a state file in the per-user runtime folder, here the
// test's own (XDG_RUNTIME_DIR): its RAM carries from one command to the next, as a real board's
// does. `belay virtual stop` ends it; one killed behind the CLI's back is replaced; `?keep=false`
// gives a command a board in its own process, with fresh RAM.

const cli = belayCommand("belay-links-virtual-")
const belay = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) => cli.run(args, { env })

const stateDir = () => path.join(runtimeDir(cli.home()), "belay")
const stateFiles = () => {
  try {
    return readdirSync(stateDir()).filter((name) => name.endsWith(".json"))
  } catch {
    return []
  }
}
/** What the one state file records. */
const recorded = () => {
  const files = stateFiles()
  expect(files).toHaveLength(1)
  return JSON.parse(readFileSync(path.join(stateDir(), files[0] as string), "utf8")) as {
    pid: number
    port: number
    flashDir: string
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

describe("the kept virtual board behind the CLI", () => {
  it("exec then eval in separate processes sees the global; keep=false does not; virtual stop ends it", async () => {
    expect(await belay(["exec", "x = 1"])).toMatchObject({ code: 0, stdout: "" })
    const { pid, port, flashDir } = recorded()
    expect(alive(pid)).toBe(true)
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).toEqual(
      expect.arrayContaining(["belay-virtual-board", "--tcp", "127.0.0.1:0", "--flash-dir"]),
    )
    expect(flashDir).toBe(path.join(cli.home(), "flash"))
    expect(await belay(["eval", "x"])).toMatchObject({ code: 0, stdout: "1\n" })

    // A board of the command's own: fresh RAM, the same files.
    const own = await belay(["eval", "x"], { BELAY_DEVICE: "virtual?keep=false" })
    expect(own.code).toBe(1)
    expect(own.stderr).toContain("NameError")
    expect(recorded().pid).toBe(pid)

    const status = stdoutJson(await belay(["virtual", "status", "--json"]))
    expect(status).toEqual([expect.objectContaining({ pid, port, running: true, host: "127.0.0.1" })])

    const stop = await belay(["virtual", "stop"])
    expect(stop).toMatchObject({ code: 0 })
    expect(stop.stdout).toContain(`stopped pid ${pid}`)
    expect(await gone(pid)).toBe(true)
    expect(readdirSync(stateDir())).toEqual([])
    expect((await belay(["virtual", "status"])).stdout).toContain("no kept virtual board")
    // Its RAM went with it: the next command starts a new board.
    const after = await belay(["eval", "x"])
    expect(after.code).toBe(1)
    expect(after.stderr).toContain("NameError")
    expect(recorded().pid).not.toBe(pid)
    await belay(["virtual", "stop"])
  })

  it("files stay in the flash folder across a restart; a board killed behind the CLI's back is replaced", async () => {
    expect(await belay(["exec", "open('kept.txt', 'w').write('on flash')"])).toMatchObject({ code: 0 })
    const first = recorded()
    process.kill(first.pid, "SIGKILL")
    expect(await gone(first.pid)).toBe(true)
    expect(stdoutJson(await belay(["virtual", "status", "--json"]))).toEqual([
      expect.objectContaining({ pid: first.pid, running: false }),
    ])
    expect(await belay(["eval", "open('kept.txt').read()"])).toMatchObject({
      code: 0,
      stdout: "'on flash'\n",
    })
    const second = recorded()
    expect(second.pid).not.toBe(first.pid)
    expect(alive(second.pid)).toBe(true)
    await belay(["virtual", "stop"])
    expect(await gone(second.pid)).toBe(true)
  })

  it("two commands started at once share one board, taking turns", async () => {
    expect(stateFiles()).toEqual([])
    const [a, b] = await Promise.all([
      belay(["exec", "import time; time.sleep(0.3); shared = 'a'"]),
      belay(["exec", "import time; time.sleep(0.3); other = 'b'"]),
    ])
    expect(a).toMatchObject({ code: 0 })
    expect(b).toMatchObject({ code: 0 })
    expect(stateFiles()).toHaveLength(1)
    expect(await belay(["eval", "(shared, other)"])).toMatchObject({ code: 0, stdout: "('a', 'b')\n" })
    const [start1, start2] = await Promise.all([
      belay(["virtual", "start", "--json"]),
      belay(["virtual", "start", "--json"]),
    ])
    expect([stdoutJson(start1), stdoutJson(start2)]).toEqual([
      expect.objectContaining({ reused: true, pid: recorded().pid }),
      expect.objectContaining({ reused: true, pid: recorded().pid }),
    ])
    await belay(["virtual", "stop"])
  })

  it("exits by itself after its idle time without a client", async () => {
    expect(await belay(["exec", "pass"], { BELAY_VIRTUAL_IDLE_TIMEOUT: "1s" })).toMatchObject({ code: 0 })
    const { pid } = recorded()
    expect(alive(pid)).toBe(true)
    expect(await gone(pid)).toBe(true)
    // Recorded but gone, until the next command replaces it or stop clears it.
    expect(stdoutJson(await belay(["virtual", "status", "--json"]))).toEqual([
      expect.objectContaining({ pid, running: false, idleTimeoutMs: 1000 }),
    ])
    expect((await belay(["virtual", "stop"])).stdout).toContain(`stopped pid ${pid}`)
    expect(stateFiles()).toEqual([])
  })

  it("board options reach the kept board and show in its status: a memory bound holds there", async () => {
    const device = { BELAY_DEVICE: "virtual?memory=64M&rawPaste=false" }
    const run = await belay(["exec", "n = 0\nwhile True:\n    x = bytearray(4000000)\n    n += 1"], device)
    expect(run.code).toBe(1)
    expect(run.stderr).toContain("MemoryError")
    // 64 MiB, of which the interpreter's start takes about 16: fewer than 16 rounds of 4 MB.
    const rounds = await belay(["eval", "n"], device)
    expect(rounds.code).toBe(0)
    expect(Number(rounds.stdout)).toBeLessThan(16)
    expect(stdoutJson(await belay(["virtual", "status", "--json"]))).toEqual([
      expect.objectContaining({ running: true, settings: { memoryLimit: 64 * 2 ** 20, rawPaste: false } }),
    ])
    expect((await belay(["virtual", "status"])).stdout).toContain(
      "options memoryLimit=67108864 rawPaste=false",
    )
    await belay(["virtual", "stop"])
  })

  it("a line speed asks for keep=false", async () => {
    const slow = await belay(["exec", "pass"], { BELAY_DEVICE: "virtual?baud=115200" })
    expect(slow.code).toBe(2)
    expect(slow.stderr).toContain("add keep=false")
    expect(
      await belay(["exec", "print('slow')"], { BELAY_DEVICE: "virtual?baud=115200&keep=false" }),
    ).toMatchObject({ code: 0, stdout: "slow\n" })
    expect(stateFiles()).toEqual([])
  })
})

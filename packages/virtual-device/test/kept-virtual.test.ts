import { type ChildProcess, spawn } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { connect, type Socket } from "node:net"
import os from "node:os"
import path from "node:path"
import { makeDeviceCommunication, openTcpLink } from "@belay/transport"
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { keptVirtualBoards, stopKeptVirtualBoards, useKeptVirtualBoard } from "../src/keptVirtual.ts"

// The virtual board kept running between processes: found again through its state file, started
// once under a lock, replaced when its process is gone or runs other board options, never
// mistaken for another process that has its pid, clients taking turns, gone by itself after its
// idle time, stopped leaving nothing behind.

/** True while `pid` runs (a zombie counts as gone: this container's init may not reap). */
const alive = (pid: number) => {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z")
  } catch {
    return false
  }
}

/** Wait (bounded) until `pid` is gone. */
const gone = async (pid: number, withinMs = 5000) => {
  for (let i = 0; i < withinMs / 25 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25))
  return !alive(pid)
}

/** Run `code` on the board at `port` over a connection of its own; what it printed. */
const exec = (port: number, code: string) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const link = yield* openTcpLink({ host: "127.0.0.1", port })
        const device = yield* makeDeviceCommunication(link, { integrity: "unchecked" })
        return yield* device.exec(code)
      }),
    ),
  )

/** A raw client: what it received so far. */
const client = (port: number) =>
  new Promise<{ socket: Socket; text: () => string }>((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port })
    let text = ""
    socket.on("data", (chunk) => (text += chunk.toString("latin1")))
    socket.once("connect", () => resolve({ socket, text: () => text }))
    socket.once("error", reject)
  })

const until = async (probe: () => boolean, withinMs = 10_000) => {
  for (let i = 0; i < withinMs / 20 && !probe(); i++) await new Promise((r) => setTimeout(r, 20))
  return probe()
}

let home = ""
let stateDir = ""
let flashDir = ""
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), "belay-kept-virtual-"))
  stateDir = path.join(home, "state")
  flashDir = path.join(home, "flash")
})
afterAll(async () => {
  // Nothing may outlive the tests, whatever failed.
  await run(stopKeptVirtualBoards({ stateDir }))
  await rm(home, { recursive: true, force: true })
})

describe("the kept virtual board", () => {
  it("is started once, found again, keeps its RAM between connections, and stops leaving nothing", async () => {
    const first = await run(useKeptVirtualBoard({ stateDir, flashDir }))
    expect(first).toMatchObject({ reused: false, host: "127.0.0.1", flashDir, settings: {} })
    expect(readFileSync(`/proc/${first.pid}/cmdline`, "utf8").split("\0")).toEqual(
      expect.arrayContaining(["belay-virtual-board", "--tcp", "127.0.0.1:0", "--queue-clients", flashDir]),
    )
    expect(JSON.parse(readFileSync(first.stateFile, "utf8"))).toMatchObject({
      pid: first.pid,
      port: first.port,
      flashDir,
      idleTimeoutMs: 15 * 60_000,
    })
    await exec(first.port, "kept = 'still here'")

    const again = await run(useKeptVirtualBoard({ stateDir, flashDir }))
    expect(again).toMatchObject({ reused: true, pid: first.pid, port: first.port })
    expect(await exec(again.port, "print(kept)")).toBe("still here\r\n")
    expect(await run(keptVirtualBoards({ stateDir }))).toEqual([
      expect.objectContaining({ pid: first.pid, running: true }),
    ])

    const stopped = await run(stopKeptVirtualBoards({ stateDir }))
    expect(stopped.map((b) => b.pid)).toEqual([first.pid])
    expect(await gone(first.pid)).toBe(true)
    expect(readdirSync(stateDir)).toEqual([])
  })

  it("three at once start one board (the lock); a stale lock of a dead process does not block", async () => {
    const all = await run(
      Effect.all(
        [1, 2, 3].map(() => useKeptVirtualBoard({ stateDir, flashDir })),
        { concurrency: "unbounded" },
      ),
    )
    expect(new Set(all.map((b) => b.pid)).size).toBe(1)
    expect(all.filter((b) => !b.reused)).toHaveLength(1)
    const lockFile = all[0]!.stateFile.replace(/\.json$/, ".lock")
    expect(existsSync(lockFile)).toBe(false)
    // A process that died holding the lock (killed while it started the board).
    writeFileSync(lockFile, "2147483646\n")
    const after = await run(useKeptVirtualBoard({ stateDir, flashDir }))
    expect(after).toMatchObject({ reused: true, pid: all[0]!.pid })
    expect(existsSync(lockFile)).toBe(false)
    await run(stopKeptVirtualBoards({ stateDir }))
    expect(await gone(after.pid)).toBe(true)
  })

  it("is replaced when its process died or runs other board options; files stay, RAM goes", async () => {
    const first = await run(useKeptVirtualBoard({ stateDir, flashDir }))
    await exec(first.port, "open('f.txt', 'w').write('on flash'); ram = 1")
    process.kill(first.pid, "SIGKILL")
    expect(await gone(first.pid)).toBe(true)
    expect(await run(keptVirtualBoards({ stateDir }))).toEqual([
      expect.objectContaining({ pid: first.pid, running: false }),
    ])
    const second = await run(useKeptVirtualBoard({ stateDir, flashDir }))
    expect(second.reused).toBe(false)
    expect(second.pid).not.toBe(first.pid)
    expect(await exec(second.port, "print(open('f.txt').read(), 'ram' in globals())")).toBe(
      "on flash False\r\n",
    )

    // Other board options: the old board is stopped, a new one runs them.
    const old = await run(useKeptVirtualBoard({ stateDir, flashDir, firmware: "old" }))
    expect(old).toMatchObject({ reused: false, settings: { firmware: "old" } })
    expect(await gone(second.pid)).toBe(true)
    expect(await run(useKeptVirtualBoard({ stateDir, flashDir, firmware: "old" }))).toMatchObject({
      reused: true,
      pid: old.pid,
    })
    expect(await run(keptVirtualBoards({ stateDir }))).toHaveLength(1)
    await run(stopKeptVirtualBoards({ stateDir }))
  })

  it("never takes another process with the recorded pid for the board, nor stops it", async () => {
    const first = await run(useKeptVirtualBoard({ stateDir, flashDir }))
    await run(stopKeptVirtualBoards({ stateDir }))
    // A state file whose pid now belongs to something else, and one that is not a record at all.
    const stranger: ChildProcess = spawn("sleep", ["30"], { stdio: "ignore" })
    try {
      mkdirSync(stateDir, { recursive: true, mode: 0o700 })
      writeFileSync(first.stateFile, JSON.stringify({ ...first, pid: stranger.pid }))
      const board = await run(useKeptVirtualBoard({ stateDir, flashDir }))
      expect(board.reused).toBe(false)
      expect(board.pid).not.toBe(stranger.pid)
      expect(alive(stranger.pid as number)).toBe(true)
      await run(stopKeptVirtualBoards({ stateDir }))
      expect(alive(stranger.pid as number)).toBe(true)

      writeFileSync(first.stateFile, "{ not json")
      const fresh = await run(useKeptVirtualBoard({ stateDir, flashDir }))
      expect(fresh.reused).toBe(false)
      await run(stopKeptVirtualBoards({ stateDir }))
    } finally {
      stranger.kill("SIGKILL")
    }
  })

  it("clients take turns: one that connects while another is connected waits, its bytes held until then", async () => {
    const board = await run(useKeptVirtualBoard({ stateDir, flashDir }))
    const first = await client(board.port)
    // Ctrl-C, Ctrl-B: the friendly REPL's prompt, as the first client.
    first.socket.write("\r\x03\x02")
    expect(await until(() => first.text().includes(">>> "))).toBe(true)
    const second = await client(board.port)
    second.socket.write("\r\x03\x02\rprint('second' + 'here')\r")
    await new Promise((r) => setTimeout(r, 500))
    expect(second.text()).toBe("")
    first.socket.destroy()
    expect(await until(() => second.text().includes("secondhere"))).toBe(true)
    second.socket.destroy()
    await run(stopKeptVirtualBoards({ stateDir }))
  })

  it("exits by itself after its idle time without a client; in-memory flash is a board of its own", async () => {
    const idle = await run(useKeptVirtualBoard({ stateDir, idleTimeoutMs: 600 }))
    expect(idle).toMatchObject({ flashDir: undefined, idleTimeoutMs: 600 })
    // A client holds it: no idle time runs while one is connected.
    const held = await client(idle.port)
    await new Promise((r) => setTimeout(r, 1000))
    expect(alive(idle.pid)).toBe(true)
    held.socket.destroy()
    expect(await gone(idle.pid, 10_000)).toBe(true)
    expect(await run(keptVirtualBoards({ stateDir }))).toEqual([
      expect.objectContaining({ pid: idle.pid, running: false }),
    ])
    const replaced = await run(useKeptVirtualBoard({ stateDir }))
    expect(replaced).toMatchObject({ reused: false, flashDir: undefined })
    await run(stopKeptVirtualBoards({ stateDir }))
  })

  it("stops only the named folder's board with flashDir", async () => {
    const other = path.join(home, "other")
    const a = await run(useKeptVirtualBoard({ stateDir, flashDir }))
    const b = await run(useKeptVirtualBoard({ stateDir, flashDir: other }))
    expect(a.port).not.toBe(b.port)
    expect((await run(stopKeptVirtualBoards({ stateDir, flashDir: other }))).map((s) => s.pid)).toEqual([
      b.pid,
    ])
    expect(await gone(b.pid)).toBe(true)
    expect(alive(a.pid)).toBe(true)
    await run(stopKeptVirtualBoards({ stateDir }))
    expect(await gone(a.pid)).toBe(true)
  })

  it("refuses bad options before starting anything, and a state folder others can enter", async () => {
    const bad = await Effect.runPromiseExit(useKeptVirtualBoard({ stateDir, flashDir, rawPasteWindow: 0 }))
    expect(bad).toEqual(Exit.fail(expect.objectContaining({ _tag: "VirtualBoardStartError" })))
    const idle = await Effect.runPromiseExit(useKeptVirtualBoard({ stateDir, flashDir, idleTimeoutMs: 0 }))
    expect(idle).toEqual(Exit.fail(expect.objectContaining({ _tag: "VirtualBoardStartError" })))
    const open = path.join(home, "open-state")
    mkdirSync(open, { mode: 0o755 })
    chmodSync(open, 0o755)
    const refused = await Effect.runPromiseExit(useKeptVirtualBoard({ stateDir: open, flashDir }))
    expect(refused).toEqual(Exit.fail(expect.objectContaining({ _tag: "VirtualBoardStateError" })))
    expect(readdirSync(open)).toEqual([])
    expect(await run(keptVirtualBoards({ stateDir }))).toEqual([])
  })
})

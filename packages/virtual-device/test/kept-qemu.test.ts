import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { openSerialLink } from "@belay/transport/serial"
import { Effect, Exit, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { keptQemuMicrobits, stopKeptQemuMicrobits, useKeptQemuMicrobit } from "../src/keptQemu.ts"
import { defaultMicrobitFirmwarePath } from "../src/qemu.ts"
import { QemuStateError } from "../src/runtimeFolder.ts"

// The emulated micro:bit kept running between processes: found again through its state file,
// started once under a lock, replaced when it died or its firmware changed, stopped leaving
// nothing behind. Like the other QEMU tests, never skipped: without QEMU they fail with QemuStartError.

/** True while `pid` runs (a zombie counts as gone: this container's init may not reap). */
const alive = (pid: number) => {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z")
  } catch {
    return false
  }
}

/** Wait (bounded) until `pid` is gone. */
const gone = async (pid: number) => {
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25))
  return !alive(pid)
}

/** Open the board's serial port, press Enter, and return once the REPL prompt comes back. */
const prompt = (ptyPath: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const link = yield* openSerialLink({ path: ptyPath })
      yield* link.write(new TextEncoder().encode("\r"))
      let seen = ""
      yield* link.received.pipe(
        Stream.takeUntil((chunk) => {
          seen += Buffer.from(chunk).toString("latin1")
          return seen.includes(">>> ")
        }),
        Stream.runDrain,
      )
      return seen
    }),
  ).pipe(Effect.timeout("10 seconds"))

let home = ""
let stateDir = ""
beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), "belay-kept-"))
  stateDir = path.join(home, "state")
})
afterAll(async () => {
  await Effect.runPromise(stopKeptQemuMicrobits({ stateDir }))
  await rm(home, { recursive: true, force: true })
})

describe("the kept QEMU micro:bit", () => {
  it("is started once, found again, answers at once on a second open, and stops leaving nothing", async () => {
    const first = await Effect.runPromise(useKeptQemuMicrobit({ stateDir }))
    expect(first.reused).toBe(false)
    expect(readFileSync(`/proc/${first.pid}/cmdline`, "utf8")).toContain("qemu-system-arm")
    expect(JSON.parse(readFileSync(first.stateFile, "utf8"))).toMatchObject({
      pid: first.pid,
      ptyPath: first.ptyPath,
      firmwarePath: defaultMicrobitFirmwarePath,
      startedAt: first.startedAt,
    })
    expect(await Effect.runPromise(prompt(first.ptyPath))).toContain(">>> ")

    const again = await Effect.runPromise(useKeptQemuMicrobit({ stateDir }))
    expect(again).toMatchObject({ reused: true, pid: first.pid, ptyPath: first.ptyPath })
    expect(await Effect.runPromise(prompt(again.ptyPath))).toContain(">>> ")
    expect(await Effect.runPromise(keptQemuMicrobits({ stateDir }))).toEqual([
      expect.objectContaining({ pid: first.pid, running: true }),
    ])

    const stopped = await Effect.runPromise(stopKeptQemuMicrobits({ stateDir }))
    expect(stopped.map((q) => q.pid)).toEqual([first.pid])
    expect(await gone(first.pid)).toBe(true)
    expect(await gone(first.holderPid)).toBe(true)
    expect(readdirSync(stateDir)).toEqual([])
  })

  it("three at once start one emulator (the lock); a stale lock of a dead process does not block", async () => {
    const all = await Effect.runPromise(
      Effect.all(
        [1, 2, 3].map(() => useKeptQemuMicrobit({ stateDir })),
        { concurrency: "unbounded" },
      ),
    )
    expect(new Set(all.map((q) => q.pid)).size).toBe(1)
    expect(all.filter((q) => !q.reused)).toHaveLength(1)
    const lockFile = all[0]!.stateFile.replace(/\.json$/, ".lock")
    expect(existsSync(lockFile)).toBe(false)
    // A process that died holding the lock (killed while it started QEMU).
    writeFileSync(lockFile, "2147483646\n")
    const after = await Effect.runPromise(useKeptQemuMicrobit({ stateDir }))
    expect(after).toMatchObject({ reused: true, pid: all[0]!.pid })
    expect(existsSync(lockFile)).toBe(false)
    await Effect.runPromise(stopKeptQemuMicrobits({ stateDir }))
    expect(await gone(after.pid)).toBe(true)
  })

  it("is replaced when it died, and when its firmware file changed", async () => {
    const firmwarePath = path.join(home, "firmware.hex")
    copyFileSync(defaultMicrobitFirmwarePath, firmwarePath)
    const first = await Effect.runPromise(useKeptQemuMicrobit({ stateDir, firmwarePath }))
    process.kill(first.pid, "SIGKILL")
    expect(await gone(first.pid)).toBe(true)
    const second = await Effect.runPromise(useKeptQemuMicrobit({ stateDir, firmwarePath }))
    expect(second.reused).toBe(false)
    expect(second.pid).not.toBe(first.pid)
    expect(await gone(first.holderPid)).toBe(true)

    const later = new Date(Date.now() + 60_000)
    utimesSync(firmwarePath, later, later)
    const third = await Effect.runPromise(useKeptQemuMicrobit({ stateDir, firmwarePath }))
    expect(third.reused).toBe(false)
    expect(await gone(second.pid)).toBe(true)
    expect(await Effect.runPromise(prompt(third.ptyPath))).toContain(">>> ")
    await Effect.runPromise(stopKeptQemuMicrobits({ stateDir, firmwarePath }))
    expect(await gone(third.pid)).toBe(true)
  })

  it("refuses a state folder that other users can enter", async () => {
    const open = path.join(home, "open")
    mkdirSync(open, { mode: 0o777 })
    chmodSync(open, 0o777)
    const exit = await Effect.runPromiseExit(useKeptQemuMicrobit({ stateDir: open }))
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error?: unknown }).error : undefined
    expect(error).toBeInstanceOf(QemuStateError)
    expect((error as QemuStateError).message).toContain("open to other users")
  })
})

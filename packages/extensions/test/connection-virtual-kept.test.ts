import { mkdtemp, readdir, rm } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { DeviceCommunication } from "@belay/transport"
import { keptVirtualBoards, stopKeptVirtualBoards } from "@belay/virtual-device"
import { Effect, Exit, Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BelayLive } from "../src/Belay.js"
import type { BelayOptions } from "../src/BelayOptions.js"
import { openConnection } from "../src/Connection.js"
import { parseConnectionString } from "../src/ConnectionString.js"

// `virtual` runs the board in this process unless the connection string (`keep=true`) or the
// opener's default (`keepVirtual`, what the CLI sets) asks for the kept one: a process of its own,
// reached over a local TCP connection, whose RAM outlives the stack that used it. The kept boards
// are recorded in a runtime folder of the test's own.

let home = ""
let saved: string | undefined
beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), "belay-connection-virtual-"))
  saved = process.env.XDG_RUNTIME_DIR
  process.env.XDG_RUNTIME_DIR = path.join(home, "runtime")
})
afterAll(async () => {
  // Nothing may outlive the tests, whatever failed.
  await Effect.runPromise(stopKeptVirtualBoards())
  if (saved === undefined) delete process.env.XDG_RUNTIME_DIR
  else process.env.XDG_RUNTIME_DIR = saved
  await rm(home, { recursive: true, force: true })
})

/** Run `code` (`eval` when `evaluate`) on a stack of its own, closed afterwards: a command, as the CLI runs one. */
const onFreshStack = (code: string, options: Partial<BelayOptions>, evaluate = false) =>
  Effect.runPromiseExit(
    Effect.flatMap(DeviceCommunication, (device) => (evaluate ? device.eval(code) : device.exec(code))).pipe(
      Effect.provide(BelayLive(options)),
    ),
  )

describe("the kept virtual board through the connection string", () => {
  it("virtual runs in this process by default; keep=true or keepVirtual keeps the board and its RAM between stacks", async () => {
    const flash = path.join(home, "flash")
    // In this process: the second stack's board is a new one.
    expect(Exit.isSuccess(await onFreshStack("x = 1", { device: "virtual", virtualDir: flash }))).toBe(true)
    const fresh = await onFreshStack("x", { device: "virtual", virtualDir: flash }, true)
    expect(Exit.isFailure(fresh)).toBe(true)
    expect(String(Exit.isFailure(fresh) ? fresh.cause : "")).toContain("NameError")
    expect(await Effect.runPromise(keptVirtualBoards())).toEqual([])

    // Kept: what one stack defined, the next one sees.
    const kept = { device: "virtual?keep=true", virtualDir: flash }
    expect(Exit.isSuccess(await onFreshStack("x = 41", kept))).toBe(true)
    expect(
      await onFreshStack("x + 1", { device: "virtual", virtualDir: flash, keepVirtual: true }, true),
    ).toEqual(Exit.succeed("42"))
    // keep=false wins over keepVirtual.
    const own = await onFreshStack(
      "x",
      { device: "virtual?keep=false", virtualDir: flash, keepVirtual: true },
      true,
    )
    expect(Exit.isFailure(own)).toBe(true)
    const boards = await Effect.runPromise(keptVirtualBoards())
    expect(boards).toEqual([expect.objectContaining({ running: true, host: "127.0.0.1" })])
    expect(boards[0]?.flashDir).toBe(flash)
  }, 60_000)

  it("a line speed with the kept board is refused with the way out; another flash folder gets a board of its own", async () => {
    const connection = Result.getOrThrow(parseConnectionString("virtual?baud=115200"))
    const refused = await Effect.runPromiseExit(
      Effect.scoped(openConnection(connection, { keepVirtual: true, virtualDir: path.join(home, "flash") })),
    )
    expect(refused).toEqual(Exit.fail(expect.objectContaining({ _tag: "ConnectionStringError" })))
    expect(String(Exit.isFailure(refused) ? refused.cause : "")).toContain("add keep=false")

    const other = path.join(home, "other-flash")
    const printed = await onFreshStack("print('other')", {
      device: "virtual",
      virtualDir: other,
      keepVirtual: true,
    })
    expect(Exit.isSuccess(printed) && printed.value.trim()).toBe("other")
    const boards = await Effect.runPromise(keptVirtualBoards())
    expect(boards.map((b) => b.flashDir).sort()).toEqual([path.join(home, "flash"), other].sort())
    expect(new Set(boards.map((b) => b.port)).size).toBe(2)

    const stopped = await Effect.runPromise(stopKeptVirtualBoards())
    expect(stopped).toHaveLength(2)
    expect(await readdir(path.join(home, "runtime", "belay"))).toEqual([])
  }, 60_000)
})

import { mkdtemp, readdir, rm } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { keptQemuMicrobits, stopKeptQemuMicrobits } from "@belay/virtual-device"
import { Effect, Result } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { openConnection } from "../src/Connection.js"
import { parseConnectionString } from "../src/ConnectionString.js"

// `qemu:microbit` opens a private emulator that stops with the link unless the connection string
// (`keep=true`) or the opener's default (`keepQemu`, what the CLI sets) asks for the kept one.
// The kept emulators are recorded in a runtime folder of the test's own.

let runtime = ""
let saved: string | undefined
beforeAll(async () => {
  runtime = await mkdtemp(path.join(os.tmpdir(), "belay-connection-qemu-"))
  saved = process.env.XDG_RUNTIME_DIR
  process.env.XDG_RUNTIME_DIR = runtime
})
afterAll(async () => {
  await Effect.runPromise(stopKeptQemuMicrobits())
  if (saved === undefined) delete process.env.XDG_RUNTIME_DIR
  else process.env.XDG_RUNTIME_DIR = saved
  await rm(runtime, { recursive: true, force: true })
})

/** Open `text`'s link, say Enter, and close it; what the runtime folder then records. */
const openAndClose = async (text: string, keepQemu?: boolean) => {
  const connection = Result.getOrThrow(parseConnectionString(text))
  await Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(openConnection(connection, keepQemu === undefined ? {} : { keepQemu }), (link) =>
        link.write(new TextEncoder().encode("\r")),
      ),
    ),
  )
  return Effect.runPromise(keptQemuMicrobits())
}

it("qemu:microbit is private by default, kept with keep=true or keepQemu, and keep=false wins over keepQemu", async () => {
  expect(await openAndClose("qemu:microbit")).toEqual([])
  expect(await openAndClose("qemu:microbit?keep=false", true)).toEqual([])
  expect(await readdir(runtime)).toEqual([]) // the private ones never touched the runtime folder

  const kept = await openAndClose("qemu:microbit?keep=true")
  expect(kept).toEqual([expect.objectContaining({ running: true })])
  const again = await openAndClose("qemu:microbit", true)
  expect(again).toEqual([expect.objectContaining({ pid: kept[0]?.pid, running: true })])
}, 60_000)

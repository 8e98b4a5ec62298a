import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { DeviceSessionManager, makeDeviceSessionManager } from "@belay/core"
import { GeneratorTask, py, Task, ThreadTask } from "@belay/executors"
import { boardFileSystem } from "@belay/filesystem"
import { DeviceCommunication, makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Fiber, Schema, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BelayLive } from "../src/index.js"

// The whole stack on the virtual board playing CircuitPython (no real CircuitPython firmware runs
// in CI): detection, exec/eval, tasks, files and sync, threads refused, the read-only flash, an
// older version without raw-paste, auto-reload and a reset while a session is open.

const add = Task.make({
  name: "cp_add",
  source: py`
    def cp_add(a, b):
        return a + b
  `,
  args: [Schema.Number, Schema.Number],
  result: Schema.Number,
})
const count = GeneratorTask.make({
  name: "cp_count",
  source: py`
    def cp_count(n):
        for i in range(n):
            yield i
  `,
  args: [Schema.Number],
  item: Schema.Number,
})
const blink = ThreadTask.make({
  name: "cp_blink",
  source: py`
    def cp_blink(stopping):
        pass
  `,
})

const onBoard = <A, E>(
  device: string,
  body: Effect.Effect<A, E, DeviceSessionManager | DeviceCommunication>,
) => Effect.runPromise(Effect.scoped(body).pipe(Effect.provide(BelayLive({ device }))))

let local: string
beforeAll(async () => {
  local = await mkdtemp(path.join(tmpdir(), "belay-cp-"))
  await mkdir(path.join(local, "lib"))
  await writeFile(path.join(local, "code.py"), "import helper\nprint(helper.VALUE)\n")
  await writeFile(path.join(local, "lib", "helper.py"), "VALUE = 42\n")
})
afterAll(async () => {
  await rm(local, { recursive: true, force: true })
})

describe("Belay on a CircuitPython board (virtual)", () => {
  it(
    "detects CircuitPython and runs exec, eval, tasks, file operations and sync; threads are refused before anything is sent",
    { timeout: 60_000 },
    () =>
      onBoard(
        "virtual?flavor=circuitpython&writable=true",
        Effect.gen(function* () {
          const manager = yield* DeviceSessionManager
          const device = yield* DeviceCommunication
          return yield* manager.executeInSession((session) =>
            Effect.gen(function* () {
              const capabilities = session.deviceContext.capabilities
              const info = yield* session.deviceContext.deviceInfo
              const printed = yield* session.device.exec("print('hi')")
              const value = yield* session.device.eval("[1, 'two']")
              const sum = yield* add.call(session, 2, 3)
              const items = yield* Stream.runCollect(count.stream(session, 3))
              const fs = boardFileSystem(session)
              yield* fs.write("/data/a.txt", "hello", { parents: true })
              const text = yield* fs.readText("/data/a.txt")
              const listed = yield* fs.list("/data")
              yield* fs.remove("/data", { recursive: true })
              const gone = yield* fs.exists("/data")
              const report = yield* fs.sync(local, "/app")
              const synced = yield* session.device.exec(
                "import sys\nsys.path.insert(0, '/app/lib')\nexec(open('/app/code.py').read())",
              )
              const before = (yield* device.metrics).exchanges
              const thread = yield* Effect.flip(blink.start(session))
              const after = (yield* device.metrics).exchanges
              return {
                capabilities,
                info,
                printed,
                value,
                sum,
                items: [...items],
                text,
                listed: listed.map((e) => e.path),
                gone,
                uploaded: report.uploaded.length,
                synced,
                thread,
                sentForThread: after - before,
              }
            }),
          )
        }),
      ).then((r) => {
        expect(r.capabilities).toMatchObject({
          implementation: "circuitpython",
          flavor: "circuitpython",
          version: "9.2.1",
          threads: false,
          machineModule: false,
          rawPaste: true,
          statvfs: true,
        })
        expect(r.capabilities.osFunctions).toContain("sync")
        expect(r.capabilities.osFunctions).not.toContain("ilistdir")
        expect(r.info.flavor).toBe("circuitpython")
        expect(r.printed).toBe("hi\n")
        expect(r.value).toBe("[1, 'two']")
        expect(r.sum).toBe(5)
        expect(r.items).toEqual([0, 1, 2])
        expect(r.text).toBe("hello")
        expect(r.listed).toEqual(["/data/a.txt"])
        expect(r.gone).toBe(false)
        expect(r.uploaded).toBe(2)
        expect(r.synced).toBe("42\n")
        expect(r.thread._tag).toBe("CapabilityMissingError")
        expect(r.thread.message).toContain("CircuitPython has no threads")
        expect(r.sentForThread).toBe(0)
      }),
  )

  it(
    "a write to the flash CircuitPython keeps read-only to code fails typed, saying how to fix it",
    { timeout: 60_000 },
    () =>
      onBoard(
        "virtual?flavor=circuitpython",
        Effect.gen(function* () {
          const manager = yield* DeviceSessionManager
          return yield* manager.executeInSession((session) =>
            Effect.gen(function* () {
              const fs = boardFileSystem(session)
              const write = yield* Effect.flip(fs.write("/a.txt", "x"))
              const mkdir = yield* Effect.flip(fs.mkdir("/d"))
              return { write, mkdir, files: (yield* fs.list("/")).map((e) => e.path) }
            }),
          )
        }),
      ).then(({ write, mkdir, files }) => {
        expect(write._tag).toBe("ReadOnlyFileSystemError")
        expect(write.message).toContain('storage.remount("/", False)')
        expect(write.message).toContain("boot.py")
        expect(mkdir._tag).toBe("ReadOnlyFileSystemError")
        expect(files).toEqual([])
      }),
  )

  it("CircuitPython 6 (no raw-paste) runs the same calls in plain raw mode", { timeout: 60_000 }, () =>
    onBoard(
      "virtual?flavor=circuitpython&version=6.3.0&writable=true",
      Effect.gen(function* () {
        const manager = yield* DeviceSessionManager
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            const fs = boardFileSystem(session)
            yield* fs.write(
              "/b.bin",
              new Uint8Array(3000).map((_, i) => i & 0xff),
            )
            const back = yield* fs.readBytes("/b.bin")
            return {
              capabilities: session.deviceContext.capabilities,
              sum: yield* add.call(session, 40, 2),
              same: back.every((b, i) => b === (i & 0xff)) && back.length === 3000,
            }
          }),
        )
      }),
    ).then(({ capabilities, sum, same }) => {
      expect(capabilities).toMatchObject({ flavor: "circuitpython", version: "6.3.0", rawPaste: false })
      expect(sum).toBe(42)
      expect(same).toBe(true)
    }),
  )

  it("after a write, os.sync() puts the file on the flash at once", { timeout: 60_000 }, () =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openVirtualBoard({ flavor: "circuitpython", writable: true })
          const device = yield* makeDeviceCommunication(link)
          const manager = yield* makeDeviceSessionManager(device)
          const before = (yield* link.stats).syncs
          yield* manager.executeInSession((session) => boardFileSystem(session).write("/log.txt", "line\n"))
          return { before, after: (yield* link.stats).syncs }
        }),
      ),
    ).then((result) => expect(result).toEqual({ before: 0, after: 1 })),
  )

  it(
    "auto-reload after a file written over USB, and a reset to the wait for a key, do not break the sessions",
    { timeout: 60_000 },
    () =>
      Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const link = yield* openVirtualBoard({ flavor: "circuitpython", writable: false })
            const device = yield* makeDeviceCommunication(link)
            const manager = yield* makeDeviceSessionManager(device)
            const first = yield* manager.executeInSession((session) =>
              Effect.gen(function* () {
                const before = yield* add.call(session, 1, 1)
                // The computer saves code.py on the CIRCUITPY drive while the session is in the raw REPL.
                yield* link.usbWrite("/code.py", "print('saved over USB')\n")
                const after = yield* add.call(session, 2, 2)
                const seen = yield* session.device.exec("print(open('/code.py').read().strip())")
                return { before, after, seen }
              }),
            )
            // The reset button while a call runs: the board runs code.py and waits for a key; the call
            // fails as a reset, and the next session presses the key.
            const reset = yield* manager.executeInSession((session) =>
              Effect.gen(function* () {
                const running = yield* session.device
                  .exec("import time\nprint('going')\nwhile True:\n    time.sleep(0.01)", {
                    timeout: "20 seconds",
                  })
                  .pipe(Effect.flip, Effect.forkChild)
                yield* Effect.sleep("300 millis")
                yield* link.hardReset
                return yield* Fiber.join(running)
              }),
            )
            const second = yield* manager.executeInSession((session) => add.call(session, 20, 22))
            return { first, reset: reset._tag, second, generation: yield* device.generation }
          }),
        ),
      ).then(({ first, reset, second, generation }) => {
        expect(first).toEqual({ before: 2, after: 4, seen: "print('saved over USB')\n" })
        expect(reset).toBe("BoardResetError")
        expect(second).toBe(42)
        expect(generation).toBe(1)
      }),
  )
})

import { writeFileSync } from "node:fs"
import path from "node:path"
import { type DeviceSession, makeDeviceSessionManager } from "@belay/core"
import { boardFileSystem } from "@belay/filesystem"
import { makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { startQemuMicrobit } from "@belay/virtual-device"
import { Effect, References, Schedule } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { boardMpyVersion, installedPackages, installPackages, uninstallPackage } from "../src/index.js"
import { publish, startServer, type TestServer } from "./server.js"
import { tempDirs } from "./tempDirs.js"

// One small install on the emulated micro:bit (MicroPython 1.9.2: no .mpy version, no hashlib, a
// flat ~15 KB filesystem, so the target is the root). Never skipped: CI installs QEMU.
let server: TestServer
beforeAll(async () => {
  server = await startServer()
  publish(server, {
    name: "blink",
    version: "1.0",
    files: { py: { "blink.py": "import util\nN = util.K + 1\n" } },
    deps: [["util", "latest"]],
  })
  publish(server, { name: "util", version: "0.2", files: { py: { "util.py": "K = 41\n" } } })
})
afterAll(() => server.close())

const onMicrobit = <A, E>(body: (session: DeviceSession) => Effect.Effect<A, E>) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const qemu = yield* startQemuMicrobit()
        const link = yield* openSerialLink({ path: qemu.ptyPath })
        const device = yield* makeDeviceCommunication(link)
        const manager = yield* makeDeviceSessionManager(device)
        const session = yield* manager
          .createSession()
          .pipe(Effect.retry({ times: 3, schedule: Schedule.spaced("50 millis") }))
        return yield* body(session)
      }),
    ).pipe(Effect.provideService(References.MinimumLogLevel, "Error")),
  )

const tempDir = tempDirs("belay-install-")

describe("install on the QEMU micro:bit", () => {
  it(
    "installs a package with a dependency into the root, then finds it unchanged, then uninstalls",
    () =>
      onMicrobit((session) =>
        Effect.gen(function* () {
          const dir = tempDir()
          writeFileSync(
            path.join(dir, "package.json"),
            JSON.stringify({
              micropython: { dependencies: { blink: "latest" }, index: server.url, target: "/" },
            }),
          )
          const cacheDir = tempDir()
          expect(yield* boardMpyVersion(session)).toBe("py")
          const first = yield* installPackages(session, { projectDir: dir, cacheDir })
          expect(first.uploaded.map((u) => u.path).sort()).toEqual(["/blink.py", "/util.py"])
          const fs = boardFileSystem(session)
          expect(yield* fs.readText("/blink.py")).toBe("import util\nN = util.K + 1\n")
          expect(yield* fs.readText("/util.py")).toBe("K = 41\n")
          const second = yield* installPackages(session, { projectDir: dir, cacheDir })
          expect(second.from).toBe("locked")
          expect(second.uploaded).toEqual([])
          const removed = yield* uninstallPackage(fs, "blink", { target: "/" })
          expect(removed.removed).toEqual(["/blink.py"])
          expect((yield* installedPackages(fs, "/")).map((p) => p.name)).toEqual(["util"])
          yield* uninstallPackage(fs, "util", { target: "/" })
          yield* fs.remove("/.belay-packages.json")
        }),
      ),
    240_000,
  )
})

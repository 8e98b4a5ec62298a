import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { type DeviceSession, makeDeviceSessionManager } from "@belay/core"
import { type ByteLink, makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, type Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { mountHostFolder } from "../src/index.js"

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "belay-mount-"))
  await mkdir(path.join(dir, "src", "pkg"), { recursive: true })
  await writeFile(path.join(dir, "src", "app.py"), "def main():\n    return 'app main'\n")
  await writeFile(path.join(dir, "src", "pkg", "__init__.py"), "X = 42\n")
  await writeFile(path.join(dir, "src", "data.txt"), "line one\nline two\n")
  await writeFile(path.join(dir, "secret.txt"), "outside\n")
  await symlink(path.join(dir, "secret.txt"), path.join(dir, "src", "leak.txt"))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A session on a fresh virtual board, and its link. */
const onBoard = <A, E>(
  body: (session: DeviceSession, link: ByteLink) => Effect.Effect<A, E, Scope.Scope>,
): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const link = yield* openVirtualBoard()
        const device = yield* makeDeviceCommunication(link)
        const manager = yield* makeDeviceSessionManager(device)
        const session = yield* manager.createSession()
        return yield* body(session, link)
      }),
    ),
  )

describe("mountHostFolder on the virtual board", () => {
  it("imports, lists and reads the folder's files", async () => {
    const out = await onBoard((session) =>
      Effect.scoped(
        Effect.gen(function* () {
          yield* mountHostFolder(session, path.join(dir, "src"))
          return yield* session.device.exec(
            "import os, app, pkg\nprint(app.main(), pkg.X)\nprint(sorted(os.listdir('/remote')))\nprint(open('/remote/data.txt').read())",
          )
        }),
      ),
    )
    expect(out).toBe("app main 42\n['app.py', 'data.txt', 'pkg']\nline one\nline two\n\n")
  }, 30_000)
})

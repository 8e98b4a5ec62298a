import { createHash } from "node:crypto"
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { type DeviceSession, makeDeviceSessionManager } from "@belay/core"
import { makeDeviceCommunication } from "@belay/transport"
import { makeFaultInjector } from "@belay/transport/testing"
import { isQemuMicrobitAvailable, openVirtualBoard, type VirtualBoardLink } from "@belay/virtual-device"
import { Effect, Exit, type Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { mountHostFolder } from "../src/index.js"
import { qemuBoard } from "./qemu-fixture.js"

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "belay-mount-"))
  await mkdir(path.join(dir, "src", "pkg"), { recursive: true })
  await writeFile(path.join(dir, "src", "app.py"), "def main():\n    return 'app main'\n")
  await writeFile(path.join(dir, "src", "pkg", "__init__.py"), "X = 42\n")
  await writeFile(path.join(dir, "src", "data.txt"), "line one\nline two\n")
  await writeFile(path.join(dir, "secret.txt"), "outside\n")
  await symlink(path.join(dir, "secret.txt"), path.join(dir, "src", "leak.txt"))
  await writeFile(path.join(dir, "src", "big.bin"), big)
})

/** 200 KB of every byte value, the protocol's own among them. */
const big = Uint8Array.from({ length: 200 * 1024 }, (_, i) => (i * 7 + (i >> 9)) & 0xff)
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A session on a fresh virtual board, and its link. */
const onBoard = <A, E>(
  body: (session: DeviceSession, link: VirtualBoardLink) => Effect.Effect<A, E, Scope.Scope>,
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
    expect(out).toBe("app main 42\n['app.py', 'big.bin', 'data.txt', 'pkg']\nline one\nline two\n\n")
  }, 30_000)

  it("reads binary files whole, in pieces, by seek, and by line", async () => {
    const out = await onBoard((session) =>
      Effect.scoped(
        Effect.gen(function* () {
          yield* mountHostFolder(session, path.join(dir, "src"), { chunkBytes: 1000 })
          return yield* session.device.exec(
            [
              "import hashlib, binascii",
              "f = open('big.bin', 'rb'); d = f.read(); f.close()",
              "print(len(d), binascii.hexlify(hashlib.sha256(d).digest()).decode())",
              "f = open('big.bin', 'rb'); h = hashlib.sha256(); n = 0",
              "while True:",
              "    b = f.read(777)",
              "    if not b: break",
              "    h.update(b); n += len(b)",
              "f.seek(-5, 2); t = f.read(); f.close()",
              "print(n, binascii.hexlify(h.digest()).decode(), list(t))",
              "print([l for l in open('data.txt')])",
            ].join("\n"),
          )
        }),
      ),
    )
    const hash = sha256(big)
    expect(out).toBe(
      `${big.length} ${hash}\n${big.length} ${hash} ${JSON.stringify([...big.subarray(-5)]).replaceAll(",", ", ")}\n['line one\\n', 'line two\\n']\n`,
    )
  }, 30_000)

  it("writes, makes directories, renames and removes only when writable", async () => {
    const work = await mkdtemp(path.join(tmpdir(), "belay-mount-w-"))
    try {
      const readOnly = await onBoard((session) =>
        Effect.scoped(
          Effect.gen(function* () {
            const mount = yield* mountHostFolder(session, work)
            const out = yield* session.device.exec(
              "for f in (lambda: open('a.txt', 'w'), lambda: __import__('os').mkdir('d')):\n    try:\n        f(); print('done')\n    except OSError as e:\n        print('refused', e.errno)",
            )
            return { out, stats: yield* mount.stats }
          }),
        ),
      )
      expect(readOnly.out).toBe("refused 30\nrefused 30\n")
      expect(readOnly.stats.refused).toBe(2)
      await expect(stat(path.join(work, "a.txt"))).rejects.toThrow()

      const out = await onBoard((session) =>
        Effect.scoped(
          Effect.gen(function* () {
            yield* mountHostFolder(session, work, { writable: true, chunkBytes: 300 })
            return yield* session.device.exec(
              [
                "import os",
                "os.mkdir('d')",
                "with open('d/a.txt', 'w') as f: f.write('x' * 1000 + '\\n\\x03\\x04\\x10\\x18 é')",
                "with open('d/a.txt', 'a') as f: f.write('!')",
                "with open('b.bin', 'wb') as f: f.write(bytes(range(256)))",
                "os.rename('b.bin', 'd/c.bin')",
                "print(sorted(os.listdir('d')), os.stat('d/c.bin')[6])",
                "open('gone.txt', 'w').close(); os.remove('gone.txt')",
                "print(open('d/a.txt').read()[-8:])",
              ].join("\n"),
            )
          }),
        ),
      )
      expect(out).toBe("['a.txt', 'c.bin'] 256\n\n\x03\x04\x10\x18 é!\n")
      expect(await readFile(path.join(work, "d", "a.txt"), "utf8")).toBe(
        `${"x".repeat(1000)}\n\x03\x04\x10\x18 é!`,
      )
      expect([...(await readFile(path.join(work, "d", "c.bin")))]).toEqual([...Array(256).keys()])
      await expect(stat(path.join(work, "gone.txt"))).rejects.toThrow()
    } finally {
      await rm(work, { recursive: true, force: true })
    }
  }, 30_000)

  it("never serves a path outside the folder: .. and symlinks leading out are refused", async () => {
    const result = await onBoard((session) =>
      Effect.scoped(
        Effect.gen(function* () {
          const mount = yield* mountHostFolder(session, path.join(dir, "src"))
          const out = yield* session.device.exec(
            [
              "for p in ('/remote/../secret.txt', '/remote/pkg/../../secret.txt', 'leak.txt', '/remote/pkg/../app.py'):",
              "    try:",
              "        print(open(p).read()[:8])",
              "    except OSError as e:",
              "        print('refused', e.errno)",
            ].join("\n"),
          )
          return { out, stats: yield* mount.stats }
        }),
      ),
    )
    expect(result.out).toBe("refused 13\nrefused 13\nrefused 13\ndef main\n")
    expect(result.stats.refused).toBe(3)
    const unsafe = await onBoard((session) =>
      Effect.scoped(
        Effect.gen(function* () {
          yield* mountHostFolder(session, path.join(dir, "src"), { unsafeLinks: true })
          return yield* session.device.exec("print(open('leak.txt').read())")
        }),
      ),
    )
    expect(unsafe).toBe("outside\n\n")
  }, 30_000)

  it("unmounting restores sys.path and the working directory and forgets the folder's modules", async () => {
    const { before, during, after } = await onBoard((session) =>
      Effect.gen(function* () {
        const state =
          "import os, sys, vfs; print(sys.path, os.getcwd(), 'app' in sys.modules, [p for v, p in vfs.mount()])"
        const before = yield* session.device.exec(state)
        const during = yield* Effect.scoped(
          Effect.andThen(
            mountHostFolder(session, path.join(dir, "src"), { at: "/host" }),
            session.device.exec(`import app\n${state}`),
          ),
        )
        const after = yield* session.device.exec(state)
        return { before, during, after }
      }),
    )
    expect(before).toBe("['', '.frozen', '/lib'] / False ['/']\n")
    expect(during).toBe("['/host', '', '.frozen', '/lib'] /host True ['/host', '/']\n")
    expect(after).toBe(before)
  }, 30_000)

  it("a damaged byte on the link never gives wrong file contents", async () => {
    const hash = sha256(big)
    let served = 0
    let damagedSeen = 0
    // A request or reply damaged past recognition leaves the board waiting for a reply until the
    // call's bound (see the README's "left open"): some seeds end that way, so the test runs until
    // two have read the file through the damage (at most 16 seeds).
    for (let seed = 1; seed <= 16 && served < 2; seed++) {
      const outcome = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const board = yield* openVirtualBoard()
            const injector = yield* makeFaultInjector(board, {
              seed,
              toBoard: { corrupt: 0.02 },
              fromBoard: { corrupt: 0.02 },
            })
            yield* injector.setEnabled(false)
            const device = yield* makeDeviceCommunication(yield* injector.connect)
            const manager = yield* makeDeviceSessionManager(device)
            const session = yield* manager.createSession()
            const mount = yield* mountHostFolder(session, path.join(dir, "src"), { chunkBytes: 2048 })
            yield* injector.setEnabled(true)
            const read = yield* Effect.exit(
              session.device.exec(
                "import hashlib, binascii\nd = open('big.bin', 'rb').read()\nprint(len(d), binascii.hexlify(hashlib.sha256(d).digest()).decode())",
                { timeout: "10 seconds" },
              ),
            )
            yield* injector.setEnabled(false)
            const faults = (yield* injector.counts).total
            return { read, stats: yield* mount.stats, faults }
          }),
        ),
      )
      if (Exit.isSuccess(outcome.read)) {
        // Whatever was damaged on the way, the board read the file as it is. (A request whose
        // marker was damaged and that came in two pieces may leave its text in the output.)
        expect(outcome.read.value.endsWith(`${big.length} ${hash}\n`)).toBe(true)
        expect(outcome.read.value.split("\n").filter((line) => /\d+ [0-9a-f]{64}/.test(line)).length).toBe(1)
        served++
        damagedSeen += outcome.stats.damaged
      } else {
        // Else a typed error: never a wrong hash.
        const error = outcome.read.cause.toString()
        expect(error).toMatch(
          /OutputDamagedError|RequestDamagedError|PythonError|ProtocolTimeoutError|UnexpectedBytesError/,
        )
      }
    }
    expect(served).toBeGreaterThan(0)
    expect(damagedSeen).toBeGreaterThan(0)
  }, 300_000)

  it("survives Ctrl-C in the middle of a read: the next exchange uses the mount again", async () => {
    const result = await onBoard((session) =>
      Effect.scoped(
        Effect.gen(function* () {
          const mount = yield* mountHostFolder(session, path.join(dir, "src"), { chunkBytes: 512 })
          const cut = yield* Effect.exit(
            session.device.exec("while True:\n    with open('big.bin', 'rb') as f:\n        f.read()", {
              timeout: "400 millis",
            }),
          )
          const during = (yield* mount.stats).requests
          const again = yield* session.device.exec("print(open('data.txt').read().split())")
          const rawPaste = (yield* session.device.protocolCapabilities).rawPaste
          return { cut, during, again, rawPaste, lost: yield* mount.lost }
        }),
      ),
    )
    expect(Exit.isFailure(result.cut)).toBe(true)
    expect(result.during).toBeGreaterThan(3)
    expect(result.again).toBe("['line', 'one', 'line', 'two']\n")
    expect(result.rawPaste).toBe(true)
    expect(result.lost).toBe(false)
  }, 30_000)

  it("a board reset unmounts it: reported as lost, nothing to undo", async () => {
    const result = await onBoard((session) =>
      Effect.gen(function* () {
        const lost = yield* Effect.scoped(
          Effect.gen(function* () {
            const mount = yield* mountHostFolder(session, path.join(dir, "src"))
            yield* session.device.exec("import app")
            yield* session.device.softReset
            return yield* mount.lost
          }),
        )
        const after = yield* session.device.exec(
          "import sys, vfs; print(sys.path, [p for v, p in vfs.mount()])",
        )
        return { lost, after }
      }),
    )
    expect(result.lost).toBe(true)
    expect(result.after).toBe("['', '.frozen', '/lib'] ['/']\n")
  }, 30_000)
})

describe.skipIf(!isQemuMicrobitAvailable())("mountHostFolder on the emulated micro:bit", () => {
  it("is refused up front: the board has no os.mount", async () => {
    const error = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const { session } = yield* qemuBoard()
          const s = yield* session
          return yield* Effect.flip(mountHostFolder(s, path.join(dir, "src")))
        }),
      ),
    )
    expect(error._tag).toBe("CapabilityMissingError")
    expect(error.message).toBe("mount needs os.mount, which this board does not have")
  }, 60_000)
})

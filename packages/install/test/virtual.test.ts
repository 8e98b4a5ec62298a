import { readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { type DeviceSession, makeDeviceSessionManager } from "@belay/core"
import { boardFileSystem } from "@belay/filesystem"
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, References } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  boardMpyVersion,
  type InstallOptions,
  installedPackages,
  installPackages,
  uninstallPackage,
} from "../src/index.js"
import { publish, startServer, type TestServer } from "./server.js"
import { tempDirs } from "./tempDirs.js"

const tempDir = tempDirs("belay-install-")
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** One virtual board (MicroPython 1.27 in WebAssembly) for the whole file, its flash in a folder. */
const flashDir = tempDir()
const boardEffect = <A, E>(body: (session: DeviceSession) => Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const link = yield* openVirtualBoard({ flashDir })
      const device = yield* makeDeviceCommunication(link)
      const manager = yield* makeDeviceSessionManager(device)
      return yield* manager.executeInNewSession(body)
    }),
  ).pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))
const onBoard = <A, E>(body: (session: DeviceSession) => Effect.Effect<A, E>) =>
  Effect.runPromise(boardEffect(body))
/** The typed error `body` fails with. */
const failureOn = <A, E>(body: (session: DeviceSession) => Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.flip(boardEffect(body)))
const readBoard = (file: string) =>
  onBoard((session) => Effect.map(boardFileSystem(session).readBytes(file), text))
const install = (options: InstallOptions) => onBoard((session) => installPackages(session, options))

let server: TestServer
let mpy: string
beforeAll(async () => {
  server = await startServer()
  mpy = await onBoard(boardMpyVersion)
  publish(server, {
    name: "sensors",
    version: "1.0.0",
    files: {
      py: {
        "sensors/__init__.py": "from .bme import read\n",
        "sensors/bme.py": "def read():\n    return 20\n",
      },
      [mpy]: { "sensors/__init__.mpy": "compiled init v1", "sensors/bme.mpy": "compiled bme v1" },
    },
    deps: [["logging", "latest"]],
  })
  publish(server, {
    name: "logging",
    version: "0.6.1",
    files: { py: { "logging.py": "def info(*a):\n    print(*a)\n" } },
  })
}, 60_000)
afterAll(() => server.close())

const project = (dependencies: Record<string, string>) => {
  const dir = tempDir()
  writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({ name: "station", micropython: { dependencies, index: server.url } }, null, 2),
  )
  return dir
}

describe("install on the virtual board", () => {
  it("knows the board's .mpy version", () => {
    expect(mpy).toMatch(/^[1-9][0-9]*$/)
  })

  it("installs a project's dependencies, then a second time uploads nothing, then only what changed", async () => {
    const dir = project({ sensors: "latest" })
    const cacheDir = tempDir()
    const first = await install({ projectDir: dir, cacheDir })
    expect(first.from).toBe("resolved")
    expect(first.uploaded.map((u) => u.path).sort()).toEqual([
      "/lib/logging.py",
      "/lib/sensors/__init__.mpy",
      "/lib/sensors/bme.mpy",
    ])
    expect(await readBoard("/lib/sensors/bme.mpy")).toBe("compiled bme v1")
    expect(await readBoard("/lib/logging.py")).toBe("def info(*a):\n    print(*a)\n")
    const lock = JSON.parse(readFileSync(path.join(dir, "belay-lock.json"), "utf8"))
    expect(lock.packages.map((p: { name: string }) => p.name)).toEqual(["logging", "sensors"])

    const second = await install({ projectDir: dir, cacheDir })
    expect(second.from).toBe("locked")
    expect(second.uploaded).toEqual([])
    expect(second.unchanged).toHaveLength(3)

    await onBoard((session) =>
      Effect.asVoid(boardFileSystem(session).write("/lib/logging.py", "broken = 1\n")),
    )
    const third = await install({ projectDir: dir, cacheDir })
    expect(third.uploaded.map((u) => u.path)).toEqual(["/lib/logging.py"])
    expect(await readBoard("/lib/logging.py")).toBe("def info(*a):\n    print(*a)\n")

    const listed = await onBoard((session) => installedPackages(boardFileSystem(session)))
    expect(listed.map((p) => `${p.name}@${p.version}`).sort()).toEqual(["logging@0.6.1", "sensors@1.0.0"])
  })

  it("reproduces the locked bytes on a second machine after the index moved on, and offline from the cache", async () => {
    const dir = project({ sensors: "latest" })
    await install({ projectDir: dir, cacheDir: tempDir(), target: "/locked" })
    // The index publishes sensors 2.0 as latest; the lock still names 1.0.0's files.
    publish(server, {
      name: "sensors",
      version: "2.0.0",
      files: {
        py: { "sensors/__init__.py": "V = 2\n" },
        [mpy]: { "sensors/__init__.mpy": "compiled init v2" },
      },
    })
    const secondCache = tempDir()
    const machine2 = await install({ projectDir: dir, cacheDir: secondCache, target: "/locked2" })
    expect(machine2.from).toBe("locked")
    expect(await readBoard("/locked2/sensors/__init__.mpy")).toBe("compiled init v1")
    // Without the lock, the same declaration now resolves to 2.0.0.
    const unlocked = await install({
      specs: ["sensors"],
      index: server.url,
      cacheDir: tempDir(),
      target: "/fresh",
    })
    expect(unlocked.packages.map((p) => `${p.name}@${p.version}`)).toEqual(["sensors@2.0.0"])
    // Offline: the second machine's cache has every locked file.
    const offline = await install({
      projectDir: dir,
      cacheDir: secondCache,
      target: "/locked3",
      offline: true,
    })
    expect(offline.uploaded).toHaveLength(3)
    expect(await readBoard("/locked3/sensors/bme.mpy")).toBe("compiled bme v1")
    publish(server, {
      name: "sensors",
      version: "1.0.0",
      files: {
        py: {
          "sensors/__init__.py": "from .bme import read\n",
          "sensors/bme.py": "def read():\n    return 20\n",
        },
        [mpy]: { "sensors/__init__.mpy": "compiled init v1", "sensors/bme.mpy": "compiled bme v1" },
      },
      deps: [["logging", "latest"]],
    })
  })

  it("refuses a locked file whose download does not match the lock's hash", async () => {
    const dir = project({ sensors: "1.0.0" })
    await install({ projectDir: dir, cacheDir: tempDir(), dryRun: false, target: "/tamper" })
    const lockPath = path.join(dir, "belay-lock.json")
    const lock = JSON.parse(readFileSync(lockPath, "utf8"))
    server.set("/evil/bme.mpy", "compiled bme EVIL")
    lock.packages[1].files[1].location = `${server.url}/evil/bme.mpy`
    writeFileSync(lockPath, JSON.stringify(lock))
    const error = await failureOn((session) =>
      installPackages(session, { projectDir: dir, cacheDir: tempDir(), target: "/tamper2" }),
    )
    expect(error._tag).toBe("HashMismatchError")
    const exists = await onBoard((session) => boardFileSystem(session).exists("/tamper2/sensors/bme.mpy"))
    expect(exists).toBe(false)
  })

  it("plans a dry run without changing the board or writing a lock file", async () => {
    const dir = project({ logging: "latest" })
    const plan = await install({ projectDir: dir, cacheDir: tempDir(), target: "/dry", dryRun: true })
    expect(plan.dryRun).toBe(true)
    expect(plan.uploaded.map((u) => u.path)).toEqual(["/dry/logging.py"])
    expect(await onBoard((session) => boardFileSystem(session).exists("/dry"))).toBe(false)
    expect(() => readFileSync(path.join(dir, "belay-lock.json"))).toThrow()
  })

  it("installs a .py URL and a local folder, saves them to the project, and uninstalls", async () => {
    const dir = project({})
    writeFileSync(path.join(dir, "blink.py"), "def blink():\n    return 'on'\n")
    server.set("/raw/util.py", "U = 1\n")
    const saved = await install({
      projectDir: dir,
      specs: [`${server.url}/raw/util.py`, "./blink.py"],
      save: true,
      cacheDir: tempDir(),
      target: "/apps/lib",
    })
    expect(saved.uploaded.map((u) => u.path).sort()).toEqual(["/apps/lib/blink.py", "/apps/lib/util.py"])
    const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"))
    expect(pkg.micropython.dependencies).toEqual({ blink: "./blink.py", util: `${server.url}/raw/util.py` })
    expect(pkg.name).toBe("station")

    const removed = await onBoard((session) =>
      uninstallPackage(boardFileSystem(session), "util", { target: "/apps/lib" }),
    )
    expect(removed.removed).toEqual(["/apps/lib/util.py"])
    const left = await onBoard((session) => boardFileSystem(session).list("/apps/lib"))
    expect(left.map((e) => e.path).sort()).toEqual(["/apps/lib/.belay-packages.json", "/apps/lib/blink.py"])
    const again = await failureOn((session) =>
      uninstallPackage(boardFileSystem(session), "util", { target: "/apps/lib" }),
    )
    expect(again._tag).toBe("NotInstalledError")
  })

  it("uninstalls a package with directories, keeping files another package has", async () => {
    const dir = project({ sensors: "latest" })
    await install({ projectDir: dir, cacheDir: tempDir(), target: "/un" })
    const report = await onBoard((session) =>
      uninstallPackage(boardFileSystem(session), "sensors", { target: "/un" }),
    )
    expect(report.removed).toEqual(["/un/sensors/__init__.mpy", "/un/sensors/bme.mpy", "/un/sensors"])
    const left = await onBoard((session) => boardFileSystem(session).list("/un"))
    expect(left.map((e) => e.path).sort()).toEqual(["/un/.belay-packages.json", "/un/logging.py"])
  })
})

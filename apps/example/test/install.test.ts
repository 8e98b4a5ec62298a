import { existsSync, readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { publish, startServer, type TestServer } from "../../../packages/install/test/server.js"
import { belayCommand, stdoutJson } from "./belayProcess.js"

// belay install, uninstall and list on the virtual board, against a package index served on
// 127.0.0.1 by the test (mip's layout), from a project folder declaring its board dependencies.
const cli = belayCommand("belay-install-")
let server: TestServer
let project = ""
const belay = (args: ReadonlyArray<string>) =>
  cli.run(args, { cwd: project, env: { BELAY_CACHE_DIR: path.join(cli.home(), "cache") } })

beforeAll(async () => {
  server = await startServer()
  publish(server, {
    name: "sensors",
    version: "1.0.0",
    files: {
      py: {
        "sensors/__init__.py": "from .bme import read\n",
        "sensors/bme.py": "def read():\n    return 20\n",
      },
    },
    deps: [["logging", "latest"]],
  })
  publish(server, {
    name: "logging",
    version: "0.6.1",
    files: { py: { "logging.py": "def info(*a):\n    print(*a)\n" } },
  })
  project = path.join(cli.home(), "station")
  await mkdir(project, { recursive: true })
  await writeFile(
    path.join(project, "package.json"),
    JSON.stringify({
      name: "station",
      micropython: { dependencies: { sensors: "latest" }, index: server.url },
    }),
  )
})
afterAll(() => server.close())

describe("belay install on the virtual board", () => {
  it("installs the declared dependencies, locks them, and a second run uploads nothing", async () => {
    const dry = await belay(["install", "--dry-run"])
    expect(dry.code).toBe(0)
    expect(dry.stdout).toContain("would upload /lib/sensors/bme.py")
    expect(existsSync(path.join(project, "belay-lock.json"))).toBe(false)

    const first = await belay(["install", "--json", "--no-mpy"])
    const report = stdoutJson(first)
    expect(first.code).toBe(0)
    expect(report.from).toBe("resolved")
    expect(report.uploaded.map((u: { path: string }) => u.path).sort()).toEqual([
      "/lib/logging.py",
      "/lib/sensors/__init__.py",
      "/lib/sensors/bme.py",
    ])
    const lock = JSON.parse(readFileSync(path.join(project, "belay-lock.json"), "utf8"))
    expect(lock.mpy).toBe("py")

    const second = await belay(["install", "--no-mpy"])
    expect(second.code).toBe(0)
    expect(second.stdout).toContain("(from belay-lock.json): 0 uploaded, 3 unchanged, 0 removed")

    const run = await belay([
      "exec",
      "import sys; sys.path.append('/lib'); import sensors; print(sensors.read())",
    ])
    expect(run.stdout.trim()).toBe("20")
  })

  it("lists, uninstalls, and installs offline from the cache", async () => {
    const listed = stdoutJson(await belay(["list", "--json"]))
    expect(listed.map((p: { name: string; version: string }) => `${p.name}@${p.version}`).sort()).toEqual([
      "logging@0.6.1",
      "sensors@1.0.0",
    ])
    const removed = await belay(["uninstall", "sensors"])
    expect(removed.code).toBe(0)
    expect(removed.stdout).toContain("remove /lib/sensors\n")
    const text = await belay(["list"])
    expect(text.stdout).toMatch(/^logging\s+0\.6\.1\s+1 file\(s\)/)

    await server.close()
    const offline = await belay(["install", "--no-mpy", "--offline", "--json"])
    expect(offline.code).toBe(0)
    expect(
      stdoutJson(offline)
        .uploaded.map((u: { path: string }) => u.path)
        .sort(),
    ).toEqual(["/lib/sensors/__init__.py", "/lib/sensors/bme.py"])
  })

  it("says what is wrong with a bad spec, a missing package, and an uninstall of nothing", async () => {
    const bad = await belay(["install", "a b"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("not a package name")
    const missing = await belay(["install", "--offline", "nothing-here", "--json"])
    expect(missing.code).toBe(3)
    expect(stdoutJson(missing).error).toBe("DownloadError")
    const none = await belay(["uninstall", "nothing-here"])
    expect(none.code).toBe(1)
    expect(none.stderr).toContain("nothing-here is not installed in /lib")
  })
})

import { execFileSync, spawnSync } from "node:child_process"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

// The packages as npm installs them: each workspace package packed with `pnpm pack` (which turns
// `workspace:^` into the packages' versions), then installed into an empty folder with npm, the
// Belay packages from those tarballs (they need not be published) and everything else from the
// npm registry. The CLI installs alone (its bundle holds the libraries); the libraries together.

const repo = path.resolve(import.meta.dirname, "../../..")
const packageDirs = [
  "apps/example",
  ...["transport", "core", "executors", "filesystem", "extensions", "install", "virtual-device"].map(
    (p) => `packages/${p}`,
  ),
]
/** npm install fetches the third-party dependencies (effect, serialport's binding, MicroPython). */
const INSTALL_TIMEOUT_MS = 240_000

let work = ""
const tarballs = new Map<string, string>()

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "belay-pack-"))
  const packed = path.join(work, "tarballs")
  for (const dir of packageDirs)
    execFileSync("pnpm", ["pack", "--pack-destination", packed], {
      cwd: path.join(repo, dir),
      stdio: "ignore",
    })
  for (const file of await readdir(packed)) {
    const name = file.replace(/^belay-/, "@belay/").replace(/-\d+\.\d+\.\d+\.tgz$/, "")
    tarballs.set(name, path.join(packed, file))
  }
}, INSTALL_TIMEOUT_MS)

afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

/** An empty folder with `packages` installed by npm; returns the folder. */
const install = async (name: string, packages: ReadonlyArray<string>) => {
  const dir = path.join(work, name)
  execFileSync("mkdir", ["-p", dir])
  await writeFile(path.join(dir, "package.json"), JSON.stringify({ name: `belay-${name}`, private: true }))
  execFileSync(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      ...packages.map((p) => tarballs.get(p) as string),
    ],
    { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
  )
  return dir
}

describe("npm pack", () => {
  it("packs no workspace: ranges", async () => {
    expect([...tarballs.keys()].sort()).toEqual([
      "@belay/cli",
      "@belay/core",
      "@belay/executors",
      "@belay/extensions",
      "@belay/filesystem",
      "@belay/install",
      "@belay/transport",
      "@belay/virtual-device",
    ])
    for (const tarball of tarballs.values()) {
      const manifest = execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" })
      expect(manifest).not.toContain("workspace:")
    }
  })

  it(
    "the CLI installs into an empty folder and prints its version; its bundle runs exec on the virtual board",
    async () => {
      // The CLI alone: the libraries are in its bundle, the rest comes from the registry.
      const dir = await install("cli", ["@belay/cli"])
      const { version } = JSON.parse(await readFile(path.join(repo, "apps/example/package.json"), "utf8"))
      const belay = path.join(dir, "node_modules/.bin/belay")
      const printed = spawnSync(belay, ["--version"], { encoding: "utf8" })
      expect(printed.stdout).toBe(`belay v${version}\n`)
      expect(version).not.toBe("0.0.0")
      // The kept virtual board (the default) runs the bundle's own board script, in a process of
      // its own recorded in a runtime folder of the test's: stopped before the folder goes.
      const env = {
        ...process.env,
        BELAY_VIRTUAL_DIR: path.join(dir, "flash"),
        XDG_RUNTIME_DIR: path.join(dir, "runtime"),
      }
      const exec = spawnSync(belay, ["exec", "print(6 * 7)", "--device", "virtual"], {
        encoding: "utf8",
        env,
      })
      expect(exec).toMatchObject({ status: 0, stdout: "42\n" })
      const stop = spawnSync(belay, ["virtual", "stop"], { encoding: "utf8", env })
      expect(stop).toMatchObject({ status: 0, stdout: expect.stringMatching(/^stopped pid \d+ /) })
      const own = spawnSync(belay, ["exec", "print(7 * 6)", "--device", "virtual?keep=false"], {
        encoding: "utf8",
        env,
      })
      expect(own).toMatchObject({ status: 0, stdout: "42\n" })
    },
    INSTALL_TIMEOUT_MS,
  )

  it(
    "the libraries install together into an empty folder and load",
    async () => {
      const libraries = [...tarballs.keys()].filter((n) => n !== "@belay/cli")
      const dir = await install("libraries", libraries)
      for (const name of libraries) {
        const loaded = spawnSync(
          process.execPath,
          [
            "--input-type=module",
            "-e",
            `const m = await import(${JSON.stringify(name)}); console.log(Object.keys(m).length)`,
          ],
          { cwd: dir, encoding: "utf8" },
        )
        expect(loaded.stderr).toBe("")
        expect(Number(loaded.stdout)).toBeGreaterThan(0)
      }
    },
    INSTALL_TIMEOUT_MS,
  )
})

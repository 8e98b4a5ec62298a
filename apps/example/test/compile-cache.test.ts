import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"

// bin/belay.cjs hands V8 the code it compiled for the bundle in an earlier run of the same
// command: a cache that is missing, refused, damaged or cannot be written only costs time, and a
// cache never meets a build of the bundle it was not made from.

const bin = path.resolve(import.meta.dirname, "../bin/belay.cjs")
const script = path.resolve(import.meta.dirname, "../dist/bundle/belay-cli.cjs")
/** The bundle's content name (its first line), as the cache file names carry it. */
const contentId = () =>
  /^\/\/ belay-bundle ([0-9a-f]{64})\n/.exec(readFileSync(script, "utf8"))?.[1]?.slice(0, 16)

let home: string
beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), "belay-compile-cache-"))
})
afterEach(() => rmSync(home, { recursive: true, force: true }))

/** `belay ports --json` (needs no board) with the cache setting given. */
const ports = (env: NodeJS.ProcessEnv) => {
  const { BELAY_COMPILE_CACHE: _, NODE_DISABLE_COMPILE_CACHE: __, ...rest } = process.env
  const result = spawnSync(process.execPath, [bin, "ports", "--json"], {
    env: { ...rest, HOME: home, XDG_CACHE_HOME: path.join(home, "xdg-cache"), ...env },
    encoding: "utf8",
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

const cacheFiles = (folder: string) => {
  try {
    return readdirSync(folder).sort()
  } catch {
    return []
  }
}

describe("the compile cache", () => {
  it("is made by the first run of a command, in the user's cache folder, and used as it is by the next", () => {
    const folder = path.join(home, "xdg-cache", "belay", "compile")
    const first = ports({})
    expect(first.code, first.stderr).toBe(0)
    const files = cacheFiles(folder)
    expect(files).toEqual([`ports-${contentId()}-${process.version}-${process.arch}.v8`])
    const file = path.join(folder, files[0] as string)
    const made = statSync(file)
    expect(made.size).toBeGreaterThan(0)
    expect(made.mode & 0o777).toBe(0o600)

    const second = ports({})
    expect(second.code).toBe(0)
    expect(second.stdout).toBe(first.stdout)
    // Accepted by V8: not written again.
    expect(statSync(file).mtimeMs).toBe(made.mtimeMs)
    expect(cacheFiles(folder)).toEqual(files)
  })

  it("a damaged cache is refused by V8, the command runs as without one, and the cache is made again", () => {
    const folder = path.join(home, "cache")
    const first = ports({ BELAY_COMPILE_CACHE: folder })
    const [name] = cacheFiles(folder)
    const file = path.join(folder, name as string)
    const garbage = Buffer.alloc(statSync(file).size, 0x5a)
    writeFileSync(file, garbage)
    const second = ports({ BELAY_COMPILE_CACHE: folder })
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toBe(first.stdout)
    expect(readFileSync(file).equals(garbage)).toBe(false)
    // No partial file left from the rewrite.
    expect(cacheFiles(folder)).toEqual([name])
  })

  it("caches of another build of the bundle are removed when a new cache is saved; other files stay", () => {
    const folder = path.join(home, "cache")
    mkdirSync(folder, { recursive: true })
    const stale = `ports-0123456789abcdef-${process.version}-${process.arch}.v8`
    writeFileSync(path.join(folder, stale), "old build")
    writeFileSync(path.join(folder, "notes.txt"), "not ours")
    expect(ports({ BELAY_COMPILE_CACHE: folder }).code).toBe(0)
    expect(cacheFiles(folder)).toEqual([
      "notes.txt",
      `ports-${contentId()}-${process.version}-${process.arch}.v8`,
    ])
  })

  it("BELAY_COMPILE_CACHE=0 and NODE_DISABLE_COMPILE_CACHE turn it off; a folder that cannot be made costs nothing", () => {
    for (const env of [{ BELAY_COMPILE_CACHE: "0" }, { NODE_DISABLE_COMPILE_CACHE: "1" }]) {
      const result = ports(env)
      expect(result.code, result.stderr).toBe(0)
      expect(cacheFiles(path.join(home, "xdg-cache"))).toEqual([])
    }
    // A file where the folder should be.
    const blocked = path.join(home, "blocked")
    writeFileSync(blocked, "")
    const result = ports({ BELAY_COMPILE_CACHE: path.join(blocked, "compile") })
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toBeInstanceOf(Array)
    expect(result.stderr).toBe("")
  })

  it("a command line naming the fleet runs the fleet's script; the two scripts' caches live side by side", () => {
    const folder = path.join(home, "cache")
    const fleetScript = path.resolve(import.meta.dirname, "../dist/bundle/belay-cli-fleet.cjs")
    const fleetId = /^\/\/ belay-bundle ([0-9a-f]{64})\n/
      .exec(readFileSync(fleetScript, "utf8"))?.[1]
      ?.slice(0, 16)
    expect(fleetId).not.toBe(contentId())
    // No database: the fleet's own error, which only the fleet's script knows how to give.
    const { BELAY_FLEET_DATABASE_URL: _, ...env } = process.env
    const fleet = spawnSync(process.execPath, [bin, "fleet", "ls"], {
      env: { ...env, HOME: home, XDG_CONFIG_HOME: path.join(home, "config"), BELAY_COMPILE_CACHE: folder },
      encoding: "utf8",
    })
    expect(fleet.stderr).toContain("no fleet database")
    expect(ports({ BELAY_COMPILE_CACHE: folder }).code).toBe(0)
    expect(cacheFiles(folder)).toEqual([
      `fleet.fleet-${fleetId}-${process.version}-${process.arch}.v8`,
      `ports-${contentId()}-${process.version}-${process.arch}.v8`,
    ])
    // The main script is not the fleet's: it holds no cluster or PostgreSQL client.
    expect(readFileSync(fleetScript, "utf8")).toContain("ShardingConfig")
    expect(readFileSync(script, "utf8")).not.toContain("ShardingConfig")
    expect(readFileSync(fleetScript, "utf8").length).toBeGreaterThan(readFileSync(script, "utf8").length)
  })

  it("exec and eval run from the script of their fast path; a chain of them, from the main script after it", () => {
    const folder = path.join(home, "cache")
    const execScript = path.resolve(import.meta.dirname, "../dist/bundle/belay-cli-exec.cjs")
    const execId = /^\/\/ belay-bundle ([0-9a-f]{64})\n/
      .exec(readFileSync(execScript, "utf8"))?.[1]
      ?.slice(0, 16)
    const belay = (args: ReadonlyArray<string>) => {
      const { BELAY_DEVICE: _, ...env } = process.env
      return spawnSync(process.execPath, [bin, ...args], {
        env: { ...env, HOME: home, XDG_CONFIG_HOME: path.join(home, "config"), BELAY_COMPILE_CACHE: folder },
        encoding: "utf8",
      })
    }
    const one = belay(["eval", "6 * 7", "--device", "virtual?keep=false"])
    expect(one.stdout, one.stderr).toBe("42\n")
    expect(cacheFiles(folder)).toEqual([`fast.eval-${execId}-${process.version}-${process.arch}.v8`])
    // Not the fast path's (a chain): the exec script declines it, the main script runs it.
    const chain = belay(["eval", "6 * 7", "+", "eval", "1", "--device", "virtual?keep=false"])
    expect(chain.stdout, chain.stderr).toBe("42\n1\n")
    expect(cacheFiles(folder)).toEqual([
      `eval-${contentId()}-${process.version}-${process.arch}.v8`,
      `fast.eval-${execId}-${process.version}-${process.arch}.v8`,
    ])
    // The exec script holds the fast path alone: no argument parser.
    expect(readFileSync(execScript, "utf8").length).toBeLessThan(readFileSync(script, "utf8").length * 0.7)
  })
})

/**
 * The CLI's commands on fleet boards, end to end: a real PostgreSQL (scripts/postgres.sh), a runner
 * started with `belay fleet runner` (two virtual boards), and `belay` commands naming its boards
 * with `--device fleet:<id>` or BELAY_DEVICE; reservations held by `belay fleet reserve`.
 */
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync } from "node:fs"
import { mkdir, readFile, rm, writeFile } from "node:fs/promises"
import path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { publish, startServer } from "../../../packages/install/test/server.js"
import { freePort } from "../../../scripts/testing/ports.js"
import { belayCommand, type RunningBelay, sleep, stdoutJson } from "./belayProcess.js"

const cli = belayCommand("belay-fleet-boards-")
const exec = promisify(execFile)
const postgres = path.resolve(import.meta.dirname, "../../../scripts/postgres.sh")

let server = ""
let database = ""
let url = ""
let runner: RunningBelay | undefined
const started: RunningBelay[] = []

/** `belay` with the fleet's database and, unless given, no reservation. */
const belay = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  cli.run(args, { env: { BELAY_FLEET_DATABASE_URL: url, BELAY_FLEET_RESERVATION: "", ...env } })

beforeAll(async () => {
  const { stdout } = await exec("bash", [postgres, "start"], { timeout: 90_000 })
  server = stdout.trim().replace(/^BELAY_FLEET_DATABASE_URL=/, "")
  database = `belay_test_${randomBytes(6).toString("hex")}`
  await exec("psql", [server, "-X", "-q", "-c", `CREATE DATABASE ${database}`], { timeout: 30_000 })
  const u = new URL(server)
  u.pathname = `/${database}`
  url = u.toString()
  // The runner as a service starts it: its config file (name, database, a board), with a flag
  // for another board and the port.
  const config = path.join(cli.home(), "runner.json")
  await writeFile(config, JSON.stringify({ name: "cli", databaseUrl: url, boards: { b1: "virtual" } }))
  // Another free port if another program took the one chosen before the runner bound it.
  for (let attempt = 1; ; attempt++) {
    const port = String(await freePort())
    runner = cli.start(["fleet", "runner", "--board", "b0=virtual", "--port", port], {
      env: { BELAY_FLEET_RUNNER_CONFIG: config, BELAY_FLEET_DATABASE_URL: "", BELAY_DEVICE: "" },
    })
    try {
      await runner.until("Ctrl-C stops it", "stderr")
      break
    } catch (error) {
      if (attempt >= 3 || !String(error).includes("the port is taken")) throw error
    }
  }
}, 120_000)

afterAll(async () => {
  for (const p of [...started, ...(runner === undefined ? [] : [runner])])
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill("SIGTERM")
      const timer = setTimeout(() => p.child.kill("SIGKILL"), 15_000)
      await p.finished
      clearTimeout(timer)
    }
  if (database !== "")
    await exec("psql", [server, "-X", "-q", "-c", `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`])
}, 60_000)

describe("a runner's config file", () => {
  it("starts the runner it describes; a file it cannot use is a usage error, before anything starts", async () => {
    await runner?.until("fleet runner cli on 127.0.0.1:", "stderr")
    expect(runner?.child.exitCode).toBeNull()
    const listed = stdoutJson(await belay(["fleet", "ls", "--json"])) as Array<{ id: string }>
    expect(listed.map((b) => b.id)).toEqual(["cli/b0", "cli/b1"])
    const bad = path.join(cli.home(), "bad-runner.json")
    await writeFile(bad, JSON.stringify({ name: "x", board: { b0: "virtual" } }))
    const refused = await belay(["fleet", "runner", "--config", bad])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain(
      `the runner's config file ${bad} has a key "board" that it does not know`,
    )
  })
})

describe("commands on fleet boards", () => {
  it("exec, eval, run (streamed), info", async () => {
    const out = await belay(["exec", "print('hi', 6 * 7)", "--device", "fleet:cli/b0"])
    expect(out).toMatchObject({ code: 0, stdout: "hi 42\n" })
    // BELAY_DEVICE names a fleet board as well as --device does.
    const value = await belay(["eval", "[1, None]", "--json"], { BELAY_DEVICE: "fleet:cli/b1" })
    expect(value.code).toBe(0)
    expect(stdoutJson(value)).toEqual([1, null])
    const file = path.join(cli.home(), "count.py")
    await writeFile(file, "# counts\nfor i in range(3):\n    print('n', i)\n")
    const ran = await belay(["run", file, "--device", "fleet:cli/b0"])
    expect(ran).toMatchObject({ code: 0, stdout: "n 0\nn 1\nn 2\n" })
    const info = await belay(["info", "--json", "--device", "fleet:cli/b0"])
    expect(stdoutJson(info)).toMatchObject({
      boardId: "cli/b0",
      runner: "cli",
      implementation: "micropython",
    })
    const python = await belay(["exec", "1/0", "--device", "fleet:cli/b0"])
    expect(python.code).toBe(1)
    expect(python.stderr).toContain("ZeroDivisionError")
    // A board by its serial number (here its machine.unique_id()), as `fleet ls` shows it.
    const ls = await belay(["fleet", "ls"])
    const uniqueId = (
      stdoutJson(await belay(["fleet", "ls", "--json"])) as Array<{ id: string; uniqueId: string }>
    ).find((b) => b.id === "cli/b1")?.uniqueId as string
    expect(uniqueId).toMatch(/^[0-9a-f]{16}$/)
    expect(ls.stdout.split("\n")[0]).toContain("SERIAL")
    expect(ls.stdout).toContain(uniqueId)
    expect((await belay(["exec", "which_board = 'b1'", "--device", "fleet:cli/b1"])).code).toBe(0)
    const bySerial = await belay(["eval", "which_board", "--device", `fleet:${uniqueId.toUpperCase()}`])
    expect(bySerial).toMatchObject({ code: 0, stdout: "'b1'\n" })
    const unknown = await belay(["exec", "1", "--device", "fleet:0123456789abcdef"])
    expect(unknown.code).toBe(3)
    expect(unknown.stderr).toContain("no board of the fleet has this serial number")
    // A query other than ?link=lent is a bad device, not ignored.
    const badQuery = await belay(["exec", "1", "--device", "fleet:cli/b0?link=borrowed"])
    expect(badQuery.code).toBe(2)
    expect(badQuery.stderr).toContain("link=borrowed: the only value is lent")
  })

  it("cp to and from the board, ls, cat, fs get, rm; a missing file is the file error it is on a board", async () => {
    const local = path.join(cli.home(), "data.txt")
    await writeFile(local, "line one\nline two\n")
    const d = ["--device", "fleet:cli/b1"]
    expect((await belay(["cp", local, ":data.txt", ...d])).code).toBe(0)
    // The same content again: skipped (hashed on the board).
    expect((await belay(["cp", local, ":data.txt", ...d])).stdout).toContain("unchanged")
    expect((await belay(["ls", ...d])).stdout).toMatch(/- +18 {2}\/data\.txt/)
    expect((await belay(["cat", ":data.txt", ...d])).stdout).toBe("line one\nline two\n")
    const back = path.join(cli.home(), "back.txt")
    expect((await belay(["fs", "get", "data.txt", back, ...d])).code).toBe(0)
    expect(await readFile(back, "utf8")).toBe("line one\nline two\n")
    expect((await belay(["rm", ":data.txt", ...d])).code).toBe(0)
    const missing = await belay(["cat", ":data.txt", "--json", ...d])
    expect(stdoutJson(missing)).toMatchObject({ error: "FileNotFoundError" })
  })
})

describe("reservations from the command line", () => {
  it("fs sync uploads a host folder once, then finds nothing to do, --delete removes; cp -r copies a board folder back", async () => {
    const tree = path.join(cli.home(), "tree")
    await mkdir(path.join(tree, "lib"), { recursive: true })
    const blob = randomBytes(3000)
    await writeFile(path.join(tree, "main.py"), "print('main')\n")
    await writeFile(path.join(tree, "lib", "util.py"), "X = 1\n")
    await writeFile(path.join(tree, "lib", "blob.bin"), blob)
    const d = ["--device", "fleet:cli/b0"]
    const first = await belay(["fs", "sync", tree, ":/app", "--json", ...d])
    expect(first.code).toBe(0)
    expect(stdoutJson(first)).toMatchObject({ createdDirectories: ["/app", "/app/lib"], bytesUploaded: 3020 })
    const again = await belay(["fs", "sync", tree, ":/app", "--json", ...d])
    expect(stdoutJson(again)).toMatchObject({ uploaded: [], deleted: [], hashedOnBoard: 3 })
    await rm(path.join(tree, "lib", "util.py"))
    const pruned = await belay(["fs", "sync", tree, ":/app", "--delete", "--json", ...d])
    expect(stdoutJson(pruned)).toMatchObject({ uploaded: [], deleted: ["/app/lib/util.py"] })
    const back = path.join(cli.home(), "back")
    expect((await belay(["cp", "-r", ":/app", back, ...d])).code).toBe(0)
    expect(Buffer.compare(await readFile(path.join(back, "lib", "blob.bin")), blob)).toBe(0)
    expect(await readFile(path.join(back, "main.py"), "utf8")).toBe("print('main')\n")
    expect(existsSync(path.join(back, "lib", "util.py"))).toBe(false)
  })

  it("a + chain runs each command through the fleet, soft-reset, latency and rtc too; several fleet boards at once", async () => {
    const d = ["--device", "fleet:cli/b0"]
    const chain = await belay([
      "exec",
      "chained = 41",
      "+",
      "eval",
      "chained + 1",
      "+",
      "info",
      "--json",
      ...d,
    ])
    expect(chain.code).toBe(0)
    expect(chain.stdout.split("\n")[0]).toBe("42")
    // soft-reset goes through the fleet: the chain's global is gone after it.
    const reset = await belay(["soft-reset", "+", "eval", "'chained' in globals()", ...d])
    expect(reset).toMatchObject({ code: 0, stdout: "False\n" })
    // latency times exec("pass") through the fleet; the bare exchange is the runner's to time.
    const latency = await belay(["latency", "-n", "20", "--json", ...d])
    expect(latency.code).toBe(0)
    expect(stdoutJson(latency)).toMatchObject({
      count: 20,
      link: expect.stringContaining("through runner cli at"),
    })
    expect((stdoutJson(latency) as { samples: number[] }).samples).toHaveLength(20)
    // The bare exchange is timed over the board's lent link.
    const bare = await belay(["latency", "-n", "20", "--unchecked", "--json", ...d])
    expect(bare.code).toBe(0)
    expect(stdoutJson(bare)).toMatchObject({ count: 20, link: "fleet:cli/b0", integrity: "unchecked" })
    // rtc reads (and sets) the board's clock through the fleet, with its bound.
    const clock = await belay(["rtc", "--set", "--json", ...d])
    expect(clock.code).toBe(0)
    const read = stdoutJson(clock) as { datetime: number[]; offsetMs: number; uncertaintyMs: number }
    expect(read.datetime).toHaveLength(8)
    expect(Math.abs(read.offsetMs)).toBeLessThanOrEqual(read.uncertaintyMs + 1000)
    // Several fleet boards (and a board of this computer) in one command: on each at once, each
    // over its own lent link; a board that is gone fails alone.
    const several = await belay([
      "exec",
      "import machine; print(len(machine.unique_id()))",
      "--device",
      "fleet:cli/b0,fleet:cli/b1,virtual",
      "--json",
    ])
    expect(several.code).toBe(0)
    expect(stdoutJson(several)).toEqual({ "fleet:cli/b0": 8, "fleet:cli/b1": 8, virtual: 8 })
    const oneGone = await belay(["eval", "6 * 7", "--device", "fleet:cli/b0,fleet:cli/b9"])
    expect(oneGone.code).toBe(3)
    expect(oneGone.stdout).toBe("[fleet:cli/b0] 42\n")
    expect(oneGone.stderr).toContain("[fleet:cli/b9] belay: board cli/b9 is gone")
  })

  it("commands the fleet's calls do not carry run over the board's lent link: repl, mount, a hard reset, install", async () => {
    const d = ["--device", "fleet:cli/b1"]
    // A + chain with one such command runs every command over the link (one connection: the
    // board's RAM carries), a hard reset (machine.reset()) included.
    const chained = await belay([
      "exec",
      "lent_x = 5",
      "+",
      "eval",
      "lent_x",
      "+",
      "reset",
      "+",
      "eval",
      "'lent_x' in globals()",
      ...d,
    ])
    expect(chained.code).toBe(0)
    expect(chained.stdout).toMatch(/^5\nreset; the board answers again \(MicroPython [\d.]+\)\nFalse\n$/)
    // A host folder mounted on the fleet board while a command imports from it.
    const folder = path.join(cli.home(), "lent-src")
    await mkdir(folder, { recursive: true })
    await writeFile(path.join(folder, "lentmod.py"), "VALUE = 1234\n")
    const mounted = await belay(["mount", folder, "exec", "import lentmod; print(lentmod.VALUE)", ...d])
    expect(mounted).toMatchObject({ code: 0, stdout: "1234\n" })
    expect(mounted.stderr).toContain(`mounted ${folder} at /remote`)
    // An interactive REPL: while it holds the link, other calls to the board are refused at once.
    const repl = cli.start(["repl", ...d], {
      env: { BELAY_FLEET_DATABASE_URL: url, BELAY_FLEET_RESERVATION: "" },
      stdin: "pipe",
    })
    started.push(repl)
    await repl.until("Ctrl-] leaves", "stderr")
    repl.child.stdin?.write("print(6 * 7)\r")
    await repl.until(/^42\r?$/m)
    const refused = await belay(["exec", "print(1)", "--json", ...d])
    expect(refused.code).toBe(3)
    expect(stdoutJson(refused)).toMatchObject({ error: "FleetBoardReservedError" })
    expect((stdoutJson(refused) as { message: string }).message).toContain("its link is lent to a command")
    repl.child.stdin?.end()
    expect((await repl.finished).code).toBe(0)
    // The REPL gone, the board takes calls again (once its runner has seen the link close).
    let after = await belay(["exec", "print('back')", ...d])
    for (let i = 0; i < 50 && after.code !== 0; i++) {
      await sleep(100)
      after = await belay(["exec", "print('back')", ...d])
    }
    expect(after).toMatchObject({ code: 0, stdout: "back\n" })
    // A package from an index on 127.0.0.1 (mip's layout), installed over the lent link.
    const index = await startServer()
    try {
      publish(index, {
        name: "lentpkg",
        version: "1.0.0",
        files: { py: { "lentpkg.py": "def f():\n    return 'pkg'\n" } },
      })
      const installed = await belay(["install", "lentpkg", "--index", index.url, "--no-mpy", ...d], {
        BELAY_CACHE_DIR: path.join(cli.home(), "cache"),
      })
      expect(installed.code).toBe(0)
      const used = await belay([
        "exec",
        "import sys; sys.path.append('/lib'); import lentpkg; print(lentpkg.f())",
        ...d,
      ])
      expect(used).toMatchObject({ code: 0, stdout: "pkg\n" })
    } finally {
      index.close()
    }
  })

  it("reserve --hold blocks other callers, lets the token through, and lapses when the holder is killed", async () => {
    const holder = cli.start(["fleet", "reserve", "cli/b0", "--for", "10m", "--hold", "--holder", "ci-job"], {
      env: { BELAY_FLEET_DATABASE_URL: url },
    })
    started.push(holder)
    await holder.until("BELAY_FLEET_RESERVATION=")
    await holder.until("holding it", "stderr")
    const ls = await belay(["fleet", "ls", "--json"])
    const listed = stdoutJson(ls) as Array<{ id: string; reservation?: { holder: string } }>
    expect(listed.find((b) => b.id === "cli/b0")?.reservation?.holder).toBe("ci-job")

    const refused = await belay(["exec", "print(1)", "--json", "--device", "fleet:cli/b0"])
    expect(refused.code).toBe(3)
    expect(stdoutJson(refused)).toMatchObject({ error: "FleetBoardReservedError" })
    expect((stdoutJson(refused) as { message: string }).message).toContain("ci-job")

    // Killed outright: no release, the heartbeats stop; free a lease (10 s) later. 40 s bounds a hang.
    holder.child.kill("SIGKILL")
    await holder.finished
    let free = await belay(["exec", "print('free')", "--device", "fleet:cli/b0"])
    for (let i = 0; i < 40 && free.code !== 0; i++) {
      await sleep(1000)
      free = await belay(["exec", "print('free')", "--device", "fleet:cli/b0"])
    }
    expect(free).toMatchObject({ code: 0, stdout: "free\n" })
  })

  it("reserve prints a token that later commands carry; release ends it; --run holds while a command runs", async () => {
    const reserved = await belay(["fleet", "reserve", "cli/b1", "--for", "5m", "--note", "by hand"])
    expect(reserved.code).toBe(0)
    const line = reserved.stdout.trim()
    expect(line).toMatch(/^BELAY_FLEET_RESERVATION=[0-9a-f-]{36}$/)
    const token = line.slice("BELAY_FLEET_RESERVATION=".length)
    expect((await belay(["eval", "1", "--device", "fleet:cli/b1"])).code).toBe(3)
    expect(
      await belay(["eval", "1", "--device", "fleet:cli/b1"], { BELAY_FLEET_RESERVATION: token }),
    ).toMatchObject({ code: 0, stdout: "1\n" })
    expect((await belay(["fleet", "release"], { BELAY_FLEET_RESERVATION: token })).stderr).toContain(
      "released cli/b1",
    )
    expect((await belay(["eval", "2", "--device", "fleet:cli/b1"])).stdout).toBe("2\n")

    // --run: the command gets the token and the boards; its failure is the reservation command's.
    const bin = path.resolve(import.meta.dirname, "../bin/belay.cjs")
    const run = await belay([
      "fleet",
      "reserve",
      "cli/*",
      "--for",
      "5m",
      "--run",
      `"${process.execPath}" "${bin}" exec "print('held')" --device "fleet:$BELAY_FLEET_BOARDS"`,
    ])
    expect(run).toMatchObject({ code: 0, stdout: "held\n" })
    const failing = await belay(["fleet", "reserve", "cli/b1", "--run", "exit 4"])
    expect(failing.code).toBe(1)
    expect(failing.stderr).toContain("exited with code 4")
    // Both released at their end.
    const after = stdoutJson(await belay(["fleet", "ls", "--json"])) as Array<{ reservation?: unknown }>
    expect(after.every((b) => b.reservation === undefined)).toBe(true)
  })
})

/**
 * Reservations on a real PostgreSQL with a runner process: a holder's reservation blocks every
 * other caller (and a second holder), lets its own calls through, and ends when it is released,
 * when it expires, or when its holder process is killed (its heartbeats stop).
 */
import { type ChildProcess, spawn } from "node:child_process"
import path from "node:path"
import { Effect, Exit, type ManagedRuntime, ManagedRuntime as Runtime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FleetClient } from "../src/index.js"
import { freshDatabase } from "./postgres.js"
import { type RunnerProcess, startRunner, stopRunner } from "./runners.js"

let db: { url: string; drop: () => Promise<void> }
let runner: RunnerProcess | undefined
let client: ManagedRuntime.ManagedRuntime<FleetClient, unknown>
const holders: ChildProcess[] = []

const run = <A, E>(effect: Effect.Effect<A, E, FleetClient>) => client.runPromiseExit(effect)
const failureOf = <A, E>(exit: Exit.Exit<A, E>) => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (error === undefined || error._tag !== "Fail") throw new Error(`expected a typed failure: ${exit.cause}`)
  return error.error as E & { _tag: string }
}
const successOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) throw new Error(`expected a value: ${exit.cause}`)
  return exit.value
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A holder process reserving `targets` with heartbeats; resolves with its token and boards once it holds them. */
const startHolder = (holder: string, leaseMs: number, targets: ReadonlyArray<string>) =>
  new Promise<{ child: ChildProcess; token: string; boards: string[]; exited: Promise<unknown> }>(
    (resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          path.resolve(import.meta.dirname, "holderMain.ts"),
          db.url,
          String(leaseMs),
          holder,
          ...targets,
        ],
        { cwd: path.resolve(import.meta.dirname, ".."), stdio: ["ignore", "pipe", "pipe"] },
      )
      holders.push(child)
      const exited = new Promise((r) => child.once("exit", r))
      let out = ""
      let err = ""
      const timer = setTimeout(() => reject(new Error(`holder did not hold within 60 s: ${err}`)), 60_000)
      child.stderr?.on("data", (d: Buffer) => {
        err += d.toString()
      })
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString()
        const line = out.split("\n").find((l) => l.startsWith("held "))
        if (line !== undefined) {
          clearTimeout(timer)
          const [, token, ...boards] = line.split(" ")
          resolve({ child, token: token ?? "", boards, exited })
        }
      })
      child.once("exit", (code) => {
        clearTimeout(timer)
        reject(new Error(`holder exited (${code}) before holding: ${err}`))
      })
    },
  )

/** Poll `attempt` every 250 ms until it succeeds; fails after `ms` (a bound on a hang, not a speed check). */
const eventually = async <A>(ms: number, what: string, attempt: () => Promise<Exit.Exit<A, unknown>>) => {
  const until = Date.now() + ms
  for (;;) {
    const exit = await attempt()
    if (Exit.isSuccess(exit)) return exit.value
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms: ${exit.cause}`)
    await sleep(250)
  }
}

beforeAll(async () => {
  db = await freshDatabase()
  runner = await startRunner("rr", db.url, ["b0=virtual?keep=false", "b1=virtual?keep=false"])
  client = Runtime.make(FleetClient.layer({ databaseUrl: db.url }))
})

afterAll(async () => {
  for (const h of holders) if (h.exitCode === null && h.signalCode === null) h.kill("SIGKILL")
  await client?.dispose()
  if (runner !== undefined) await stopRunner(runner)
  await db?.drop()
})

describe("a reservation", () => {
  it("blocks every other caller and a second holder, lets its holder's calls through, and lapses when its holder is killed", async () => {
    const holder = await startHolder("ci-job-1", 2_000, ["rr/b0"])
    expect(holder.boards).toEqual(["rr/b0"])

    // Another caller: refused before the board is touched (the code would leave a file).
    const refused = failureOf(
      await run(
        Effect.flatMap(FleetClient, (f) => f.board("rr/b0").exec("open('/intruder.txt', 'w').close()")),
      ),
    )
    expect(refused).toMatchObject({ _tag: "FleetBoardReservedError", boardId: "rr/b0", holder: "ci-job-1" })
    expect((refused as unknown as { expiresAt: string }).expiresAt).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(refused.message).toContain("ci-job-1")

    // A second holder cannot reserve it; a selector gives it the other board.
    const second = failureOf(
      await run(Effect.scoped(Effect.flatMap(FleetClient, (f) => f.reserve(["rr/b0"], { for: "1 minute" })))),
    )
    expect(second).toMatchObject({ _tag: "FleetBoardReservedError", holder: "ci-job-1" })
    const other = successOf(
      await run(
        Effect.scoped(
          Effect.flatMap(FleetClient, (f) =>
            Effect.map(f.reserve(["rr/*"], { for: "1 minute", holder: "second" }), (r) => r.boards),
          ),
        ),
      ),
    )
    expect(other).toEqual(["rr/b1"])

    // The holder's token lets calls through (from any process that has it); the refused call left nothing.
    const files = successOf(
      await run(
        Effect.flatMap(FleetClient, (f) => f.board("rr/b0", { reservation: holder.token }).listDir("/")),
      ),
    )
    expect(files).not.toContain("intruder.txt")

    // `ls` shows it.
    const listed = successOf(await run(Effect.flatMap(FleetClient, (f) => f.boards)))
    expect(listed.find((b) => b.id === "rr/b0")?.reservation).toMatchObject({ holder: "ci-job-1" })
    expect(listed.find((b) => b.id === "rr/b1")?.reservation).toBeUndefined()

    // Killed: its heartbeats stop, and the board comes free a lease (2 s) later. 30 s bounds a hang.
    const killedAt = Date.now()
    holder.child.kill("SIGKILL")
    await holder.exited
    const out = await eventually(30_000, "the board to come free", () =>
      run(Effect.flatMap(FleetClient, (f) => f.board("rr/b0").exec("print('free')"))),
    )
    expect(out).toBe("free\n")
    console.log(`fleet: a killed holder's board came free after ${Date.now() - killedAt} ms`)
    const after = successOf(await run(Effect.flatMap(FleetClient, (f) => f.boards)))
    expect(after.find((b) => b.id === "rr/b0")?.reservation).toBeUndefined()
  })

  it("ends when its scope closes, and a detached one when it expires or is released", async () => {
    const program = Effect.gen(function* () {
      const fleet = yield* FleetClient
      // Scoped: held inside, free after.
      const inside = yield* Effect.scoped(
        Effect.gen(function* () {
          const held = yield* fleet.reserve(["rr/b1"], { for: "1 minute", note: "scoped" })
          const mine = yield* held.board("rr/b1").eval("1 + 1")
          const theirs = yield* Effect.flip(fleet.board("rr/b1").eval("1 + 1"))
          return { mine, theirs: theirs._tag }
        }),
      )
      const afterScope = yield* fleet.board("rr/b1").eval("2 + 2")
      // Detached, 1.5 s: refused while it lasts, free once it expires.
      const detached = yield* fleet.reserveDetached(["rr/b1"], { for: "1500 millis", holder: "short" })
      const during = yield* Effect.flip(fleet.board("rr/b1").eval("1"))
      yield* Effect.sleep("2 seconds")
      const expired = yield* fleet.board("rr/b1").eval("3")
      // Detached, released by its token: free at once; releasing again frees nothing.
      const again = yield* fleet.reserveDetached(["rr/b1"], { for: "1 hour" })
      const released = yield* fleet.release(again.token)
      const twice = yield* fleet.release(again.token)
      const free = yield* fleet.board("rr/b1").eval("4")
      // Broken by board id, naming the holder it had.
      yield* fleet.reserveDetached(["rr/b1"], { for: "1 hour", holder: "forgetful" })
      const broken = yield* fleet.releaseBoard("rr/b1")
      return { inside, afterScope, detached, during, expired, released, twice, free, broken }
    })
    const r = successOf(await run(program))
    expect(r.inside).toEqual({ mine: 2, theirs: "FleetBoardReservedError" })
    expect(r.afterScope).toBe(4)
    expect(r.detached.heartbeat).toBe(false)
    expect(r.during).toMatchObject({ _tag: "FleetBoardReservedError", holder: "short" })
    expect(r.expired).toBe(3)
    expect(r.released).toEqual(["rr/b1"])
    expect(r.twice).toEqual([])
    expect(r.free).toBe(4)
    expect(r.broken).toBe("forgetful")
  })

  it("is all or none over several targets, and refuses unknown boards and malformed ids", async () => {
    const program = Effect.gen(function* () {
      const fleet = yield* FleetClient
      const blocker = yield* fleet.reserveDetached(["rr/b1"], { for: "1 minute", holder: "blocker" })
      // rr/b0 is free, rr/b1 is not: neither is taken.
      const both = yield* Effect.flip(fleet.reserveDetached(["rr/b0", "rr/b1"], { for: "1 minute" }))
      const listed = yield* fleet.boards
      yield* fleet.release(blocker.token)
      const gone = yield* Effect.flip(fleet.reserveDetached(["rr/b9"], { for: "1 minute" }))
      const none = yield* Effect.flip(fleet.reserveDetached(["zz/*"], { for: "1 minute" }))
      const bad = yield* Effect.flip(fleet.reserveDetached(["not a board!"], { for: "1 minute" }))
      // Without a slash, a serial number: no board has this one.
      const serial = yield* Effect.flip(fleet.reserveDetached(["no-slash"], { for: "1 minute" }))
      return { both, b0: listed.find((b) => b.id === "rr/b0")?.reservation, gone, none, bad, serial }
    })
    const r = successOf(await run(program))
    expect(r.both).toMatchObject({ _tag: "FleetBoardReservedError", boardId: "rr/b1", holder: "blocker" })
    expect(r.b0).toBeUndefined()
    expect(r.gone._tag).toBe("FleetBoardGoneError")
    expect(r.none._tag).toBe("FleetBoardGoneError")
    expect(r.bad._tag).toBe("FleetBoardIdError")
    expect(r.serial._tag).toBe("FleetBoardGoneError")
  })
})

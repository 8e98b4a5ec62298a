/**
 * Faults: a runner killed with SIGKILL in the middle of a call, a call delivered twice, a call to
 * a runner that is down. Real PostgreSQL, real runner processes on 127.0.0.1.
 */
import { randomUUID } from "node:crypto"
import { makeDeviceCommunication } from "@belay/transport"
import { Effect, Exit, Layer, type ManagedRuntime, ManagedRuntime as Runtime } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { clientSharding } from "../src/FleetClient.js"
import { BoardEntity, FleetClient, fleetDatabaseLayer, openLentLink } from "../src/index.js"
import { freshDatabase } from "./postgres.js"
import { type RunnerProcess, startRunner, stopRunner } from "./runners.js"

let db: { url: string; drop: () => Promise<void> }
let runner: RunnerProcess | undefined
let client: ManagedRuntime.ManagedRuntime<FleetClient | SqlClient.SqlClient, unknown>

const BOARDS = ["c0=virtual?keep=false", "c1=virtual?keep=false"]
const run = <A, E>(effect: Effect.Effect<A, E, FleetClient | SqlClient.SqlClient>) =>
  client.runPromiseExit(effect)
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
/** Resolves with `promise`, or rejects once `ms` pass: no wait in these tests is unbounded. */
const within = <A>(ms: number, what: string, promise: Promise<A>): Promise<A> =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms),
    ),
  ])

/** Poll the journal until `predicate` holds for the call states (bounded by `within`). */
const journal = (boardId: string) =>
  run(
    Effect.flatMap(
      SqlClient.SqlClient,
      (sql) =>
        sql<{
          call_id: string
          state: string
        }>`SELECT call_id, state FROM belay_fleet_calls WHERE board_id = ${boardId}`,
    ),
  ).then(successOf)

beforeAll(async () => {
  db = await freshDatabase()
  runner = await startRunner("rk", db.url, BOARDS)
  client = Runtime.make(Layer.merge(FleetClient.layer({ databaseUrl: db.url }), fleetDatabaseLayer(db.url)))
})

afterAll(async () => {
  await client?.dispose()
  if (runner !== undefined) await stopRunner(runner)
  await db?.drop()
})

describe("a call delivered twice", () => {
  it("runs once: the second delivery of the same call id is refused, and the board counted one run", async () => {
    const callId = randomUUID()
    // The board counts its runs in a file of its own.
    const code = "f = open('/runs.txt', 'a')\nf.write('r')\nf.close()\nprint(len(open('/runs.txt').read()))"
    const twice = Effect.gen(function* () {
      const makeClient = yield* BoardEntity.client
      const board = makeClient("rk/c1")
      const first = yield* board.Exec({ callId, code })
      const second = yield* Effect.flip(board.Exec({ callId, code }))
      return { first, second }
    }).pipe(Effect.provide(clientSharding), Effect.scoped)
    const { first, second } = successOf(await run(twice))
    expect(first).toBe("1\n")
    // The journal says the first delivery ran: `finished`, or `started` while its end is still being recorded.
    expect(second).toMatchObject({ _tag: "FleetCallRepeatedError", callId })
    expect(["started", "finished"]).toContain((second as unknown as { state: string }).state)
    // The board's own counter: one run.
    const count = successOf(
      await run(Effect.flatMap(FleetClient, (f) => f.board("rk/c1").eval("len(open('/runs.txt').read())"))),
    )
    expect(count).toBe(1)
  })
})

describe("a runner killed with SIGKILL in the middle of a call", () => {
  it("gives the caller FleetRunnerUnreachableError (callStarted), the call is not run again, and the runner rejoins clean", async () => {
    const current = runner as RunnerProcess
    // The call counts its run on the board, then takes long enough to be killed in the middle.
    const code =
      "import time\nf = open('/runs.txt', 'a')\nf.write('r')\nf.close()\ntime.sleep(8)\nprint('done')"
    // Meanwhile a client holds rk/c1's lent link: once the runner is killed, the link is lost, and
    // its next exchange says so, naming the board.
    let runnerKilled = () => {}
    const killedNow = new Promise<void>((resolve) => {
      runnerKilled = resolve
    })
    let linkReady = () => {}
    const lentReady = new Promise<void>((resolve) => {
      linkReady = resolve
    })
    const lentLinkLost = run(
      Effect.gen(function* () {
        const lent = yield* Effect.flatMap(FleetClient, (f) => f.board("rk/c1").lend)
        return yield* Effect.scoped(
          Effect.gen(function* () {
            const device = yield* makeDeviceCommunication(yield* openLentLink(lent))
            const before = yield* device.exec("print('lent')")
            yield* Effect.sync(linkReady)
            yield* Effect.promise(() => killedNow)
            return { before, after: yield* Effect.flip(device.exec("print('gone')")) }
          }),
        )
      }),
    )
    await within(30_000, "the lent link", lentReady)
    const pending = run(Effect.flatMap(FleetClient, (f) => f.board("rk/c0").exec(code)))
    // Wait until the runner journaled the call as started: it is on the board now.
    const killedCall = await within(
      30_000,
      "the call to start",
      (async () => {
        for (;;) {
          const started = (await journal("rk/c0")).find((row) => row.state === "started")
          if (started !== undefined) return started.call_id
          await new Promise((r) => setTimeout(r, 100))
        }
      })(),
    )
    const killedAt = Date.now()
    current.child.kill("SIGKILL")
    await current.exited
    runnerKilled()
    // The stated bound: a runner silent for 5 s is unreachable, checked every 500 ms; 20 s here
    // leaves room for a loaded machine. This bounds a hang; it does not measure speed.
    const error = failureOf(await within(20_000, "the caller's error", pending))
    const waitedMs = Date.now() - killedAt
    expect(error).toMatchObject({ _tag: "FleetRunnerUnreachableError", boardId: "rk/c0", callStarted: true })
    console.log(`fleet: the caller learned of the killed runner after ${waitedMs} ms`)
    const lentLink = successOf(await within(20_000, "the lent link's loss", lentLinkLost))
    expect(lentLink.before).toBe("lent\n")
    expect(lentLink.after).toMatchObject({ _tag: "LinkLostError" })
    expect(lentLink.after.message).toContain("fleet:rk/c1 (lent by its runner at tcp:127.0.0.1:")

    // While the runner is down, a new call fails at once, and did not run.
    const down = failureOf(
      await within(
        20_000,
        "a call to a dead runner",
        run(Effect.flatMap(FleetClient, (f) => f.board("rk/c1").exec("print(1)"))),
      ),
    )
    expect(down).toMatchObject({ _tag: "FleetRunnerUnreachableError", callStarted: false })

    // The runner comes back on the same port, with fresh boards.
    runner = await startRunner("rk", db.url, BOARDS, { port: current.port })
    // It serves again (its shard locks are its own, taken back at once).
    const back = successOf(
      await within(
        60_000,
        "the restarted runner's answer",
        run(Effect.flatMap(FleetClient, (f) => f.board("rk/c0").exec("print('back')"))),
      ),
    )
    expect(back).toBe("back\n")
    // Long enough for any resend of the killed call to have reached the new runner and run
    // (8 s of sleep): it must not have. The new board counts no run of it.
    await new Promise((r) => setTimeout(r, 10_000))
    const files = successOf(await run(Effect.flatMap(FleetClient, (f) => f.board("rk/c0").listDir("/"))))
    expect(files).not.toContain("runs.txt")
    // And the journal holds the call once, as started (never finished, never run again).
    const rows = await journal("rk/c0")
    const killed = rows.filter((r) => r.call_id === killedCall)
    expect(killed).toEqual([{ call_id: killedCall, state: "started" }])
  })
})

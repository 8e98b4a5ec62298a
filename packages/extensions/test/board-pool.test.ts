/**
 * A pool of virtual boards (MicroPython in WebAssembly, each in its own worker), end to end: one
 * failing board among working ones, the concurrency bound, interruption, results keyed right,
 * closing, and the Promise facade.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { DeviceSessionManager } from "@belay/core"
import { py, Task } from "@belay/executors"
import { DeviceCommunication } from "@belay/transport"
import { Cause, Deferred, Effect, Exit, Fiber, Logger, References, Schema, Scope } from "effect"
import { describe, expect, it, vi } from "vitest"

// Each virtual board starts MicroPython in a worker of its own: a shared, busy host is slow at it.
vi.setConfig({ testTimeout: 60_000 })

import {
  BelayError,
  BelayLive,
  type BoardPoolOptions,
  type BoardPoolShape,
  connectPool,
  makeBoardPool,
  requireAllBoards,
} from "../src/index.js"

const quiet = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.runPromise(effect.pipe(Effect.provideService(References.MinimumLogLevel, "None")))

/** Run `body` with a pool open, then close it. */
const withPool = <A, E>(options: BoardPoolOptions, body: (pool: BoardPoolShape) => Effect.Effect<A, E>) =>
  quiet(Effect.scoped(Effect.flatMap(makeBoardPool(options), body)))

const failureTag = (exit: Exit.Exit<unknown, unknown> | undefined) => {
  if (exit === undefined || Exit.isSuccess(exit)) return undefined
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" ? (error.value as { _tag: string })._tag : "Defect"
}

const A = "virtual?name=a"
const B = "virtual?name=b"
const C = "virtual?name=c"

describe("a pool with one failing board", () => {
  it("every working board answers; the failing one's typed error is its own result", async () => {
    // `exec:false` opens (a process link) but its process exits at once: every exchange fails.
    const results = await withPool({ boards: [A, "exec:false", B] }, (pool) =>
      pool.each((session, board) => Effect.map(session.device.eval("6 * 7"), (v) => `${board.key}=${v}`)),
    )
    expect([...results.keys()]).toEqual([A, "exec:false", B])
    expect(results.get(A)).toEqual(Exit.succeed(`${A}=42`))
    expect(results.get(B)).toEqual(Exit.succeed(`${B}=42`))
    expect(failureTag(results.get("exec:false"))).toBe("SessionError")
  })

  it("a board that resets mid-call fails with BoardResetError; the others finish, and it answers the next call", async () => {
    const { first, second } = await withPool({ boards: [A, B, C] }, (pool) =>
      Effect.gen(function* () {
        const first = yield* pool.each((session, board) =>
          board.key === B
            ? session.device.exec("import machine\nmachine.reset()")
            : session.device.eval("sum(range(10))"),
        )
        const second = yield* pool.each((session) => session.device.eval("1 + 1"))
        return { first, second }
      }),
    )
    expect(first.get(A)).toEqual(Exit.succeed("45"))
    expect(failureTag(first.get(B))).toBe("BoardResetError")
    expect(first.get(C)).toEqual(Exit.succeed("45"))
    expect([...second.values()]).toEqual([Exit.succeed("2"), Exit.succeed("2"), Exit.succeed("2")])
  })

  it("a board that does not open is BoardUnavailableError in every result; requireAllBoards names it", async () => {
    const { results, failed, all } = await withPool({ boards: [A, "tcp:127.0.0.1:1"] }, (pool) =>
      Effect.gen(function* () {
        const results = yield* pool.each((session) => session.device.eval("3"))
        const all = yield* Effect.flip(requireAllBoards(results))
        return { results, failed: pool.failed.map((f) => f.key), all }
      }),
    )
    expect(failed).toEqual(["tcp:127.0.0.1:1"])
    expect(results.get(A)).toEqual(Exit.succeed("3"))
    expect(failureTag(results.get("tcp:127.0.0.1:1"))).toBe("BoardUnavailableError")
    expect(all._tag).toBe("BoardPoolMemberError")
    expect(all.succeeded).toEqual([A])
    expect(all.message).toMatch(/^1 of 2 boards failed: tcp:127\.0\.0\.1:1: tcp:127\.0\.0\.1:1: cannot open/)
  })
})

describe("results keyed by board", () => {
  it("map calls a task on every board, with each board's own arguments, and keys each result right", async () => {
    const scale = Task.make({
      name: "scale",
      source: py`
def scale(x, k):
    return [x * k, BOARD]
`,
      args: [Schema.Number, Schema.Number],
      result: Schema.Tuple([Schema.Number, Schema.String]),
    })
    const results = await withPool({ boards: [A, B, C] }, (pool) =>
      Effect.gen(function* () {
        // Each board learns its own name, so a result shows which board computed it.
        yield* pool.forEachBoard((board) =>
          Effect.flatMap(DeviceCommunication, (d) => d.exec(`BOARD = ${JSON.stringify(board.key)}`)),
        )
        const factor = new Map([
          [A, 2],
          [B, 3],
          [C, 5],
        ])
        return yield* pool.map(scale, (board) => [10, factor.get(board.key) ?? 0] as const)
      }),
    )
    expect([...results]).toEqual([
      [A, Exit.succeed([20, A])],
      [B, Exit.succeed([30, B])],
      [C, Exit.succeed([50, C])],
    ])
  })

  it("every log line of a board's work carries its key", async () => {
    const lines: Array<{ board: unknown; message: unknown }> = []
    const capture = Logger.make(({ fiber, message }) => {
      lines.push({ board: fiber.getRef(References.CurrentLogAnnotations).board, message })
    })
    await quiet(
      Effect.scoped(
        Effect.gen(function* () {
          const pool = yield* makeBoardPool({ boards: [A, B] })
          yield* pool.forEachBoard((board) => Effect.logWarning(`hello from ${board.key}`))
        }),
      ).pipe(
        Effect.provideService(Logger.CurrentLoggers, new Set([capture])),
        Effect.provideService(References.MinimumLogLevel, "Warn"),
      ),
    )
    const hellos = lines.filter((l) => String(l.message).includes("hello"))
    expect(hellos.map((l) => [l.board, l.message])).toEqual(
      expect.arrayContaining([
        [A, [`hello from ${A}`]],
        [B, [`hello from ${B}`]],
      ]),
    )
  })
})

/**
 * A host-side count of boards in flight: each board's work enters, then waits on its wave's gate,
 * which opens once `bound` boards (or the last few) have entered, so that the bound must be
 * reached (a lower effective bound would wait forever: the test's timeout) and must not be passed.
 */
const inFlightCounter = (boards: number, bound: number) =>
  Effect.gen(function* () {
    let inFlight = 0
    let max = 0
    let entered = 0
    const gates = yield* Effect.forEach(Array.from({ length: Math.ceil(boards / bound) }), () =>
      Deferred.make<void>(),
    )
    const enter = Effect.gen(function* () {
      const index = entered++
      inFlight++
      max = Math.max(max, inFlight)
      const wave = Math.floor(index / bound)
      if (entered === Math.min(boards, (wave + 1) * bound)) yield* Deferred.succeed(gates[wave]!, undefined)
      yield* Deferred.await(gates[wave]!)
    })
    const leave = Effect.sync(() => {
      inFlight--
    })
    return { enter, leave, max: () => max }
  })

describe("the concurrency bound", () => {
  it("at most `concurrency` boards at once, and that many do run at once", async () => {
    const max = await withPool({ boards: [A, B, C, "virtual?name=d"] }, (pool) =>
      Effect.gen(function* () {
        const counter = yield* inFlightCounter(4, 2)
        const results = yield* pool.each(
          (session) =>
            Effect.gen(function* () {
              yield* counter.enter
              // Board work while in flight: an exchange on this board.
              yield* session.device.exec("x = 1")
              yield* counter.leave
            }),
          { concurrency: 2 },
        )
        expect([...results.values()].every(Exit.isSuccess)).toBe(true)
        return counter.max()
      }),
    )
    expect(max).toBe(2)
  })

  it("by default every board at once; the pool's own concurrency option caps it", async () => {
    const all = await withPool({ boards: [A, B, C] }, (pool) =>
      Effect.gen(function* () {
        const counter = yield* inFlightCounter(3, 3)
        yield* pool.each((session) =>
          Effect.andThen(counter.enter, Effect.andThen(session.device.eval("1"), counter.leave)),
        )
        return counter.max()
      }),
    )
    expect(all).toBe(3)
    const capped = await withPool({ boards: [A, B, C], concurrency: 1 }, (pool) =>
      Effect.gen(function* () {
        const counter = yield* inFlightCounter(3, 1)
        yield* pool.forEachBoard(() =>
          Effect.andThen(
            counter.enter,
            Effect.andThen(
              Effect.flatMap(DeviceCommunication, (d) => d.eval("1")),
              counter.leave,
            ),
          ),
        )
        return counter.max()
      }),
    )
    expect(capped).toBe(1)
  })

  it("a bad concurrency for one call is a typed error", async () => {
    const error = await withPool({ boards: [A] }, (pool) =>
      Effect.flip(pool.each((s) => s.device.eval("1"), { concurrency: 1.5 })),
    )
    expect(error).toMatchObject({ _tag: "BoardPoolOptionError", option: "concurrency" })
  })
})

describe("interruption and closing", () => {
  it("interrupting a call interrupts every board's work, and each board's session cleans up", async () => {
    const after = await withPool({ boards: [A, B, C] }, (pool) =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void, unknown>()
        let running = 0
        const fiber = yield* Effect.forkChild(
          pool.each((session) =>
            Effect.gen(function* () {
              // Undone on the board when the session ends, whatever ends it.
              yield* session.acquire(
                session.device.exec("cleaned = False"),
                () => session.device.exec("cleaned = True"),
                { resourceType: "PoolTestFlag" },
              )
              if (++running === 3) yield* Deferred.succeed(started, undefined)
              return yield* Effect.never
            }).pipe(Effect.tapError((error) => Deferred.fail(started, error))),
          ),
        )
        yield* Deferred.await(started)
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        // Each board: the cleanup ran there, and its manager holds no session.
        const boards = yield* pool.forEachBoard(() =>
          Effect.gen(function* () {
            const manager = yield* DeviceSessionManager
            const device = yield* DeviceCommunication
            return { cleaned: yield* device.eval("cleaned"), live: (yield* manager.liveSessions).length }
          }),
        )
        return { interrupted: Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause), boards }
      }),
    )
    expect(after.interrupted).toBe(true)
    expect([...after.boards.values()]).toEqual([
      Exit.succeed({ cleaned: "True", live: 0 }),
      Exit.succeed({ cleaned: "True", live: 0 }),
      Exit.succeed({ cleaned: "True", live: 0 }),
    ])
  })

  it("closing the pool's scope ends every board's sessions and closes every link", async () => {
    const scope = await Effect.runPromise(Scope.make())
    const pool = await quiet(Scope.provide(makeBoardPool({ boards: [A, B] }), scope))
    const services = pool.keys.map((key) => pool.services(key))
    const managers = services.map(
      (s) => s?.mapUnsafe.get(DeviceSessionManager.key) as DeviceSessionManager["Service"],
    )
    const devices = services.map(
      (s) => s?.mapUnsafe.get(DeviceCommunication.key) as DeviceCommunication["Service"],
    )
    // A session that would live on, left open.
    await quiet(Effect.forEach(managers, (m) => m.createSession()))
    expect(await quiet(Effect.forEach(managers, (m) => Effect.map(m.liveSessions, (l) => l.length)))).toEqual(
      [1, 1],
    )
    await Effect.runPromise(Scope.close(scope, Exit.void))
    expect(await quiet(Effect.forEach(managers, (m) => m.state))).toEqual(["Disposed", "Disposed"])
    for (const device of devices) {
      const exit = await quiet(Effect.exit(device.eval("1")))
      expect(Exit.isFailure(exit)).toBe(true)
    }
  })
})

describe("virtual?name=: virtual boards of their own", () => {
  it("with the opener's flash folder, each named board keeps its files in that folder plus -<name>", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "belay-pool-flash-"))
    try {
      const flash = path.join(dir, "flash")
      await withPool({ boards: ["virtual", B], virtualDir: flash }, (pool) =>
        pool.each((session, board) =>
          session.device.exec(`open('who.txt', 'w').write(${JSON.stringify(board.key)})`),
        ),
      )
      expect(await readFile(path.join(flash, "who.txt"), "utf8")).toBe("virtual")
      expect(await readFile(path.join(dir, "flash-b", "who.txt"), "utf8")).toBe(B)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it("a named kept board without a flash folder is refused: kept boards are one per folder", async () => {
    const exit = await quiet(
      Effect.exit(
        Effect.provide(Effect.asVoid(DeviceCommunication), BelayLive({ device: "virtual?name=b&keep=true" })),
      ),
    )
    expect(failureTag(exit)).toBe("ConnectionStringError")
  })
})

describe("connectPool: a pool for Promise code", () => {
  it("each, map and one board as a Belay; failures are BelayErrors keyed by board", async () => {
    const pool = await connectPool([A, B, "tcp:127.0.0.1:1"], { concurrency: 2 })
    try {
      expect(pool.keys).toEqual([A, B, "tcp:127.0.0.1:1"])
      expect(pool.boards.map((b) => b.link)).toEqual(["virtual", "virtual"])
      expect(pool.failed.map((f) => [f.key, f.error.tag])).toEqual([
        ["tcp:127.0.0.1:1", "BoardUnavailableError"],
      ])
      const results = await pool.each(async (s, board) => {
        await s.exec(`here = ${JSON.stringify(board.key)}`)
        return s.eval("here")
      })
      expect(results.get(A)).toEqual({ ok: true, value: `'${A}'` })
      expect(results.get(B)).toEqual({ ok: true, value: `'${B}'` })
      const failed = results.get("tcp:127.0.0.1:1")
      expect(failed?.ok === false && failed.error).toBeInstanceOf(BelayError)
      expect(await pool.board(A).eval("2 ** 10")).toBe("1024")
      expect(() => pool.board("nope")).toThrow(/no board "nope" in the pool/)
      const thrown = await pool.each(async (s) => s.exec("raise ValueError('boom')"))
      expect(thrown.get(A)).toMatchObject({ ok: false, error: { tag: "PythonError" } })
    } finally {
      await pool.close()
    }
  })

  it("the same board twice is refused; no board opening is a BoardPoolOpenError", async () => {
    await expect(connectPool("virtual,virtual")).rejects.toMatchObject({ tag: "DuplicateBoardError" })
    await expect(connectPool("tcp:127.0.0.1:1")).rejects.toMatchObject({ tag: "BoardPoolOpenError" })
  })
})

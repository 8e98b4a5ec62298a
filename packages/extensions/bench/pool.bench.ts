/**
 * Many boards on one host: calls per second across a `BoardPool` of 4 and 12 virtual boards (each
 * MicroPython in a worker of its own, in this process) against one board, for two kinds of call:
 * a bare exchange (`eval("1 + 1")` on each board's `DeviceCommunication`, one after another per
 * board, every board at once) and a typed task call in a new session per board per round
 * (`pool.map`, the pool's own per-call work: a session made and ended on every board).
 */
import { DeviceSessionManager } from "@belay/core"
import { py, Task } from "@belay/executors"
import { DeviceCommunication } from "@belay/transport"
import { Effect, Layer, References, Schema } from "effect"
import type { BenchContext } from "../../../scripts/bench-kit.ts"
import { BelayLive, makeBoardPool } from "../src/index.ts"

const double = Task.make({
  name: "double",
  source: py`
def double(x):
    return 2 * x
`,
  args: [Schema.Number],
  result: Schema.Number,
})

const exchanges = (count: number) =>
  Effect.flatMap(DeviceCommunication, (device) =>
    Effect.forEach(Array.from({ length: count }), () => device.eval("1 + 1"), { discard: true }),
  )

/** The shortest of `REPEATS` runs, in seconds: the host is shared, and a run slowed by others says nothing of the pool. */
const seconds = async (run: () => Promise<unknown>) => {
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < REPEATS; i++) {
    const started = performance.now()
    await run()
    best = Math.min(best, (performance.now() - started) / 1000)
  }
  return best
}

const REPEATS = 3

const quiet = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.runPromise(effect.pipe(Effect.provideService(References.MinimumLogLevel, "Warn")))

export default async function bench(ctx: BenchContext) {
  const perBoard = ctx.quick ? 100 : 400
  const rounds = ctx.quick ? 20 : 100
  const table: Array<string> = [
    "| boards | exchanges per board | exchange calls/s (all boards) | per board | task rounds | task calls/s (all boards) | per board |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ]
  const f = (v: number) => v.toFixed(0)

  // One board without a pool: the baseline.
  const alone = await quiet(
    Effect.scoped(
      Effect.gen(function* () {
        const context = yield* Layer.build(BelayLive({ device: "virtual" }))
        const run = <A, E>(effect: Effect.Effect<A, E, DeviceCommunication | DeviceSessionManager>) =>
          quiet(Effect.provideContext(effect, context))
        yield* Effect.promise(() => run(exchanges(10)))
        const exchange = yield* Effect.promise(() => seconds(() => run(exchanges(perBoard))))
        const call = Effect.flatMap(DeviceSessionManager, (m) =>
          m.executeInNewSession((session) => double.call(session, 21)),
        )
        yield* Effect.promise(() => run(call))
        const task = yield* Effect.promise(() =>
          seconds(() => run(Effect.forEach(Array.from({ length: rounds }), () => call, { discard: true }))),
        )
        return { exchange: perBoard / exchange, task: rounds / task }
      }),
    ),
  )
  table.push(
    `| 1, no pool | ${perBoard} | ${f(alone.exchange)} | ${f(alone.exchange)} | ${rounds} | ${f(alone.task)} | ${f(alone.task)} |`,
  )
  ctx.record({
    package: "extensions",
    benchmark: "pool: exchange calls per second",
    board: "virtual x1 (no pool)",
    value: alone.exchange,
    unit: "calls/s",
  })
  ctx.record({
    package: "extensions",
    benchmark: "pool: task calls per second (a session per call)",
    board: "virtual x1 (no pool)",
    value: alone.task,
    unit: "calls/s",
  })

  for (const count of [1, 4, 12]) {
    const boards = Array.from({ length: count }, (_, i) => `virtual?name=b${i}`)
    const figures = await quiet(
      Effect.scoped(
        Effect.gen(function* () {
          const pool = yield* makeBoardPool({ boards, requireAll: true })
          yield* pool.forEachBoard(() => exchanges(10))
          const exchange = yield* Effect.promise(() =>
            seconds(() => quiet(pool.forEachBoard(() => exchanges(perBoard)))),
          )
          yield* pool.map(double, [21])
          const task = yield* Effect.promise(() =>
            seconds(() =>
              quiet(
                Effect.forEach(Array.from({ length: rounds }), () => pool.map(double, [21]), {
                  discard: true,
                }),
              ),
            ),
          )
          return { exchange: (count * perBoard) / exchange, task: (count * rounds) / task }
        }),
      ),
    )
    table.push(
      `| ${count}, pool | ${perBoard} | ${f(figures.exchange)} | ${f(figures.exchange / count)} | ${rounds} | ${f(figures.task)} | ${f(figures.task / count)} |`,
    )
    ctx.record({
      package: "extensions",
      benchmark: "pool: exchange calls per second",
      board: `virtual x${count} (pool)`,
      value: figures.exchange,
      unit: "calls/s",
    })
    ctx.record({
      package: "extensions",
      benchmark: "pool: task calls per second (a session per call)",
      board: `virtual x${count} (pool)`,
      value: figures.task,
      unit: "calls/s",
    })
  }
  ctx.section(
    "Many boards on one host: a BoardPool",
    [
      `Calls per second over every board of a pool of in-process virtual boards (each MicroPython in a worker thread of its own), against one board without a pool. "Exchange": \`eval("1 + 1")\` on the board's \`DeviceCommunication\`, ${perBoard} one after another per board, every board at once. "Task": a round is \`pool.map(double, [21])\`, a typed task call in a new session on every board (made, called, ended), ${rounds} rounds. Each figure is the best of ${REPEATS} runs, after a warm-up. The virtual boards share this machine's cores (the interpreters run on them): on a real rack each board computes on its own, and the host's part is what the pool adds.`,
      "",
      ...table,
    ].join("\n"),
  )
}

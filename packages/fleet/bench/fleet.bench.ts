/**
 * The fleet's cost, on 127.0.0.1 with a real PostgreSQL (scripts/postgres.sh): three runner
 * processes with four virtual boards each. Figures: one `eval("1")` through the cluster (registry
 * lookup, socket to the runner, journal insert and update, a session on the board) against the
 * same call in a session on a virtual board in this process; and calls per second across the
 * twelve boards at once.
 */
import { makeDeviceSessionManager } from "@belay/core"
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, ManagedRuntime, References } from "effect"
import type { BenchContext } from "../../../scripts/bench-kit.ts"
import { FleetClient } from "../src/index.ts"
import { freshDatabase } from "../test/postgres.ts"
import { startRunner, stopRunner } from "../test/runners.ts"

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? Number.NaN
}

export default async function bench(ctx: BenchContext) {
  const calls = ctx.quick ? 50 : 300
  const db = await freshDatabase()
  const runners = await Promise.all(
    ["ra", "rb", "rc"].map((name) =>
      startRunner(
        name,
        db.url,
        [0, 1, 2, 3].map((i) => `b${i}=virtual?keep=false`),
      ),
    ),
  )
  const client = ManagedRuntime.make(FleetClient.layer({ databaseUrl: db.url }))
  try {
    // Through the cluster, one board, one call after another.
    const viaFleet = await client.runPromise(
      Effect.gen(function* () {
        const board = (yield* FleetClient).board("ra/b0")
        for (let i = 0; i < 20; i++) yield* board.evalRepr("1")
        const times: number[] = []
        for (let i = 0; i < calls; i++) {
          const t = performance.now()
          yield* board.evalRepr("1")
          times.push(performance.now() - t)
        }
        return times
      }),
    )
    // The same call in a session on a virtual board in this process.
    const direct = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openVirtualBoard({})
          const manager = yield* makeDeviceSessionManager(
            yield* makeDeviceCommunication(link, { plainRawChunkDelayMs: 0 }),
          )
          const once = manager.executeInSession((s) => s.device.eval("1"), { cleanupFailures: "log" })
          for (let i = 0; i < 20; i++) yield* once
          const times: number[] = []
          for (let i = 0; i < calls; i++) {
            const t = performance.now()
            yield* once
            times.push(performance.now() - t)
          }
          return times
        }),
      ).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
    )
    const fleetMs = median(viaFleet)
    const directMs = median(direct)
    ctx.record({
      package: "fleet",
      benchmark: "eval('1') through the cluster (median)",
      board: "virtual",
      value: fleetMs,
      unit: "ms",
    })
    ctx.record({
      package: "fleet",
      benchmark: "eval('1') in a direct session (median)",
      board: "virtual",
      value: directMs,
      unit: "ms",
    })
    ctx.record({
      package: "fleet",
      benchmark: "added by the fleet per call (median)",
      board: "virtual",
      value: fleetMs - directMs,
      target: "< 2 ms",
      met: fleetMs - directMs < 2,
      unit: "ms",
    })

    // Twelve boards at once, each a run of calls one after another.
    const perBoard = ctx.quick ? 20 : 100
    const ids = ["ra", "rb", "rc"].flatMap((r) => [0, 1, 2, 3].map((i) => `${r}/b${i}`))
    const seconds = await client.runPromise(
      Effect.gen(function* () {
        const fleet = yield* FleetClient
        const t = performance.now()
        yield* Effect.forEach(
          ids,
          (id) => Effect.repeat(fleet.board(id).evalRepr("1"), { times: perBoard - 1 }),
          { concurrency: "unbounded", discard: true },
        )
        return (performance.now() - t) / 1000
      }),
    )
    ctx.record({
      package: "fleet",
      benchmark: "calls per second, 12 boards on 3 runners",
      board: "virtual",
      value: (ids.length * perBoard) / seconds,
      unit: "calls/s",
    })
  } finally {
    await client.dispose()
    await Promise.all(runners.map(stopRunner))
    await db.drop()
  }
}

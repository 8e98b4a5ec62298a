/**
 * The fleet's cost, on 127.0.0.1 with a real PostgreSQL (scripts/postgres.sh): three runner
 * processes with four virtual boards each. Figures: one `eval("1")` through the cluster (registry
 * lookup, socket to the runner, journal insert and update, a session on the board) against the
 * same call in a session on a virtual board in this process, in turns; calls per second across the
 * twelve boards at once; and what PostgreSQL does, idle and per call (its own counters).
 */

import { randomUUID } from "node:crypto"
import { makeDeviceSessionManager } from "@belay/core"
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Layer, ManagedRuntime, References } from "effect"
import { SqlClient } from "effect/sql"
import type { BenchContext } from "../../../scripts/bench-kit.ts"
import { clientSharding } from "../src/FleetClient.ts"
import { BoardEntity, FleetClient, fleetDatabaseLayer } from "../src/index.ts"
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
  const clientRuntime = Layer.mergeAll(
    FleetClient.layer({ databaseUrl: db.url }),
    clientSharding.pipe(Layer.provideMerge(fleetDatabaseLayer(db.url))),
  ).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, "Warn")))
  const client = ManagedRuntime.make(clientRuntime)
  try {
    // The same call through the cluster and in a session on a virtual board in this process,
    // one after the other in turns (a loaded machine slows both alike), one board each; and, to
    // see where the difference goes, the cluster's part alone (the entity's client, no registry,
    // no watch) and one PostgreSQL round trip (the runner's admission is one).
    const [fleet, sql, makeEntity] = await client.runPromise(
      Effect.all([FleetClient, SqlClient.SqlClient, BoardEntity.client]),
    )
    const pairs = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openVirtualBoard({})
          const manager = yield* makeDeviceSessionManager(
            yield* makeDeviceCommunication(link, { plainRawChunkDelayMs: 0 }),
          )
          const direct = manager.executeInSession((s) => s.device.eval("1"), { cleanupFailures: "log" })
          const entity = makeEntity("ra/b0")
          const board = fleet.board("ra/b0")
          const raw = Effect.suspend(() => entity.Eval({ callId: randomUUID(), expression: "1" }))
          const roundTrip = sql`SELECT 1`
          for (let i = 0; i < 20; i++) yield* Effect.all([board.evalRepr("1"), direct, raw, roundTrip])
          const times = {
            fleet: [] as number[],
            direct: [] as number[],
            raw: [] as number[],
            sql: [] as number[],
          }
          const timed = <A, E>(into: number[], effect: Effect.Effect<A, E>) =>
            Effect.suspend(() => {
              const t = performance.now()
              return Effect.tap(effect, () => Effect.sync(() => into.push(performance.now() - t)))
            })
          for (let i = 0; i < calls; i++) {
            yield* timed(times.fleet, board.evalRepr("1"))
            yield* timed(times.direct, direct)
            yield* timed(times.raw, raw)
            yield* timed(times.sql, roundTrip)
          }
          return times
        }),
      ).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
    )
    const fleetMs = median(pairs.fleet)
    const directMs = median(pairs.direct)
    // Each fleet call against the direct call timed right after it: a machine whose speed drifts
    // during the run moves both of a pair alike.
    const pairedMs = median(pairs.fleet.map((ms, i) => ms - (pairs.direct[i] ?? Number.NaN)))
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
      benchmark: "added by the fleet per call (difference of the medians)",
      board: "virtual",
      value: fleetMs - directMs,
      target: "< 2 ms",
      met: fleetMs - directMs < 2,
      unit: "ms",
    })
    ctx.record({
      package: "fleet",
      benchmark: "added by the fleet per call (median of each call's difference from its direct pair)",
      board: "virtual",
      value: pairedMs,
      target: "< 2 ms",
      met: pairedMs < 2,
      unit: "ms",
    })
    ctx.record({
      package: "fleet",
      benchmark: "of which: the entity call alone (cluster hop, admission, session; median)",
      board: "virtual",
      value: median(pairs.raw),
      unit: "ms",
    })
    ctx.record({
      package: "fleet",
      benchmark: "of which: one PostgreSQL round trip (SELECT 1; median)",
      board: "virtual",
      value: median(pairs.sql),
      unit: "ms",
    })

    // What the database does, from its own counters (pg_stat_database: a connection that goes
    // idle reports its counts up to about 10 s late, so each reading that closes a window waits
    // 11 s first): transactions and rows written with the fleet idle (the runners' and the
    // cluster's heartbeats), then over a window holding the run of calls below.
    const stats = (settle: string) =>
      client.runPromise(
        Effect.flatMap(
          Effect.andThen(Effect.sleep(settle), SqlClient.SqlClient),
          (sql) => sql<{ xacts: number; inserted: number; updated: number; deleted: number; at: number }>`
            SELECT (xact_commit + xact_rollback)::float8 AS xacts, tup_inserted::float8 AS inserted,
              tup_updated::float8 AS updated, tup_deleted::float8 AS deleted,
              extract(epoch FROM clock_timestamp())::float8 AS at
            FROM pg_stat_database WHERE datname = current_database()`,
        ).pipe(Effect.map((rows) => rows[0] as NonNullable<(typeof rows)[0]>)),
      )
    const idleFrom = await stats("11 seconds")
    const idleTo = await stats("10 seconds")
    // The reading itself and the pause are one transaction each: counted out below.
    const idleSeconds = idleTo.at - idleFrom.at
    ctx.record({
      package: "fleet",
      benchmark: "PostgreSQL transactions per second, idle fleet of 3 runners, 12 boards, 1 client",
      board: "virtual",
      value: (idleTo.xacts - idleFrom.xacts - 1) / idleSeconds,
      unit: "xact/s",
    })

    // Twelve boards at once, each a run of calls one after another.
    const perBoard = ctx.quick ? 20 : 100
    const ids = ["ra", "rb", "rc"].flatMap((r) => [0, 1, 2, 3].map((i) => `${r}/b${i}`))
    const busyFrom = await stats("0 millis")
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
    const busyTo = await stats("11 seconds")
    const callCount = ids.length * perBoard
    const background = ((idleTo.xacts - idleFrom.xacts - 1) / idleSeconds) * (busyTo.at - busyFrom.at)
    ctx.record({
      package: "fleet",
      benchmark: "PostgreSQL transactions per call (heartbeats counted out)",
      board: "virtual",
      value: (busyTo.xacts - busyFrom.xacts - 1 - background) / callCount,
      unit: "xact/call",
    })
    ctx.record({
      package: "fleet",
      benchmark: "PostgreSQL rows inserted + updated per call (heartbeats counted out)",
      board: "virtual",
      value:
        (busyTo.inserted +
          busyTo.updated -
          busyFrom.inserted -
          busyFrom.updated -
          ((idleTo.inserted + idleTo.updated - idleFrom.inserted - idleFrom.updated) / idleSeconds) *
            (busyTo.at - busyFrom.at)) /
        callCount,
      unit: "rows/call",
    })
  } finally {
    await client.dispose()
    await Promise.all(runners.map(stopRunner))
    await db.drop()
  }
}

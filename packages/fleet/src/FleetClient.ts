/**
 * The fleet seen from a program: `FleetClient` joins the cluster as a client only (it serves no
 * entities), finds boards in the fleet's registry, and hands out board handles whose calls go to
 * the board's runner through the cluster.
 *
 * How a call ends, always within a bound:
 * - with the board's answer, or its typed failure (`FleetBoardCallError`, `FleetBoardGoneError`,
 *   `FleetCallRepeatedError`);
 * - with `FleetRunnerUnreachableError` when, while the call waits, the board's runner stops
 *   heartbeating (silent for `staleAfter`, 5 s by default, checked every 500 ms), restarts (its
 *   run id changes), stops, or the call's bound passes. Then the client settles the call in the
 *   journal: it inserts `abandoned` under the call's id unless the runner already inserted
 *   `started`. If its insert wins, the call never ran and never will (a later delivery is refused);
 *   if not, it began on the board and its outcome is unknown. `callStarted` says which.
 */
import { randomUUID } from "node:crypto"
import type { PythonSource } from "@belay/executors"
import { type PythonValue, parsePythonLiteral, toPythonLiteral } from "@belay/transport"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import { Context, Duration, Effect, Layer, Option, Result } from "effect"
import { ShardingConfig, SocketRunner, SqlMessageStorage, SqlRunnerStorage } from "effect/cluster"
import { RpcSerialization } from "effect/rpc"
import { SqlClient } from "effect/sql"
import { BoardEntity, type BoardInfo, FLEET_SHARDS_PER_GROUP, parseBoardId } from "./BoardEntity.js"
import {
  FleetBoardCallError,
  FleetBoardGoneError,
  type FleetBoardIdError,
  type FleetBoardReservedError,
  type FleetCallRepeatedError,
  FleetDatabaseError,
  FleetRunnerUnreachableError,
} from "./errors.js"
import { fleetDatabaseLayer, redactUrl } from "./FleetDatabase.js"
import { mapLayerError, messageOf } from "./internal.js"

/**
 * Every way a fleet call can fail.
 *
 * @example
 * const out: Effect.Effect<string, FleetCallError> = board.exec("print(1)")
 * @since 0.1.0
 */
export type FleetCallError =
  | FleetBoardCallError
  | FleetBoardGoneError
  | FleetBoardReservedError
  | FleetCallRepeatedError
  | FleetRunnerUnreachableError
  | FleetBoardIdError
  | FleetDatabaseError

/**
 * Per-call options.
 *
 * @example
 * yield* board.exec("long_job()", { timeout: "2 minutes" })
 * @since 0.1.0
 */
export interface FleetCallOptions {
  /** Bound on the board's work (sent to the runner); the caller waits this plus 10 s at most. */
  readonly timeout?: Duration.Input
}

/**
 * A task to call on a fleet board: a Python function's name and the source that defines it
 * (an `@belay/executors` `Task` fits).
 *
 * @example
 * const add: FleetTask = { name: "add", source: "def add(a, b):\n    return a + b\n" }
 * @since 0.1.0
 */
export interface FleetTask {
  readonly name: string
  readonly source: PythonSource | string
}

/**
 * A board of the fleet, as a program uses it: the operations of a session, sent to the board's
 * runner.
 *
 * @example
 * const board = fleet.board("shelf1/b0")
 * const out = yield* board.exec("print(1 + 1)")
 * @since 0.1.0
 */
export interface FleetBoard {
  readonly id: string
  /** Run code; its stdout. */
  readonly exec: (code: string, options?: FleetCallOptions) => Effect.Effect<string, FleetCallError>
  /** Evaluate an expression; its value (the board's `repr`, decoded as a Python literal). */
  readonly eval: (
    expression: string,
    options?: FleetCallOptions,
  ) => Effect.Effect<PythonValue, FleetCallError>
  /** Evaluate an expression; the board's `repr` as text. */
  readonly evalRepr: (expression: string, options?: FleetCallOptions) => Effect.Effect<string, FleetCallError>
  /** Call a task with arguments (sent as Python literals, never as code); its result. */
  readonly call: (
    task: FleetTask,
    args: ReadonlyArray<unknown>,
    options?: FleetCallOptions,
  ) => Effect.Effect<PythonValue, FleetCallError>
  readonly readFile: (path: string, options?: FleetCallOptions) => Effect.Effect<Uint8Array, FleetCallError>
  /** Write a (small) file; the number of bytes written. */
  readonly writeFile: (
    path: string,
    data: Uint8Array | string,
    options?: FleetCallOptions,
  ) => Effect.Effect<number, FleetCallError>
  readonly listDir: (
    path: string,
    options?: FleetCallOptions,
  ) => Effect.Effect<ReadonlyArray<string>, FleetCallError>
  readonly info: Effect.Effect<BoardInfo, FleetCallError>
}

/**
 * A board as the registry lists it (`belay fleet ls`).
 *
 * @example
 * for (const b of yield* fleet.boards) console.log(b.id, b.status, b.alive)
 * @since 0.1.0
 */
export interface FleetBoardEntry {
  readonly id: string
  readonly runner: string
  readonly board: string
  readonly connection: string
  readonly runnerAddress: string
  /** `ready`, `failed: <reason>`, `stopped`. */
  readonly status: string
  readonly firmware: string
  /** Seconds since the runner last heartbeated for it (by the database's clock). */
  readonly lastSeenSeconds: number
  /** The runner heartbeated within `staleAfter` and did not stop. */
  readonly alive: boolean
}

/**
 * The fleet client service.
 *
 * @example
 * const program = Effect.gen(function* () {
 *   const fleet = yield* FleetClient
 *   return yield* fleet.board("shelf1/b0").exec("print(1)")
 * })
 * Effect.runPromise(program.pipe(Effect.provide(FleetClient.layer({ databaseUrl }))))
 * @since 0.1.0
 */
export class FleetClient extends Context.Service<
  FleetClient,
  {
    readonly board: (id: string) => FleetBoard
    readonly boards: Effect.Effect<ReadonlyArray<FleetBoardEntry>, FleetDatabaseError>
  }
>()("@belay/fleet/FleetClient") {
  /** A client on the fleet at `databaseUrl`. */
  static layer(options: FleetClientOptions): Layer.Layer<FleetClient, FleetDatabaseError> {
    return Layer.effect(FleetClient, makeClient(options)).pipe(
      Layer.provide(clientSharding),
      Layer.provide(fleetDatabaseLayer(options.databaseUrl)),
      mapLayerError((e) =>
        e instanceof FleetDatabaseError
          ? e
          : new FleetDatabaseError({ url: redactUrl(options.databaseUrl), reason: messageOf(e), cause: e }),
      ),
    )
  }
}

/**
 * What a fleet client takes.
 *
 * @example
 * FleetClient.layer({ databaseUrl: process.env.BELAY_FLEET_DATABASE_URL!, staleAfter: "5 seconds" })
 * @since 0.1.0
 */
export interface FleetClientOptions {
  readonly databaseUrl: string
  /** A runner silent this long is unreachable. Default 5 seconds (runners heartbeat every second). */
  readonly staleAfter?: Duration.Input
  /** How long a call waits when it gives no `timeout`. Default 60 seconds. */
  readonly callTimeout?: Duration.Input
}

/**
 * The sharding of a client: no socket server, no shard groups, the runners read from PostgreSQL
 * (it needs the fleet's `SqlClient`). For code that sends `BoardEntity` messages itself.
 *
 * @example
 * const makeClient = yield* BoardEntity.client.pipe(Effect.provide(clientSharding))
 * @since 0.1.0
 */
export const clientSharding = SocketRunner.layerClientOnly.pipe(
  Layer.provide(NodeClusterSocket.layerClientProtocol),
  Layer.provide(SqlMessageStorage.layer.pipe(Layer.provide(NodeCrypto.layerDigest))),
  Layer.provide(Layer.orDie(SqlRunnerStorage.layer)),
  Layer.provide(
    ShardingConfig.layer({
      runnerAddress: Option.none(),
      shardsPerGroup: FLEET_SHARDS_PER_GROUP,
      shardLockDisableAdvisory: true,
      entityMessagePollInterval: Duration.seconds(30),
    }),
  ),
  Layer.provide(RpcSerialization.layerSchemaBinary()),
)

/** The runner stopped answering while a call waited (settled into `FleetRunnerUnreachableError`). */
class Lost {
  readonly _tag = "Lost"
  constructor(readonly reason: string) {}
}

interface RegistryRow {
  readonly board_id: string
  readonly runner: string
  readonly board: string
  readonly connection: string
  readonly runner_address: string
  readonly runner_run: string
  readonly status: string
  readonly firmware: string
  readonly age: number
}

const WATCH_EVERY = Duration.millis(500)
const CALL_MARGIN = Duration.seconds(10)

const makeClient = (options: FleetClientOptions) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const makeBoardClient = yield* BoardEntity.client
    const url = redactUrl(options.databaseUrl)
    const staleSeconds = Duration.toSeconds(
      Duration.fromInputUnsafe(options.staleAfter ?? Duration.seconds(5)),
    )
    const callTimeout = Duration.fromInputUnsafe(options.callTimeout ?? Duration.seconds(60))
    const dbError = (e: unknown) => new FleetDatabaseError({ url, reason: messageOf(e), cause: e })

    const lookup = (boardId: string) =>
      sql<RegistryRow>`
        SELECT board_id, runner, board, connection, runner_address, runner_run, status, firmware,
          extract(epoch FROM now() - last_seen)::float8 AS age
        FROM belay_fleet_boards WHERE board_id = ${boardId}`.pipe(
        Effect.map((rows) => rows[0]),
        Effect.mapError(dbError),
      )

    /** Why the runner of `row` cannot take a call now, if it cannot. */
    const unreachable = (row: RegistryRow): string | undefined =>
      row.status === "stopped"
        ? `runner ${row.runner} stopped`
        : row.age > staleSeconds
          ? `runner ${row.runner} silent for ${row.age.toFixed(1)} s`
          : undefined

    /** Settle a call its caller gives up on: true when it had started on the board. */
    const settle = (callId: string, boardId: string) =>
      sql<{ call_id: string }>`
        INSERT INTO belay_fleet_calls (call_id, board_id, state) VALUES (${callId}, ${boardId}, 'abandoned')
        ON CONFLICT (call_id) DO NOTHING RETURNING call_id`.pipe(
        Effect.map((rows) => rows.length === 0),
        Effect.mapError(dbError),
      )

    /** Fails with `Lost` once the board's runner is no longer the live run `run`. */
    const watch = (boardId: string, run: string) =>
      Effect.sleep(WATCH_EVERY).pipe(
        Effect.andThen(lookup(boardId)),
        Effect.flatMap((row) => {
          if (row === undefined) return Effect.fail(new Lost("the board left the registry"))
          if (row.runner_run !== run) return Effect.fail(new Lost(`runner ${row.runner} restarted`))
          const why = unreachable(row)
          return why === undefined ? Effect.void : Effect.fail(new Lost(why))
        }),
        Effect.catchTag("FleetDatabaseError", () => Effect.void),
        Effect.forever,
      )

    type Client = ReturnType<typeof makeBoardClient>

    const invoke = <A, E>(
      boardId: string,
      options: FleetCallOptions | undefined,
      send: (client: Client, callId: string, timeoutMs: number | undefined) => Effect.Effect<A, E>,
    ): Effect.Effect<A, FleetCallError> =>
      Effect.gen(function* () {
        const id = yield* Effect.fromResult(parseBoardId(boardId))
        const row = yield* lookup(boardId)
        if (row === undefined)
          return yield* new FleetBoardGoneError({ boardId, reason: "no runner has registered it" })
        if (row.status.startsWith("failed"))
          return yield* new FleetBoardGoneError({ boardId, reason: row.status })
        const why = unreachable(row)
        if (why !== undefined)
          return yield* new FleetRunnerUnreachableError({
            boardId,
            runner: id.runner,
            reason: why,
            callStarted: false,
          })
        const callId = randomUUID()
        const work = options?.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout)
        const bound = work === undefined ? callTimeout : Duration.sum(work, CALL_MARGIN)
        const timeoutMs = work === undefined ? undefined : Duration.toMillis(work)
        const answer = send(makeBoardClient(boardId), callId, timeoutMs).pipe(
          Effect.mapError((e): FleetCallError | Lost => {
            const tag = (e as { _tag?: unknown })._tag
            if (
              tag === "FleetBoardCallError" ||
              tag === "FleetBoardGoneError" ||
              tag === "FleetBoardReservedError" ||
              tag === "FleetCallRepeatedError"
            )
              return e as FleetCallError
            return new Lost(`the cluster could not deliver the call (${String(tag)}: ${messageOf(e)})`)
          }),
        )
        return yield* Effect.raceFirst(answer, watch(boardId, row.runner_run)).pipe(
          Effect.timeoutOrElse({
            duration: bound,
            orElse: () => Effect.fail(new Lost(`no answer within ${Duration.format(bound)}`)),
          }),
          Effect.catchIf(
            (e): e is Lost => e instanceof Lost,
            (lost) =>
              Effect.flatMap(
                settle(callId, boardId),
                (callStarted) =>
                  new FleetRunnerUnreachableError({
                    boardId,
                    runner: id.runner,
                    reason: lost.reason,
                    callStarted,
                  }),
              ),
          ),
          Effect.onInterrupt(() => Effect.ignore(settle(callId, boardId))),
        )
      })

    const decode = (boardId: string) => (text: string) => {
      const value = parsePythonLiteral(text)
      return Result.isSuccess(value)
        ? Effect.succeed(value.success)
        : Effect.fail(
            new FleetBoardCallError({
              boardId,
              errorTag: "PythonLiteralError",
              reason: `the board's answer is not a Python literal: ${text.slice(0, 200)}`,
            }),
          )
    }

    const board = (boardId: string): FleetBoard => {
      const evalRepr = (expression: string, options?: FleetCallOptions) =>
        invoke(boardId, options, (c, callId, timeoutMs) =>
          c.Eval({ callId, expression, ...(timeoutMs === undefined ? {} : { timeoutMs }) }),
        )
      return {
        id: boardId,
        exec: (code, options) =>
          invoke(boardId, options, (c, callId, timeoutMs) =>
            c.Exec({ callId, code, ...(timeoutMs === undefined ? {} : { timeoutMs }) }),
          ),
        evalRepr,
        eval: (expression, options) => Effect.flatMap(evalRepr(expression, options), decode(boardId)),
        call: (task, args, options) =>
          Effect.gen(function* () {
            const encoded = yield* Effect.try({
              try: () => toPythonLiteral([...args]),
              catch: (e) =>
                new FleetBoardCallError({ boardId, errorTag: "ArgumentEncodeError", reason: messageOf(e) }),
            })
            const source = typeof task.source === "string" ? task.source : task.source.text
            const text = yield* invoke(boardId, options, (c, callId, timeoutMs) =>
              c.Call({
                callId,
                source,
                name: task.name,
                args: encoded,
                ...(timeoutMs === undefined ? {} : { timeoutMs }),
              }),
            )
            return yield* decode(boardId)(text)
          }),
        readFile: (path, options) =>
          invoke(boardId, options, (c, callId, timeoutMs) =>
            c.ReadFile({ callId, path, ...(timeoutMs === undefined ? {} : { timeoutMs }) }),
          ),
        writeFile: (path, data, options) =>
          invoke(boardId, options, (c, callId, timeoutMs) =>
            c.WriteFile({
              callId,
              path,
              data: typeof data === "string" ? new TextEncoder().encode(data) : data,
              ...(timeoutMs === undefined ? {} : { timeoutMs }),
            }),
          ),
        listDir: (path, options) =>
          invoke(boardId, options, (c, callId, timeoutMs) =>
            c.ListDir({ callId, path, ...(timeoutMs === undefined ? {} : { timeoutMs }) }),
          ),
        info: invoke(boardId, undefined, (c, callId) => c.Info({ callId })),
      }
    }

    const boards = sql<RegistryRow>`
      SELECT board_id, runner, board, connection, runner_address, runner_run, status, firmware,
        extract(epoch FROM now() - last_seen)::float8 AS age
      FROM belay_fleet_boards ORDER BY board_id`.pipe(
      Effect.map((rows) =>
        rows.map(
          (row): FleetBoardEntry => ({
            id: row.board_id,
            runner: row.runner,
            board: row.board,
            connection: row.connection,
            runnerAddress: row.runner_address,
            status: row.status,
            firmware: row.firmware,
            lastSeenSeconds: row.age,
            alive: unreachable(row) === undefined,
          }),
        ),
      ),
      Effect.mapError(dbError),
    )

    return FleetClient.of({ board, boards })
  })

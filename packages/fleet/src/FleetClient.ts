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
import os from "node:os"
import type { PythonSource } from "@belay/executors"
import { type PythonValue, parsePythonLiteral, toPythonLiteral } from "@belay/transport"
import { monotonicMs } from "@belay/transport/internal"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import { Context, Duration, Effect, Layer, Option, Result, Schedule, type Scope, Stream } from "effect"
import { ShardingConfig, SocketRunner, SqlMessageStorage, SqlRunnerStorage } from "effect/cluster"
import { SqlClient } from "effect/sql"
import {
  BoardEntity,
  type BoardInfo,
  FLEET_SHARDS_PER_GROUP,
  FLEET_WIRE_PROTOCOL,
  fleetSerialization,
  parseBoardId,
} from "./BoardEntity.js"
import type { FleetLentLink } from "./BoardLending.js"
import {
  FleetBoardCallError,
  FleetBoardGoneError,
  FleetBoardIdError,
  type FleetBoardReservedError,
  type FleetCallRepeatedError,
  FleetDatabaseError,
  FleetRunnerUnreachableError,
} from "./errors.js"
import { fleetDatabaseLayer, redactUrl } from "./FleetDatabase.js"
import { type FleetFileSystem, makeFleetFileSystem } from "./FleetFiles.js"
import {
  dropBoardReservation,
  dropReservation,
  type FleetBoardReservation,
  type FleetReservationInfo,
  type FleetReserveOptions,
  isSelector,
  millisOf,
  renewLease,
  reservationColumns,
  reservationJoin,
  reservationOf,
  takeReservation,
} from "./FleetReservations.js"
import { encodeJson, mapLayerError, messageOf } from "./internal.js"

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
  /**
   * Run code; its output as it comes (a long program's prints arrive while it runs). Without a
   * `timeout`, the board's work is not bounded (the runner's watch still is).
   */
  readonly execStream: (code: string, options?: FleetCallOptions) => Stream.Stream<string, FleetCallError>
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
  /**
   * Call a generator task; the values it yields, as it yields them. Ending the stream early
   * (`Stream.take`, an interruption) stops the generator on the board (its `finally` blocks run).
   * Without a `timeout`, the board's work is not bounded (the runner's watch still is).
   *
   * @example
   * const squares = yield* Stream.runCollect(board.stream({ name: "squares", source }, [5]))
   */
  readonly stream: (
    task: FleetTask,
    args: ReadonlyArray<unknown>,
    options?: FleetCallOptions,
  ) => Stream.Stream<PythonValue, FleetCallError>
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
  /**
   * A soft reset (Ctrl-D at the raw prompt): the board's RAM, its globals and imports, is cleared
   * and its files stay; its runner keeps the link. A hard reset is not offered: the runner would
   * lose the board's link.
   *
   * @example
   * yield* board.softReset
   */
  readonly softReset: Effect.Effect<void, FleetCallError>
  /**
   * The board's link, lent to this process for a command the calls above do not carry (a REPL,
   * a mount, a hard reset...): open it with `openLentLink` and run a protocol engine over it.
   * Other calls to the board are refused until that connection ends (or, if it never comes, 30 s).
   */
  readonly lend: Effect.Effect<FleetLentLink, FleetCallError>
  /** The board's files, as `@belay/filesystem` offers them (verified, atomic writes), one call per operation. */
  readonly files: FleetFileSystem<FleetCallError>
}

/**
 * A reservation its holder holds (`fleet.reserve`): board handles whose calls carry its token,
 * and its release. It lapses by itself when its holder's process dies (its heartbeats stop).
 *
 * @example
 * const held = yield* fleet.reserve(["shelf1/*"], { for: "10 minutes" })
 * yield* held.board(held.boards[0]!).exec("print('mine')")
 * @since 0.1.0
 */
export interface FleetReservation extends FleetReservationInfo {
  /** A handle on a board whose calls carry this reservation's token. */
  readonly board: (id: string) => FleetBoard
  /** End it now (it ends with its scope anyway). */
  readonly release: Effect.Effect<void, FleetDatabaseError>
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
  /** The wire protocol its runner speaks (`FLEET_WIRE_PROTOCOL` when it can take this client's calls). */
  readonly protocol: string
  readonly firmware: string
  /** The USB serial number its runner's host reports for its port ('' for none): `fleet:<it>` names the board. */
  readonly serialNumber: string
  /** Its `machine.unique_id()` in hex ('' for none; the USB serial number of boards with native USB): `fleet:<it>` names the board too. */
  readonly uniqueId: string
  /** Seconds since the runner last heartbeated for it (by the database's clock). */
  readonly lastSeenSeconds: number
  /** The runner heartbeated within `staleAfter`, did not stop, and speaks this client's protocol. */
  readonly alive: boolean
  /**
   * Why its runner cannot take a call now, undefined while `alive`: the reason a call to it fails
   * with (`FleetRunnerUnreachableError`), checked in the same order (stopped, silent, protocol).
   */
  readonly unreachable: FleetRunnerUnreachable | undefined
  /** Its reservation, while one holds it. */
  readonly reservation: FleetBoardReservation | undefined
}

/**
 * Why a board's runner cannot take calls: it `stopped` (left the fleet), fell `silent` (no
 * heartbeat within `staleAfter`), or speaks another wire `protocol` (`FLEET_WIRE_PROTOCOL`);
 * `reason` is the sentence a call's `FleetRunnerUnreachableError` carries.
 *
 * @example
 * if (entry.unreachable?.kind === "protocol") console.log(`upgrade ${entry.runner}: ${entry.unreachable.reason}`)
 * @since 0.1.0
 */
export interface FleetRunnerUnreachable {
  readonly kind: "stopped" | "silent" | "protocol"
  readonly reason: string
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
    /** A board's handle; `reservation` is the token its calls carry (default: the client's). */
    readonly board: (id: string, options?: { readonly reservation?: string | undefined }) => FleetBoard
    readonly boards: Effect.Effect<ReadonlyArray<FleetBoardEntry>, FleetDatabaseError>
    /**
     * Reserve one board per target (an id, or a selector such as `shelf1/*`: a free board it
     * matches), all or none; held while the scope is open (heartbeats keep it; it lapses a lease
     * after they stop), released when it closes.
     */
    readonly reserve: (
      targets: ReadonlyArray<string>,
      options: FleetReserveOptions,
    ) => Effect.Effect<
      FleetReservation,
      FleetBoardReservedError | FleetBoardGoneError | FleetBoardIdError | FleetDatabaseError,
      Scope.Scope
    >
    /**
     * Reserve boards without heartbeats: held until released (`release(token)`) or until its
     * expiry, whatever becomes of this process. For a holder that spans processes (the CLI).
     */
    readonly reserveDetached: (
      targets: ReadonlyArray<string>,
      options: FleetReserveOptions,
    ) => Effect.Effect<
      FleetReservationInfo,
      FleetBoardReservedError | FleetBoardGoneError | FleetBoardIdError | FleetDatabaseError
    >
    /** End the reservation with this token; the boards it held (none: it had ended already). */
    readonly release: (token: string) => Effect.Effect<ReadonlyArray<string>, FleetDatabaseError>
    /** End whoever's reservation holds this board; the holder it had, if any. */
    readonly releaseBoard: (id: string) => Effect.Effect<string | undefined, FleetDatabaseError>
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
  /** The reservation token every call carries unless its board handle says otherwise (`BELAY_FLEET_RESERVATION`). */
  readonly reservation?: string | undefined
  /**
   * How long a board's registry row is used before it is read again: calls within it skip the
   * lookup. Default 1 second; a call's watch reads it afresh anyway.
   */
  readonly registryCache?: Duration.Input
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
  Layer.provide(fleetSerialization),
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
  /** The runner's `FLEET_WIRE_PROTOCOL` ('' for a runner older than the column). */
  readonly protocol: string
  readonly status: string
  readonly firmware: string
  readonly serial_number: string
  readonly unique_id: string
  readonly age: number
}

/** What a serial number may hold (`fleet:<serial>`): USB serial numbers and hex ids fit. */
const SERIAL_NUMBER = /^[A-Za-z0-9._:-]+$/

/** The registry's columns a client reads, `age` in seconds since the runner's last heartbeat. */
const REGISTRY_COLUMNS = `board_id, runner, board, connection, runner_address, runner_run, protocol, status,
  firmware, serial_number, unique_id, extract(epoch FROM now() - last_seen)::float8 AS age`

/** A task's source as text. */
const sourceOf = (task: FleetTask): string =>
  typeof task.source === "string" ? task.source : task.source.text

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
    const cacheMs = millisOf(options.registryCache ?? Duration.seconds(1))
    const dbError = (e: unknown) => new FleetDatabaseError({ url, reason: messageOf(e), cause: e })

    /**
     * A board's registry row, by its id (`shelf1/b0`) or by what it answers to besides (a serial
     * number: its host's USB serial number or its `machine.unique_id()` in hex, any case). Of the
     * boards with that serial number, the one whose runner is live; several live ones are
     * ambiguous (`FleetBoardIdError`); none live, the one seen last.
     */
    const fetchRow = (
      target: string,
    ): Effect.Effect<RegistryRow | undefined, FleetDatabaseError | FleetBoardIdError> =>
      target.includes("/")
        ? sql<RegistryRow>`
            SELECT ${sql.literal(REGISTRY_COLUMNS)}
            FROM belay_fleet_boards WHERE board_id = ${target}`.pipe(
            Effect.map((rows) => rows[0]),
            Effect.mapError(dbError),
          )
        : sql<RegistryRow>`
            SELECT ${sql.literal(REGISTRY_COLUMNS)}
            FROM belay_fleet_boards
            WHERE (serial_number <> '' AND lower(serial_number) = lower(${target}))
               OR (unique_id <> '' AND lower(unique_id) = lower(${target}))
            ORDER BY last_seen DESC`.pipe(
            Effect.mapError(dbError),
            Effect.flatMap((rows) => {
              const live = rows.filter((r) => !r.status.startsWith("failed") && unreachable(r) === undefined)
              return live.length > 1
                ? Effect.fail(
                    new FleetBoardIdError({
                      id: target,
                      reason: `boards ${live.map((r) => r.board_id).join(", ")} all have this serial number: name one by its id`,
                    }),
                  )
                : Effect.succeed(live[0] ?? rows[0])
            }),
          )

    /**
     * Registry rows read in the last `cacheMs`, by board id: a run of calls to a board reads the
     * registry once a second, not once a call. A row's age grows with the time it was kept, so a
     * runner's silence is judged as if it were read now (up to `cacheMs` late). Dropped when a
     * call finds its runner unreachable.
     */
    const cache = new Map<string, { readonly row: RegistryRow | undefined; readonly at: number }>()
    const lookup = (boardId: string) =>
      Effect.suspend(() => {
        const kept = cache.get(boardId)
        const now = monotonicMs()
        if (kept !== undefined && now - kept.at < cacheMs)
          return Effect.succeed(
            kept.row === undefined ? undefined : { ...kept.row, age: kept.row.age + (now - kept.at) / 1000 },
          )
        return Effect.tap(fetchRow(boardId), (row) =>
          Effect.sync(() => cache.set(boardId, { row, at: monotonicMs() })),
        )
      })
    /** Drop a board's cached rows: under its id and under any serial number that named it. */
    const forget = (boardId: string) =>
      Effect.sync(() => {
        for (const [key, kept] of cache)
          if (key === boardId || kept.row?.board_id === boardId) cache.delete(key)
      })

    /** Why the runner of `row` cannot take a call now, if it cannot. */
    const unreachable = (row: RegistryRow): FleetRunnerUnreachable | undefined =>
      row.status === "stopped"
        ? { kind: "stopped", reason: `runner ${row.runner} stopped` }
        : row.age > staleSeconds
          ? { kind: "silent", reason: `runner ${row.runner} silent for ${row.age.toFixed(1)} s` }
          : row.protocol !== FLEET_WIRE_PROTOCOL
            ? {
                kind: "protocol",
                reason: `runner ${row.runner} speaks the fleet's wire protocol ${JSON.stringify(row.protocol)}, this client ${JSON.stringify(FLEET_WIRE_PROTOCOL)}: run the same @belay/fleet version on runners and clients`,
              }
            : undefined

    /** Settle a call its caller gives up on: true when it had started on the board. */
    const settle = (callId: string, boardId: string) =>
      sql<{ call_id: string }>`
        INSERT INTO belay_fleet_calls (call_id, board_id, state) VALUES (${callId}, ${boardId}, 'abandoned')
        ON CONFLICT (call_id) DO NOTHING RETURNING call_id`.pipe(
        Effect.map((rows) => rows.length === 0),
        Effect.mapError(dbError),
      )

    /** The run of the runner that admitted the call, if one has. */
    const admittedBy = (callId: string) =>
      sql<{
        runner_run: string | null
      }>`SELECT runner_run FROM belay_fleet_calls WHERE call_id = ${callId}`.pipe(
        Effect.map((rows) => rows[0]?.runner_run ?? undefined),
        Effect.mapError(dbError),
      )

    /**
     * Fails with `Lost` once the board's runner is no longer the live run `run`. A new run that
     * admitted the call itself (the registry row the call started from was a second old, and the
     * runner had restarted just before) becomes the run watched.
     */
    const watch = (boardId: string, callId: string, startRun: string) =>
      Effect.gen(function* () {
        let run = startRun
        while (true) {
          yield* Effect.sleep(WATCH_EVERY)
          const row = yield* fetchRow(boardId)
          if (row === undefined) return yield* Effect.fail(new Lost("the board left the registry"))
          if (row.runner_run !== run) {
            if ((yield* admittedBy(callId)) !== row.runner_run)
              return yield* Effect.fail(new Lost(`runner ${row.runner} restarted`))
            run = row.runner_run
          }
          const why = unreachable(row)
          if (why !== undefined) return yield* Effect.fail(new Lost(why.reason))
        }
      }).pipe(
        // A database that does not answer is no news about the runner: watch on.
        Effect.catchTag("FleetDatabaseError", () => Effect.never),
      )

    type Client = ReturnType<typeof makeBoardClient>
    /** The entity's client of each board, made once. */
    const entityClients = new Map<string, Client>()
    const entityClient = (boardId: string): Client => {
      let made = entityClients.get(boardId)
      if (made === undefined) {
        made = makeBoardClient(boardId)
        entityClients.set(boardId, made)
      }
      return made
    }
    type Sent = { readonly callId: string; readonly timeoutMs?: number; readonly reservation?: string }

    /**
     * The registry row of the board `target` names: a board id (`shelf1/b0`), or a serial number
     * (the board that has it now). Fails for text that is neither, and for a board no runner has
     * registered (`FleetBoardGoneError`).
     */
    const rowOf = (target: string) =>
      Effect.gen(function* () {
        const serial = !target.includes("/")
        if (serial && !SERIAL_NUMBER.test(target))
          return yield* new FleetBoardIdError({
            id: target,
            reason: "it is neither <runner>/<board> nor a serial number (letters, digits, . _ : -)",
          })
        if (!serial) yield* Effect.fromResult(parseBoardId(target))
        const row = yield* lookup(target)
        if (row === undefined) {
          yield* forget(target)
          return yield* new FleetBoardGoneError({
            boardId: target,
            reason: serial ? "no board of the fleet has this serial number" : "no runner has registered it",
          })
        }
        return row
      })

    /** A board call's checks before it is sent: the id, the registry, the runner's liveness. */
    const prepare = (target: string) =>
      Effect.gen(function* () {
        const row = yield* rowOf(target)
        const boardId = row.board_id
        const id = yield* Effect.fromResult(parseBoardId(boardId))
        if (row.status.startsWith("failed"))
          return yield* new FleetBoardGoneError({ boardId, reason: row.status })
        const why = unreachable(row)
        if (why !== undefined) {
          yield* forget(boardId)
          return yield* new FleetRunnerUnreachableError({
            boardId,
            runner: id.runner,
            reason: why.reason,
            callStarted: false,
          })
        }
        return { id, row, boardId }
      })

    /** The cluster's failures to deliver, as `Lost`; the board's own answers as they are. */
    const deliveryError = (e: unknown): FleetCallError | Lost => {
      const tag = (e as { _tag?: unknown })._tag
      if (
        tag === "FleetBoardCallError" ||
        tag === "FleetBoardGoneError" ||
        tag === "FleetBoardReservedError" ||
        tag === "FleetCallRepeatedError"
      )
        return e as FleetCallError
      return new Lost(`the cluster could not deliver the call (${String(tag)}: ${messageOf(e)})`)
    }

    /** `Lost` settled into `FleetRunnerUnreachableError` (and the registry row forgotten). */
    const settled = (boardId: string, runner: string, callId: string) => (lost: Lost) =>
      Effect.andThen(
        forget(boardId),
        Effect.flatMap(
          settle(callId, boardId),
          (callStarted) =>
            new FleetRunnerUnreachableError({ boardId, runner, reason: lost.reason, callStarted }),
        ),
      )

    const fields = (callOptions: FleetCallOptions | undefined, reservation: string | undefined) => {
      const callId = randomUUID()
      const work =
        callOptions?.timeout === undefined ? undefined : Duration.fromInputUnsafe(callOptions.timeout)
      const timeoutMs = work === undefined ? undefined : Duration.toMillis(work)
      const sent: Sent = {
        callId,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(reservation === undefined ? {} : { reservation }),
      }
      return { sent, bound: work === undefined ? callTimeout : Duration.sum(work, CALL_MARGIN) }
    }

    const invoke = <A, E>(
      target: string,
      reservation: string | undefined,
      callOptions: FleetCallOptions | undefined,
      send: (client: Client, fields: Sent) => Effect.Effect<A, E>,
    ): Effect.Effect<A, FleetCallError> =>
      Effect.gen(function* () {
        const { id, row, boardId } = yield* prepare(target)
        const { sent, bound } = fields(callOptions, reservation)
        const answer = send(entityClient(boardId), sent).pipe(Effect.mapError(deliveryError))
        return yield* Effect.raceFirst(answer, watch(boardId, sent.callId, row.runner_run)).pipe(
          Effect.timeoutOrElse({
            duration: bound,
            orElse: () => Effect.fail(new Lost(`no answer within ${Duration.format(bound)}`)),
          }),
          Effect.catchIf((e): e is Lost => e instanceof Lost, settled(boardId, id.runner, sent.callId)),
          Effect.onInterrupt(() => Effect.ignore(settle(sent.callId, boardId))),
        )
      })

    /** A streaming call: its pieces as they come, under the same watch and bound as any call. */
    const invokeStream = (
      target: string,
      reservation: string | undefined,
      callOptions: FleetCallOptions | undefined,
      send: (client: Client, fields: Sent) => Stream.Stream<string, unknown>,
    ): Stream.Stream<string, FleetCallError> =>
      Stream.unwrap(
        Effect.map(prepare(target), ({ id, row, boardId }) => {
          const { sent } = fields(callOptions, reservation)
          const lostToError = settled(boardId, id.runner, sent.callId)
          // No overall bound: a program may print for as long as it runs; the watch bounds a runner's silence.
          return send(entityClient(boardId), sent).pipe(
            Stream.mapError(deliveryError),
            Stream.interruptWhen(watch(boardId, sent.callId, row.runner_run)),
            Stream.catchIf(
              (e): e is Lost => e instanceof Lost,
              (lost) => Stream.fromEffect(lostToError(lost)),
            ),
            Stream.onExit((exit) =>
              exit._tag === "Failure" && exit.cause.reasons.some((r) => r._tag === "Interrupt")
                ? Effect.ignore(settle(sent.callId, boardId))
                : Effect.void,
            ),
          )
        }),
      )

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

    const board = (boardId: string, handle?: { readonly reservation?: string | undefined }): FleetBoard => {
      const token = handle?.reservation ?? options.reservation
      /** A call's arguments as a Python list literal: data, never pasted into code. */
      const encodeArguments = (args: ReadonlyArray<unknown>) =>
        Effect.try({
          try: () => toPythonLiteral([...args]),
          catch: (e) =>
            new FleetBoardCallError({ boardId, errorTag: "ArgumentEncodeError", reason: messageOf(e) }),
        })
      const evalRepr = (expression: string, callOptions?: FleetCallOptions) =>
        invoke(boardId, token, callOptions, (c, f) => c.Eval({ ...f, expression }))
      return {
        id: boardId,
        exec: (code, callOptions) => invoke(boardId, token, callOptions, (c, f) => c.Exec({ ...f, code })),
        execStream: (code, callOptions) =>
          invokeStream(boardId, token, callOptions, (c, f) => c.ExecStream({ ...f, code })),
        evalRepr,
        eval: (expression, callOptions) => Effect.flatMap(evalRepr(expression, callOptions), decode(boardId)),
        call: (task, args, callOptions) =>
          Effect.gen(function* () {
            const encoded = yield* encodeArguments(args)
            const text = yield* invoke(boardId, token, callOptions, (c, f) =>
              c.Call({ ...f, source: sourceOf(task), name: task.name, args: encoded }),
            )
            return yield* decode(boardId)(text)
          }),
        stream: (task, args, callOptions) =>
          Stream.unwrap(
            Effect.map(encodeArguments(args), (encoded) =>
              invokeStream(boardId, token, callOptions, (c, f) =>
                c.CallStream({ ...f, source: sourceOf(task), name: task.name, args: encoded }),
              ).pipe(Stream.mapEffect(decode(boardId))),
            ),
          ),
        readFile: (path, callOptions) =>
          invoke(boardId, token, callOptions, (c, f) => c.ReadFile({ ...f, path })),
        writeFile: (path, data, callOptions) =>
          invoke(boardId, token, callOptions, (c, f) =>
            c.WriteFile({
              ...f,
              path,
              data: typeof data === "string" ? new TextEncoder().encode(data) : data,
            }),
          ),
        listDir: (path, callOptions) =>
          invoke(boardId, token, callOptions, (c, f) => c.ListDir({ ...f, path })),
        info: invoke(boardId, token, undefined, (c, f) => c.Info(f)),
        softReset: invoke(boardId, token, undefined, (c, f) => c.SoftReset(f)),
        lend: invoke(boardId, token, undefined, (c, f) => c.Lend({ ...f, holder: defaultHolder() })),
        files: makeFleetFileSystem((operation, args) =>
          Effect.suspend(() =>
            invoke(boardId, token, undefined, (c, f) => c.Files({ ...f, operation, args: encodeJson(args) })),
          ),
        ),
      }
    }

    const boards = sql<RegistryRow & ReservationColumns>`
      SELECT b.board_id, b.runner, b.board, b.connection, b.runner_address, b.runner_run, b.protocol, b.status, b.firmware,
        b.serial_number, b.unique_id, extract(epoch FROM now() - b.last_seen)::float8 AS age, ${sql.literal(reservationColumns)}
      FROM belay_fleet_boards b ${sql.literal(reservationJoin)} ORDER BY b.board_id`.pipe(
      Effect.map((rows) =>
        rows.map((row): FleetBoardEntry => {
          const why = unreachable(row)
          return {
            id: row.board_id,
            runner: row.runner,
            board: row.board,
            connection: row.connection,
            runnerAddress: row.runner_address,
            status: row.status,
            protocol: row.protocol,
            firmware: row.firmware,
            serialNumber: row.serial_number,
            uniqueId: row.unique_id,
            lastSeenSeconds: row.age,
            alive: why === undefined,
            unreachable: why,
            reservation: reservationOf(row),
          }
        }),
      ),
      Effect.mapError(dbError),
    )

    const defaultHolder = () => {
      let user = "someone"
      try {
        user = os.userInfo().username
      } catch {
        // No user name (a container without a passwd entry): "someone".
      }
      return `${user}@${os.hostname()} pid ${process.pid}`
    }

    const take = (
      targets: ReadonlyArray<string>,
      reserveOptions: FleetReserveOptions,
      leaseMs: number | undefined,
    ) =>
      Effect.gen(function* () {
        if (targets.length === 0)
          return yield* new FleetBoardIdError({ id: "", reason: "name at least one board or selector" })
        // A serial number stands for the board that has it now.
        const named = yield* Effect.forEach(targets, (target) =>
          isSelector(target)
            ? Effect.succeed(target)
            : target.includes("/")
              ? Effect.as(Effect.fromResult(parseBoardId(target)), target)
              : Effect.map(rowOf(target), (row) => row.board_id),
        )
        const token = randomUUID()
        const holder = reserveOptions.holder ?? defaultHolder()
        const note = reserveOptions.note ?? ""
        const forMs = millisOf(reserveOptions.for)
        const taken = yield* takeReservation(sql, {
          targets: named,
          token,
          holder,
          note,
          forMs,
          leaseMs,
          staleSeconds,
        }).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(dbError(e))))
        return {
          token,
          holder,
          note,
          boards: taken.boards,
          expiresAt: taken.expiresAt,
          heartbeat: leaseMs !== undefined,
        } satisfies FleetReservationInfo
      })

    const release = (token: string) => dropReservation(sql, token).pipe(Effect.mapError(dbError))

    const reserve = (targets: ReadonlyArray<string>, reserveOptions: FleetReserveOptions) =>
      Effect.gen(function* () {
        const leaseMs = millisOf(reserveOptions.lease ?? Duration.seconds(10))
        const info = yield* Effect.acquireRelease(take(targets, reserveOptions, leaseMs), (held) =>
          Effect.ignore(release(held.token)),
        )
        // Heartbeats: five per lease, so a late one or two do not let it lapse.
        yield* renewLease(sql, info.token, leaseMs).pipe(
          Effect.tap((still) =>
            still.length < info.boards.length
              ? Effect.logWarning(
                  `fleet: reservation of ${info.boards.join(", ")} ended (expired or released)`,
                )
              : Effect.void,
          ),
          Effect.catch((e) => Effect.logWarning(`fleet: reservation heartbeat failed: ${messageOf(e)}`)),
          Effect.repeat(Schedule.spaced(Duration.millis(leaseMs / 5))),
          Effect.forkScoped,
        )
        return {
          ...info,
          board: (id: string) => board(id, { reservation: info.token }),
          release: Effect.asVoid(release(info.token)),
        } satisfies FleetReservation
      })

    return FleetClient.of({
      board,
      boards,
      reserve,
      reserveDetached: (targets, reserveOptions) => take(targets, reserveOptions, undefined),
      release,
      releaseBoard: (id) =>
        Effect.gen(function* () {
          // A serial number stands for the board that has it now (none: nothing to release).
          const boardId = id.includes("/")
            ? id
            : yield* rowOf(id).pipe(
                Effect.map((row): string | undefined => row.board_id),
                Effect.catchTags({
                  FleetBoardIdError: () => Effect.succeed(undefined),
                  FleetBoardGoneError: () => Effect.succeed(undefined),
                }),
              )
          if (boardId === undefined) return undefined
          return yield* dropBoardReservation(sql, boardId).pipe(Effect.mapError(dbError))
        }),
    })
  })

interface ReservationColumns {
  readonly r_holder: string | null
  readonly r_note: string | null
  readonly r_expires_ms: number | null
  readonly r_lease_s: number | null
}

/**
 * A fleet runner: one process on the host that holds the boards' cables. It joins the cluster
 * (Effect Cluster's socket runner, its runner and message storage in PostgreSQL), opens its
 * boards, each with a session manager of its own, and serves each board as a `Board` entity whose
 * calls run in a session of that board's manager (so the session's cleanup holds for every call).
 *
 * Its boards are registered in `belay_fleet_boards` with the id of this run, and their `last_seen`
 * is refreshed every heartbeat while the runner lives.
 */
import { randomUUID } from "node:crypto"
import { realpathSync } from "node:fs"
import type { DeviceSession, DeviceSessionManagerShape } from "@belay/core"
import { makeDeviceSessionManager } from "@belay/core"
import { GeneratorTask, Task } from "@belay/executors"
import {
  type ConnectionDefaults,
  openConnection,
  parseConnectionString,
  protocolDefaultsFor,
} from "@belay/extensions"
import { boardFileSystem } from "@belay/filesystem"
import { makeDeviceCommunication, parsePythonLiteral, toPythonLiteral } from "@belay/transport"
import type { SerialPortInfo } from "@belay/transport/serial"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import {
  Cause,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Queue,
  Result,
  Schedule,
  Schema,
  type Scope,
  Stream,
} from "effect"
import {
  Entity,
  RunnerAddress,
  RunnerHealth,
  ShardingConfig,
  SocketRunner,
  SqlMessageStorage,
  SqlRunnerStorage,
} from "effect/cluster"
import { SqlClient } from "effect/sql"
import {
  BoardEntity,
  type BoardInfo,
  FLEET_SHARDS_PER_GROUP,
  FLEET_WIRE_PROTOCOL,
  fleetSerialization,
  formatBoardId,
  isFleetName,
  runnerShardGroup,
} from "./BoardEntity.js"
import { newLendToken, serveLentLink } from "./BoardLending.js"
import {
  FleetBoardCallError,
  FleetBoardGoneError,
  FleetBoardIdError,
  FleetBoardReservedError,
  FleetCallRepeatedError,
  FleetDatabaseError,
  FleetRunnerStartError,
} from "./errors.js"
import { fleetDatabaseLayer, redactUrl } from "./FleetDatabase.js"
import { admitCall } from "./FleetReservations.js"
import {
  decodeJson,
  encodeJson,
  errorDetail,
  failLayer,
  mapLayerError,
  messageOf,
  tagOf,
} from "./internal.js"

/**
 * One board a runner serves: its name in the fleet (the id is `<runner>/<name>`) and the
 * connection string that opens it (`virtual`, `a0`, `id:<serial>`, ...).
 *
 * @example
 * const board: FleetBoardSpec = { name: "b0", connection: "virtual" }
 * @since 0.1.0
 */
export interface FleetBoardSpec {
  readonly name: string
  readonly connection: string
}

/**
 * What `makeFleetRunner` takes.
 *
 * @example
 * const options: FleetRunnerOptions = { name: "shelf1", boards: [{ name: "b0", connection: "virtual" }], databaseUrl, port: 34431 }
 * @since 0.1.0
 */
export interface FleetRunnerOptions {
  /** The runner's name: the first half of its boards' ids. */
  readonly name: string
  readonly boards: ReadonlyArray<FleetBoardSpec>
  /** `postgres://...` (`BELAY_FLEET_DATABASE_URL`). */
  readonly databaseUrl: string
  /** The address other runners and clients reach this one at. Default `127.0.0.1`. */
  readonly host?: string | undefined
  /** The runner's socket port. */
  readonly port: number
  /** The interface to listen on. Default: `host`. */
  readonly listenHost?: string | undefined
  /** How often the boards' `last_seen` is refreshed. Default 1 second. */
  readonly heartbeat?: Duration.Input | undefined
  /** How links are opened where a connection string does not say (a virtual board's flash folder...). */
  readonly connectionDefaults?: ConnectionDefaults | undefined
}

/** A board as the runner holds it: open, or failed to open (its entity answers "gone"). */
interface ServedBoard {
  readonly id: string
  readonly connection: string
  readonly manager: DeviceSessionManagerShape | undefined
  readonly firmware: Omit<BoardInfo, "boardId" | "runner" | "connection" | "status"> | undefined
  readonly failure: string | undefined
  /** The USB serial number its host reports for its port ('' for none), and its `machine.unique_id()` in hex ('' for none). */
  readonly identity: BoardIdentity
  /** Who holds the board's lent link (`Lend`), while someone does: other calls are refused meanwhile. */
  readonly lend: { holder: string | undefined }
}

/** What a board answers to besides its id (`fleet:<serial>`): both '' when it has neither. */
interface BoardIdentity {
  readonly serialNumber: string
  readonly uniqueId: string
}

/**
 * The board's `machine.unique_id()` in hex ('' where it has none): on boards with native USB
 * (RP2040, SAMD, nRF...) their USB serial number. An expression, so nothing is left in the
 * board's globals.
 */
const uniqueIdOf = (session: DeviceSession): Effect.Effect<string> =>
  session.device.eval("__import__('binascii').hexlify(__import__('machine').unique_id())").pipe(
    Effect.map((repr) => {
      const value = parsePythonLiteral(repr)
      return Result.isSuccess(value) && value.success instanceof Uint8Array
        ? new TextDecoder().decode(value.success)
        : ""
    }),
    Effect.orElseSucceed(() => ""),
  )

/** This host's serial ports ([] where they cannot be listed), read at most once per runner. */
type PortListing = Effect.Effect<ReadonlyArray<SerialPortInfo>>

/** The serial ports, listed when first asked and kept: a runner's boards share one listing. */
const portListing: Effect.Effect<PortListing> = Effect.cached(
  Effect.promise(() => import("@belay/transport/serial")).pipe(
    Effect.flatMap(({ listSerialPorts }) => listSerialPorts()),
    Effect.orElseSucceed((): ReadonlyArray<SerialPortInfo> => []),
  ),
)

/**
 * The USB serial number this host reports for a serial link's port ('' for another link, or a
 * port without one): what `belay ports` shows and `id:<serial>` opens.
 */
const usbSerialNumberOf = (description: string, ports: PortListing): Effect.Effect<string> => {
  if (!description.startsWith("serial:")) return Effect.succeed("")
  const real = (path: string) => {
    try {
      return realpathSync(path)
    } catch {
      return path
    }
  }
  const path = real(description.slice("serial:".length))
  return Effect.map(ports, (listed) => listed.find((p) => real(p.path) === path)?.serialNumber ?? "")
}

/** How often finished calls are recorded in the journal (in one UPDATE). */
const FINISHED_EVERY = Duration.millis(100)

/** The board side of the file RPCs: plain functions, deployed once per session like any task. */
const FILE_SOURCE = `
def _belay_fleet_read(p):
    f = open(p, 'rb')
    try:
        return f.read()
    finally:
        f.close()

def _belay_fleet_write(p, d):
    f = open(p, 'wb')
    try:
        f.write(d)
    finally:
        f.close()
    return len(d)

def _belay_fleet_list(p):
    import os
    return sorted(os.listdir(p))
`
const readTask = Task.make({
  name: "_belay_fleet_read",
  source: FILE_SOURCE,
  args: [Schema.String],
  result: Schema.Uint8Array,
})
const writeTask = Task.make({
  name: "_belay_fleet_write",
  source: FILE_SOURCE,
  args: [Schema.String, Schema.Uint8Array],
  result: Schema.Number,
})
const listTask = Task.make({
  name: "_belay_fleet_list",
  source: FILE_SOURCE,
  args: [Schema.String],
  result: Schema.Array(Schema.String),
})

/**
 * A task declared from a call's payload, one untyped argument per value sent (the values are
 * Python literals already); its definition error (a name that is not an identifier) as a failure.
 */
const declared = <T>(
  make: (options: {
    readonly name: string
    readonly source: string
    readonly args: ReadonlyArray<typeof Schema.Unknown>
  }) => T,
  payload: { readonly name: string; readonly source: string },
  values: ReadonlyArray<unknown>,
) =>
  Effect.try({
    try: () => make({ name: payload.name, source: payload.source, args: values.map(() => Schema.Unknown) }),
    catch: (e) => e,
  })

/** Any failure on the board's side, as the error that crosses the wire. */
const toCallError = (boardId: string) => (error: unknown) => {
  if (
    error instanceof FleetBoardCallError ||
    error instanceof FleetBoardGoneError ||
    error instanceof FleetBoardReservedError ||
    error instanceof FleetCallRepeatedError
  )
    return error
  const detail = errorDetail(error)
  const python = error as { exceptionType?: unknown; traceback?: unknown }
  return new FleetBoardCallError({
    boardId,
    errorTag: tagOf(error),
    reason: messageOf(error),
    ...(typeof python.exceptionType === "string" ? { exceptionType: python.exceptionType } : {}),
    ...(typeof python.traceback === "string" ? { traceback: python.traceback } : {}),
    ...(detail === undefined ? {} : { detail }),
  })
}

/**
 * Open one board: its link, its protocol engine, its session manager, and a first session that
 * learns the firmware. A board that fails to open is kept as failed (with the reason), so that its
 * id answers "gone" rather than being unknown.
 */
const openBoard = (
  runner: string,
  spec: FleetBoardSpec,
  defaults: ConnectionDefaults,
  ports: PortListing,
): Effect.Effect<ServedBoard, never, Scope.Scope> => {
  const id = formatBoardId({ runner, board: spec.name })
  return Effect.gen(function* () {
    const connection = yield* Effect.fromResult(parseConnectionString(spec.connection))
    const link = yield* openConnection(connection, defaults)
    const device = yield* makeDeviceCommunication(link, protocolDefaultsFor(connection))
    const manager = yield* makeDeviceSessionManager(device)
    const { caps, uniqueId } = yield* manager.executeInSession(
      (session) =>
        Effect.map(uniqueIdOf(session), (uniqueId) => ({
          caps: session.deviceContext.capabilities,
          uniqueId,
        })),
      { cleanupFailures: "log" },
    )
    const identity = { serialNumber: yield* usbSerialNumberOf(link.description, ports), uniqueId }
    const firmware = {
      platform: caps.platform,
      implementation: caps.implementation,
      version: caps.version,
      machine: caps.machine,
    }
    return {
      id,
      connection: spec.connection,
      manager,
      firmware,
      failure: undefined,
      identity,
      lend: { holder: undefined },
    } satisfies ServedBoard
  }).pipe(
    Effect.timeoutOrElse({
      duration: Duration.minutes(1),
      orElse: () => Effect.fail(new Error("the board did not open within a minute")),
    }),
    Effect.catch((error) =>
      Effect.as(Effect.logWarning(`fleet runner: board ${id} did not open: ${messageOf(error)}`), {
        id,
        connection: spec.connection,
        manager: undefined,
        firmware: undefined,
        failure: `${tagOf(error)}: ${messageOf(error)}`,
        identity: { serialNumber: "", uniqueId: "" },
        lend: { holder: undefined },
      } satisfies ServedBoard),
    ),
  )
}

/**
 * The sharding layers of a runner, on PostgreSQL: the socket runner (its server and client
 * protocol), the SQL message and runner storage, and a configuration that assigns this runner its
 * own shard group only. Advisory locks are off: their lock numbers come from each runner's list
 * of shard groups, which differs per runner here, so the shard locks are rows in
 * `cluster_locks`, keyed by shard id, instead.
 */
const runnerSharding = (options: {
  readonly group: string
  readonly address: RunnerAddress.RunnerAddress
  readonly listen: RunnerAddress.RunnerAddress
}) =>
  SocketRunner.layer.pipe(
    Layer.provide(RunnerHealth.layerNoop),
    Layer.provide([NodeClusterSocket.layerSocketServer, NodeClusterSocket.layerClientProtocol]),
    Layer.provideMerge(SqlMessageStorage.layer.pipe(Layer.provide(NodeCrypto.layerDigest))),
    Layer.provide(Layer.orDie(SqlRunnerStorage.layer)),
    Layer.provide(
      ShardingConfig.layer({
        runnerAddress: Option.some(options.address),
        runnerListenAddress: Option.some(options.listen),
        availableShardGroups: [options.group],
        assignedShardGroups: [options.group],
        shardsPerGroup: FLEET_SHARDS_PER_GROUP,
        shardLockDisableAdvisory: true,
        // Volatile messages only: storage is polled for persisted ones, which the fleet never sends.
        entityMessagePollInterval: Duration.seconds(30),
      }),
    ),
    Layer.provide(fleetSerialization),
  )

/**
 * Why the runner's socket could not listen, in words: the OS's reason under the socket error's
 * own ("Open" alone says nothing), and a taken port said as such.
 *
 * @example
 * listenFailureOf(portTakenError) // "the port is taken by another program (EADDRINUSE)"
 */
const listenFailureOf = (error: unknown): string => {
  const cause = (error as { reason?: { cause?: unknown } } | null)?.reason?.cause
  const code = (cause as { code?: unknown } | null)?.code
  if (code === "EADDRINUSE") return "the port is taken by another program (EADDRINUSE)"
  if (code === "EADDRNOTAVAIL") return "no interface of this machine has that address (EADDRNOTAVAIL)"
  if (code === "EACCES") return "not allowed to listen on that port (EACCES)"
  return messageOf(cause ?? error)
}

/**
 * A runner as a `Layer`: build it (`Layer.launch`) to join the fleet and serve `boards`; close it
 * to leave (the boards' sessions end, their links close, the runner unregisters). Fails with
 * `FleetDatabaseError` for a database it cannot use, `FleetBoardIdError` for a name that cannot be
 * part of a board id; a board that does not open is served as gone, with its reason in
 * `belay fleet ls`.
 *
 * @example
 * const runner = makeFleetRunner({
 *   name: "shelf1",
 *   boards: [{ name: "b0", connection: "virtual" }, { name: "b1", connection: "a0" }],
 *   databaseUrl: process.env.BELAY_FLEET_DATABASE_URL!,
 *   port: 34431,
 * })
 * await Effect.runPromise(Layer.launch(runner))
 * @since 0.1.0
 */
export const makeFleetRunner = (
  options: FleetRunnerOptions,
): Layer.Layer<never, FleetDatabaseError | FleetBoardIdError | FleetRunnerStartError> => {
  const bad = [options.name, ...options.boards.map((b) => b.name)].find((n) => !isFleetName(n))
  if (bad !== undefined)
    return failLayer(
      new FleetBoardIdError({
        id: `${options.name}/${bad}`,
        reason: `${JSON.stringify(bad)} is not a name (letters, digits, . _ -)`,
      }),
    )
  const names = options.boards.map((b) => b.name)
  const repeated = names.find((n, i) => names.indexOf(n) !== i)
  if (repeated !== undefined)
    return failLayer(
      new FleetBoardIdError({ id: `${options.name}/${repeated}`, reason: "two boards have this name" }),
    )
  const host = options.host ?? "127.0.0.1"
  const address = RunnerAddress.make(host, options.port)
  const listen = RunnerAddress.make(options.listenHost ?? host, options.port)
  const run = randomUUID()
  const heartbeat = options.heartbeat ?? Duration.seconds(1)

  const boardsLayer = Layer.effect(
    ServedBoards,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const ports = yield* portListing
      const opened = yield* Effect.forEach(
        options.boards,
        (spec) => openBoard(options.name, spec, options.connectionDefaults ?? {}, ports),
        { concurrency: "unbounded" },
      )
      const boards = new Map(opened.map((b) => [b.id, b]))
      const runnerAddress = `${address.host}:${address.port}`
      for (const b of opened) {
        const status = b.failure === undefined ? "ready" : `failed: ${b.failure}`
        const firmware = b.firmware === undefined ? "" : `${b.firmware.implementation} ${b.firmware.version}`
        yield* sql`
          INSERT INTO belay_fleet_boards (board_id, runner, board, connection, runner_address, runner_run, protocol, status, firmware, serial_number, unique_id, last_seen)
          VALUES (${b.id}, ${options.name}, ${b.id.slice(options.name.length + 1)}, ${b.connection}, ${runnerAddress}, ${run}, ${FLEET_WIRE_PROTOCOL}, ${status}, ${firmware}, ${b.identity.serialNumber}, ${b.identity.uniqueId}, now())
          ON CONFLICT (board_id) DO UPDATE SET runner = EXCLUDED.runner, board = EXCLUDED.board,
            connection = EXCLUDED.connection, runner_address = EXCLUDED.runner_address,
            runner_run = EXCLUDED.runner_run, protocol = EXCLUDED.protocol, status = EXCLUDED.status,
            firmware = EXCLUDED.firmware, serial_number = EXCLUDED.serial_number,
            unique_id = EXCLUDED.unique_id, last_seen = now()`
      }
      // Calls finished, recorded in batches: one UPDATE at most every 100 ms, for every call that
      // ended meanwhile (a call's answer never waits for it; a repeat is refused while it reads `started` too).
      const finished = yield* Queue.unbounded<string>()
      yield* Queue.takeAll(finished).pipe(
        Effect.flatMap(
          (ids) =>
            sql`UPDATE belay_fleet_calls SET state = 'finished', at = now() WHERE call_id IN ${sql.in(ids)}`,
        ),
        Effect.catch((e) =>
          Effect.logWarning(`fleet runner: recording finished calls failed: ${messageOf(e)}`),
        ),
        Effect.andThen(Effect.sleep(FINISHED_EVERY)),
        Effect.forever,
        Effect.forkScoped,
      )
      // Journal rows older than a day are of no use to anyone.
      yield* sql`DELETE FROM belay_fleet_calls WHERE at < now() - interval '1 day'`
      yield* sql`UPDATE belay_fleet_boards SET last_seen = now() WHERE runner = ${options.name} AND runner_run = ${run}`.pipe(
        Effect.catch((e) => Effect.logWarning(`fleet runner: heartbeat failed: ${messageOf(e)}`)),
        Effect.repeat(Schedule.spaced(heartbeat)),
        Effect.forkScoped,
      )
      // A runner that leaves says so: its boards show as stopped rather than as silent.
      yield* Effect.addFinalizer(() =>
        sql`UPDATE belay_fleet_boards SET status = 'stopped' WHERE runner = ${options.name} AND runner_run = ${run}`.pipe(
          Effect.ignore,
        ),
      )
      yield* Effect.logInfo(`fleet runner ${options.name}: ${opened.length} board(s) at ${runnerAddress}`)
      // Lent links outlive the call that lends them: they run in the runner's own scope.
      return { boards, runner: options.name, run, finished, scope: yield* Effect.scope }
    }),
  )

  const entities = BoardEntity.toLayer(
    Effect.gen(function* () {
      const address = yield* Entity.CurrentAddress
      const { boards, runner, run, finished, scope } = yield* ServedBoards
      const sql = yield* SqlClient.SqlClient
      const boardId = String(address.entityId)
      const board = boards.get(boardId)
      const toError = toCallError(boardId)

      /** The board, open, or why it cannot take calls (gone, or its link lent). */
      const served = Effect.suspend(
        (): Effect.Effect<
          ServedBoard & { readonly manager: DeviceSessionManagerShape },
          FleetBoardGoneError | FleetBoardReservedError
        > =>
          board === undefined
            ? Effect.fail(
                new FleetBoardGoneError({ boardId, reason: `runner ${runner} serves no such board` }),
              )
            : board.manager === undefined
              ? Effect.fail(new FleetBoardGoneError({ boardId, reason: board.failure ?? "it did not open" }))
              : board.lend.holder !== undefined
                ? Effect.fail(
                    new FleetBoardReservedError({
                      boardId,
                      holder: `${board.lend.holder} (its link is lent to a command)`,
                      expiresAt: "that command ends",
                    }),
                  )
                : Effect.succeed({ ...board, manager: board.manager }),
      )

      /**
       * The journal's guard around one call: admitted (the board's reservation allows it and the
       * journal records it as started, or it is refused: reserved, or seen before), then run in a
       * session of the board's manager, then recorded finished (in a batch, without holding up
       * the answer: a repeat is refused as well while it reads `started`).
       *
       * The admission's round trip to PostgreSQL and the session's start go at once: a session
       * starts with bookkeeping on this side (and, after the board was reset, the capability
       * probe, which reads the board and changes nothing on it); the operation, the call's own
       * work on the board, waits for the admission. A refused call ends its session having run
       * nothing.
       */
      const guarded = <A>(
        call: { readonly callId: string; readonly reservation?: string | undefined },
        operation: (session: DeviceSession) => Effect.Effect<A, unknown>,
      ): Effect.Effect<
        A,
        FleetBoardCallError | FleetBoardGoneError | FleetBoardReservedError | FleetCallRepeatedError
      > =>
        Effect.gen(function* () {
          const { manager } = yield* served
          const admission = yield* Effect.forkChild(
            admitCall(sql, { callId: call.callId, boardId, run, reservation: call.reservation }),
            { startImmediately: true },
          )
          return yield* manager
            .executeInSession((session) => Effect.andThen(Fiber.join(admission), operation(session)), {
              cleanupFailures: "log",
            })
            .pipe(
              // Only an admitted call has a journal row to mark finished.
              Effect.ensuring(
                Effect.flatMap(Fiber.await(admission), (exit) =>
                  Exit.isSuccess(exit) ? Queue.offer(finished, call.callId) : Effect.void,
                ),
              ),
            )
        }).pipe(Effect.mapError(toError))

      /** A call's arguments, sent as a Python list literal. */
      const argumentsOf = (text: string) => {
        const args = parsePythonLiteral(text)
        return Result.isSuccess(args) && Array.isArray(args.success)
          ? Effect.succeed(args.success)
          : Effect.fail(
              new FleetBoardCallError({
                boardId,
                errorTag: "ArgumentEncodeError",
                reason: "the arguments are not a Python list literal",
              }),
            )
      }

      const execOptions = (timeoutMs: number | undefined) =>
        timeoutMs === undefined ? {} : { timeout: Duration.millis(timeoutMs) }
      const taskOptions = (timeoutMs: number | undefined) =>
        timeoutMs === undefined ? {} : { timeout: Duration.millis(timeoutMs) }

      return BoardEntity.of({
        Exec: ({ payload }) =>
          guarded(payload, (s) => s.device.exec(payload.code, execOptions(payload.timeoutMs))),
        ExecStream: ({ payload }) =>
          Stream.callback<
            string,
            FleetBoardCallError | FleetBoardGoneError | FleetBoardReservedError | FleetCallRepeatedError
          >((queue) =>
            guarded(payload, (s) =>
              Stream.runForEach(
                s.device.execStream(payload.code, {
                  timeout: payload.timeoutMs === undefined ? Number.POSITIVE_INFINITY : payload.timeoutMs,
                }),
                (piece) => Queue.offer(queue, piece),
              ),
            ).pipe(Effect.andThen(Queue.end(queue))),
          ),
        Eval: ({ payload }) =>
          guarded(payload, (s) => s.device.eval(payload.expression, execOptions(payload.timeoutMs))),
        Call: ({ payload }) =>
          guarded(payload, (s) =>
            Effect.gen(function* () {
              const values = yield* argumentsOf(payload.args)
              const task = yield* declared(Task.make, payload, values)
              const result = yield* task.callWith(s, taskOptions(payload.timeoutMs), ...values)
              return yield* Effect.try({ try: () => toPythonLiteral(result), catch: (e) => e })
            }),
          ),
        CallStream: ({ payload }) =>
          Stream.callback<
            string,
            FleetBoardCallError | FleetBoardGoneError | FleetBoardReservedError | FleetCallRepeatedError
          >((queue) =>
            guarded(payload, (s) =>
              Effect.gen(function* () {
                const values = yield* argumentsOf(payload.args)
                const task = yield* declared(GeneratorTask.make, payload, values)
                // The consumer stopping early (the client's stream ends) interrupts this, and the
                // task's stream interrupts the board: the generator stops, its finally blocks run.
                yield* Stream.runForEach(
                  task.streamWith(s, taskOptions(payload.timeoutMs), ...values),
                  (item) =>
                    Effect.flatMap(
                      Effect.try({ try: () => toPythonLiteral(item), catch: (e) => e }),
                      (literal) => Queue.offer(queue, literal),
                    ),
                )
              }),
            ).pipe(Effect.andThen(Queue.end(queue))),
          ),
        ReadFile: ({ payload }) =>
          guarded(payload, (s) => readTask.callWith(s, taskOptions(payload.timeoutMs), payload.path)),
        WriteFile: ({ payload }) =>
          guarded(payload, (s) =>
            writeTask.callWith(s, taskOptions(payload.timeoutMs), payload.path, payload.data),
          ),
        ListDir: ({ payload }) =>
          guarded(payload, (s) => listTask.callWith(s, taskOptions(payload.timeoutMs), payload.path)),
        Files: ({ payload }) =>
          guarded(payload, (s) =>
            Effect.gen(function* () {
              const args = yield* Effect.try({ try: () => decodeJson(payload.args), catch: (e) => e })
              if (!Array.isArray(args))
                return yield* new FleetBoardCallError({
                  boardId,
                  errorTag: "ArgumentEncodeError",
                  reason: "the file operation's arguments are not a JSON array",
                })
              const member = (boardFileSystem(s) as unknown as Record<string, unknown>)[payload.operation]
              const effect = (typeof member === "function" ? member(...args) : member) as Effect.Effect<
                unknown,
                unknown
              >
              return encodeJson(yield* effect)
            }),
          ),
        Info: ({ payload }) =>
          guarded(payload, (s) =>
            Effect.succeed({
              boardId,
              runner,
              connection: board?.connection ?? "",
              platform: s.deviceContext.capabilities.platform,
              implementation: s.deviceContext.capabilities.implementation,
              version: s.deviceContext.capabilities.version,
              machine: s.deviceContext.capabilities.machine,
              status: "ready",
            }),
          ),
        SoftReset: ({ payload }) => guarded(payload, (s) => s.device.softReset),
        Lend: ({ payload }) =>
          Effect.gen(function* () {
            const { manager, lend, connection } = yield* served
            yield* admitCall(sql, {
              callId: payload.callId,
              boardId,
              run,
              reservation: payload.reservation,
            })
            // Marked before the call answers: the next call in the board's mailbox is refused.
            lend.holder = payload.holder
            const token = newLendToken()
            const ready = yield* Deferred.make<number, Error>()
            yield* manager
              .executeInSession(
                (session) =>
                  Effect.scoped(
                    Effect.flatMap(session.device.terminal, (terminal) =>
                      serveLentLink(terminal, { listenHost: listen.host, token, ready }),
                    ),
                  ),
                { cleanupFailures: "log" },
              )
              .pipe(
                Effect.tap((how) => Effect.logInfo(`fleet runner: lent link of ${boardId} ended (${how})`)),
                Effect.catchCause((cause) =>
                  Effect.andThen(
                    Deferred.fail(ready, new Error(Cause.pretty(cause))),
                    Effect.logWarning(`fleet runner: lent link of ${boardId} failed: ${Cause.pretty(cause)}`),
                  ),
                ),
                Effect.ensuring(
                  Effect.andThen(
                    Effect.sync(() => {
                      lend.holder = undefined
                    }),
                    Queue.offer(finished, payload.callId),
                  ),
                ),
                Effect.forkIn(scope),
              )
            const port = yield* Deferred.await(ready)
            return { boardId, host, port, token, connection }
          }).pipe(Effect.mapError(toError)),
      })
    }),
    // One call at a time per board: the link is one half-duplex conversation anyway.
    { concurrency: 1, maxIdleTime: Duration.minutes(10) },
  )

  const group = runnerShardGroup(options.name)
  return entities.pipe(
    Layer.provide(boardsLayer),
    Layer.provide(
      runnerSharding({ group, address, listen }).pipe(
        mapLayerError(
          (e) =>
            new FleetRunnerStartError({
              runner: options.name,
              reason: `cannot listen on ${listen.host}:${listen.port}: ${listenFailureOf(e)}`,
            }),
        ),
      ),
    ),
    mapLayerError((e) =>
      e instanceof FleetRunnerStartError || e instanceof FleetDatabaseError
        ? e
        : new FleetDatabaseError({ url: redactUrl(options.databaseUrl), reason: messageOf(e), cause: e }),
    ),
    // The journal's row is on every call's path: see FleetDatabase.ts on asynchronous commit.
    Layer.provide(fleetDatabaseLayer(options.databaseUrl, { asynchronousCommit: true })),
  )
}

/** The runner's boards, for its entities. */
class ServedBoards extends Context.Service<
  ServedBoards,
  {
    readonly boards: ReadonlyMap<string, ServedBoard>
    readonly runner: string
    readonly run: string
    /** Ids of calls that ended, for the journal (recorded in batches). */
    readonly finished: Queue.Queue<string>
    /** The runner's scope: lent links run in it. */
    readonly scope: Scope.Scope
  }
>()("@belay/fleet/ServedBoards") {}

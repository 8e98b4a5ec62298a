/**
 * A board as an Effect Cluster entity: its id, the shard group that pins it to its runner, and
 * the RPCs a client sends it.
 *
 * Pinning: every board id is `<runner>/<board>`, and the entity's shard group is
 * `runner:<runner>` (the `ClusterSchema.ShardGroup` annotation). A runner is assigned exactly one
 * shard group, its own, so the cluster's hash ring for `runner:a` holds runner `a` alone and every
 * shard of it (hence every board id beginning `a/`) lands in the process that holds the cable.
 * Nothing else can take those shards: when runner `a` is gone, its boards have no runner (calls to
 * them fail as "runner unreachable") until it comes back.
 *
 * Every RPC is volatile (not `Persisted`): a message is sent straight to the runner's socket,
 * never stored to be replayed later, because a board call acts on the physical world. The one
 * place the cluster resends a volatile message is when it cannot reach the runner (it retries
 * until the runner answers); every payload carries a `callId`, and the runner records it in the
 * call journal (a primary key in PostgreSQL) before it runs the call, so a second delivery is
 * refused with `FleetCallRepeatedError` rather than run twice.
 */

import { type Layer, Result, Schema } from "effect"
import { ClusterSchema, Entity, type EntityId } from "effect/cluster"
import { Rpc, RpcSerialization } from "effect/rpc"
import {
  FleetBoardCallError,
  FleetBoardGoneError,
  FleetBoardIdError,
  FleetBoardReservedError,
  FleetCallRepeatedError,
} from "./errors.js"

/** Letters, digits, `.`, `_`, `-`: safe in ids, shard groups, file names and SQL text. */
const NAME = /^[A-Za-z0-9._-]{1,64}$/

/**
 * A board's place in the fleet: the runner that holds it and its name there.
 *
 * @example
 * const id: BoardId = { runner: "shelf1", board: "b0" }
 * @since 0.1.0
 */
export interface BoardId {
  readonly runner: string
  readonly board: string
}

/**
 * Whether `name` can be a runner or board name (1 to 64 letters, digits, `.`, `_`, `-`).
 *
 * @example
 * isFleetName("shelf-1") // true
 * @since 0.1.0
 */
export const isFleetName = (name: string): boolean => NAME.test(name)

/**
 * Parse `<runner>/<board>`.
 *
 * @example
 * parseBoardId("shelf1/b0") // Result.succeed({ runner: "shelf1", board: "b0" })
 * @since 0.1.0
 */
export const parseBoardId = (id: string): Result.Result<BoardId, FleetBoardIdError> => {
  const parts = id.split("/")
  if (parts.length !== 2) return Result.fail(new FleetBoardIdError({ id, reason: "it needs exactly one /" }))
  const [runner, board] = parts as [string, string]
  if (!isFleetName(runner))
    return Result.fail(
      new FleetBoardIdError({ id, reason: `runner name ${JSON.stringify(runner)} is not allowed` }),
    )
  if (!isFleetName(board))
    return Result.fail(
      new FleetBoardIdError({ id, reason: `board name ${JSON.stringify(board)} is not allowed` }),
    )
  return Result.succeed({ runner, board })
}

/**
 * The text of a board id.
 *
 * @example
 * formatBoardId({ runner: "shelf1", board: "b0" }) // "shelf1/b0"
 * @since 0.1.0
 */
export const formatBoardId = (id: BoardId): string => `${id.runner}/${id.board}`

/**
 * The shard group of a runner's boards: the only group that runner is assigned.
 *
 * @example
 * runnerShardGroup("shelf1") // "runner:shelf1"
 * @since 0.1.0
 */
export const runnerShardGroup = (runner: string): string => `runner:${runner}`

/**
 * Shards per group: every runner and client must agree on it (a client hashes board ids with it).
 *
 * @example
 * ShardingConfig.layer({ shardsPerGroup: FLEET_SHARDS_PER_GROUP })
 * @since 0.1.0
 */
export const FLEET_SHARDS_PER_GROUP = 8

/**
 * The fleet's wire protocol: how runners and clients encode the cluster's messages between them
 * (newline-delimited JSON, `RpcSerialization.layerNdjson`) and this package's board RPCs. A runner
 * records it beside its boards in the registry; a client refuses, at once and by name, a board whose
 * runner speaks another (a runner and a client that disagree on the encoding cannot understand
 * each other's messages, and a call would otherwise wait for its bound).
 *
 * Why JSON rather than the cluster's binary schema codec: on 127.0.0.1, a runner's profile showed
 * the binary codec's encode and decode at about 0.12 ms of CPU per call, and calls timed in turns
 * to a runner and client of each kind took 0.1 to 0.3 ms less with JSON (the native
 * `JSON.parse`/`JSON.stringify` after the schemas' JSON encoding). Bytes travel as base64.
 *
 * @example
 * if (row.protocol !== FLEET_WIRE_PROTOCOL) console.log("upgrade the runner")
 * @since 0.1.0
 */
export const FLEET_WIRE_PROTOCOL = "ndjson/3"

/**
 * The serialization of the cluster's messages between runners and clients (see
 * `FLEET_WIRE_PROTOCOL`).
 *
 * @example
 * SocketRunner.layerClientOnly.pipe(Layer.provide(fleetSerialization))
 * @since 0.1.0
 */
export const fleetSerialization: Layer.Layer<RpcSerialization.RpcSerialization> = RpcSerialization.layerNdjson

const shardGroupOf = (entityId: EntityId.EntityId | string): string => {
  const slash = entityId.indexOf("/")
  return runnerShardGroup(slash < 0 ? entityId : entityId.slice(0, slash))
}

/** The errors a runner answers a board call with. */
const BoardCallErrors = Schema.Union([
  FleetBoardCallError,
  FleetBoardGoneError,
  FleetBoardReservedError,
  FleetCallRepeatedError,
])

/**
 * Fields every call carries: its id (the journal's key), optionally a bound on the board's work,
 * and the token of the caller's reservation (a reserved board admits calls with its token only).
 */
const callFields = {
  callId: Schema.String,
  timeoutMs: Schema.optional(Schema.Number),
  reservation: Schema.optional(Schema.String),
}

/** A task call's: its function's source and name, and its arguments as a Python list literal (data, never pasted into code). */
const taskFields = {
  source: Schema.String,
  name: Schema.String,
  args: Schema.String,
}

/**
 * The board file operations a client may ask for by name (`Files`): those of
 * `@belay/filesystem`'s `BoardFileSystem` that act on the board alone (not `sync` or `download`,
 * which read or write host folders).
 *
 * @example
 * FLEET_FILE_OPERATIONS.includes("readBytes") // true
 * @since 0.1.0
 */
export const FLEET_FILE_OPERATIONS = [
  "info",
  "workingDirectory",
  "list",
  "stat",
  "exists",
  "readBytes",
  "readText",
  "write",
  "append",
  "mkdir",
  "remove",
  "removeDirectory",
  "touch",
  "rename",
  "hash",
  "hashMany",
  "sameContent",
  "diskUsage",
  "cleanTemporaryFiles",
  "removeStaleTemporaryFiles",
] as const

/**
 * One of `FLEET_FILE_OPERATIONS`.
 *
 * @example
 * const op: FleetFileOperation = "list"
 * @since 0.1.0
 */
export type FleetFileOperation = (typeof FLEET_FILE_OPERATIONS)[number]

/**
 * What `info` answers: the firmware the board runs, and how the runner sees it.
 *
 * @example
 * const info: BoardInfo = yield* fleet.board("shelf1/b0").info
 * console.log(info.implementation, info.version, info.machine)
 * @since 0.1.0
 */
export const BoardInfo = Schema.Struct({
  boardId: Schema.String,
  runner: Schema.String,
  connection: Schema.String,
  platform: Schema.String,
  implementation: Schema.String,
  version: Schema.String,
  machine: Schema.String,
  status: Schema.String,
})

/**
 * What `info` answers, as a type.
 *
 * @example
 * const show = (info: BoardInfo) => `${info.boardId}: ${info.machine}`
 * @since 0.1.0
 */
export type BoardInfo = typeof BoardInfo.Type

/**
 * The board entity: its RPCs, volatile, each board pinned to its runner by shard group.
 *
 * @example
 * const makeClient = yield* BoardEntity.client
 * const out = yield* makeClient("shelf1/b0").Exec({ callId: "c1", code: "print(1)" })
 * @since 0.1.0
 */
export const BoardEntity = Entity.make("Board", [
  Rpc.make("Exec", {
    payload: { ...callFields, code: Schema.String },
    success: Schema.String,
    error: BoardCallErrors,
  }),
  Rpc.make("ExecStream", {
    payload: { ...callFields, code: Schema.String },
    /** The board's output as it comes, in pieces. */
    success: Schema.String,
    error: BoardCallErrors,
    stream: true,
  }),
  Rpc.make("Eval", {
    payload: { ...callFields, expression: Schema.String },
    success: Schema.String,
    error: BoardCallErrors,
  }),
  Rpc.make("Call", {
    payload: { ...callFields, ...taskFields },
    /** The result as a Python literal. */
    success: Schema.String,
    error: BoardCallErrors,
  }),
  /** A generator task. */
  Rpc.make("CallStream", {
    payload: { ...callFields, ...taskFields },
    /** Each value it yields, as a Python literal, as it is yielded. */
    success: Schema.String,
    error: BoardCallErrors,
    stream: true,
  }),
  Rpc.make("ReadFile", {
    payload: { ...callFields, path: Schema.String },
    success: Schema.Uint8Array,
    error: BoardCallErrors,
  }),
  Rpc.make("WriteFile", {
    payload: { ...callFields, path: Schema.String, data: Schema.Uint8Array },
    success: Schema.Number,
    error: BoardCallErrors,
  }),
  Rpc.make("ListDir", {
    payload: { ...callFields, path: Schema.String },
    success: Schema.Array(Schema.String),
    error: BoardCallErrors,
  }),
  Rpc.make("Files", {
    payload: {
      ...callFields,
      operation: Schema.Literals(FLEET_FILE_OPERATIONS),
      /** The operation's arguments, as JSON (bytes as `{"$bytes": "<base64>"}`). */
      args: Schema.String,
    },
    /** Its result, as JSON (bytes likewise). */
    success: Schema.String,
    error: BoardCallErrors,
  }),
  Rpc.make("Info", {
    payload: callFields,
    success: BoardInfo,
    error: BoardCallErrors,
  }),
  /** Ctrl-D at the raw prompt: the board's RAM is cleared (its files stay); the runner's link stays. */
  Rpc.make("SoftReset", {
    payload: callFields,
    success: Schema.Void,
    error: BoardCallErrors,
  }),
  /**
   * The board's link, lent to the caller for one command the other RPCs do not carry (a REPL, a
   * mount, a hard reset...): where to connect and the token to send first (see `BoardLending.ts`).
   * Until that connection ends, other calls to the board are refused, naming `holder`.
   */
  Rpc.make("Lend", {
    payload: { ...callFields, holder: Schema.String },
    success: Schema.Struct({
      boardId: Schema.String,
      host: Schema.String,
      port: Schema.Number,
      token: Schema.String,
      connection: Schema.String,
    }),
    error: BoardCallErrors,
  }),
])
  .annotate(ClusterSchema.ShardGroup, shardGroupOf)
  .annotateRpcs(ClusterSchema.Persisted, false)

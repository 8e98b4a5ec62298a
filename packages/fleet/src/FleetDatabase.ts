/**
 * The fleet's PostgreSQL: the connection (a clear `FleetDatabaseError` for a wrong URL), and the
 * fleet's own three tables beside the cluster's (`cluster_*`, made by the cluster's storage):
 *
 * - `belay_fleet_boards`: every board a runner serves (its runner, connection, firmware, status),
 *   with the runner's address, the id of the runner's current run, the wire protocol it speaks
 *   (`FLEET_WIRE_PROTOCOL`), and `last_seen`, which the runner refreshes every heartbeat. `belay
 *   fleet ls` reads it; a client reads it to tell a board that is gone from a runner that stopped
 *   answering or that it cannot understand.
 * - `belay_fleet_calls`: the call journal. A call's id is its primary key: the runner inserts
 *   `started` before it runs a call, a client that gives up inserts `abandoned`; whichever insert
 *   comes first wins, so a call either runs once or never, and its caller knows which.
 * - `belay_fleet_reservations`: a board's reservation, if any: its holder, token, note, expiry,
 *   and for a holder that heartbeats, `lease_until` (a reservation lapses when either passes).
 *
 * A runner's connections commit asynchronously (`synchronous_commit = off`, see
 * `FleetDatabaseOptions`): the journal's `started` row is on every call's path, and waiting for
 * PostgreSQL to flush its log to disk was half of a call's admission. A row committed that way is
 * visible to every other connection at once, so a client that settles a call after its runner died
 * sees it; it is only the row's survival of a crash of PostgreSQL itself that waits for the log
 * writer (at most three times `wal_writer_delay`, 0.6 s by default). A row lost that way would tell
 * a caller who gives up on its call "not started", and would not refuse a second delivery of it.
 * Clients commit synchronously.
 */
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Redacted, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { FleetDatabaseError } from "./errors.js"
import { failLayer, mapLayerError } from "./internal.js"

/**
 * The database URL with its password replaced by `***`, for messages and logs.
 *
 * @example
 * redactUrl("postgres://belay:secret@127.0.0.1:5432/belay") // "postgres://belay:***@127.0.0.1:5432/belay"
 * @since 0.1.0
 */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "<not a URL>"
  }
}

/** How long connecting (and the first query) may take before the URL is reported unusable. */
const CONNECT_TIMEOUT = Duration.seconds(5)

/** Serializes the fleet's table creation between runners starting at once. */
const MIGRATION_LOCK = 0x62656c61 // "bela"

const FLEET_TABLES = [
  `CREATE TABLE IF NOT EXISTS belay_fleet_boards (
  board_id text PRIMARY KEY,
  runner text NOT NULL,
  board text NOT NULL,
  connection text NOT NULL,
  runner_address text NOT NULL,
  runner_run text NOT NULL,
  status text NOT NULL,
  firmware text NOT NULL DEFAULT '',
  last_seen timestamptz NOT NULL DEFAULT now()
)`,
  `CREATE TABLE IF NOT EXISTS belay_fleet_calls (
  call_id text PRIMARY KEY,
  board_id text NOT NULL,
  state text NOT NULL,
  runner_run text,
  at timestamptz NOT NULL DEFAULT now()
)`,
  `CREATE TABLE IF NOT EXISTS belay_fleet_reservations (
  board_id text PRIMARY KEY,
  token text NOT NULL,
  holder text NOT NULL,
  note text NOT NULL DEFAULT '',
  expires_at timestamptz NOT NULL,
  lease_until timestamptz,
  at timestamptz NOT NULL DEFAULT now()
)`,
  `CREATE INDEX IF NOT EXISTS belay_fleet_reservations_token ON belay_fleet_reservations (token)`,
  // Added after the first release: a database made before it gains the column, '' for its rows.
  `ALTER TABLE belay_fleet_boards ADD COLUMN IF NOT EXISTS protocol text NOT NULL DEFAULT ''`,
  // What a board answers to besides its id: its host's USB serial number, its machine.unique_id().
  `ALTER TABLE belay_fleet_boards ADD COLUMN IF NOT EXISTS serial_number text NOT NULL DEFAULT ''`,
  `ALTER TABLE belay_fleet_boards ADD COLUMN IF NOT EXISTS unique_id text NOT NULL DEFAULT ''`,
]

/**
 * How a process connects to the fleet's database.
 *
 * @example
 * fleetDatabaseLayer(url, { asynchronousCommit: true }) // a runner's connections
 * @since 0.1.0
 */
export interface FleetDatabaseOptions {
  /**
   * Commit without waiting for the log's flush to disk (`synchronous_commit = off` on every
   * connection): what is committed is visible to others at once and durable about 0.6 s later; a
   * crash of PostgreSQL (not of this process) in between loses it. Default false.
   */
  readonly asynchronousCommit?: boolean | undefined
}

/**
 * A SQL client on the fleet's database, checked with a first query, with the fleet's tables
 * created. Fails with `FleetDatabaseError` for a URL that is not `postgres://`, a server that does
 * not answer within 5 seconds, or a login refused.
 *
 * @example
 * const layer = fleetDatabaseLayer(process.env.BELAY_FLEET_DATABASE_URL ?? "")
 * @since 0.1.0
 */
export const fleetDatabaseLayer = (
  url: string,
  options: FleetDatabaseOptions = {},
): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient, FleetDatabaseError> => {
  const shown = redactUrl(url)
  const fail = (reason: string, cause?: unknown) => new FleetDatabaseError({ url: shown, reason, cause })
  let protocol: string
  try {
    protocol = new URL(url).protocol
  } catch {
    return failLayer(fail("not a URL (expected postgres://user:password@host:port/database)"))
  }
  if (protocol !== "postgres:" && protocol !== "postgresql:")
    return failLayer(fail(`the scheme is ${protocol} (expected postgres://)`))
  const client = PgClient.layer({
    url: Redacted.make(url),
    connectTimeout: CONNECT_TIMEOUT,
    applicationName: "belay-fleet",
    maxConnections: 8,
    ...(options.asynchronousCommit === true ? { startupParameters: { synchronous_commit: "off" } } : {}),
  }).pipe(mapLayerError((e) => fail(describeSqlError(e), e)))
  const checked = Layer.effectDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT 1`.pipe(
        Effect.timeoutOrElse({
          duration: CONNECT_TIMEOUT,
          orElse: () => Effect.fail(fail("no answer within 5 seconds")),
        }),
      )
      yield* sql
        .withTransaction(
          Effect.andThen(
            sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`,
            Effect.forEach(FLEET_TABLES, (statement) => sql.unsafe(statement), { discard: true }),
          ),
        )
        .pipe(Effect.retry({ times: 3, schedule: Schedule.spaced("200 millis") }))
    }).pipe(Effect.mapError((e) => (e instanceof FleetDatabaseError ? e : fail(describeSqlError(e), e)))),
  )
  return Layer.provideMerge(checked, client)
}

/** The most telling message in a SQL error's chain of causes. */
const describeSqlError = (error: unknown): string => {
  const messages: string[] = []
  let current: unknown = error
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const message = (current as { message?: unknown }).message
    if (typeof message === "string" && message !== "" && !messages.includes(message)) messages.push(message)
    current = (current as { cause?: unknown }).cause
  }
  return messages.length === 0 ? String(error) : messages.join(": ")
}

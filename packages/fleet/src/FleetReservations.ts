/**
 * Reservations: one holder's exclusive use of boards, kept in `belay_fleet_reservations` (one row
 * per reserved board, rows of one reservation share its token).
 *
 * A reservation ends at the first of:
 * - its release (the holder's scope closes, `belay fleet release`);
 * - its expiry (`for`, given when it is taken: a bound on every reservation, heartbeats or not);
 * - for a holder that heartbeats, its lease: the holder refreshes `lease_until` every `lease / 5`;
 *   a holder whose process dies stops refreshing it, and the reservation lapses `lease` later (10 s
 *   by default). A crashed CI job's boards come free within the lease, not at the expiry.
 *
 * The runner enforces it: the call's admission (one SQL statement when it passes, see `admitCall`) checks the
 * board's reservation and inserts the call in the journal together, before the call touches the
 * board. A call that carries the holder's token passes; any other is refused with
 * `FleetBoardReservedError` (holder and expiry), and leaves no journal row. A lapsed reservation
 * is as good as none: the next `reserve` of that board replaces it.
 */
import { Duration, Effect } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import { FleetBoardGoneError, FleetBoardReservedError, FleetCallRepeatedError } from "./errors.js"

/**
 * How a reservation is taken.
 *
 * @example
 * const options: FleetReserveOptions = { for: "10 minutes", note: "CI job 4711" }
 * @since 0.1.0
 */
export interface FleetReserveOptions {
  /** How long it lasts at most (it ends sooner when released or when its holder dies). */
  readonly for: Duration.Input
  /** Shown by `belay fleet ls` beside the holder. */
  readonly note?: string | undefined
  /** Who holds it, as `belay fleet ls` and the refused callers see it. Default `user@host pid N`. */
  readonly holder?: string | undefined
  /** How long it outlives its holder's last heartbeat. Default 10 seconds. */
  readonly lease?: Duration.Input | undefined
}

/**
 * A reservation, as its holder sees it: the token that later calls carry, and the boards it holds.
 *
 * @example
 * console.log(`BELAY_FLEET_RESERVATION=${reservation.token}`, reservation.boards.join(" "))
 * @since 0.1.0
 */
export interface FleetReservationInfo {
  /** The secret that lets calls through: give it to the calls (`BELAY_FLEET_RESERVATION`). */
  readonly token: string
  readonly holder: string
  readonly note: string
  /** The reserved board ids, one per target, in the targets' order. */
  readonly boards: ReadonlyArray<string>
  readonly expiresAt: Date
  /** Whether it lapses when its holder stops heartbeating (a held reservation), or only at `expiresAt`. */
  readonly heartbeat: boolean
}

/**
 * A board's reservation as `belay fleet ls` shows it (never the token).
 *
 * @example
 * if (entry.reservation) console.log(`${entry.id}: ${entry.reservation.holder} until ${entry.reservation.expiresAt.toISOString()}`)
 * @since 0.1.0
 */
export interface FleetBoardReservation {
  readonly holder: string
  readonly note: string
  readonly expiresAt: Date
  /** Seconds until the lease lapses without a heartbeat; undefined for a reservation without one. */
  readonly leaseSeconds: number | undefined
}

/** Whether a target names several boards (`shelf1/*`, `*`). */
export const isSelector = (target: string): boolean => target.includes("*")

/** The board ids a selector matches: `*` stands for any run of characters. */
export const matchSelector = (selector: string, ids: ReadonlyArray<string>): ReadonlyArray<string> => {
  const pattern = new RegExp(
    `^${selector
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  )
  return ids.filter((id) => pattern.test(id))
}

/** An active reservation (the columns of `table`: `r.`, or none): not expired, and its lease (if it has one) not lapsed. */
const activeIn = (table: string) =>
  `${table}expires_at > now() AND (${table}lease_until IS NULL OR ${table}lease_until > now())`
const ACTIVE = activeIn("")

/** A timestamp as ISO 8601 text in UTC, made by the database. */
const ISO = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

interface Holding {
  readonly holder: string
  readonly expires_at: string
}

/**
 * Take a reservation of one board per target (an id, or a selector: the first free board it
 * matches that is alive), all under one token, or none: any target that cannot be had rolls the
 * others back. Fails with `FleetBoardReservedError` (the holder of the first board that was
 * taken) or `FleetBoardGoneError` (an id no runner registered, a selector that matches none).
 */
export const takeReservation = (
  sql: SqlClient.SqlClient,
  request: {
    readonly targets: ReadonlyArray<string>
    readonly token: string
    readonly holder: string
    readonly note: string
    readonly forMs: number
    /** Lease in ms, or undefined for a reservation without heartbeats. */
    readonly leaseMs: number | undefined
    /** Seconds of runner silence after which a board no longer counts as alive for a selector. */
    readonly staleSeconds: number
  },
): Effect.Effect<
  { readonly boards: ReadonlyArray<string>; readonly expiresAt: Date },
  FleetBoardReservedError | FleetBoardGoneError | SqlError.SqlError
> =>
  sql.withTransaction(
    Effect.gen(function* () {
      const registry = yield* sql<{ board_id: string; alive: boolean }>`
        SELECT board_id, (status = 'ready' AND last_seen > now() - ${request.staleSeconds}::float8 * interval '1 second') AS alive
        FROM belay_fleet_boards ORDER BY board_id`
      const known = registry.map((r) => r.board_id)
      const alive = registry.filter((r) => r.alive).map((r) => r.board_id)
      const chosen: string[] = []
      for (const target of request.targets) {
        const candidates = (isSelector(target) ? matchSelector(target, alive) : [target]).filter(
          (id) => !chosen.includes(id),
        )
        if (candidates.length === 0 || (!isSelector(target) && !known.includes(target)))
          return yield* new FleetBoardGoneError({
            boardId: target,
            reason: isSelector(target)
              ? "no free board that answers matches it"
              : "no runner has registered it",
          })
        let taken: string | undefined
        let refusal: FleetBoardReservedError | undefined
        for (const id of candidates) {
          const rows = yield* sql<{ board_id: string }>`
            INSERT INTO belay_fleet_reservations (board_id, token, holder, note, expires_at, lease_until)
            VALUES (${id}, ${request.token}, ${request.holder}, ${request.note},
              now() + ${request.forMs}::float8 * interval '1 millisecond',
              now() + ${request.leaseMs ?? null}::float8 * interval '1 millisecond')
            ON CONFLICT (board_id) DO UPDATE SET token = EXCLUDED.token, holder = EXCLUDED.holder,
              note = EXCLUDED.note, expires_at = EXCLUDED.expires_at, lease_until = EXCLUDED.lease_until,
              at = now()
            WHERE NOT (belay_fleet_reservations.expires_at > now() AND (belay_fleet_reservations.lease_until IS NULL OR belay_fleet_reservations.lease_until > now()))
            RETURNING board_id`
          if (rows.length > 0) {
            taken = id
            break
          }
          if (refusal === undefined) {
            const held = yield* sql<Holding>`
              SELECT holder, ${sql.literal(ISO("expires_at"))} AS expires_at
              FROM belay_fleet_reservations WHERE board_id = ${id}`
            refusal = new FleetBoardReservedError({
              boardId: id,
              holder: held[0]?.holder ?? "someone",
              expiresAt: held[0]?.expires_at ?? "unknown",
            })
          }
        }
        if (taken === undefined)
          return yield* refusal ??
            new FleetBoardReservedError({ boardId: target, holder: "someone", expiresAt: "unknown" })
        chosen.push(taken)
      }
      const expiry = yield* sql<{ expires_ms: number }>`
        SELECT extract(epoch FROM expires_at)::float8 * 1000 AS expires_ms
        FROM belay_fleet_reservations WHERE token = ${request.token} LIMIT 1`
      return { boards: chosen, expiresAt: new Date(expiry[0]?.expires_ms ?? Date.now()) }
    }),
  )

/** Refresh a held reservation's lease; the boards it still holds. */
export const renewLease = (sql: SqlClient.SqlClient, token: string, leaseMs: number) =>
  sql<{ board_id: string }>`
    UPDATE belay_fleet_reservations SET lease_until = now() + ${leaseMs}::float8 * interval '1 millisecond'
    WHERE token = ${token} AND ${sql.literal(ACTIVE)} RETURNING board_id`.pipe(
    Effect.map((rows) => rows.map((r) => r.board_id)),
  )

/** End the reservation `token`; the boards it held (none when it had ended already). */
export const dropReservation = (sql: SqlClient.SqlClient, token: string) =>
  sql<{ board_id: string; active: boolean }>`
    DELETE FROM belay_fleet_reservations WHERE token = ${token}
    RETURNING board_id, (${sql.literal(ACTIVE)}) AS active`.pipe(
    Effect.map((rows) => rows.filter((r) => r.active).map((r) => r.board_id)),
  )

/** End whatever reservation holds `boardId`; its holder, if one held it. */
export const dropBoardReservation = (sql: SqlClient.SqlClient, boardId: string) =>
  sql<{ holder: string; active: boolean }>`
    DELETE FROM belay_fleet_reservations WHERE board_id = ${boardId}
    RETURNING holder, (${sql.literal(ACTIVE)}) AS active`.pipe(
    Effect.map((rows) => rows.find((r) => r.active)?.holder),
  )

/** The SQL columns of a board's active reservation, for the registry's listing (`r` is the table's alias). */
export const reservationColumns = `r.holder AS r_holder, r.note AS r_note,
  extract(epoch FROM r.expires_at)::float8 * 1000 AS r_expires_ms,
  extract(epoch FROM r.lease_until - now())::float8 AS r_lease_s`

/** The join that brings a board's active reservation to the registry's listing. */
export const reservationJoin = `LEFT JOIN belay_fleet_reservations r ON r.board_id = b.board_id
  AND ${activeIn("r.")}`

/** A listing row's reservation columns as the client shows them. */
export const reservationOf = (row: {
  readonly r_holder: string | null
  readonly r_note: string | null
  readonly r_expires_ms: number | null
  readonly r_lease_s: number | null
}): FleetBoardReservation | undefined =>
  row.r_holder === null
    ? undefined
    : {
        holder: row.r_holder,
        note: row.r_note ?? "",
        expiresAt: new Date(row.r_expires_ms ?? 0),
        leaseSeconds: row.r_lease_s ?? undefined,
      }

/**
 * A call's admission on the runner, in one statement (one round trip) when it is admitted: the
 * call's journal row, inserted (`started`) only when no active reservation of another token holds
 * the board. A refusal (rare) takes a second statement to say why: repeated (the journal has its
 * id: an earlier delivery's row) or reserved (the holder and its expiry; no row was written). A
 * reservation that ended between the two is no reason to refuse: the admission is tried again.
 */
export const admitCall = (
  sql: SqlClient.SqlClient,
  call: {
    readonly callId: string
    readonly boardId: string
    readonly run: string
    readonly reservation: string | undefined
  },
): Effect.Effect<void, FleetBoardReservedError | FleetCallRepeatedError | SqlError.SqlError> => {
  const insert = sql<{ inserted: number }>`
    INSERT INTO belay_fleet_calls (call_id, board_id, state, runner_run)
    SELECT ${call.callId}, ${call.boardId}, 'started', ${call.run}
    WHERE NOT EXISTS (
      SELECT 1 FROM belay_fleet_reservations
      WHERE board_id = ${call.boardId} AND ${sql.literal(ACTIVE)} AND token IS DISTINCT FROM ${call.reservation ?? null}::text)
    ON CONFLICT (call_id) DO NOTHING
    RETURNING 1 AS inserted`
  const why = sql<{ state: string | null; holder: string | null; expires_at: string | null }>`
    SELECT (SELECT state FROM belay_fleet_calls WHERE call_id = ${call.callId}) AS state,
      r.holder, ${sql.literal(ISO("r.expires_at"))} AS expires_at
    FROM (SELECT 1) AS one LEFT JOIN belay_fleet_reservations r ON r.board_id = ${call.boardId}
      AND ${sql.literal(activeIn("r."))}
      AND r.token IS DISTINCT FROM ${call.reservation ?? null}::text`
  const attempt: Effect.Effect<
    boolean,
    FleetBoardReservedError | FleetCallRepeatedError | SqlError.SqlError
  > = Effect.flatMap(insert, (rows) =>
    rows.length > 0
      ? Effect.succeed(true)
      : Effect.flatMap(
          why,
          (found): Effect.Effect<boolean, FleetBoardReservedError | FleetCallRepeatedError> => {
            const row = found[0]
            if (row?.state !== null && row?.state !== undefined)
              return Effect.fail(
                new FleetCallRepeatedError({ boardId: call.boardId, callId: call.callId, state: row.state }),
              )
            if (row?.holder !== null && row?.holder !== undefined)
              return Effect.fail(
                new FleetBoardReservedError({
                  boardId: call.boardId,
                  holder: row.holder,
                  expiresAt: row.expires_at ?? "unknown",
                }),
              )
            // Neither: the reservation that refused it has ended since. Admit it again.
            return Effect.succeed(false)
          },
        ),
  )
  // A reservation taken and ended between the two statements, over and over, is refused as one.
  const admit = (
    left: number,
  ): Effect.Effect<void, FleetBoardReservedError | FleetCallRepeatedError | SqlError.SqlError> =>
    Effect.flatMap(attempt, (admitted) =>
      admitted
        ? Effect.void
        : left > 0
          ? admit(left - 1)
          : Effect.fail(
              new FleetBoardReservedError({ boardId: call.boardId, holder: "someone", expiresAt: "unknown" }),
            ),
    )
  return admit(3)
}

/** A duration input in milliseconds. */
export const millisOf = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

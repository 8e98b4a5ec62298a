/**
 * The fleet's typed errors. Those a runner sends back to a client cross the wire, so they are
 * `Schema.TaggedError` classes (encoded and decoded with the board entity's RPCs); those only a
 * client or a runner raises locally are `Data.TaggedError`.
 */
import { Data, Schema } from "effect"

/**
 * The board failed the call: a Python exception, a link that closed or timed out, a session that
 * could not start. `errorTag` is the tag of the error the runner saw (`PythonError`,
 * `ProtocolTimeoutError`, ...), `exceptionType` and `traceback` are set for a Python exception.
 *
 * @example
 * Effect.catchTag("FleetBoardCallError", (e) => Console.error(e.errorTag, e.message))
 * @since 0.1.0
 */
export class FleetBoardCallError extends Schema.TaggedError<FleetBoardCallError>()("FleetBoardCallError", {
  boardId: Schema.String,
  errorTag: Schema.String,
  reason: Schema.String,
  exceptionType: Schema.optional(Schema.String),
  traceback: Schema.optional(Schema.String),
  /** The original error's own fields as JSON, when they are plain data (a file error's path...). */
  detail: Schema.optional(Schema.String),
}) {
  override get message(): string {
    return `board ${this.boardId}: ${this.reason}`
  }
}

/**
 * The board is not there: no runner serves that id, or its runner has it but its link is gone.
 *
 * @example
 * Effect.catchTag("FleetBoardGoneError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class FleetBoardGoneError extends Schema.TaggedError<FleetBoardGoneError>()("FleetBoardGoneError", {
  boardId: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `board ${this.boardId} is gone: ${this.reason}`
  }
}

/**
 * Someone else holds the board's reservation: the call was refused before it touched the board.
 * `holder` is who holds it (as they named themselves), `expiresAt` when it ends at the latest
 * (ISO 8601; it ends sooner when released, or when a heartbeating holder stops heartbeating).
 *
 * @example
 * Effect.catchTag("FleetBoardReservedError", (e) => Console.error(`held by ${e.holder} until ${e.expiresAt}`))
 * @since 0.1.0
 */
export class FleetBoardReservedError extends Schema.TaggedError<FleetBoardReservedError>()(
  "FleetBoardReservedError",
  {
    boardId: Schema.String,
    holder: Schema.String,
    expiresAt: Schema.String,
  },
) {
  override get message(): string {
    return `board ${this.boardId} is reserved by ${this.holder} until ${this.expiresAt}`
  }
}

/**
 * A call reached a runner a second time (the cluster resends a message whose runner it could
 * not reach, and a restarted runner may get it), or after its caller gave up on it: the runner
 * refused to run it again. `state` is what the call journal says of the first attempt:
 * `started` (it began on the board, its outcome is unknown), `finished`, or `abandoned` (the
 * caller gave up before it began: it never ran).
 *
 * @example
 * Effect.catchTag("FleetCallRepeatedError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class FleetCallRepeatedError extends Schema.TaggedError<FleetCallRepeatedError>()(
  "FleetCallRepeatedError",
  {
    boardId: Schema.String,
    callId: Schema.String,
    state: Schema.String,
  },
) {
  override get message(): string {
    return `call ${this.callId} on board ${this.boardId} was delivered again and not run again (first attempt: ${this.state})`
  }
}

/**
 * The runner that holds the board did not answer: it stopped heartbeating, restarted, or the
 * call's bound passed. `callStarted` says whether the call began on the board (from the call
 * journal): `false` means it never ran and never will; `true` means it began and its outcome is
 * unknown (it may have run partly). Never both run twice and reported lost.
 *
 * @example
 * Effect.catchTag("FleetRunnerUnreachableError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class FleetRunnerUnreachableError extends Data.TaggedError("FleetRunnerUnreachableError")<{
  readonly boardId: string
  readonly runner: string
  readonly reason: string
  readonly callStarted: boolean
}> {
  override get message(): string {
    const started = this.callStarted
      ? "the call had started on the board: its outcome is unknown"
      : "the call did not run and will not run"
    return `runner ${this.runner} of board ${this.boardId} did not answer (${this.reason}); ${started}`
  }
}

/**
 * The fleet's database could not be reached or refused us: a wrong `BELAY_FLEET_DATABASE_URL`,
 * a server that is down, a wrong password.
 *
 * @example
 * Effect.catchTag("FleetDatabaseError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class FleetDatabaseError extends Data.TaggedError("FleetDatabaseError")<{
  /** The URL with its password hidden. */
  readonly url: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `the fleet database at ${this.url} is not usable: ${this.reason}`
  }
}

/**
 * A board id that is not `<runner>/<board>`, or a runner or board name with characters other
 * than letters, digits, `.`, `_` and `-`.
 *
 * @example
 * Effect.catchTag("FleetBoardIdError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class FleetBoardIdError extends Data.TaggedError("FleetBoardIdError")<{
  readonly id: string
  readonly reason: string
}> {
  override get message(): string {
    return `not a fleet board id: ${JSON.stringify(this.id)} (${this.reason}); a board id is <runner>/<board>`
  }
}

/**
 * A runner could not start: its socket port is taken, or its address cannot be listened on.
 *
 * @example
 * Effect.catchTag("FleetRunnerStartError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class FleetRunnerStartError extends Data.TaggedError("FleetRunnerStartError")<{
  readonly runner: string
  readonly reason: string
}> {
  override get message(): string {
    return `runner ${this.runner} did not start: ${this.reason}`
  }
}

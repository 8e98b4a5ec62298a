/**
 * Many boards on one host: a pool opens several connections, each with the whole stack of one
 * board (link, protocol engine, its own session manager: what `BelayLive` builds), and runs work
 * on every board at once, within a concurrency bound, with results keyed by board. One board's
 * failure (to open, or in a call) is that board's result; it never fails or interrupts the others.
 *
 * Boards are named by list entries: connection strings (`a0`, `/dev/ttyACM0`, `tcp:host:port`,
 * `virtual?name=b`), each the key of its board as given, and selectors that stand for several:
 * `auto-all` (every serial port that looks like MicroPython) and `usb:...` (every port it
 * matches), whose boards are keyed by their port's path.
 */
import path from "node:path"
import { type DeviceSession, DeviceSessionManager, type SessionCreationError } from "@belay/core"
import type { Task, TaskCallError } from "@belay/executors"
import { BoardLink, type LinkOpenError } from "@belay/transport"
import {
  portMatches,
  type SerialPortInfo,
  SerialPortMatchError,
  selectSerialPort,
} from "@belay/transport/serial"
import { Cause, Context, Data, Duration, Effect, Exit, Layer, Result, Scope } from "effect"
import type { ConfigError } from "effect/Config"
import { type BelayServices, boardStack } from "./Belay.js"
import { type BelayOptions, loadBelayOptions } from "./BelayOptions.js"
import { isPoolSelector, splitBoardList } from "./BoardList.js"
import { NoBoardFoundError, namedFlashDir } from "./Connection.js"
import { type Connection, type ConnectionStringError, parseConnectionString } from "./ConnectionString.js"

/**
 * A list of boards that is not one: empty, or with an empty entry.
 *
 * @example
 * Effect.catchTag("BoardListError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class BoardListError extends Data.TaggedError("BoardListError")<{
  readonly input: string
  readonly reason: string
}> {
  override get message(): string {
    return `bad list of boards ${JSON.stringify(this.input)}: ${this.reason}`
  }
}

/**
 * Two entries of a pool name the same board: the same key twice (`virtual,virtual`), or two keys
 * that reach one board (`a0` and `/dev/ttyACM0`, a port that `auto-all` also found, two kept
 * virtual boards on one flash folder). Give each board one entry (`virtual?name=a,virtual?name=b`
 * for two virtual boards).
 *
 * @example
 * Effect.catchTag("DuplicateBoardError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class DuplicateBoardError extends Data.TaggedError("DuplicateBoardError")<{
  readonly key: string
  /** The other entry that names the same board (the same key, when it is given twice). */
  readonly sameAs: string
  /** What they share: the key itself, a serial port, an address, a flash folder. */
  readonly board: string
}> {
  override get message(): string {
    return this.key === this.sameAs
      ? `the board ${JSON.stringify(this.key)} is listed twice: list each board once (two virtual boards: virtual?name=a,virtual?name=b)`
      : `${JSON.stringify(this.key)} and ${JSON.stringify(this.sameAs)} are the same board (${this.board}): list each board once`
  }
}

/**
 * A board's link did not open within the pool's `openTimeout`.
 *
 * @example
 * if (e.cause instanceof BoardOpenTimeoutError) console.error(e.message)
 * @since 0.1.0
 */
export class BoardOpenTimeoutError extends Data.TaggedError("BoardOpenTimeoutError")<{
  readonly key: string
  readonly timeoutMs: number
}> {
  override get message(): string {
    return `${this.key} did not open within ${this.timeoutMs} ms`
  }
}

/**
 * A board of the pool that did not open (its link, its stack, or its selector that found no
 * port): `cause` is the typed error that stopped it (`LinkOpenError`, `NoBoardFoundError`,
 * `BoardOpenTimeoutError`, ...). It is the result of every call on that board.
 *
 * @example
 * for (const failure of pool.failed) console.error(failure.key, failure.message)
 * @since 0.1.0
 */
export class BoardUnavailableError extends Data.TaggedError("BoardUnavailableError")<{
  readonly key: string
  /** The connection string (or selector) it was opened from. */
  readonly device: string
  readonly cause: unknown
}> {
  override get message(): string {
    const cause = this.cause as { message?: unknown } | undefined
    return `${this.key}: ${typeof cause?.message === "string" ? cause.message : String(this.cause)}`
  }
}

/**
 * The pool did not open: with `requireAll`, some board failed to open; without it, none opened.
 * The boards that did open were closed again.
 *
 * @example
 * Effect.catchTag("BoardPoolOpenError", (e) => Console.error(e.failures.map((f) => f.message).join("\n")))
 * @since 0.1.0
 */
export class BoardPoolOpenError extends Data.TaggedError("BoardPoolOpenError")<{
  readonly failures: ReadonlyArray<BoardUnavailableError>
  /** The keys of the boards that opened (and were closed again). */
  readonly opened: ReadonlyArray<string>
  readonly requireAll: boolean
}> {
  override get message(): string {
    const what = this.requireAll
      ? `${this.failures.length} of ${this.failures.length + this.opened.length} boards did not open (requireAll)`
      : "no board of the pool opened"
    return `${what}: ${this.failures.map((f) => f.message).join("; ")}`
  }
}

/**
 * A pool option out of range: a concurrency that is not a whole number from 1, an open timeout
 * that is not a positive duration.
 *
 * @example
 * Effect.catchTag("BoardPoolOptionError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class BoardPoolOptionError extends Data.TaggedError("BoardPoolOptionError")<{
  readonly option: string
  readonly reason: string
}> {
  override get message(): string {
    return `bad pool option ${this.option}: ${this.reason}`
  }
}

/**
 * Some boards' results were failures, where every board had to succeed (`requireAllBoards`):
 * each failed board's key and cause, and the keys that succeeded.
 *
 * @example
 * Effect.catchTag("BoardPoolMemberError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class BoardPoolMemberError<E = unknown> extends Data.TaggedError("BoardPoolMemberError")<{
  readonly failures: ReadonlyArray<{ readonly key: string; readonly cause: Cause.Cause<E> }>
  readonly succeeded: ReadonlyArray<string>
}> {
  override get message(): string {
    const each = this.failures.map(({ key, cause }) => {
      const error = Cause.findErrorOption(cause)
      const text =
        error._tag === "Some"
          ? String((error.value as { message?: unknown })?.message ?? error.value)
          : Cause.hasInterruptsOnly(cause)
            ? "interrupted"
            : String(Cause.squash(cause))
      return `${key}: ${text}`
    })
    return `${this.failures.length} of ${this.failures.length + this.succeeded.length} boards failed: ${each.join("; ")}`
  }
}

/**
 * One board of a pool, as opened.
 *
 * @example
 * for (const board of pool.boards) console.log(board.key, board.link)
 * @since 0.1.0
 */
export interface PoolBoard {
  /** Its key: the entry as given, or its port's path when a selector (`auto-all`, `usb:`) found it. */
  readonly key: string
  /** The connection string that opens it (a selector's port as `serial:<path>?baud=...`). */
  readonly device: string
  readonly connection: Connection
  /** The entry it came from: its key, or the selector that found it. */
  readonly selector: string
  /** The link as it describes itself once open (`virtual`, `/dev/ttyACM0 @ 115200`, `tcp 127.0.0.1:2323`). */
  readonly link: string
}

/**
 * A board the pool is about to open: what a custom stack (`BoardPoolOptions.layer`) is given.
 *
 * @example
 * const layer = (board: PlannedBoard) => BelayLive({ device: board.device })
 * @since 0.1.0
 */
export type PlannedBoard = Omit<PoolBoard, "link">

/**
 * An entry of a pool's list: a connection string or selector (its own key), or a key and the
 * connection string it stands for (an alias: `{ key: "pico", device: "id:e6614c311b7e6f35" }`).
 *
 * @example
 * const entries: ReadonlyArray<BoardEntry> = ["a0", { key: "sim", device: "virtual" }]
 * @since 0.1.0
 */
export type BoardEntry = string | { readonly key: string; readonly device: string }

/**
 * Options of a pool: its boards, and the options every board's stack takes (those of
 * `BelayLive` but `device`, from `Config` where not given).
 *
 * @example
 * makeBoardPool({ boards: "virtual?name=a,virtual?name=b", concurrency: 2, requireAll: true })
 * @since 0.1.0
 */
export interface BoardPoolOptions extends Partial<Omit<BelayOptions, "device">> {
  /**
   * The boards: a list as one string (`a0,a1,virtual?name=b`, see `splitBoardList`), or the
   * entries one by one (each taken whole: no comma splitting). `auto-all[?baud=...]` and `usb:...`
   * stand for every port they find; `auto` and `id:` for one.
   */
  readonly boards: string | ReadonlyArray<BoardEntry>
  /**
   * Open only if every board opens: otherwise fail with `BoardPoolOpenError` (closing those that
   * opened). Default `false`: the pool opens with the boards that opened, as long as one did,
   * and lists the others in `failed` (and as `BoardUnavailableError` in every call's results).
   */
  readonly requireAll?: boolean
  /** How many boards a call (`each`, `map`, `forEachBoard`) runs on at once, unless it says. Default: all of them. */
  readonly concurrency?: number
  /** Bound on opening one board (its link and stack). Default 60 seconds. */
  readonly openTimeout?: Duration.Input
  /** Where selectors look for serial ports (default `listSerialPorts`); a test gives its own. */
  readonly listPorts?: Effect.Effect<ReadonlyArray<SerialPortInfo>, LinkOpenError>
  /**
   * Each board's stack, instead of the one `BelayLive` builds from these options. The options
   * still say which entries are the same board (their virtual folder, keeping).
   */
  readonly layer?: (board: PlannedBoard) => Layer.Layer<BelayServices, unknown>
  /**
   * Build every board's stack in this memo map, so that an effect run on a board that provides
   * the same layer value again (`Effect.provide(layer)` with `Layer.CurrentMemoMap` set to it)
   * shares the board's stack instead of opening a second connection.
   */
  readonly memoMap?: Layer.MemoMap
}

/**
 * What a call on every board gives: each board's outcome, keyed by board, in the pool's order.
 * A failure is that board's typed error (`BoardUnavailableError` for a board that did not open).
 *
 * @example
 * for (const [key, exit] of results) if (Exit.isSuccess(exit)) console.log(key, exit.value)
 * @since 0.1.0
 */
export type BoardResults<A, E> = ReadonlyMap<string, Exit.Exit<A, E>>

/**
 * Options of one call on every board.
 *
 * @example
 * pool.each((s) => s.device.eval("1"), { concurrency: 4 })
 * @since 0.1.0
 */
export interface PoolCallOptions {
  /** How many boards at once (a whole number from 1). Default: the pool's `concurrency`. */
  readonly concurrency?: number
}

/**
 * A pool of boards.
 *
 * @example
 * const pool = yield* BoardPool
 * const results = yield* pool.each((session, board) => session.device.eval("sum(range(10))"))
 * @since 0.1.0
 */
export interface BoardPoolShape {
  /** Every board's key, in the pool's order, opened or not. */
  readonly keys: ReadonlyArray<string>
  /** The boards that opened. */
  readonly boards: ReadonlyArray<PoolBoard>
  /** The boards that did not open, each with why. */
  readonly failed: ReadonlyArray<BoardUnavailableError>
  /** A board's services (link, protocol engine, session manager), when it opened. */
  readonly services: (key: string) => Context.Context<BelayServices> | undefined
  /**
   * Run `f` on every board, with that board's services (`DeviceCommunication`,
   * `DeviceSessionManager`, ...) provided, at most `concurrency` at once. A board's failure,
   * defect or interruption is its result; interrupting the call interrupts every board's work.
   */
  readonly forEachBoard: <A, E, R>(
    f: (board: PoolBoard) => Effect.Effect<A, E, R>,
    options?: PoolCallOptions,
  ) => Effect.Effect<
    BoardResults<A, E | BoardUnavailableError>,
    BoardPoolOptionError,
    Exclude<R, BelayServices>
  >
  /**
   * Run `f` on every board in a new session of that board's manager, which ends (cleaning up)
   * when `f` does: with its result, its failure, or an interruption of the call.
   */
  readonly each: <A, E, R>(
    f: (session: DeviceSession, board: PoolBoard) => Effect.Effect<A, E, R>,
    options?: PoolCallOptions,
  ) => Effect.Effect<
    BoardResults<A, E | SessionCreationError | BoardUnavailableError>,
    BoardPoolOptionError,
    Exclude<R, BelayServices>
  >
  /** Call `task` on every board (as `each` does), with the same arguments or each board's own. */
  readonly map: <Args extends ReadonlyArray<unknown>, A>(
    task: Task<Args, A>,
    args: Args | ((board: PoolBoard) => Args),
    options?: PoolCallOptions,
  ) => Effect.Effect<
    BoardResults<A, TaskCallError | SessionCreationError | BoardUnavailableError>,
    BoardPoolOptionError
  >
}

/**
 * Everything opening a pool can fail with.
 *
 * @example
 * const open: Effect.Effect<BoardPoolShape, BoardPoolError, Scope.Scope> = makeBoardPool({ boards: "a0,a1" })
 * @since 0.1.0
 */
export type BoardPoolError =
  | BoardPoolOpenError
  | BoardListError
  | DuplicateBoardError
  | ConnectionStringError
  | BoardPoolOptionError
  | ConfigError

/** An entry, parsed: one connection, or `auto-all`. */
type Entry =
  | { readonly _tag: "One"; readonly key: string; readonly device: string; readonly connection: Connection }
  | { readonly _tag: "All"; readonly key: string; readonly device: string; readonly connection: Connection }

/** A board to open, or why an entry gave none. */
type Planned = PlannedBoard | BoardUnavailableError

const DEFAULT_OPEN_TIMEOUT = Duration.seconds(60)

const entriesOf = (boards: BoardPoolOptions["boards"]): Array<{ key: string; device: string }> =>
  (typeof boards === "string" ? splitBoardList(boards) : boards).map((entry) =>
    typeof entry === "string"
      ? { key: entry.trim(), device: entry.trim() }
      : { key: entry.key.trim(), device: entry.device.trim() },
  )

/** The entries parsed: every one a connection string or `auto-all`, every key given once. */
const parseEntries = (boards: BoardPoolOptions["boards"]) =>
  Effect.gen(function* () {
    const input =
      typeof boards === "string" ? boards : boards.map((e) => (typeof e === "string" ? e : e.key)).join(",")
    const given = entriesOf(boards)
    if (given.length === 0) return yield* new BoardListError({ input, reason: "it names no board" })
    const entries: Array<Entry> = []
    const seen = new Set<string>()
    for (const { key, device } of given) {
      if (key === "" || device === "")
        return yield* new BoardListError({
          input,
          reason: "an entry is empty (two commas in a row, or one at an end)",
        })
      if (seen.has(key)) return yield* new DuplicateBoardError({ key, sameAs: key, board: key })
      seen.add(key)
      if (isPoolSelector(device)) {
        // `auto-all?baud=...`: `auto`'s options.
        const connection = yield* Effect.fromResult(
          parseConnectionString(`auto${device.slice("auto-all".length)}`),
        )
        entries.push({ _tag: "All", key, device, connection })
      } else
        entries.push({
          _tag: "One",
          key,
          device,
          connection: yield* Effect.fromResult(parseConnectionString(device)),
        })
    }
    return entries
  })

/** A found serial port as a board: its connection string keeps the selector's serial options. */
const serialBoard = (
  port: SerialPortInfo,
  settings: Extract<Connection, { _tag: "FindSerial" }>,
  key: string,
  selector: string,
): PlannedBoard => {
  const query = [
    `baud=${settings.baudRate}`,
    ...(settings.dtr !== undefined ? [`dtr=${settings.dtr}`] : []),
    ...(settings.rts !== undefined ? [`rts=${settings.rts}`] : []),
  ].join("&")
  return {
    key,
    device: `serial:${port.path}?${query}`,
    selector,
    connection: {
      _tag: "Serial",
      path: port.path,
      baudRate: settings.baudRate,
      dtr: settings.dtr,
      rts: settings.rts,
    },
  }
}

/**
 * The boards the entries name: a connection as it is; `auto`, `id:`, `usb:` and `auto-all`
 * resolved against one listing of the serial ports (`usb:` and `auto-all` to every port found,
 * keyed by path). An entry that finds no port is a `BoardUnavailableError` of its own.
 */
const planBoards = (
  entries: ReadonlyArray<Entry>,
  listPorts: Effect.Effect<ReadonlyArray<SerialPortInfo>, LinkOpenError>,
) =>
  Effect.gen(function* () {
    const needsPorts = entries.some((e) => e.connection._tag === "FindSerial")
    const listed = needsPorts ? yield* Effect.result(listPorts) : Result.succeed([])
    const planned: Array<Planned> = []
    for (const entry of entries) {
      const { key, device, connection } = entry
      if (connection._tag !== "FindSerial") {
        planned.push({ key, device, selector: key, connection })
        continue
      }
      if (Result.isFailure(listed)) {
        planned.push(new BoardUnavailableError({ key, device, cause: listed.failure }))
        continue
      }
      const ports = listed.success
      const unavailable = (cause: unknown) => new BoardUnavailableError({ key, device, cause })
      if (entry._tag === "All") {
        const found = ports.filter((p) => p.likelyMicroPython)
        if (found.length === 0)
          planned.push(unavailable(new NoBoardFoundError({ serialNumber: undefined, ports })))
        else for (const port of found) planned.push(serialBoard(port, connection, port.path, key))
      } else if (connection.match === undefined) {
        const port = ports.find((p) => p.likelyMicroPython)
        planned.push(
          port === undefined
            ? unavailable(new NoBoardFoundError({ serialNumber: undefined, ports }))
            : serialBoard(port, connection, key, key),
        )
      } else if (/^usb:/i.test(device)) {
        // Every port it matches (ConnectionString checked its fields).
        const match = connection.match
        const matching = ports.filter((p) => portMatches(p, match))
        if (matching.length === 0)
          planned.push(unavailable(new SerialPortMatchError({ match, reason: "none", ports, matching })))
        else for (const port of matching) planned.push(serialBoard(port, connection, port.path, key))
      } else {
        const port = selectSerialPort(ports, connection.match)
        planned.push(
          Result.isSuccess(port)
            ? serialBoard(port.success, connection, key, key)
            : unavailable(port.failure),
        )
      }
    }
    return planned
  })

/**
 * What a board is, to tell two entries that reach it apart: its serial port, its network address,
 * a kept emulator's firmware, a virtual board's flash folder (or, kept, its being the one in
 * memory). Undefined for a board of its own whatever else is listed (a process, an in-process
 * virtual board in memory).
 */
const boardIdentity = (connection: Connection, options: Partial<BelayOptions>): string | undefined => {
  switch (connection._tag) {
    case "Serial":
      return `serial port ${connection.path}`
    case "Tcp":
    case "Rfc2217":
      return `address ${connection.host}:${connection.port}`
    case "WebRepl":
      return `WebREPL ${connection.url}`
    case "Fleet":
      return `fleet board ${connection.boardId}`
    case "Qemu":
      return (connection.keep ?? options.keepQemu ?? false)
        ? `kept micro:bit ${connection.firmwarePath ?? "(default firmware)"}`
        : undefined
    case "Virtual": {
      const dir = connection.flashDir ?? namedFlashDir(options.virtualDir, connection.name)
      const flash = dir === undefined ? undefined : path.resolve(dir)
      if (connection.keep ?? options.keepVirtual ?? false)
        return `kept virtual board ${flash === undefined ? "in memory" : `on ${flash}`}`
      return flash === undefined ? undefined : `virtual board's flash folder ${flash}`
    }
    default:
      return undefined
  }
}

const refuseDuplicates = (planned: ReadonlyArray<Planned>, options: Partial<BelayOptions>) =>
  Effect.gen(function* () {
    const keys = new Map<string, string>()
    const boards = new Map<string, string>()
    for (const board of planned) {
      const sameKey = keys.get(board.key)
      if (sameKey !== undefined)
        return yield* new DuplicateBoardError({ key: board.key, sameAs: sameKey, board: board.key })
      if (board instanceof BoardUnavailableError) {
        keys.set(board.key, board.device)
        continue
      }
      keys.set(board.key, board.selector)
      const identity = boardIdentity(board.connection, options)
      if (identity === undefined) continue
      const other = boards.get(identity)
      if (other !== undefined)
        return yield* new DuplicateBoardError({ key: board.key, sameAs: other, board: identity })
      boards.set(identity, board.key)
    }
  })

const checkConcurrency = (value: number, option: string) =>
  Number.isInteger(value) && value >= 1
    ? Effect.succeed(value)
    : Effect.fail(new BoardPoolOptionError({ option, reason: `a whole number from 1, got ${value}` }))

/** An opened board: its services, in a scope of its own. */
interface Opened {
  readonly board: PoolBoard
  readonly context: Context.Context<BelayServices>
}

/** The cause's typed error, else the defect: what a board's open failed with. */
const errorOf = (cause: Cause.Cause<unknown>): unknown => {
  const error = Cause.findErrorOption(cause)
  return error._tag === "Some" ? error.value : Cause.squash(cause)
}

/**
 * Open a pool of boards for the life of the scope: closing the scope closes every board (its
 * sessions ended, then its link closed), all at once. Boards open concurrently, each bounded by
 * `openTimeout`; every log line of a board (opening, and work run on it) carries the annotation
 * `board` with its key.
 *
 * @example
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const pool = yield* makeBoardPool({ boards: "virtual?name=a,virtual?name=b" })
 *     return yield* pool.each((session) => session.device.eval("1 + 1"))
 *   }),
 * )
 * @since 0.1.0
 */
export const makeBoardPool = (
  options: BoardPoolOptions,
): Effect.Effect<BoardPoolShape, BoardPoolError, Scope.Scope> =>
  Effect.gen(function* () {
    const {
      boards: _,
      requireAll = false,
      concurrency,
      openTimeout,
      listPorts,
      layer,
      memoMap,
      ...overrides
    } = options
    const timeoutOption = Duration.fromInput(openTimeout ?? DEFAULT_OPEN_TIMEOUT)
    if (timeoutOption._tag === "None" || !(Duration.toMillis(timeoutOption.value) > 0))
      return yield* new BoardPoolOptionError({ option: "openTimeout", reason: "a positive duration" })
    const timeout = timeoutOption.value
    const timeoutMs = Duration.toMillis(timeout)
    const entries = yield* parseEntries(options.boards)
    const belayOptions = yield* loadBelayOptions({ ...overrides, device: "virtual" })
    const planned = yield* planBoards(
      entries,
      listPorts ??
        Effect.flatMap(
          Effect.promise(() => import("@belay/transport/serial")),
          (m) => m.listSerialPorts(),
        ),
    )
    yield* refuseDuplicates(planned, belayOptions)
    const defaultConcurrency = yield* checkConcurrency(
      concurrency ?? Math.max(1, planned.length),
      "concurrency",
    )

    // Every board in a scope of its own, closed all at once when the pool's scope closes.
    const boardsScope = yield* Scope.fork(yield* Effect.scope, "parallel")
    const stackOf = layer ?? ((board: PlannedBoard) => boardStack(board.connection, belayOptions))
    const open = (board: PlannedBoard): Effect.Effect<Opened | BoardUnavailableError> =>
      Effect.gen(function* () {
        const scope = yield* Scope.fork(boardsScope, "sequential")
        const stack = stackOf(board)
        const build =
          memoMap === undefined
            ? Layer.buildWithScope(stack, scope)
            : Layer.buildWithMemoMap(stack, memoMap, scope)
        const exit = yield* build.pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => Effect.fail(new BoardOpenTimeoutError({ key: board.key, timeoutMs })),
          }),
          Effect.exit,
        )
        if (Exit.isSuccess(exit)) {
          const context = exit.value as Context.Context<BelayServices>
          return { board: { ...board, link: Context.get(context, BoardLink).description }, context }
        }
        yield* Scope.close(scope, exit)
        // The pool's own interruption is not one board's failure.
        if (Cause.hasInterruptsOnly(exit.cause))
          return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
        return new BoardUnavailableError({ key: board.key, device: board.device, cause: errorOf(exit.cause) })
      }).pipe(Effect.annotateLogs("board", board.key))
    const outcomes = yield* Effect.forEach(
      planned,
      (board): Effect.Effect<Opened | BoardUnavailableError> =>
        board instanceof BoardUnavailableError ? Effect.succeed(board) : open(board),
      { concurrency: "unbounded" },
    )
    const opened = outcomes.filter((o): o is Opened => !(o instanceof BoardUnavailableError))
    const failed = outcomes.filter((o): o is BoardUnavailableError => o instanceof BoardUnavailableError)
    if (opened.length === 0 || (requireAll && failed.length > 0)) {
      yield* Scope.close(boardsScope, Exit.void)
      return yield* new BoardPoolOpenError({
        failures: failed,
        opened: opened.map((o) => o.board.key),
        requireAll,
      })
    }

    const keys = outcomes.map((o) => (o instanceof BoardUnavailableError ? o.key : o.board.key))
    const byKey = new Map(opened.map((o) => [o.board.key, o]))
    const failedByKey = new Map(failed.map((f) => [f.key, f]))

    const forEachBoard = <A, E, R>(
      f: (board: PoolBoard) => Effect.Effect<A, E, R>,
      callOptions: PoolCallOptions = {},
    ) =>
      Effect.flatMap(
        checkConcurrency(callOptions.concurrency ?? defaultConcurrency, "concurrency"),
        (bound) =>
          Effect.map(
            Effect.forEach(
              keys,
              (
                key,
              ): Effect.Effect<
                readonly [string, Exit.Exit<A, E | BoardUnavailableError>],
                never,
                Exclude<R, BelayServices>
              > => {
                const board = byKey.get(key)
                if (board === undefined)
                  return Effect.succeed([
                    key,
                    Exit.fail(failedByKey.get(key) as BoardUnavailableError),
                  ] as const)
                return f(board.board).pipe(
                  Effect.provideContext(board.context),
                  Effect.annotateLogs("board", key),
                  Effect.exit,
                  Effect.map((exit) => [key, exit] as const),
                )
              },
              { concurrency: bound },
            ),
            (pairs): BoardResults<A, E | BoardUnavailableError> => new Map(pairs),
          ),
      )

    const each = <A, E, R>(
      f: (session: DeviceSession, board: PoolBoard) => Effect.Effect<A, E, R>,
      callOptions?: PoolCallOptions,
    ) =>
      forEachBoard(
        (board) =>
          Effect.flatMap(DeviceSessionManager, (manager) =>
            manager.executeInNewSession((session) => f(session, board)),
          ),
        callOptions,
      )

    const map = <Args extends ReadonlyArray<unknown>, A>(
      task: Task<Args, A>,
      args: Args | ((board: PoolBoard) => Args),
      callOptions?: PoolCallOptions,
    ) =>
      each(
        (session, board) => task.call(session, ...(typeof args === "function" ? args(board) : args)),
        callOptions,
      )

    return {
      keys,
      boards: opened.map((o) => o.board),
      failed,
      services: (key: string) => byKey.get(key)?.context,
      forEachBoard,
      each,
      map,
    } satisfies BoardPoolShape
  })

/**
 * The pool as a service.
 *
 * @example
 * const program = Effect.gen(function* () {
 *   const pool = yield* BoardPool
 *   return yield* pool.each((session) => session.device.eval("1 + 1"), { concurrency: 4 })
 * })
 * Effect.runPromise(program.pipe(Effect.provide(BoardPool.layer({ boards: "a0,a1,a2" }))))
 * @since 0.1.0
 */
export class BoardPool extends Context.Service<BoardPool, BoardPoolShape>()("@belay/extensions/BoardPool") {
  /** Open the pool for the life of the layer (see `makeBoardPool`). */
  static layer(options: BoardPoolOptions): Layer.Layer<BoardPool, BoardPoolError> {
    return Layer.effect(BoardPool, makeBoardPool(options))
  }
}

/**
 * Every board's value, where every board had to succeed; otherwise `BoardPoolMemberError`
 * listing each failed board's cause (and the boards that succeeded).
 *
 * @example
 * const sums = yield* pool.each((s) => s.device.eval("1 + 1")).pipe(Effect.flatMap(requireAllBoards))
 * @since 0.1.0
 */
export const requireAllBoards = <A, E>(
  results: BoardResults<A, E>,
): Effect.Effect<ReadonlyMap<string, A>, BoardPoolMemberError<E>> => {
  const values = new Map<string, A>()
  const failures: Array<{ key: string; cause: Cause.Cause<E> }> = []
  for (const [key, exit] of results) {
    if (Exit.isSuccess(exit)) values.set(key, exit.value)
    else failures.push({ key, cause: exit.cause })
  }
  return failures.length === 0
    ? Effect.succeed(values)
    : Effect.fail(new BoardPoolMemberError({ failures, succeeded: [...values.keys()] }))
}

/**
 * A pool of boards for code that does not use Effect: `connectPool` opens it, `each` and `map`
 * run on every board and resolve with each board's outcome, `board(key)` is one board as a
 * `Belay`.
 */
import type { Task } from "@belay/executors"
import { Effect, Exit, Layer, type LogLevel, ManagedRuntime, References } from "effect"
import {
  type BoardEntry,
  BoardPool,
  type BoardPoolOptions,
  type BoardPoolShape,
  type BoardResults,
  type PoolBoard,
  type PoolCallOptions,
} from "./BoardPool.js"
import { Belay, BelayError, type BelaySession, logLevelFor, toError } from "./Facade.js"

/**
 * One board's outcome of a pool call: its value, or its failure as a `BelayError` (`tag`
 * `BoardUnavailableError` for a board that did not open).
 *
 * @example
 * for (const [key, outcome] of results) console.log(key, outcome.ok ? outcome.value : outcome.error.message)
 * @since 0.1.0
 */
export type BoardOutcome<A> =
  | { readonly ok: true; readonly value: A }
  | { readonly ok: false; readonly error: BelayError }

/**
 * Options of `connectPool`: those of a `BoardPool` (but the boards, given first) and a log level.
 *
 * @example
 * await connectPool("a0,a1", { concurrency: 1, requireAll: true })
 * @since 0.1.0
 */
export interface ConnectPoolOptions
  extends Omit<BoardPoolOptions, "boards" | "layer" | "memoMap" | "listPorts"> {
  /** As `connect`'s: default `BELAY_LOG_LEVEL`, else `None`. */
  readonly logLevel?: LogLevel.LogLevel
}

const outcomes = <A, E>(results: BoardResults<A, E>): Map<string, BoardOutcome<A>> =>
  new Map(
    [...results].map(([key, exit]): [string, BoardOutcome<A>] => {
      if (Exit.isSuccess(exit)) return [key, { ok: true, value: exit.value }]
      const error = toError(exit.cause)
      return [
        key,
        {
          ok: false,
          error: error instanceof BelayError ? error : new BelayError("Defect", String(error), error),
        },
      ]
    }),
  )

/**
 * Several boards for code that does not use Effect. Close it (`await using`, or `close()`) to end
 * every board's sessions and close every link.
 *
 * @example
 * const pool = await connectPool("virtual?name=a,virtual?name=b")
 * const results = await pool.each((s) => s.eval("1 + 1"))
 * for (const [key, r] of results) console.log(key, r.ok ? r.value : r.error.message)
 * await pool.close()
 * @since 0.1.0
 */
export class BelayPool {
  private closed = false
  private readonly belays = new Map<string, Belay>()

  constructor(
    readonly runtime: ManagedRuntime.ManagedRuntime<BoardPool, unknown>,
    readonly pool: BoardPoolShape,
    private readonly logLevel: LogLevel.LogLevel,
  ) {}

  /** Every board's key, opened or not, in the pool's order. */
  get keys(): ReadonlyArray<string> {
    return this.pool.keys
  }

  /** The boards that opened, with their connection. */
  get boards(): ReadonlyArray<PoolBoard> {
    return this.pool.boards
  }

  /** The boards that did not open: key and why. */
  get failed(): ReadonlyArray<{ readonly key: string; readonly error: BelayError }> {
    return this.pool.failed.map((f) => ({ key: f.key, error: new BelayError(f._tag, f.message, f) }))
  }

  /** Run any effect that uses the pool; typed failures become `BelayError`s. */
  async run<A, E>(effect: Effect.Effect<A, E, BoardPool>): Promise<A> {
    if (this.closed) throw new BelayError("BelayClosed", "this pool is closed", undefined)
    const exit = await this.runtime.runPromiseExit(effect)
    if (Exit.isSuccess(exit)) return exit.value
    throw toError(exit.cause)
  }

  /**
   * One board of the pool as a `Belay` (the same connection and session manager: closing it only
   * retires this handle; the pool closes the board). Throws for a key not in the pool or a board
   * that did not open.
   */
  board(key: string): Belay {
    const known = this.belays.get(key)
    if (known !== undefined) return known
    const services = this.pool.services(key)
    if (services === undefined) {
      const failed = this.pool.failed.find((f) => f.key === key)
      throw failed !== undefined
        ? new BelayError(failed._tag, failed.message, failed)
        : new BelayError(
            "UsageError",
            `no board ${JSON.stringify(key)} in the pool (${this.keys.join(", ")})`,
            undefined,
          )
    }
    const belay = new Belay(
      ManagedRuntime.make(
        Layer.succeedContext(services).pipe(
          Layer.merge(Layer.succeed(References.MinimumLogLevel, this.logLevel)),
        ),
      ),
    )
    this.belays.set(key, belay)
    return belay
  }

  /**
   * Run `body` on every board in a new session of its own (as `Belay.session`), at most
   * `concurrency` boards at once; resolves with each board's outcome, keyed by board. One board's
   * failure never stops the others.
   */
  async each<A>(
    body: (session: BelaySession, board: PoolBoard) => Promise<A>,
    options: PoolCallOptions = {},
  ): Promise<Map<string, BoardOutcome<A>>> {
    const results = await this.run(
      Effect.flatMap(BoardPool, (pool) =>
        pool.forEachBoard(
          (board) =>
            Effect.tryPromise({
              try: () => this.board(board.key).session((session) => body(session, board)),
              catch: (error) => error,
            }),
          options,
        ),
      ),
    )
    return outcomes(results)
  }

  /** Call a typed board function on every board, with the same arguments or each board's own. */
  async map<Args extends ReadonlyArray<unknown>, A>(
    task: Task<Args, A>,
    args: Args | ((board: PoolBoard) => Args),
    options: PoolCallOptions = {},
  ): Promise<Map<string, BoardOutcome<A>>> {
    return outcomes(await this.run(Effect.flatMap(BoardPool, (pool) => pool.map(task, args, options))))
  }

  /** End every board's sessions (cleaning up) and close every link. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const belay of this.belays.values()) await belay.close()
    await this.runtime.dispose()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/**
 * Open several boards: a list (`"a0,a1,virtual?name=b"`, `"auto-all"`) or its entries. Resolves
 * once every board opened or failed to: with the pool (the failed ones in `failed`), or, when none
 * opened (or, with `requireAll`, one did not), rejects with a `BelayError` (`BoardPoolOpenError`).
 * Two virtual boards are `virtual?name=a,virtual?name=b`: the same key twice is refused.
 *
 * @example
 * await using pool = await connectPool(["virtual?name=a", "virtual?name=b"], { concurrency: 2 })
 * const sums = await pool.each((s) => s.eval("sum(range(10))"))
 * @since 0.1.0
 */
export const connectPool = async (
  boards: string | ReadonlyArray<BoardEntry>,
  options: ConnectPoolOptions = {},
): Promise<BelayPool> => {
  const { logLevel, ...poolOptions } = options
  const level = logLevelFor(logLevel !== undefined ? { logLevel } : {})
  const runtime: ManagedRuntime.ManagedRuntime<BoardPool, unknown> = ManagedRuntime.make(
    BoardPool.layer({ ...poolOptions, boards }).pipe(
      Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, level)),
    ),
  )
  const exit = await runtime.runPromiseExit(Effect.service(BoardPool))
  if (Exit.isFailure(exit)) {
    await runtime.dispose()
    throw toError(exit.cause)
  }
  return new BelayPool(runtime, exit.value, level)
}

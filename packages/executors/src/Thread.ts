/**
 * Board threads: a function run in a `_thread` on the board for the lifetime of a session, with a
 * stop flag, its end or exception recorded on the board. The board side is `python/thread.py`;
 * the start and ask lines (`_belay_ts(...)`, `_belay_tx(...)`) are built here per call from the
 * thread id, the function and its arguments, one line each.
 */
import { CapabilityMissingError, type DeviceSession, SessionError } from "@belay/core"
import { parsePythonLiteral, toPythonLiteral } from "@belay/transport"
import { Clock, Duration, Effect, Result, Schema } from "effect"
import { type ArgsCodec, type ArgsInput, type CallArgs, checkIdentifier, makeArgsCodec } from "./Codec.js"
import { type DeployUnit, frameUnit, makeUnit } from "./Deployment.js"
import { runOnBoard } from "./Exchange.js"
import { executorContext } from "./ExecutorContext.js"
import {
  FramingError,
  TaskTimeoutError,
  type ThreadError,
  ThreadFailedError,
  type ThreadStartError,
  ThreadStopTimeoutError,
} from "./errors.js"
import { excerpt, RESULT_MARK_PY } from "./Framing.js"
import { asSource, PythonSource } from "./PythonSource.js"
import { THREAD } from "./python/embedded.js"
import { type Binding, Declaration, rebind } from "./Task.js"

/**
 * The board side of threads (`python/thread.py`, minified at build time), deployed once per board
 * (and again after a reset) like any unit. `_belay_t` maps a thread id to `[stop flag, state,
 * error]`; `_belay_ts(id, f, args, kwargs)` starts `f(stopping, *args, **kwargs)` in a thread;
 * `_belay_tx(id, stop, ticks)` optionally sets the stop flag, waits up to ticks * 10 ms for the
 * thread to end, and returns `(state, error)`: 0 running, 1 finished, 2 failed (error = (type,
 * message, traceback)), 3 unknown id.
 */
export const THREAD_RUNTIME = PythonSource.of(THREAD.code)

const runtimeUnit: DeployUnit = makeUnit("_belay_thread", THREAD_RUNTIME)
const askUnits: ReadonlyArray<DeployUnit> = [frameUnit, runtimeUnit]

/**
 * Where a board thread is.
 *
 * @example
 * const status = yield* thread.status
 * if (status._tag === "Failed") yield* Console.error(status.error.pythonMessage)
 *
 * @since 0.1.0
 */
export type ThreadStatus =
  | { readonly _tag: "Running" }
  | { readonly _tag: "Finished" }
  | { readonly _tag: "Failed"; readonly error: ThreadFailedError }
  /** The board does not know the thread (it reset, or the end was already reported). */
  | { readonly _tag: "Lost" }

/**
 * A function running in a board thread, started by {@link ThreadTask.start}. The session stops
 * it when it ends (stop flag, then a bounded wait); an exception in the thread is reported by
 * `status`, `join` and `stop`, and at session end as a cleanup failure.
 *
 * @example
 * const thread = yield* blink.start(session, 200)
 * yield* Effect.sleep("1 second")
 * yield* thread.stop
 *
 * @since 0.1.0
 */
export interface BoardThread {
  /** Unique on the board: `<sessionId>:<name>-<n>`. */
  readonly threadId: string
  /** The task name (`module.name` for a module member). */
  readonly name: string
  /** Ask the board, without waiting. */
  readonly status: Effect.Effect<ThreadStatus, ThreadError>
  /** Wait until the thread ends; fails with `ThreadFailedError` when it raised. */
  readonly join: (options?: { readonly timeout?: Duration.Input }) => Effect.Effect<void, ThreadError>
  /** Set its stop flag and wait (bounded) until it ends; fails when it raised or does not stop. */
  readonly stop: Effect.Effect<void, ThreadError>
}

/**
 * What declaring a thread task takes.
 *
 * @example
 * ThreadTask.make({ name: "blink", source, args: [Schema.Number], stopTimeout: "2 seconds" })
 *
 * @since 0.1.0
 */
export interface ThreadTaskOptions<Args extends ArgsInput | undefined> {
  /**
   * The Python function's name. Its first parameter is the stop check Belay provides: a function
   * returning True once the thread should stop. The arguments follow it.
   */
  readonly name: string
  readonly source: PythonSource | string
  readonly args?: Args
  /** How long stopping waits for the thread to notice its flag. Default 5 s. */
  readonly stopTimeout?: Duration.Input
  /** Bound on the exchange that starts the thread. */
  readonly timeout?: Duration.Input
}

const StatusReply = Schema.Tuple([
  Schema.Number,
  Schema.NullOr(Schema.Tuple([Schema.String, Schema.String, Schema.String])),
])

/**
 * A Python function to run in a board thread (`_thread`), registered with the session's
 * resource tracker. Boards without `_thread` get `CapabilityMissingError` before anything is
 * sent.
 *
 * @example
 * const blink = ThreadTask.make({
 *   name: "blink",
 *   source: py`
 *     def blink(stopping, period_ms):
 *         import time
 *         while not stopping():
 *             led.toggle()
 *             time.sleep_ms(period_ms)
 *   `,
 *   args: [Schema.Number],
 * })
 * const thread = yield* blink.start(session, 250) // stopped when the session ends
 *
 * @since 0.1.0
 */
export class ThreadTask<Args extends ReadonlyArray<unknown>> extends Declaration {
  readonly _tag = "ThreadTask" as const

  constructor(
    name: string,
    source: PythonSource,
    argsCodec: ArgsCodec,
    timeout: Duration.Input | undefined,
    binding: Binding,
    readonly stopTimeout: Duration.Duration,
  ) {
    super(name, source, argsCodec, timeout, binding)
  }

  /** Declare a thread task. Throws `DefinitionError` when `name` is not a Python identifier. */
  static make<const Args extends ArgsInput | undefined = undefined>(
    options: ThreadTaskOptions<Args>,
  ): ThreadTask<CallArgs<Args>> {
    checkIdentifier(options.name, "a thread task name")
    const source = asSource(options.source)
    return new ThreadTask(
      options.name,
      source,
      makeArgsCodec(options.args),
      options.timeout,
      { units: [frameUnit, makeUnit(options.name, source)], prepare: undefined, label: options.name },
      Duration.fromInputUnsafe(options.stopTimeout ?? Duration.seconds(5)),
    )
  }

  /** Start the function in a board thread, for the lifetime of `session` at most. */
  start(session: DeviceSession, ...args: Args): Effect.Effect<BoardThread, ThreadStartError> {
    return Effect.gen({ self: this }, function* () {
      const label = this.binding.label
      const capabilities = session.deviceContext.capabilities
      if (!capabilities.threads) {
        return yield* new CapabilityMissingError({
          operation: `starting board thread ${label}`,
          missing:
            capabilities.flavor === "circuitpython"
              ? "_thread (CircuitPython has no threads: use a task, or asyncio in one)"
              : "_thread",
        })
      }
      const { text: argsText, units } = yield* this.encodeArgs(session, args)
      yield* this.prepare(session)
      const local = yield* executorContext(session).allocateThreadId(this.name)
      const threadId = `${session.sessionId}:${local}`
      const [positional, keywords] = this.argsCodec.positional
        ? [argsText === "" ? "()" : `(${argsText},)`, "{}"]
        : ["()", `dict(${argsText})`]
      const handle = makeHandle(session, label, threadId, this.stopTimeout)
      // Registered before the start exchange: when its reply is lost after the board started
      // the thread, the session still stops it. A thread that never started is "Lost" to the
      // stop, which is no error.
      yield* executorContext(session)
        .registerBackgroundThread(threadId, label, handle.stopAtSessionEnd)
        .pipe(
          Effect.catchTag("ResourceCleanupError", (error) =>
            Effect.fail(
              new SessionError({
                sessionId: session.sessionId,
                reason: `the session ended before thread ${threadId} started`,
                recoverable: true,
                cause: error,
              }),
            ),
          ),
        )
      const started = yield* runOnBoard(session, {
        label,
        units: [runtimeUnit, ...units],
        body: (nonce) => [
          `_belay_ts(${toPythonLiteral(threadId)},${this.name},${positional},${keywords})`,
          `_belay_o('${RESULT_MARK_PY}${nonce}',1)`,
        ],
        timeout: this.timeout,
      }).pipe(
        // The board answered with an exception: the thread did not start (or, raised after its
        // start, is stopped now). Settle it now rather than at session end.
        Effect.tapError((error) =>
          error._tag === "PythonError" ? Effect.ignore(handle.stopAtSessionEnd) : Effect.void,
        ),
      )
      if (started.results.length !== 1 || started.results[0] !== "1" || started.ended) {
        return yield* new FramingError({
          task: label,
          reason: "the board did not confirm the thread's start",
          received: excerpt(
            started.results.length === 0 ? started.output.slice(-120) : started.results.join(" "),
          ),
        })
      }
      yield* Effect.logInfo("Board thread started").pipe(
        Effect.annotateLogs({ threadId, task: label, sessionId: session.sessionId }),
      )
      return handle.thread
    }).pipe(
      Effect.withSpan("belay.thread.start", {
        attributes: { task: this.binding.label, sessionId: session.sessionId },
      }),
    )
  }

  /** The same thread task bound differently (as a module member). */
  [rebind](binding: Binding): ThreadTask<Args> {
    return new ThreadTask(this.name, this.source, this.argsCodec, this.timeout, binding, this.stopTimeout)
  }
}

const makeHandle = (
  session: DeviceSession,
  name: string,
  threadId: string,
  stopTimeout: Duration.Duration,
) => {
  let final: ThreadStatus | undefined
  const idLiteral = toPythonLiteral(threadId)

  /** One exchange: optionally set the flag, wait up to `waitMs` on the board, report. */
  const ask = (stop: boolean, waitMs: number): Effect.Effect<ThreadStatus, ThreadError> =>
    Effect.gen(function* () {
      if (final !== undefined) return final
      const ticks = Math.max(0, Math.ceil(waitMs / 10))
      const outcome = yield* runOnBoard(session, {
        label: name,
        units: askUnits,
        body: (nonce) => [
          `_belay_o('${RESULT_MARK_PY}${nonce}',_belay_tx(${idLiteral},${stop ? 1 : 0},${ticks}))`,
        ],
        timeout: Duration.millis(waitMs + 10_000),
        duringCleanup: true,
      })
      const repr = outcome.results.length === 1 ? outcome.results[0]! : ""
      const parsed = parsePythonLiteral(repr)
      const reply = Result.isSuccess(parsed)
        ? Schema.decodeUnknownOption(StatusReply)(parsed.success)
        : undefined
      if (reply === undefined || reply._tag === "None") {
        return yield* new FramingError({
          task: name,
          reason: "unreadable thread status",
          received: excerpt(repr),
        })
      }
      const [state, error] = reply.value
      if (state === 0) return { _tag: "Running" } as const
      const status: ThreadStatus =
        state === 1
          ? { _tag: "Finished" }
          : state === 2 && error !== null
            ? {
                _tag: "Failed",
                error: new ThreadFailedError({
                  thread: name,
                  threadId,
                  exceptionType: error[0],
                  pythonMessage: error[1],
                  traceback: error[2],
                }),
              }
            : { _tag: "Lost" }
      final = status
      yield* executorContext(session).unregisterBackgroundThread(threadId)
      if (status._tag === "Failed") {
        yield* Effect.logError("Board thread failed").pipe(
          Effect.annotateLogs({
            threadId,
            task: name,
            sessionId: session.sessionId,
            exceptionType: status.error.exceptionType,
            message: status.error.pythonMessage,
            traceback: status.error.traceback,
          }),
        )
      }
      return status
    })

  const failIfFailed = (status: ThreadStatus): Effect.Effect<void, ThreadError> =>
    status._tag === "Failed" ? Effect.fail(status.error) : Effect.void

  const stopMs = Duration.toMillis(stopTimeout)
  const stop = Effect.gen(function* () {
    const status = yield* ask(true, stopMs)
    if (status._tag === "Running") {
      return yield* new ThreadStopTimeoutError({ thread: name, threadId, waitedMs: stopMs })
    }
    yield* failIfFailed(status)
  }).pipe(Effect.withSpan("belay.thread.stop", { attributes: { threadId, task: name } }))

  const join = (options?: { readonly timeout?: Duration.Input }) =>
    Effect.gen(function* () {
      const limit = options?.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout)
      const started = yield* Clock.currentTimeMillis
      for (;;) {
        const now = yield* Clock.currentTimeMillis
        const left = limit === undefined ? 500 : Math.min(500, Duration.toMillis(limit) - (now - started))
        if (left <= 0) {
          return yield* new TaskTimeoutError({ task: name, timeoutMs: Duration.toMillis(limit!) })
        }
        const status = yield* ask(false, left)
        if (status._tag !== "Running") return yield* failIfFailed(status)
      }
    })

  const thread: BoardThread = {
    threadId,
    name,
    status: ask(false, 0),
    join,
    stop,
  }
  return { thread, stopAtSessionEnd: stop }
}

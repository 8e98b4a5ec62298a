/**
 * Tasks and generator tasks: a Python function on the board with a typed signature, called in
 * one exchange (a generator read as a stream).
 *
 * The call line and the generator loop stay here as text rather than in `python/`: they are
 * built per call from the function's name, its arguments (as literals) and the call's nonce, and
 * are as short as the call itself (a cached call sends one line). A helper in a `.py` file would
 * be one more deployed function and would not make the call line shorter.
 */
import type { DeviceSession } from "@belay/core"
import { type Duration, Effect, Queue, Result, Schema, Stream } from "effect"
import { inSpan } from "./CallSpan.js"
import {
  type ArgsCodec,
  type ArgsInput,
  type BoardSchema,
  type CallArgs,
  checkIdentifier,
  makeArgsCodec,
  makeResultCodec,
  type ResultCodec,
} from "./Codec.js"
import { type DeployUnit, frameUnit, makeUnit } from "./Deployment.js"
import { runOnBoard } from "./Exchange.js"
import { FramingError, type TaskCallError } from "./errors.js"
import { END_TAG, excerpt, RESULT_MARK_PY } from "./Framing.js"
import { type BoardProxy, checkProxyArgs, keepResult, staleInTaskCall, withProxyRuntime } from "./Proxy.js"
import type { ProxyRef } from "./ProxyRef.js"
import { asSource, type PythonSource } from "./PythonSource.js"

/**
 * Options of one call.
 *
 * @example
 * yield* read.callWith(session, { timeout: "2 seconds", onOutput: (text) => Console.log(text) })
 *
 * @since 0.1.0
 */
export interface CallOptions {
  /**
   * Bound on the call. When it passes, the board is interrupted (Ctrl-C) and the call fails with
   * `TaskTimeoutError`. Default: the task's `timeout`, else the connection's exec timeout
   * (for a generator stream: none, the consumer decides how long it reads).
   */
  readonly timeout?: Duration.Input
  /**
   * Receive what the code prints, as it prints it. Without it, prints are logged
   * (`Effect.logInfo("Board output")`, annotated with the task and session).
   */
  readonly onOutput?: (text: string) => Effect.Effect<void>
}

/** @internal a call's arguments as text, with the units it needs and the proxy handles among them */
export interface EncodedArgs {
  readonly text: string
  readonly units: ReadonlyArray<DeployUnit>
  readonly refs: ReadonlyArray<ProxyRef>
}

/** @internal how a declaration is bound: alone, or as a member of a module */
export interface Binding {
  /** The units a call needs on the board. */
  readonly units: ReadonlyArray<DeployUnit>
  /** Runs before each call (a module's setup and teardown registration). */
  readonly prepare: ((session: DeviceSession) => Effect.Effect<void, TaskCallError>) | undefined
  /** `module.task` or `task`, for errors and logs. */
  readonly label: string
}

/**
 * What declaring a task takes.
 *
 * @example
 * Task.make({ name: "add", source, args: [Schema.Number, Schema.Number], result: Schema.Number, timeout: "1 second" })
 *
 * @since 0.1.0
 */
export interface TaskOptions<Args extends ArgsInput | undefined, R extends BoardSchema<unknown>> {
  /** The Python function's name; `source` must define it at top level. */
  readonly name: string
  /** Python code defining the function (and whatever it needs): {@link py}, {@link pythonFile}, or text. */
  readonly source: PythonSource | string
  /** The arguments: a `Schema.Tuple` (positional), a `Schema.Struct` (keywords) or an array of schemas. */
  readonly args?: Args
  /** The result (for a generator: each item). Default `Schema.Unknown` (any Python literal). */
  readonly result?: R
  /** Default bound on each call. */
  readonly timeout?: Duration.Input
}

/**
 * The key of a declaration's `rebind` (the same declaration as a module member): a symbol, so
 * that only the executors' own modules call it.
 */
export const rebind: unique symbol = Symbol("@belay/executors/rebind")

/** @internal shared by tasks, generators and threads */
export abstract class Declaration {
  constructor(
    readonly name: string,
    readonly source: PythonSource,
    /** How the arguments are encoded. */
    protected readonly argsCodec: ArgsCodec,
    readonly timeout: Duration.Input | undefined,
    /** Alone, or as a member of a module. */
    protected readonly binding: Binding,
  ) {}

  /**
   * The text between the call's parentheses, the units the call needs (the proxy runtime too
   * when proxy handles are among the arguments, each checked against `session`), and the
   * handles.
   */
  protected encodeArgs(
    session: DeviceSession,
    args: ReadonlyArray<unknown>,
  ): Effect.Effect<EncodedArgs, TaskCallError> {
    const refs: ProxyRef[] = []
    const encoded = this.argsCodec.encode(this.binding.label, args, refs)
    if (Result.isFailure(encoded)) return Effect.fail(encoded.failure)
    const text = encoded.success
    if (refs.length === 0) return Effect.succeed({ text, units: this.binding.units, refs })
    return Effect.as(checkProxyArgs(session, refs), {
      text,
      units: withProxyRuntime(this.binding.units),
      refs,
    })
  }

  /** What runs before each call (a module's setup and teardown registration). */
  protected prepare(session: DeviceSession): Effect.Effect<void, TaskCallError> {
    return this.binding.prepare ? this.binding.prepare(session) : Effect.void
  }

  /** The same declaration bound differently (as a module member). */
  abstract [rebind](binding: Binding): Declaration
}

const standalone = (name: string, source: PythonSource): Binding => ({
  units: [frameUnit, makeUnit(name, source)],
  prepare: undefined,
  label: name,
})

/** @internal a declaration whose calls give values back: a task's result, a generator's items */
abstract class ValueDeclaration<A> extends Declaration {
  constructor(
    name: string,
    source: PythonSource,
    argsCodec: ArgsCodec,
    /** How each value that comes back is decoded. */
    protected readonly valueCodec: ResultCodec<A>,
    timeout: Duration.Input | undefined,
    binding: Binding,
  ) {
    super(name, source, argsCodec, timeout, binding)
  }
}

/**
 * What a task or generator task is made of, from its options: the name checked (`what` says
 * which kind of name, for the error), the codecs, and the standalone binding.
 */
const declare = <A>(
  options: Omit<TaskOptions<ArgsInput | undefined, BoardSchema<unknown>>, "result">,
  what: string,
  values: BoardSchema<A> | undefined,
) => {
  checkIdentifier(options.name, what)
  const source = asSource(options.source)
  return [
    options.name,
    source,
    makeArgsCodec(options.args),
    makeResultCodec(values ?? (Schema.Unknown as unknown as BoardSchema<A>)),
    options.timeout,
    standalone(options.name, source),
  ] as const
}

/**
 * A Python function on the board with a typed signature. Calling it is an Effect: the first
 * call in a session sends the definition and the call in one exchange; later calls send only
 * the call. Arguments are encoded as Python literals (no value can change the code that runs);
 * the result comes back framed apart from the function's prints and is decoded by the result
 * schema.
 *
 * @example
 * const add = Task.make({
 *   name: "add",
 *   source: py`
 *     def add(a, b):
 *         return a + b
 *   `,
 *   args: [Schema.Number, Schema.Number],
 *   result: Schema.Number,
 * })
 * const sum = yield* add.call(session, 1, 2) // 3
 *
 * @since 0.1.0
 */
export class Task<Args extends ReadonlyArray<unknown>, A> extends ValueDeclaration<A> {
  readonly _tag = "Task" as const

  /**
   * Declare a task. Throws `DefinitionError` when `name` is not a Python identifier.
   *
   * @example
   * const status = Task.make({
   *   name: "status",
   *   source: pythonFile(new URL("./status.py", import.meta.url)),
   *   result: Schema.Struct({ temp: Schema.Number, ok: Schema.Boolean }),
   * })
   */
  static make<
    const Args extends ArgsInput | undefined = undefined,
    R extends BoardSchema<unknown> = typeof Schema.Unknown,
  >(options: TaskOptions<Args, R>): Task<CallArgs<Args>, R["Type"]> {
    return new Task(...declare(options, "a task name", options.result))
  }

  /** Call the function on the board in `session`. */
  call(session: DeviceSession, ...args: Args): Effect.Effect<A, TaskCallError> {
    return this.callWith(session, {}, ...args)
  }

  /** Call with per-call options (timeout, live output). */
  callWith(session: DeviceSession, options: CallOptions, ...args: Args): Effect.Effect<A, TaskCallError> {
    const label = this.binding.label
    // Composed rather than a generator: this is the whole host-side path of a cached call.
    const call = Effect.suspend(() => {
      const refs: ProxyRef[] = []
      const encoded = this.argsCodec.encode(label, args, refs)
      if (Result.isFailure(encoded)) return Effect.fail(encoded.failure)
      const argsText = encoded.success
      const proxied = refs.length > 0
      const exchange = runOnBoard(session, {
        label,
        units: proxied ? withProxyRuntime(this.binding.units) : this.binding.units,
        body: (nonce) => [`_belay_o('${RESULT_MARK_PY}${nonce}',${this.name}(${argsText}))`],
        timeout: options.timeout ?? this.timeout,
        onOutput: options.onOutput,
      })
      const checked = proxied
        ? Effect.andThen(checkProxyArgs(session, refs), exchange).pipe(
            Effect.mapError(staleInTaskCall(session, refs)),
          )
        : exchange
      const prepare = this.binding.prepare
      const prepared = prepare ? Effect.andThen(prepare(session), checked) : checked
      return Effect.flatMap(prepared, (outcome): Effect.Effect<A, TaskCallError> => {
        const results = outcome.results
        if (results.length !== 1 || outcome.ended) {
          return Effect.fail(
            new FramingError({
              task: label,
              reason:
                results.length === 0
                  ? "the board sent no result frame"
                  : `the board sent ${results.length} result frames${outcome.ended ? " and an end frame" : ""}`,
              received: excerpt(results.length === 0 ? outcome.output.slice(-120) : results.join(" ")),
            }),
          )
        }
        return this.valueCodec.decode(label, results[0]!)
      })
    })
    return inSpan(call, "belay.task.call", { task: label, sessionId: session.sessionId })
  }

  /**
   * Call the function and keep what it returns on the board, as a proxy handle (whatever the
   * value is): for functions that make an object to work with (a sensor driver, a buffer).
   *
   * @example
   * const sensor = yield* openSensor.callProxy(session, 0x48) // a handle to the driver object
   * const celsius = yield* sensor.callWith("read", { result: Schema.Number })
   */
  callProxy(session: DeviceSession, ...args: Args): Effect.Effect<BoardProxy, TaskCallError> {
    const label = this.binding.label
    return Effect.flatMap(this.encodeArgs(session, args), ({ text, units, refs }) =>
      keepResult(session, label, {
        call: `${this.name}(${text})`,
        units,
        refs,
        prepare: this.binding.prepare?.(session),
        timeout: this.timeout,
      }),
    )
  }

  /** The same task bound differently (as a module member). */
  [rebind](binding: Binding): Task<Args, A> {
    return new Task(this.name, this.source, this.argsCodec, this.valueCodec, this.timeout, binding)
  }
}

/**
 * A Python generator function on the board, read as an Effect `Stream`: each value it yields
 * reaches the caller as it is produced, decoded by the item schema. Stopping the stream early
 * (`Stream.take`, interruption) interrupts the board (Ctrl-C), which stops the generator
 * (its `finally` blocks run).
 *
 * @example
 * const count = GeneratorTask.make({
 *   name: "count",
 *   source: py`
 *     def count(n):
 *         for i in range(n):
 *             yield i * i
 *   `,
 *   args: [Schema.Number],
 *   item: Schema.Number,
 * })
 * const squares = yield* Stream.runCollect(count.stream(session, 5)) // [0, 1, 4, 9, 16]
 *
 * @since 0.1.0
 */
export class GeneratorTask<Args extends ReadonlyArray<unknown>, A> extends ValueDeclaration<A> {
  readonly _tag = "GeneratorTask" as const

  /**
   * Declare a generator task. Throws `DefinitionError` when `name` is not a Python identifier.
   *
   * @example
   * const samples = GeneratorTask.make({ name: "samples", source, args: [Schema.Number], item: Schema.Number })
   */
  static make<
    const Args extends ArgsInput | undefined = undefined,
    R extends BoardSchema<unknown> = typeof Schema.Unknown,
  >(
    options: Omit<TaskOptions<Args, R>, "result"> & { readonly item?: R },
  ): GeneratorTask<CallArgs<Args>, R["Type"]> {
    return new GeneratorTask(...declare(options, "a generator task name", options.item))
  }

  /** Run the generator on the board in `session` and stream what it yields. */
  stream(session: DeviceSession, ...args: Args): Stream.Stream<A, TaskCallError> {
    return this.streamWith(session, {}, ...args)
  }

  /** Stream with per-call options (a bound on the whole stream, live output). */
  streamWith(session: DeviceSession, options: CallOptions, ...args: Args): Stream.Stream<A, TaskCallError> {
    const self = this
    return Stream.callback<A, TaskCallError>((queue) =>
      Effect.gen(function* () {
        const { text: argsText, units, refs } = yield* self.encodeArgs(session, args)
        yield* self.prepare(session)
        const outcome = yield* runOnBoard(session, {
          label: self.binding.label,
          units,
          // Items are numbered; the end frame carries their count, so that a lost item or a
          // lost end is seen. A stream stopped early (Ctrl-C) has no end frame, and needs none.
          body: (nonce) => [
            `_belay_g=${self.name}(${argsText});_belay_n=0`,
            "try:",
            ` for _belay_v in _belay_g:_belay_o('${RESULT_MARK_PY}${nonce}',_belay_v,_belay_n);_belay_n+=1`,
            "finally:",
            " _belay_g.close();_belay_g=_belay_v=None",
            `_belay_o('${RESULT_MARK_PY}${nonce}',_belay_n,'${END_TAG}')`,
          ],
          // A stream runs as long as its consumer reads, unless bounded.
          timeout: options.timeout ?? self.timeout ?? Number.POSITIVE_INFINITY,
          onOutput: options.onOutput,
          onResult: (repr) =>
            Effect.flatMap(self.valueCodec.decode(self.binding.label, repr), (item) =>
              Effect.sync(() => {
                Queue.offerUnsafe(queue, item)
              }),
            ),
        }).pipe(
          // A handle among the arguments that the board no longer holds.
          Effect.mapError((error) => (refs.length === 0 ? error : staleInTaskCall(session, refs)(error))),
        )
        if (!outcome.ended) {
          return yield* new FramingError({
            task: self.binding.label,
            reason: "the generator's end frame did not arrive",
            received: excerpt(outcome.output.slice(-120)),
          })
        }
        yield* Queue.end(queue)
      }).pipe(
        Effect.withSpan("belay.task.stream", {
          attributes: { task: self.binding.label, sessionId: session.sessionId },
        }),
        Effect.catchCause((cause) => Queue.failCause(queue, cause)),
        Effect.forkScoped,
      ),
    )
  }

  /** The same generator task bound differently (as a module member). */
  [rebind](binding: Binding): GeneratorTask<Args, A> {
    return new GeneratorTask(this.name, this.source, this.argsCodec, this.valueCodec, this.timeout, binding)
  }
}

/**
 * Proxy objects: a typed handle to an object that lives on the board. Each access (an attribute
 * read or write, a method call, an index, a step of iteration) is one checked exchange built
 * from the handle's registry id and the arguments as Python literals; what comes back is a plain
 * value (decoded, optionally through a schema) or, for anything `repr()` cannot give as a
 * literal, another handle. The board side is `python/proxy.py`; what a session holds of the
 * registry is `ProxyRegistry.ts`.
 *
 * The access lines stay here as text rather than in `python/`: each is built per call from the
 * ids, the names and the literals, and is as short as the access itself.
 */
import type { DeviceSession } from "@belay/core"
import { type PythonError, type PythonValue, parsePythonLiteral } from "@belay/transport"
import { type Duration, Effect, Option, Result, Schema, Stream } from "effect"
import { isMissingName } from "./CallFailure.js"
import { inSpan } from "./CallSpan.js"
import { type BoardSchema, isPythonIdentifier, literal, makeResultCodec, makeValueDecoder } from "./Codec.js"
import { type DeployUnit, frameUnit } from "./Deployment.js"
import { runOnBoard } from "./Exchange.js"
import { executorContext } from "./ExecutorContext.js"
import {
  ArgumentEncodeError,
  FramingError,
  ResultDecodeError,
  StaleProxyError,
  type TaskCallError,
} from "./errors.js"
import { excerpt, RESULT_MARK_PY } from "./Framing.js"
import { lookupCode, type ProxyRef, proxyRefKey, proxyRefOf } from "./ProxyRef.js"
import {
  allocateIds,
  idTuple,
  proxyIterUnit,
  proxyUnit,
  type SessionProxies,
  sessionProxies,
} from "./ProxyRegistry.js"
import { asSource, type PythonSource } from "./PythonSource.js"

/**
 * What a proxy access gives back without a schema: a plain Python value (see the literal
 * mapping) or a handle to the board object.
 *
 * @example
 * const v: ProxyValue = yield* led.call("value") // 0 or 1
 *
 * @since 0.1.0
 */
export type ProxyValue = PythonValue | BoardProxy

/**
 * Everything a proxy access can fail with: a task call's errors (`PythonError` for a board-side
 * exception, `TaskTimeoutError`, `ArgumentEncodeError`, `ResultDecodeError`, ...) and
 * `StaleProxyError`.
 *
 * @example
 * led.call("on").pipe(Effect.catchTag("StaleProxyError", () => Effect.void))
 *
 * @since 0.1.0
 */
export type ProxyError = TaskCallError

/**
 * Options of one proxy access.
 *
 * @example
 * yield* sensor.callWith("read", { args: [2], kwargs: { fast: true }, timeout: "2 seconds" })
 *
 * @since 0.1.0
 */
export interface ProxyCallOptions<A = ProxyValue> {
  /** Positional arguments (plain values or handles). */
  readonly args?: ReadonlyArray<unknown>
  /** Keyword arguments (names must be Python identifiers). */
  readonly kwargs?: Readonly<Record<string, unknown>>
  /** Decode the result with this schema (it must then be a plain value). */
  readonly result?: BoardSchema<A>
  /** Bound on the exchange; when it passes the board is interrupted. */
  readonly timeout?: Duration.Input
}

/**
 * Options of iterating a board object.
 *
 * @example
 * proxy.iterate({ batchSize: 8, item: Schema.Number })
 *
 * @since 0.1.0
 */
export interface ProxyIterateOptions<A = ProxyValue> {
  /** Items fetched per exchange. Default 16. */
  readonly batchSize?: number
  /** Decode each item with this schema (each must then be a plain value). */
  readonly item?: BoardSchema<A>
  /** Bound on each exchange. */
  readonly timeout?: Duration.Input
}

/**
 * An iteration on the board, pulled a batch at a time ({@link BoardProxy.iterator}).
 *
 * @example
 * const it = yield* readings.iterator()
 * for (let batch = yield* it.next; batch !== undefined; batch = yield* it.next) console.log(batch)
 *
 * @since 0.1.0
 */
export interface ProxyIterator<A> {
  /** The next batch of items (at most the batch size); `undefined` once the iteration ended. */
  readonly next: Effect.Effect<ReadonlyArray<A> | undefined, ProxyError>
  /** True once the board's iterator ended (or `close` was called). */
  readonly done: boolean
  /** Stop early: the board's iterator is dropped at the session's next proxy exchange (or its end). */
  readonly close: Effect.Effect<void>
}

/**
 * Options of making a proxy.
 *
 * @example
 * BoardProxy.make(session, "machine.Pin(25)", { timeout: "1 second" })
 *
 * @since 0.1.0
 */
export interface ProxyOptions {
  readonly timeout?: Duration.Input
}

/** The units every proxy exchange needs. */
const UNITS: ReadonlyArray<DeployUnit> = [frameUnit, proxyUnit]

/** The units of a step of iteration. */
const ITER_UNITS: ReadonlyArray<DeployUnit> = [frameUnit, proxyUnit, proxyIterUnit]

/**
 * A NameError that says Belay's proxy runtime went missing from the board (names `_belay_...`):
 * one about a name in the caller's expression is the caller's.
 */
const runtimeMissing = (error: PythonError): boolean =>
  isMissingName(error) && /'_belay_/.test(error.pythonMessage)

// ---- one exchange ----

/** @internal one proxy exchange */
interface Access<A> {
  readonly session: DeviceSession
  readonly label: string
  readonly span: string
  /** The handles it reaches: the target and those among the arguments. */
  readonly refs: ReadonlyArray<ProxyRef>
  /** Fresh ids the board may keep objects at (results, items). */
  readonly keep: number
  /** On success, this many of the fresh ids (the first ones) stay owned by the session (an iterator). */
  readonly retain?: number
  readonly units?: ReadonlyArray<DeployUnit>
  readonly prepare?: Effect.Effect<void, TaskCallError>
  /** The access's lines, given the frame mark (a Python string literal) and the first fresh id. */
  readonly lines: (mark: string, first: number) => ReadonlyArray<string>
  readonly timeout: Duration.Input | undefined
  /** The single result frame's `repr()`, read. */
  readonly settle: (repr: string, first: number, generation: number) => Effect.Effect<A, TaskCallError>
}

/** The handles `refs` can be used in `session` now (the board at `generation`), else why not. */
const staleAmong = (
  session: DeviceSession,
  refs: ReadonlyArray<ProxyRef>,
  generation: number,
): StaleProxyError | undefined => {
  for (const ref of refs) {
    const stale = ref.staleIn(session, generation)
    if (stale !== undefined) return stale
  }
  return undefined
}

/**
 * The board's answer that it holds nothing at an id (`KeyError('_belay_stale', id)`), as
 * `StaleProxyError`; other errors as they are.
 */
export const staleFromBoard = (proxies: SessionProxies, refs: ReadonlyArray<ProxyRef>) => {
  return <E>(error: E): E | StaleProxyError => {
    const e = error as { _tag?: unknown; exceptionType?: unknown; pythonMessage?: unknown }
    if (e._tag !== "PythonError" || e.exceptionType !== "KeyError") return error
    const match = /_belay_stale\D*?(\d+)/.exec(String(e.pythonMessage))
    if (match === null) return error
    const proxyId = Number(match[1])
    proxies.forget(proxyId)
    const ref = refs.find((r) => r.proxyId === proxyId)
    return new StaleProxyError({
      proxyId,
      typeName: ref instanceof BoardProxy ? ref.typeName : "object",
      reason: "the board does not hold it any more (it reset, or the object was released)",
    })
  }
}

/** Run one proxy access: checks, fresh ids, pending drops, the exchange, its result. */
export const access = <A>(op: Access<A>): Effect.Effect<A, TaskCallError> => {
  const { session } = op
  const run = Effect.flatMap(session.device.generation, (generation) => {
    const proxies = sessionProxies(session)
    proxies.observe(generation)
    const stale = staleAmong(session, op.refs, generation)
    if (stale !== undefined) return Effect.fail(stale)
    const keep = op.keep
    const first = keep > 0 ? allocateIds(session.device, keep) : 0
    const before = keep > 0 ? proxies.ensureTracked() : Effect.void
    const prepared = op.prepare === undefined ? before : Effect.andThen(before, op.prepare)
    return Effect.flatMap(prepared, () => {
      for (let i = 0; i < keep; i++) proxies.extra.add(first + i)
      const drops = proxies.takePending()
      const dropLine = drops.length === 0 ? undefined : `_belay_pd(${idTuple(drops)})`
      /** Fresh ids not claimed: unused on success, possibly used on failure (dropped later). */
      const settleIds = (succeeded: boolean) => {
        for (let i = 0; i < keep; i++) {
          const id = first + i
          if (!proxies.extra.has(id)) continue
          if (succeeded && i < (op.retain ?? 0)) continue
          proxies.extra.delete(id)
          if (!succeeded) proxies.pending.push(id)
        }
      }
      const exchange = runOnBoard(session, {
        label: op.label,
        units: op.units ?? UNITS,
        body: (nonce) => {
          const lines = op.lines(`'${RESULT_MARK_PY}${nonce}'`, first)
          return dropLine === undefined ? lines : [dropLine, ...lines]
        },
        timeout: op.timeout,
        missingCode: runtimeMissing,
      })
      return exchange.pipe(
        Effect.flatMap((outcome) => {
          if (outcome.results.length !== 1 || outcome.ended) {
            return Effect.fail(
              new FramingError({
                task: op.label,
                reason:
                  outcome.results.length === 0
                    ? "the board sent no result frame"
                    : `the board sent ${outcome.results.length} result frames`,
                received: excerpt(
                  outcome.results.length === 0 ? outcome.output.slice(-120) : outcome.results.join(" "),
                ),
              }),
            )
          }
          return op.settle(outcome.results[0]!, first, generation)
        }),
        Effect.onExit((exit) =>
          Effect.sync(() => {
            const ok = exit._tag === "Success"
            // The drops ran unless the exchange failed; a failed one may have run them or not.
            if (!ok && drops.length > 0) proxies.restore(drops)
            settleIds(ok)
          }),
        ),
        Effect.mapError(staleFromBoard(proxies, op.refs)),
      )
    })
  })
  return inSpan(run, op.span, { proxy: op.label, sessionId: session.sessionId })
}

// ---- reading what came back ----

const CLASS_NAME = /^<class '([^']*)'>$/

/** `<class 'Pin'>` as `Pin`. */
const typeNameOf = (text: string): string => CLASS_NAME.exec(text)?.[1] ?? text

/** One entry the board sent: `(0, value)` or `(1, type)` (kept at `id`). */
const readEntry = (
  proxies: SessionProxies,
  label: string,
  entry: PythonValue,
  id: number,
  generation: number,
): Result.Result<ProxyValue, FramingError> => {
  if (Array.isArray(entry) && entry.length === 2) {
    if (entry[0] === 0) return Result.succeed(entry[1] as PythonValue)
    if (entry[0] === 1 && typeof entry[1] === "string") {
      return Result.succeed(BoardProxy.adopt(proxies, id, typeNameOf(entry[1]), generation))
    }
  }
  return Result.fail(
    new FramingError({ task: label, reason: "not a proxy reply", received: excerpt(String(entry)) }),
  )
}

const parseReply = (label: string, repr: string): Result.Result<PythonValue, FramingError> => {
  const parsed = parsePythonLiteral(repr)
  return Result.isSuccess(parsed)
    ? Result.succeed(parsed.success)
    : Result.fail(
        new FramingError({ task: label, reason: "unreadable proxy reply", received: excerpt(repr) }),
      )
}

/** A reply of one entry at `first`. */
const entryReply =
  (session: DeviceSession, label: string) =>
  (repr: string, first: number, generation: number): Effect.Effect<ProxyValue, FramingError> =>
    Effect.fromResult(
      Result.flatMap(parseReply(label, repr), (entry) =>
        readEntry(sessionProxies(session), label, entry, first, generation),
      ),
    )

// ---- arguments ----

/** Arguments as the text between a call's parentheses; handles among them noted in `refs`. */
const encodeCallArgs = (
  label: string,
  args: ReadonlyArray<unknown>,
  kwargs: Readonly<Record<string, unknown>> | undefined,
  refs: Array<ProxyRef>,
): Result.Result<string, ArgumentEncodeError> => {
  const parts: string[] = []
  for (let i = 0; i < args.length; i++) {
    const text = literal(label, args[i], `$[${i}]`, refs)
    if (Result.isFailure(text)) return text
    parts.push(text.success)
  }
  for (const [key, value] of Object.entries(kwargs ?? {})) {
    if (!isPythonIdentifier(key)) {
      return Result.fail(
        new ArgumentEncodeError({
          task: label,
          path: `$.${key}`,
          reason: "a keyword argument name must be a Python identifier",
        }),
      )
    }
    const text = literal(label, value, `$.${key}`, refs)
    if (Result.isFailure(text)) return text
    parts.push(`${key}=${text.success}`)
  }
  return Result.succeed(parts.join(","))
}

/**
 * Where an access reaches from the object: an attribute name, a dotted path of them
 * (`"config.mode"`), or an array of steps, each an attribute name or an integer index
 * (`["leds", 0, "pin"]` is `.leds[0].pin`).
 *
 * @example
 * yield* board.get(["leds", 0, "pin"])
 *
 * @since 0.1.0
 */
export type ProxyPath = string | ReadonlyArray<string | number>

/** A path as the code after the object's lookup (`.a.b[0]`), or why it is refused. */
const pathCode = (path: ProxyPath): Result.Result<string, string> => {
  const steps = typeof path === "string" ? path.split(".") : path
  if (steps.length === 0) return Result.fail("an empty path")
  let code = ""
  for (const step of steps) {
    if (typeof step === "number") {
      if (!Number.isSafeInteger(step)) return Result.fail(`${step} is not an integer index`)
      code += `[${step}]`
    } else if (isPythonIdentifier(step)) code += `.${step}`
    else return Result.fail(`${JSON.stringify(step)} is not a Python name`)
  }
  return Result.succeed(code)
}

/**
 * The handles among a task's arguments can be used in `session` now; the board's answer that
 * one is gone becomes `StaleProxyError`. For the task and thread call paths.
 *
 * @internal
 */
export const checkProxyArgs = (
  session: DeviceSession,
  refs: ReadonlyArray<ProxyRef>,
): Effect.Effect<void, StaleProxyError> =>
  Effect.flatMap(session.device.generation, (generation) => {
    sessionProxies(session).observe(generation)
    const stale = staleAmong(session, refs, generation)
    return stale === undefined ? Effect.void : Effect.fail(stale)
  })

/** @internal map the board's stale-handle answer in a task call with handles among its arguments */
export const staleInTaskCall = (session: DeviceSession, refs: ReadonlyArray<ProxyRef>) =>
  staleFromBoard(sessionProxies(session), refs)

/** @internal the units of a call that has handles among its arguments */
export const withProxyRuntime = (units: ReadonlyArray<DeployUnit>): ReadonlyArray<DeployUnit> =>
  units.includes(proxyUnit) ? units : [...units, proxyUnit]

/**
 * Keep the value of a call on the board and give back its handle: the task's call path for
 * `callProxy`. `call` is the Python expression of the call.
 *
 * @internal
 */
export const keepResult = (
  session: DeviceSession,
  label: string,
  options: {
    readonly call: string
    readonly units: ReadonlyArray<DeployUnit>
    readonly refs: ReadonlyArray<ProxyRef>
    readonly prepare: Effect.Effect<void, TaskCallError> | undefined
    readonly timeout: Duration.Input | undefined
  },
): Effect.Effect<BoardProxy, TaskCallError> =>
  access({
    session,
    label,
    span: "belay.task.callProxy",
    refs: options.refs,
    keep: 1,
    units: withProxyRuntime(options.units),
    ...(options.prepare === undefined ? {} : { prepare: options.prepare }),
    timeout: options.timeout,
    lines: (mark, id) => [`_belay_o(${mark},_belay_pk(${id},${options.call}))`],
    settle: (repr, first, generation) =>
      Effect.flatMap(entryReply(session, label)(repr, first, generation), (value) =>
        value instanceof BoardProxy
          ? Effect.succeed(value)
          : Effect.fail(new FramingError({ task: label, reason: "the board kept no object", received: "" })),
      ),
  })

// ---- the handle ----

/**
 * A handle to an object on the board, for the lifetime of a session at most. Make one from an
 * expression ({@link BoardProxy.make}) or a task's result (`task.callProxy`); reach the object
 * with `get`, `set`, `call`, `index`, `iterate`. Plain values (what `repr()` writes as a Python
 * literal) come back as JS values, optionally decoded by a schema; anything else comes back as
 * another handle. Each access is an Effect with typed errors: a board-side exception is
 * `PythonError`; a handle used in another session, after its release, or after a board reset
 * is refused with `StaleProxyError` (never another object).
 *
 * The board keeps each object in one registry dict (no global name per object). A handle is a
 * resource of its session: its object is dropped from the registry when the session ends, when
 * `release` is called, or after the host garbage-collects the handle (batched: the drop rides
 * on the session's next proxy exchange, or its end). Handles given as arguments (to `call`,
 * `set`, tasks) stand for their board object.
 *
 * @example
 * const led = yield* BoardProxy.make(session, "machine.Pin(25, machine.Pin.OUT)")
 * yield* led.call("on")
 * const level = yield* led.callWith("value", { result: Schema.Number }) // 1
 * const ten = yield* Stream.runCollect(
 *   (yield* BoardProxy.make(session, "range(10)")).iterate({ item: Schema.Number }),
 * )
 * yield* led.release
 *
 * @since 0.1.0
 */
export class BoardProxy implements ProxyRef {
  readonly _tag = "BoardProxy" as const

  private constructor(
    private readonly owner: SessionProxies,
    /** The object's id in the board's registry. */
    readonly proxyId: number,
    /** The object's Python type name, e.g. `Pin`. */
    readonly typeName: string,
    /** The board's reset generation when it was made. */
    readonly generation: number,
  ) {}

  /**
   * A schema for a handle among a task's arguments: the task's function receives the board
   * object (the Promise facade's proxies pass too).
   *
   * @example
   * const blink = Task.make({ name: "blink", source, args: [BoardProxy.schema, Schema.Number] })
   * yield* blink.call(session, led, 3)
   */
  static readonly schema: Schema.declare<BoardProxy> = Schema.declare(
    (u: unknown): u is BoardProxy => proxyRefOf(u) !== undefined,
    { identifier: "BoardProxy" },
  )

  /** @internal a handle for an object the board kept at `id` */
  static adopt(owner: SessionProxies, id: number, typeName: string, generation: number): BoardProxy {
    const handle = new BoardProxy(owner, id, typeName, generation)
    owner.adopt(id, handle)
    return handle
  }

  /**
   * Evaluate `expression` on the board and keep its value as a proxy (whatever it is). The
   * expression is code (use {@link py} to put JS values in it as literals); arguments of later
   * accesses travel as literals.
   *
   * @example
   * const pin = yield* BoardProxy.make(session, py`machine.Pin(${25}, machine.Pin.OUT)`)
   */
  static make(
    session: DeviceSession,
    expression: PythonSource | string,
    options: ProxyOptions = {},
  ): Effect.Effect<BoardProxy, ProxyError> {
    const code = asSource(expression).text.trim()
    const label = `proxy ${excerpt(code, 40)}`
    return access({
      session,
      label,
      span: "belay.proxy.make",
      refs: [],
      keep: 1,
      timeout: options.timeout,
      // The runtime's names are looked up before the expression runs: a NameError about them
      // means the runtime is missing (nothing ran); one about the expression's names is its own.
      lines: (mark, id) => [`_belay_o(${mark},_belay_pk(${id},(${code}\n)))`],
      settle: (repr, first, generation) =>
        Effect.flatMap(entryReply(session, label)(repr, first, generation), (value) =>
          value instanceof BoardProxy
            ? Effect.succeed(value)
            : Effect.fail(
                new FramingError({ task: label, reason: "the board kept no object", received: repr }),
              ),
        ),
    })
  }

  /** The id of the session the handle belongs to. */
  get sessionId(): string {
    return this.owner.session.sessionId
  }

  /** True once released (explicitly, by its session's end, or lost in a board reset seen since). */
  get isReleased(): boolean {
    return !this.owner.live.has(this.proxyId) || this.owner.generation !== this.generation
  }

  /** @internal the handle itself, for argument encoding */
  get [proxyRefKey](): ProxyRef {
    return this
  }

  /** @internal why this handle cannot be used in `session` on the board at `generation` */
  staleIn(session: DeviceSession, generation: number): StaleProxyError | undefined {
    const owner = this.owner.session
    const stale = (reason: string) =>
      new StaleProxyError({ proxyId: this.proxyId, typeName: this.typeName, reason })
    if (owner !== session) {
      return stale(`it belongs to session ${owner.sessionId}, not ${session.sessionId}`)
    }
    if (!session.isActive) return stale("its session has ended")
    if (generation !== this.generation) return stale("the board reset since it was made")
    if (!this.owner.live.has(this.proxyId)) return stale("it was released")
    return undefined
  }

  toString(): string {
    return `BoardProxy(${this.typeName}#${this.proxyId})`
  }

  private label(what: string): string {
    return `${this.typeName}#${this.proxyId}${what}`
  }

  private get session(): DeviceSession {
    return this.owner.session
  }

  /**
   * One access whose result is a value or a handle: `expression` (built on this object's lookup
   * and the argument text) is evaluated, and its value sent back plain or kept.
   */
  private evaluate<A>(
    label: string,
    span: string,
    expression: (self: string, args: string) => string,
    options: {
      readonly args?: ReadonlyArray<unknown> | undefined
      readonly kwargs?: Readonly<Record<string, unknown>> | undefined
      readonly result?: BoardSchema<A> | undefined
      readonly keep?: boolean
      readonly timeout?: Duration.Input | undefined
    },
  ): Effect.Effect<A, ProxyError> {
    return Effect.suspend(() => {
      const refs: ProxyRef[] = [this]
      const argsText = encodeCallArgs(label, options.args ?? [], options.kwargs, refs)
      if (Result.isFailure(argsText)) return Effect.fail(argsText.failure)
      const value = expression(lookupCode(this.proxyId), argsText.success)
      const schema = options.result
      if (schema !== undefined) {
        // Decoded by the schema: the value must come back plain; nothing is kept.
        const codec = makeResultCodec(schema)
        return access({
          session: this.session,
          label,
          span,
          refs,
          keep: 0,
          timeout: options.timeout,
          lines: (mark) => [`_belay_o(${mark},${value})`],
          settle: (repr) => codec.decode(label, repr),
        })
      }
      const keeper = options.keep === true ? "_belay_pk" : "_belay_pe"
      return access({
        session: this.session,
        label,
        span,
        refs,
        keep: 1,
        timeout: options.timeout,
        lines: (mark, id) => [`_belay_o(${mark},${keeper}(${id},${value}))`],
        settle: entryReply(this.session, label) as (
          repr: string,
          first: number,
          generation: number,
        ) => Effect.Effect<A, FramingError>,
      })
    })
  }

  /**
   * An access that changes the object and gives nothing back: `statement` is built from this
   * object's lookup and the literals of `values` (handles among them noted as references).
   */
  private change(
    label: string,
    values: ReadonlyArray<unknown>,
    statement: (self: string, literals: ReadonlyArray<string>) => string,
  ): Effect.Effect<void, ProxyError> {
    return Effect.suspend(() => {
      const refs: ProxyRef[] = [this]
      const literals: string[] = []
      for (let i = 0; i < values.length; i++) {
        const text = literal(label, values[i], `$[${i}]`, refs)
        if (Result.isFailure(text)) return Effect.fail(text.failure)
        literals.push(text.success)
      }
      const code = statement(lookupCode(this.proxyId), literals)
      return access({
        session: this.session,
        label,
        span: "belay.proxy.set",
        refs,
        keep: 0,
        timeout: undefined,
        lines: (mark) => [`${code};_belay_o(${mark},0)`],
        settle: () => Effect.void,
      })
    })
  }

  /**
   * Code for `path` from this object, or the access failing with why the path is refused.
   */
  private at<A>(
    path: ProxyPath,
    suffix: string,
    use: (code: string, label: string) => Effect.Effect<A, ProxyError>,
  ): Effect.Effect<A, ProxyError> {
    const code = pathCode(path)
    if (Result.isFailure(code)) {
      const label = this.label(typeof path === "string" ? `.${path}` : "")
      return Effect.fail(new ArgumentEncodeError({ task: label, path: "$", reason: code.failure }))
    }
    return use(code.success, this.label(`${code.success}${suffix}`))
  }

  /**
   * Read attribute `path` (a name, a dotted path, or steps; see {@link ProxyPath}): a plain
   * value, or a handle to it; decoded by `schema` when given.
   *
   * @example
   * const freq = yield* timer.get("freq", Schema.Number)
   */
  get(path: ProxyPath): Effect.Effect<ProxyValue, ProxyError>
  get<A>(path: ProxyPath, schema: BoardSchema<A>): Effect.Effect<A, ProxyError>
  get<A>(path: ProxyPath, schema?: BoardSchema<A>): Effect.Effect<A | ProxyValue, ProxyError> {
    return this.at(path, "", (code, label) =>
      this.evaluate(label, "belay.proxy.get", (self) => `${self}${code}`, { result: schema }),
    )
  }

  /**
   * Attribute `path` as a handle, even when its value is plain (to change a list in place, say).
   *
   * @example
   * const buffer = yield* uart.ref("buf")
   */
  ref(path: ProxyPath): Effect.Effect<BoardProxy, ProxyError> {
    return this.at(path, "", (code, label) =>
      this.evaluate<BoardProxy>(label, "belay.proxy.get", (self) => `${self}${code}`, { keep: true }),
    )
  }

  /**
   * Set attribute `path` to `value` (a plain value, or a handle standing for its object).
   *
   * @example
   * yield* config.set("threshold", 12)
   */
  set(path: ProxyPath, value: unknown): Effect.Effect<void, ProxyError> {
    return this.at(path, "=", (code, label) =>
      this.change(label, [value], (self, [text]) => `${self}${code}=${text}`),
    )
  }

  /**
   * Call method `path` with positional arguments.
   *
   * @example
   * yield* led.call("value", 1)
   * const level = yield* led.call("value") // 1
   */
  call(path: ProxyPath, ...args: ReadonlyArray<unknown>): Effect.Effect<ProxyValue, ProxyError> {
    return this.callWith(path, { args })
  }

  /**
   * Call method `path` with positional and keyword arguments, a result schema, a bound.
   *
   * @example
   * const n = yield* uart.callWith("write", { args: [bytes], result: Schema.Number })
   */
  callWith<A = ProxyValue>(path: ProxyPath, options: ProxyCallOptions<A>): Effect.Effect<A, ProxyError> {
    return this.at(path, "()", (code, label) =>
      this.evaluate(label, "belay.proxy.call", (self, args) => `${self}${code}(${args})`, options),
    )
  }

  /**
   * Call the object itself (a function or another callable on the board).
   *
   * @example
   * const f = yield* BoardProxy.make(session, "lambda x: x * 2")
   * yield* f.invoke(21) // 42
   */
  invoke(...args: ReadonlyArray<unknown>): Effect.Effect<ProxyValue, ProxyError> {
    return this.invokeWith({ args })
  }

  /**
   * Call the object itself with keyword arguments, a result schema, a bound.
   *
   * @example
   * yield* make.invokeWith({ kwargs: { size: 4 }, result: Schema.Number })
   */
  invokeWith<A = ProxyValue>(options: ProxyCallOptions<A>): Effect.Effect<A, ProxyError> {
    return this.evaluate(this.label("()"), "belay.proxy.call", (self, args) => `${self}(${args})`, options)
  }

  /**
   * Read `object[key]` (`key` a plain value or a handle).
   *
   * @example
   * const first = yield* readings.index(0, Schema.Number)
   */
  index(key: unknown): Effect.Effect<ProxyValue, ProxyError>
  index<A>(key: unknown, schema: BoardSchema<A>): Effect.Effect<A, ProxyError>
  index<A>(key: unknown, schema?: BoardSchema<A>): Effect.Effect<A | ProxyValue, ProxyError> {
    return this.evaluate(this.label("[]"), "belay.proxy.index", (self, args) => `${self}[${args}]`, {
      args: [key],
      result: schema,
    })
  }

  /**
   * Set `object[key] = value`.
   *
   * @example
   * yield* table.setIndex("mode", 2)
   */
  setIndex(key: unknown, value: unknown): Effect.Effect<void, ProxyError> {
    return this.change(this.label("[]="), [key, value], (self, [k, v]) => `${self}[${k}]=${v}`)
  }

  /**
   * The object itself as a plain value (its `repr()` read as a literal), decoded by `schema`
   * when given; `ResultDecodeError` when it is not a literal.
   *
   * @example
   * const items = yield* list.value(Schema.Array(Schema.Number))
   */
  value(): Effect.Effect<PythonValue, ProxyError>
  value<A>(schema: BoardSchema<A>): Effect.Effect<A, ProxyError>
  value<A>(schema?: BoardSchema<A>): Effect.Effect<A | PythonValue, ProxyError> {
    const label = this.label("")
    const codec = makeResultCodec<A | PythonValue>(schema)
    return access({
      session: this.session,
      label,
      span: "belay.proxy.value",
      refs: [this],
      keep: 0,
      timeout: undefined,
      lines: (mark) => [`_belay_o(${mark},${lookupCode(this.proxyId)})`],
      settle: (repr) => codec.decode(label, repr),
    })
  }

  /**
   * Iterate the object on the board (`iter(object)`), a batch of items per exchange: plain items
   * as values (decoded by `item` when given), others as handles. Stopping early drops the
   * board's iterator at the session's next proxy exchange.
   *
   * @example
   * const squares = yield* Stream.runCollect(numbers.iterate({ item: Schema.Number }))
   */
  iterate<A = ProxyValue>(options: ProxyIterateOptions<A> = {}): Stream.Stream<A, ProxyError> {
    return Stream.unwrap(
      Effect.map(this.iterator(options), (iterator) => {
        const pages = Stream.paginate(undefined, () =>
          Effect.map(iterator.next, (items) =>
            items === undefined
              ? ([[], Option.none()] as const)
              : ([items, iterator.done ? Option.none() : Option.some(undefined)] as const),
          ),
        )
        return pages.pipe(Stream.ensuring(iterator.close))
      }),
    )
  }

  /**
   * Start iterating the object on the board (`iter(object)`) and pull the items a batch at a
   * time: the form of {@link BoardProxy.iterate} for code that pulls by itself (the Promise
   * facade's `for await`).
   *
   * @example
   * const it = yield* readings.iterator({ batchSize: 4 })
   * const first = yield* it.next // up to 4 items; undefined once the iteration ended
   * yield* it.close
   */
  iterator<A = ProxyValue>(
    options: ProxyIterateOptions<A> = {},
  ): Effect.Effect<ProxyIterator<A>, ProxyError> {
    // Each run is an iteration of its own.
    return Effect.suspend(() => this.openIterator(options))
  }

  private openIterator<A>(options: ProxyIterateOptions<A>): Effect.Effect<ProxyIterator<A>, ProxyError> {
    const batch = Math.max(1, Math.min(256, Math.floor(options.batchSize ?? 16)))
    const label = this.label(" iteration")
    const session = this.session
    const proxies = sessionProxies(session)
    const decodeItem = options.item === undefined ? undefined : makeValueDecoder(options.item)
    let iterator = 0
    let done = false
    let closed = false
    /** A batch reply: its items (the handles among them adopted), `done` set at the end. */
    const settleBatch = (repr: string, base: number, generation: number) =>
      Effect.gen(function* () {
        const reply = yield* Effect.fromResult(parseReply(label, repr))
        if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1])) {
          return yield* new FramingError({
            task: label,
            reason: "not a batch reply",
            received: excerpt(repr),
          })
        }
        if (reply[0] === 1) {
          // The board dropped its iterator at the end.
          done = true
          proxies.extra.delete(iterator)
        }
        const items: A[] = []
        const entries = reply[1] as ReadonlyArray<PythonValue>
        for (let i = 0; i < entries.length; i++) {
          const item = yield* Effect.fromResult(readEntry(proxies, label, entries[i]!, base + i, generation))
          if (decodeItem === undefined) items.push(item as A)
          else if (item instanceof BoardProxy) {
            // Kept by the board but wanted plain: dropped at the next exchange.
            proxies.release(item.proxyId, item)
            return yield* new ResultDecodeError({
              task: label,
              path: `$[${items.length}]`,
              reason: `a ${item.typeName} is not a plain value the item schema can decode`,
              received: item.toString(),
            })
          } else items.push(yield* Effect.fromResult(decodeItem(label, item, repr)))
        }
        return items
      })
    // The iterator is made and its first batch sent back in one exchange.
    const open = access({
      session,
      label,
      span: "belay.proxy.iterate",
      refs: [this],
      keep: 1 + batch,
      retain: 1,
      units: ITER_UNITS,
      timeout: options.timeout,
      lines: (mark, first) => [
        `_belay_pk(${first},iter(${lookupCode(this.proxyId)}))`,
        `_belay_pb(${mark},${first},${first + 1},${batch})`,
      ],
      settle: (repr, first, generation) => {
        iterator = first
        return settleBatch(repr, first + 1, generation)
      },
    })
    const fetch = access({
      session,
      label,
      span: "belay.proxy.iterate",
      refs: [],
      keep: batch,
      units: ITER_UNITS,
      timeout: options.timeout,
      lines: (mark, base) => [`_belay_pb(${mark},${iterator},${base},${batch})`],
      settle: settleBatch,
    })
    // A session's first iteration deploys the iteration runtime in an exchange of its own: a
    // small board's parser has no room for it and the opening lines together.
    const deployed = executorContext(session).isMethodDeployed(proxyIterUnit.key, proxyIterUnit.source.hash)
    const prime = access({
      session,
      label,
      span: "belay.proxy.iterate",
      refs: [this],
      keep: 0,
      units: ITER_UNITS,
      timeout: options.timeout,
      lines: (mark) => [`_belay_o(${mark},0)`],
      settle: () => Effect.void,
    })
    return Effect.map(deployed ? open : Effect.andThen(prime, open), (first): ProxyIterator<A> => {
      let waiting: ReadonlyArray<A> | undefined = first
      return {
        get done() {
          return (done && waiting === undefined) || closed
        },
        next: Effect.suspend(() => {
          if (closed) return Effect.succeed(undefined)
          if (waiting !== undefined) {
            const items = waiting
            waiting = undefined
            return Effect.succeed(items)
          }
          return done ? Effect.succeed(undefined) : fetch
        }),
        close: Effect.sync(() => {
          closed = true
          // Stopped before the end: the board still holds the iterator.
          if (!done && proxies.extra.delete(iterator)) proxies.pending.push(iterator)
        }),
      }
    })
  }

  /**
   * Drop the object from the board's registry now (with any other drops the session has
   * waiting). Later accesses fail with `StaleProxyError`. Releasing twice, or after the
   * session ended, does nothing.
   *
   * @example
   * yield* led.release
   */
  get release(): Effect.Effect<void, ProxyError> {
    return Effect.suspend(() => {
      if (!this.owner.release(this.proxyId, this)) return Effect.void
      const session = this.session
      if (!session.isActive) return Effect.void
      return access({
        session,
        label: this.label(" release"),
        span: "belay.proxy.release",
        refs: [],
        keep: 0,
        timeout: undefined,
        lines: (mark) => [`_belay_o(${mark},0)`],
        settle: () => Effect.void,
      }).pipe(
        // The drop stays queued for the next exchange or the session's end.
        Effect.catchTag("SessionError", () => Effect.void),
      )
    })
  }
}

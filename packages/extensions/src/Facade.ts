import {
  type DeviceCapabilities,
  type DeviceSession,
  DeviceSessionManager,
  type ResourceCleanupError,
  type ResourceCleanupFailure,
  type ResourceUsageStats,
  type SessionStats,
} from "@belay/core"
import {
  BoardProxy,
  executorContext,
  type ProxyOptions,
  type ProxyStats,
  type PythonSource,
  type Task,
} from "@belay/executors"
import { type BoardFileSystem, boardFileSystem } from "@belay/filesystem"
import { DeviceCommunication } from "@belay/transport"
import { Cause, Effect, Exit, Layer, type LogLevel, ManagedRuntime, References } from "effect"
import { BelayLive, type BelayServices } from "./Belay.js"
import type { BelayOptions } from "./BelayOptions.js"
import { checkHealth, type HealthReport } from "./HealthCheck.js"
import { type RemoteObject, remoteObject } from "./RemoteObject.js"

/**
 * A failure from Belay, as a real `Error` for code that does not use Effect. `tag` (and `_tag`)
 * name the typed error (`PythonError`, `ProtocolTimeoutError`, `SessionLimitError`, ...); `error`
 * is the typed error itself with all its fields. `cleanupFailures` lists what failed to clean up
 * when the session a call ended (`session()`) could not undo everything.
 *
 * @example
 * try { await belay.exec("1/0") } catch (e) { if (e instanceof BelayError && e.tag === "PythonError") ... }
 * @since 0.1.0
 */
export class BelayError extends Error {
  readonly _tag: string
  readonly error: unknown
  readonly cleanupFailures: ReadonlyArray<ResourceCleanupFailure>
  constructor(
    tag: string,
    message: string,
    error: unknown,
    cleanupFailures: ReadonlyArray<ResourceCleanupFailure> = [],
  ) {
    super(message, { cause: error })
    this.name = `BelayError(${tag})`
    this._tag = tag
    this.error = error
    this.cleanupFailures = cleanupFailures
  }
  get tag(): string {
    return this._tag
  }
}

/** A failure's cause as Promise code sees it: a `BelayError` (or, for a defect, what was thrown). */
export const toError = (cause: Cause.Cause<unknown>): unknown => {
  const failure = Cause.findErrorOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value as { _tag?: unknown; message?: unknown }
    const tag = typeof error?._tag === "string" ? error._tag : "Error"
    const message = typeof error?.message === "string" ? error.message : String(error)
    return failure.value instanceof BelayError ? failure.value : new BelayError(tag, message, failure.value)
  }
  if (Cause.hasInterruptsOnly(cause))
    return new BelayError("Interrupted", "the operation was interrupted", undefined)
  return Cause.squash(cause)
}

const messageOf = (error: unknown): string => {
  const message = (error as { message?: unknown } | null)?.message
  return typeof message === "string" ? message : String(error)
}

const isCleanupError = (error: unknown): error is ResourceCleanupError =>
  (error as { _tag?: unknown } | null)?._tag === "ResourceCleanupError"

/** Every cleanup failure, one per line. */
const listFailures = (failures: ReadonlyArray<ResourceCleanupFailure>): string =>
  failures.map((f) => `\n  - ${f.resourceType} ${f.resourceId} (${f.reason}): ${messageOf(f.error)}`).join("")

/**
 * How a session's end failed, for `session()`: when cleanups failed, a `BelayError` listing every
 * one of them (after the body's own failure, if it failed too); otherwise the cause as it is.
 */
const sessionFailure = (cause: Cause.Cause<unknown>): Effect.Effect<never, unknown> => {
  const errors = cause.reasons.filter(Cause.isFailReason).map((reason) => reason.error)
  const failures = errors.filter(isCleanupError).flatMap((e) => e.failures)
  if (failures.length === 0) return Effect.failCause(cause)
  const body = errors.find((e) => !isCleanupError(e))
  const cleanup = `${failures.length} resource(s) of the session failed to clean up:${listFailures(failures)}`
  if (body === undefined) {
    const error = errors.find(isCleanupError)
    return Effect.fail(new BelayError("ResourceCleanupError", cleanup, error, failures))
  }
  const tag =
    body instanceof BelayError
      ? body.tag
      : typeof (body as { _tag?: unknown } | null)?._tag === "string"
        ? (body as { _tag: string })._tag
        : "Error"
  const error = body instanceof BelayError ? body.error : body
  return Effect.fail(new BelayError(tag, `${messageOf(body)}; and ${cleanup}`, error, failures))
}

type Promisified<T> = T extends (...args: infer P) => Effect.Effect<infer A, unknown, unknown>
  ? (...args: P) => Promise<A>
  : T extends Effect.Effect<infer A, unknown, unknown>
    ? () => Promise<A>
    : never

/**
 * `BoardFileSystem` with Promises: `list`, `stat`, `exists`, `readBytes`, `readText`, `write`, `append`, `mkdir`, `remove`, `rename`, `hash`, `sync`, `download`, `diskUsage`.
 *
 * @example
 * await belay.fs.write("/main.py", "print(1)\n")
 * console.log(await belay.fs.readText("/main.py"))
 * @since 0.1.0
 */
export type PromiseFileSystem = {
  readonly [K in Exclude<keyof BoardFileSystem, "session" | "state" | "operations" | "info">]: Promisified<
    BoardFileSystem[K]
  >
}

/**
 * Options of `connect`.
 *
 * @example
 * await using belay = await connect({ device: "virtual", protocol: { execTimeoutMs: 5_000 } })
 * @since 0.1.0
 */
export interface ConnectOptions extends Partial<BelayOptions> {
  /**
   * The least severe log line printed (to the console, Effect's default logger). Default: the
   * `BELAY_LOG_LEVEL` environment variable (`Trace`, `Debug`, `Info`, `Warn`, `Error`), else
   * `None`: a connected board prints nothing unless asked to.
   */
  readonly logLevel?: LogLevel.LogLevel
}

const LOG_LEVELS: ReadonlyArray<LogLevel.LogLevel> = [
  "All",
  "Trace",
  "Debug",
  "Info",
  "Warn",
  "Error",
  "Fatal",
  "None",
]

/**
 * The log level of a `connect`ed board: the option, else `BELAY_LOG_LEVEL` when it names a level
 * (any case), else `None` (the library is quiet unless asked).
 *
 * @example
 * logLevelFor({}) // "None" when BELAY_LOG_LEVEL is unset
 */
export const logLevelFor = (options: { readonly logLevel?: LogLevel.LogLevel }): LogLevel.LogLevel => {
  if (options.logLevel !== undefined) return options.logLevel
  const fromEnv = process.env.BELAY_LOG_LEVEL?.toLowerCase()
  return LOG_LEVELS.find((level) => level.toLowerCase() === fromEnv) ?? "None"
}

/**
 * A session seen from Promise code.
 *
 * @example
 * await belay.session(async (s) => {
 *   await s.exec("import machine")
 *   return s.eval("machine.freq()")
 * })
 * @since 0.1.0
 */
export interface BelaySession {
  readonly id: string
  readonly capabilities: DeviceCapabilities
  exec(code: string, options?: { timeoutMs?: number }): Promise<string>
  eval(expression: string, options?: { timeoutMs?: number }): Promise<string>
  /**
   * Run `setupCode` now and `cleanupCode` when the session ends, whatever the reason.
   *
   * @example
   * await s.acquire("t = Timer(-1)\nt.init(period=100, callback=tick)", "t.deinit()", "DeviceTimer")
   */
  acquire(setupCode: string, cleanupCode: string, resourceType?: string): Promise<string>
  /**
   * Evaluate `expression` on the board and keep its value as a remote object of this session
   * (dropped from the board when released, garbage-collected, or when the session ends).
   *
   * @example
   * const led = await s.proxy("machine.Pin(25, machine.Pin.OUT)")
   * await led.on()
   * await led.value() // 1
   */
  proxy<T = unknown>(expression: PythonSource | string, options?: ProxyOptions): Promise<RemoteObject<T>>
  /**
   * The session's resources (a board thread's stop among them, as `BackgroundThread`), threads,
   * deployed functions and proxy handles.
   */
  resources(): ResourceUsageStats & {
    readonly backgroundThreads: number
    readonly deployedMethods: number
    readonly proxies: ProxyStats
  }
}

/**
 * A connected board for code that does not use Effect. Dispose it (`await using`, or `close()`)
 * to end every session, with the same cleanup guarantees, and close the link.
 *
 * @example
 * await using belay = await connect("virtual")
 * console.log(await belay.eval("1 + 1"))
 * await belay.session(async (s) => {
 *   await s.acquire("import gc", "gc.collect()")
 *   return s.exec("print('in a session')")
 * })
 *
 * @since 0.1.0
 */
export class Belay {
  private closed = false

  constructor(readonly runtime: ManagedRuntime.ManagedRuntime<BelayServices, unknown>) {}

  /** Run any effect against this board's services; typed failures become `BelayError`s. */
  async run<A, E>(effect: Effect.Effect<A, E, BelayServices>): Promise<A> {
    if (this.closed) throw new BelayError("BelayClosed", "this Belay connection is closed", undefined)
    const exit = await this.runtime.runPromiseExit(effect)
    if (Exit.isSuccess(exit)) return exit.value
    throw toError(exit.cause)
  }

  exec(code: string, options: { timeoutMs?: number } = {}): Promise<string> {
    return this.run(
      Effect.flatMap(DeviceCommunication, (d) =>
        d.exec(code, options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}),
      ),
    )
  }

  /** Evaluate an expression on the board; its `repr()`. */
  eval(expression: string, options: { timeoutMs?: number } = {}): Promise<string> {
    return this.run(
      Effect.flatMap(DeviceCommunication, (d) =>
        d.eval(expression, options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}),
      ),
    )
  }

  /**
   * Run `body` in a new session that ends, cleaning up, when `body` settles. When some cleanup
   * fails, the promise rejects with a `BelayError` listing every failure (`cleanupFailures`), after
   * the body's own error if it failed too (its tag is kept then).
   */
  session<A>(body: (session: BelaySession) => Promise<A>): Promise<A> {
    return this.run(
      Effect.flatMap(DeviceSessionManager, (manager) =>
        manager
          .executeInNewSession((session) =>
            Effect.tryPromise({ try: () => body(this.sessionHandle(session)), catch: (error) => error }),
          )
          .pipe(Effect.catchCause(sessionFailure)),
      ),
    )
  }

  private sessionHandle(session: DeviceSession): BelaySession {
    const timeout = (options?: { timeoutMs?: number }) =>
      options?.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}
    return {
      id: session.sessionId,
      capabilities: session.deviceContext.capabilities,
      exec: (code, options) => this.run(session.device.exec(code, timeout(options))),
      eval: (expression, options) => this.run(session.device.eval(expression, timeout(options))),
      acquire: (setupCode, cleanupCode, resourceType = "Resource") =>
        this.run(
          session.acquire(session.device.exec(setupCode), () => session.device.exec(cleanupCode), {
            resourceType,
          }),
        ),
      proxy: <T>(expression: PythonSource | string, options?: ProxyOptions) =>
        this.proxyIn<T>(session, expression, options),
      resources: () => {
        const context = executorContext(session)
        return {
          ...session.resources.getResourceStats(),
          backgroundThreads: context.activeThreads().length,
          deployedMethods: context.deployedMethods().length,
          proxies: context.proxies(),
        }
      },
    }
  }

  private proxyIn<T>(
    session: DeviceSession,
    expression: PythonSource | string,
    options?: ProxyOptions,
  ): Promise<RemoteObject<T>> {
    const run = <A, E>(effect: Effect.Effect<A, E>) => this.run(effect)
    return this.run(
      Effect.map(
        BoardProxy.make(session, expression, options),
        (handle) => remoteObject(run, handle) as RemoteObject<T>,
      ),
    )
  }

  /**
   * A board object as a remote object, in the board's current session (made on first use and
   * ended at `close`, which drops the object from the board).
   *
   * @example
   * const uart = await belay.proxy("machine.UART(0, 9600)")
   * await uart.write(new TextEncoder().encode("hi"))
   */
  proxy<T = unknown>(expression: PythonSource | string, options?: ProxyOptions): Promise<RemoteObject<T>> {
    return this.run(Effect.flatMap(DeviceSessionManager, (m) => m.getOrCreateSession())).then((session) =>
      this.proxyIn<T>(session, expression, options),
    )
  }

  /**
   * A typed board function as a Promise function. Calls run in the board's current session (made
   * on first use and ended at `close`), so the definition is sent once.
   *
   * @example
   * const add = belay.task(Task.make({ name: "add", source: py`def add(a, b): return a + b`, args: [Schema.Number, Schema.Number], result: Schema.Number }))
   * await add(1, 2) // 3
   */
  task<Args extends ReadonlyArray<unknown>, A>(task: Task<Args, A>): (...args: Args) => Promise<A> {
    return (...args) =>
      this.run(
        Effect.flatMap(DeviceSessionManager, (m) =>
          Effect.flatMap(m.getOrCreateSession(), (session) => task.call(session, ...args)),
        ),
      )
  }

  /**
   * File operations on the board, in its current session (see `@belay/filesystem`).
   *
   * @example
   * await belay.fs.write("/main.py", "print('hi')\n")
   * const names = (await belay.fs.list("/")).map((e) => e.path)
   */
  readonly fs: PromiseFileSystem = new Proxy({} as PromiseFileSystem, {
    get: (_, name: string) => {
      return (...args: unknown[]) =>
        this.run(
          Effect.flatMap(DeviceSessionManager, (m) =>
            Effect.flatMap(m.getOrCreateSession(), (session) => {
              const fs = boardFileSystem(session) as unknown as Record<string, unknown>
              const member = fs[name]
              if (typeof member === "function")
                return member(...args) as Effect.Effect<unknown, unknown, never>
              return Effect.fail(new BelayError("UsageError", `fs has no operation ${name}`, undefined))
            }),
          ),
        )
    },
  })

  stats(): Promise<SessionStats> {
    return this.run(Effect.flatMap(DeviceSessionManager, (m) => m.sessionStats))
  }

  /** The board's capabilities (probed on first use, then cached). */
  capabilities(): Promise<DeviceCapabilities> {
    return this.run(
      Effect.flatMap(DeviceSessionManager, (m) =>
        Effect.flatMap(m.capabilities, (caps) =>
          caps !== undefined
            ? Effect.succeed(caps)
            : m.executeInNewSession((s) => Effect.succeed(s.deviceContext.capabilities)),
        ),
      ),
    )
  }

  health(options: { timeoutMs?: number } = {}): Promise<HealthReport> {
    return this.run(checkHealth(options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}))
  }

  /** End every session (cleaning up) and close the link. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.runtime.dispose()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/**
 * Connect to a board: a connection string (`virtual`, `serial:/dev/ttyACM0`, `exec:micropython`,
 * `qemu:microbit`) or options. Resolves once the link is open. It logs nothing unless
 * `logLevel` or `BELAY_LOG_LEVEL` asks for it.
 *
 * @example
 * await using belay = await connect("serial:/dev/ttyACM0?baud=115200")
 * @since 0.1.0
 */
export const connect = async (target: string | ConnectOptions = {}): Promise<Belay> => {
  const { logLevel, ...options }: ConnectOptions = typeof target === "string" ? { device: target } : target
  // Quiet by default: the runtime's own log level, read by every call made through it.
  const runtime: ManagedRuntime.ManagedRuntime<BelayServices, unknown> = ManagedRuntime.make(
    BelayLive(options).pipe(
      Layer.provideMerge(
        Layer.succeed(References.MinimumLogLevel, logLevelFor(logLevel !== undefined ? { logLevel } : {})),
      ),
    ),
  )
  const belay = new Belay(runtime)
  try {
    await belay.run(Effect.asVoid(DeviceCommunication))
  } catch (error) {
    await runtime.dispose()
    throw error
  }
  return belay
}

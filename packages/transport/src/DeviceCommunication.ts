import {
  type Cause,
  Context,
  Deferred,
  Duration,
  Effect,
  Fiber,
  Layer,
  Metric,
  PubSub,
  Queue,
  type Scope,
  Stream,
} from "effect"
import { type ByteLink, receiveDirectly } from "./ByteLink.js"
import {
  LinkClosedError,
  type LinkError,
  type ProtocolError,
  ProtocolTimeoutError,
  PythonError,
} from "./errors.js"
import { FairLock } from "./FairLock.js"
import { MetricsRecorder, type ProtocolMetrics, TransportMetrics } from "./ProtocolMetrics.js"
import {
  type BoardResetEvent,
  type ProtocolCapabilities,
  RawReplEngine,
  type RawReplOptions,
  resolveOptions,
} from "./RawReplEngine.js"
import { ReceiveBuffer } from "./ReceiveBuffer.js"
import { parseTraceback } from "./Traceback.js"

/** Options of one `exec`-like call. */
export interface ExecOptions {
  /** Bound on the whole call; defaults to the connection's `execTimeoutMs`. `Infinity` for none. */
  readonly timeout?: Duration.Input
}

/**
 * A friendly-REPL session for a person at a terminal. While it is open, no other exchange
 * runs on the board; closing its scope hands the board back to the raw REPL.
 */
export interface TerminalSession {
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, LinkError>
  /** What the board prints, as it comes. */
  readonly output: Stream.Stream<Uint8Array, LinkError>
}

/**
 * One board's conversation: run Python, read its output, interrupt it, reset it.
 * One exchange runs at a time; concurrent callers queue in arrival order.
 *
 * @example
 * const program = Effect.gen(function* () {
 *   const board = yield* DeviceCommunication
 *   const out = yield* board.exec("print(1 + 1)")       // "2\r\n"
 *   const value = yield* board.eval("[x * x for x in range(4)]") // "[0, 1, 4, 9]"
 * })
 */
export interface DeviceCommunicationShape {
  /** Where the board is, e.g. `serial:/dev/ttyACM0`. */
  readonly description: string
  /** Run code; succeed with its stdout, fail with `PythonError` when it raises. */
  readonly exec: (code: string, options?: ExecOptions) => Effect.Effect<string, PythonError | ProtocolError>
  /** Run code; succeed with its stdout bytes, undecoded (for binary transfers). */
  readonly execBytes: (
    code: string | Uint8Array,
    options?: ExecOptions,
  ) => Effect.Effect<Uint8Array, PythonError | ProtocolError>
  /** Evaluate one expression and return its `repr()` text. */
  readonly eval: (
    expression: string,
    options?: ExecOptions,
  ) => Effect.Effect<string, PythonError | ProtocolError>
  /**
   * Run code and stream its stdout while it runs. Stopping the stream early interrupts the code on
   * the board (Ctrl-C) and waits for the prompt.
   */
  readonly execStream: (
    code: string,
    options?: ExecOptions,
  ) => Stream.Stream<string, PythonError | ProtocolError>
  /** Soft reset (Ctrl-D at the raw prompt): the board's RAM state is gone, its files stay. */
  readonly softReset: Effect.Effect<void, ProtocolError>
  /** Send Ctrl-C and wait for the raw prompt; fails with `BoardStuckError` when it does not come back. */
  readonly interrupt: Effect.Effect<void, ProtocolError>
  /** Hand the board to a person: friendly REPL passthrough for the lifetime of the scope. */
  readonly terminal: Effect.Effect<TerminalSession, ProtocolError, Scope.Scope>
  /** Resets the transport has seen, as they happen. */
  readonly resets: Stream.Stream<BoardResetEvent>
  /** Count of resets seen on this connection; a change means the board lost its RAM state. */
  readonly generation: Effect.Effect<number>
  readonly protocolCapabilities: Effect.Effect<ProtocolCapabilities>
  readonly metrics: Effect.Effect<ProtocolMetrics>
  /** Completes with the reason when the link closes or breaks; never completes while it is open. */
  readonly linkClosed: Effect.Effect<LinkError>
  /** Callers waiting for their turn on the board. */
  readonly queueLength: Effect.Effect<number>
}

/**
 * The service giving access to one board.
 *
 * @example
 * const layer = DeviceCommunication.layer().pipe(Layer.provide(BoardLink.layer(openSerialLink({ path }))))
 */
export class DeviceCommunication extends Context.Service<DeviceCommunication, DeviceCommunicationShape>()(
  "@belay/transport/DeviceCommunication",
) {
  /** Build from the `BoardLink` service. */
  static layer(options?: RawReplOptions): Layer.Layer<DeviceCommunication, never, BoardLink> {
    return Layer.effect(
      DeviceCommunication,
      Effect.flatMap(BoardLink, (link: ByteLink) => makeDeviceCommunication(link, options)),
    )
  }
}

/**
 * The byte link to the board, as a service, so links and protocol compose as layers.
 *
 * @example
 * BoardLink.layer(openProcessLink({ command: "micropython" }))
 */
export class BoardLink extends Context.Service<BoardLink, ByteLink>()("@belay/transport/BoardLink") {
  static layer<E, R>(
    open: Effect.Effect<ByteLink, E, R>,
  ): Layer.Layer<BoardLink, E, Exclude<R, Scope.Scope>> {
    return Layer.effect(BoardLink, open)
  }
}

const encoder = new TextEncoder()
/** For whole-buffer decodes only (no `stream: true`): it keeps no state between calls. */
const decoder = new TextDecoder()

const toDuration = (input: Duration.Input | undefined, fallbackMs: number): Duration.Duration | undefined => {
  if (input === undefined) return Number.isFinite(fallbackMs) ? Duration.millis(fallbackMs) : undefined
  const d = Duration.fromInputUnsafe(input)
  return Duration.isFinite(d) ? d : undefined
}

/**
 * Start the protocol engine on an open link. The engine lives as long as the scope.
 *
 * @example
 * const comm = yield* makeDeviceCommunication(link, { execTimeoutMs: 10_000 })
 * yield* comm.exec("import machine; print(machine.freq())")
 */
export const makeDeviceCommunication = (
  link: ByteLink,
  options?: RawReplOptions,
): Effect.Effect<DeviceCommunicationShape, never, Scope.Scope> =>
  Effect.gen(function* () {
    const resolved = resolveOptions(options)
    const buffer = new ReceiveBuffer()
    const recorder = new MetricsRecorder()
    const lock = new FairLock()
    const resetHub = yield* Effect.acquireRelease(PubSub.unbounded<BoardResetEvent>(), PubSub.shutdown)
    const engine = new RawReplEngine(link, buffer, resolved, recorder, resetHub)
    const attributes = { link: link.description }
    const bytesIn = Metric.withAttributes(TransportMetrics.bytesIn, attributes)
    const bytesOut = Metric.withAttributes(TransportMetrics.bytesOut, attributes)
    const exchanges = Metric.withAttributes(TransportMetrics.exchanges, attributes)
    const latencyMetric = Metric.withAttributes(TransportMetrics.latency, attributes)

    const closed = yield* Deferred.make<LinkError>()
    const closeWith = (error: LinkError) =>
      Effect.andThen(
        Effect.sync(() => buffer.close(error)),
        Deferred.succeed(closed, error),
      )
    const closeWithUnsafe = (error: LinkError) => {
      buffer.close(error)
      Deferred.doneUnsafe(closed, Effect.succeed(error))
    }

    // Received bytes go into the buffer for the lifetime of the scope: straight from the link's
    // receive side when it allows (no fiber hop per chunk), else by a fiber reading the stream.
    const context = yield* Effect.context<never>()
    const direct = receiveDirectly(link.received, {
      bytes: (chunk) => {
        recorder.bytesIn += chunk.length
        buffer.push(chunk)
        bytesIn.updateUnsafe(chunk.length, context)
      },
      end: () => closeWithUnsafe(new LinkClosedError({ link: link.description, reason: "link ended" })),
      fail: closeWithUnsafe,
    })
    if (direct !== undefined) yield* Effect.addFinalizer(() => Effect.sync(direct))
    else
      yield* Stream.runForEach(link.received, (chunk) => {
        recorder.bytesIn += chunk.length
        buffer.push(chunk)
        return Metric.update(bytesIn, chunk.length)
      }).pipe(
        Effect.matchEffect({
          onFailure: closeWith,
          onSuccess: () => closeWith(new LinkClosedError({ link: link.description, reason: "link ended" })),
        }),
        Effect.forkScoped,
      )

    const recover = engine.enterRaw("recover")
    const recoverAfterInterrupt = () => Effect.ignore(recover)
    const countProtocolError = () =>
      Effect.sync(() => {
        recorder.protocolErrors++
      })

    /** One exchange under the lock, bounded, with Ctrl-C recovery on timeout and interruption. */
    const runExchange = (
      code: Uint8Array,
      onStdout: (bytes: Uint8Array) => Effect.Effect<void>,
      timeout: Duration.Duration | undefined,
    ): Effect.Effect<string, ProtocolError> => {
      const body = Effect.gen(function* () {
        yield* engine.ensureRaw()
        const sentBefore = recorder.bytesOut
        const started = performance.now()
        const out = yield* engine.exchange(code, onStdout)
        const latency = performance.now() - started
        recorder.recordExchange(latency, out.mode)
        // The three metric updates in one step (what `Metric.update` does, with this fiber's context).
        return yield* Effect.contextWith((services: Context.Context<never>) => {
          latencyMetric.updateUnsafe(latency, services)
          exchanges.updateUnsafe(1, services)
          bytesOut.updateUnsafe(recorder.bytesOut - sentBefore, services)
          return Effect.succeed(out.traceback)
        })
      })
      const bounded =
        timeout === undefined
          ? body
          : boundedBy(body, timeout, () =>
              Effect.andThen(
                recover,
                Effect.fail(
                  new ProtocolTimeoutError({
                    phase: "call",
                    timeoutMs: Duration.toMillis(timeout),
                    received: "",
                  }),
                ),
              ),
            )
      return lock.withLock(
        bounded.pipe(Effect.onInterrupt(recoverAfterInterrupt), Effect.tapError(countProtocolError)),
      )
    }

    // The default bound, computed once rather than per call.
    const defaultTimeout = toDuration(undefined, resolved.execTimeoutMs)
    const timeoutOf = (options: ExecOptions | undefined) =>
      options?.timeout === undefined ? defaultTimeout : toDuration(options.timeout, resolved.execTimeoutMs)

    const toPythonError = (traceback: string, stdout: string): PythonError => {
      recorder.pythonErrors++
      const { exceptionType, message } = parseTraceback(traceback)
      return new PythonError({ exceptionType, pythonMessage: message, traceback, stdout })
    }

    const execBytes = (code: string | Uint8Array, options?: ExecOptions) =>
      Effect.suspend(() => {
        const parts: Uint8Array[] = []
        let total = 0
        const bytes = typeof code === "string" ? encoder.encode(code) : code
        return Effect.flatMap(
          runExchange(
            bytes,
            (chunk) =>
              Effect.sync(() => {
                parts.push(chunk)
                total += chunk.length
              }),
            timeoutOf(options),
          ),
          (traceback) => {
            const stdout = concat(parts, total)
            return traceback.length > 0
              ? Effect.fail(toPythonError(traceback, decoder.decode(stdout)))
              : Effect.succeed(stdout)
          },
        )
      })

    const exec = (code: string, options?: ExecOptions) =>
      Effect.map(execBytes(code, options), (bytes) => decoder.decode(bytes))

    const execStream = (
      code: string,
      options?: ExecOptions,
    ): Stream.Stream<string, PythonError | ProtocolError> =>
      Stream.callback<string, PythonError | ProtocolError>((queue) =>
        Effect.gen(function* () {
          const decoder = new TextDecoder()
          let printed = ""
          const traceback = yield* runExchange(
            encoder.encode(code),
            (chunk) =>
              Effect.sync(() => {
                const text = decoder.decode(chunk, { stream: true })
                if (text.length > 0) {
                  if (printed.length < 4096) printed += text
                  Queue.offerUnsafe(queue, text)
                }
              }),
            timeoutOf(options),
          )
          const rest = decoder.decode()
          if (rest.length > 0) Queue.offerUnsafe(queue, rest)
          if (traceback.length > 0) yield* Queue.fail(queue, toPythonError(traceback, printed))
          else yield* Queue.end(queue)
        }).pipe(
          Effect.catchCause((cause) => Queue.failCause(queue, cause)),
          Effect.forkScoped,
        ),
      )

    const terminal = Effect.gen(function* () {
      yield* lock.lease
      yield* engine.leaveRaw()
      const output = yield* Effect.acquireRelease(
        Queue.unbounded<Uint8Array, LinkError | Cause.Done>(),
        (q) =>
          Effect.sync(() => {
            buffer.tap = undefined
            engine.state = "unknown"
            Queue.endUnsafe(q)
          }),
      )
      buffer.tap = (bytes) => Queue.offerUnsafe(output, bytes)
      return {
        write: (bytes: Uint8Array) => engine.write(bytes),
        output: Stream.fromQueue(output),
      } satisfies TerminalSession
    })

    return {
      description: link.description,
      exec,
      execBytes,
      eval: (expression, options) =>
        Effect.map(exec(`print(repr(${expression}))`, options), (out) => out.replace(/\r?\n$/, "")),
      execStream,
      softReset: lock.withLock(engine.softReset()),
      interrupt: lock.withLock(engine.enterRaw("recover")),
      terminal,
      resets: Stream.fromPubSub(resetHub),
      generation: Effect.sync(() => engine.generation),
      protocolCapabilities: Effect.sync(() => ({
        rawPaste: engine.rawPaste,
        rawPasteWindow: engine.rawPaste ? engine.rawPasteWindow : undefined,
      })),
      metrics: Effect.sync(() => recorder.snapshot()),
      linkClosed: Deferred.await(closed),
      queueLength: Effect.sync(() => lock.waiting),
    } satisfies DeviceCommunicationShape
  })

/**
 * `body` bounded by `timeout`, then `orElse`. The body runs at once in a child fiber; only when it
 * suspends is a timer set (no fiber for the timer, none forked per wait). On timeout the body is
 * interrupted before `orElse` runs, as with `Effect.timeoutOrElse`.
 */
const boundedBy = <A, E>(
  body: Effect.Effect<A, E>,
  timeout: Duration.Duration,
  orElse: () => Effect.Effect<A, E>,
): Effect.Effect<A, E> =>
  Effect.flatMap(Effect.forkChild(Effect.exit(body), { startImmediately: true }), (fiber) => {
    const done = fiber.pollUnsafe()
    if (done !== undefined) return Effect.flatten(done)
    return Effect.callback<A, E>((resume) => {
      const timer = setTimeout(
        () => {
          stopObserving()
          resume(Effect.andThen(Fiber.interrupt(fiber), orElse()))
        },
        Math.min(Duration.toMillis(timeout), MAX_TIMER_MS),
      )
      const stopObserving = fiber.addObserver((exit) => {
        clearTimeout(timer)
        resume(Effect.flatten(exit))
      })
      return Effect.suspend(() => {
        clearTimeout(timer)
        stopObserving()
        return Fiber.interrupt(fiber)
      })
    })
  })

/** The longest delay `setTimeout` takes (about 24.8 days); longer bounds are clamped to it. */
const MAX_TIMER_MS = 2 ** 31 - 1

const concat = (parts: ReadonlyArray<Uint8Array>, total: number): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(total)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

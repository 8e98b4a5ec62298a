import {
  type Cause,
  Context,
  Data,
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
  buildCheckedRequest,
  fromCheckedExchange as codeError,
  EXEC_RUNTIME,
  EXEC_RUNTIME_NAME,
  isCodeFailure,
  newExchangeNonce,
  RESTORE_PRINT_REQUEST,
  STACK_DEPTH_PROBE,
} from "./CheckedOutput.js"
import { CheckedReplyReader, type StdoutFraming } from "./CheckedReplyReader.js"
import {
  type AttemptOutcome,
  checkedTopLevelRequest,
  classifyAttempt,
  fromCheckedRequest,
  isRequestRefused,
  resendWhileNothingRan,
} from "./CheckedRequest.js"
import {
  LinkClosedError,
  type LinkError,
  OutputDamagedError,
  OutputLimitError,
  type ProtocolError,
  ProtocolTimeoutError,
  PythonError,
  RequestDamagedError,
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
import { StateStore } from "./StateStore.js"
import { isCompileMemoryError, parseTraceback } from "./Traceback.js"

/**
 * Options of one `exec`-like call.
 *
 * @example
 * yield* comm.exec("long_job()", { timeout: "2 minutes" })
 * @since 0.1.0
 */
export interface ExecOptions {
  /** Bound on the whole call; defaults to the connection's `execTimeoutMs`. `Infinity` for none. */
  readonly timeout?: Duration.Input
  /**
   * `"checked"`: the request and the reply are checked end to end (see `CheckedOutput.ts`), so a
   * damaged byte gives a resend or a typed error, never altered code run or a wrong value.
   * `"unchecked"`: the code goes as it is, and stdout ends at the first `\x04` it prints: for a
   * link you trust, or for code that checks itself. Default: the connection's `integrity`
   * (`"checked"` unless set). `execBytes` is always unchecked.
   */
  readonly integrity?: "checked" | "unchecked"
  /** `exec`, `eval`: the most output collected before the code is stopped. Default: the connection's. */
  readonly maxOutputBytes?: number
}

/**
 * A friendly-REPL session for a person at a terminal. While it is open, no other exchange
 * runs on the board; closing its scope hands the board back to the raw REPL.
 *
 * @example
 * const term = yield* comm.terminal
 * yield* term.write(new TextEncoder().encode("help()\r"))
 * yield* Stream.runForEach(term.output, (b) => Effect.sync(() => process.stdout.write(b)))
 * @since 0.1.0
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
 *   const out = yield* board.exec("print(1 + 1)")       // "2\n" (checked: line ends as print wrote them)
 *   const value = yield* board.eval("[x * x for x in range(4)]") // "[0, 1, 4, 9]"
 * })
 *
 * @since 0.1.0
 */
export interface DeviceCommunicationShape {
  /** Where the board is, e.g. `serial:/dev/ttyACM0`. */
  readonly description: string
  /**
   * Run code; succeed with its stdout, fail with `PythonError` when it raises. Checked by default
   * (see {@link ExecOptions.integrity}): then what `print()` wrote comes with `\n` line ends, as
   * the code wrote it, and a `\x04` or `\x03` in the code or its output travels intact.
   */
  readonly exec: (code: string, options?: ExecOptions) => Effect.Effect<string, PythonError | ProtocolError>
  /** Run code as it is (unchecked); succeed with its stdout bytes, undecoded (for binary transfers). */
  readonly execBytes: (
    code: string | Uint8Array,
    options?: ExecOptions,
  ) => Effect.Effect<Uint8Array, PythonError | ProtocolError>
  /** Evaluate one expression and return its `repr()` text (checked by default: never a wrong value). */
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
  /**
   * State that lives as long as this connection (what was learnt of the board: its capabilities,
   * the code deployed on it, its transfer profile), under typed keys. Views of the device made
   * by spreading it (`{ ...device, exec }`, a session's device) share it. A reconnect makes a
   * new connection, with an empty store.
   */
  readonly connectionState: StateStore
}

/**
 * The service giving access to one board.
 *
 * @example
 * const layer = DeviceCommunication.layer().pipe(Layer.provide(BoardLink.layer(openSerialLink({ path }))))
 * @since 0.1.0
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
 * @since 0.1.0
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
 * @since 0.1.0
 */
export const makeDeviceCommunication = (
  link: ByteLink,
  options?: RawReplOptions,
): Effect.Effect<DeviceCommunicationShape, never, Scope.Scope> =>
  Effect.gen(function* () {
    const resolved = resolveOptions(options)
    const buffer = new ReceiveBuffer(resolved.maxUnreadBytes)
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

    /** When the last bytes came from the board (for telling a busy board from a silent one). */
    let lastArrival = 0
    // Received bytes go into the buffer for the lifetime of the scope: straight from the link's
    // receive side when it allows (no fiber hop per chunk), else by a fiber reading the stream.
    const context = yield* Effect.context<never>()
    const direct = receiveDirectly(link.received, {
      bytes: (chunk) => {
        recorder.bytesIn += chunk.length
        lastArrival = performance.now()
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
        lastArrival = performance.now()
        buffer.push(chunk)
        return Metric.update(bytesIn, chunk.length)
      }).pipe(
        Effect.matchEffect({
          onFailure: closeWith,
          onSuccess: () => closeWith(new LinkClosedError({ link: link.description, reason: "link ended" })),
        }),
        Effect.forkScoped,
      )

    // Ctrl-C, the raw prompt back, then one empty exchange: a Ctrl-C that reached the board while
    // the interrupted code was unwinding can stay pending (MicroPython raises it at the next
    // bytecode), and would otherwise interrupt the caller's next code. Its KeyboardInterrupt is
    // taken here.
    const recover = Effect.andThen(
      engine.enterRaw("recover"),
      Effect.ignore(
        // Short: a board at its prompt answers in milliseconds; a recovery on a noisy link must
        // not spend a reply's whole bound here on top of its own.
        Effect.timeoutOrElse(
          engine.exchange(encoder.encode("pass"), () => Effect.void),
          {
            duration: Duration.millis(Math.min(resolved.replyTimeoutMs, FLUSH_BOUND_MS)),
            orElse: () => engine.forgetState,
          },
        ),
      ),
    )
    const recoverAfterInterrupt = () => Effect.ignore(recover)
    const countProtocolError = () =>
      Effect.sync(() => {
        recorder.protocolErrors++
      })

    /**
     * One exchange under the lock, bounded, with Ctrl-C recovery on timeout, interruption, and
     * output past its limit; then `afterCutOff`, still under the lock, when the exchange did not
     * end normally.
     */
    const runExchange = (
      code: Uint8Array,
      onStdout: (bytes: Uint8Array) => Effect.Effect<void, ProtocolError>,
      timeout: Duration.Duration | undefined,
      framing?: StdoutFraming,
      afterCutOff?: Effect.Effect<void>,
      printed?: () => number,
    ): Effect.Effect<string, ProtocolError> => {
      const started = performance.now()
      const receivedBefore = recorder.bytesIn
      const body = Effect.gen(function* () {
        yield* engine.ensureRaw()
        const sentBefore = recorder.bytesOut
        const exchangeStarted = performance.now()
        const out = yield* engine.exchange(code, onStdout, framing)
        const latency = performance.now() - exchangeStarted
        recorder.recordExchange(latency, out.mode)
        // The three metric updates in one step (what `Metric.update` does, with this fiber's context).
        return yield* Effect.contextWith((services: Context.Context<never>) => {
          latencyMetric.updateUnsafe(latency, services)
          exchanges.updateUnsafe(1, services)
          bytesOut.updateUnsafe(recorder.bytesOut - sentBefore, services)
          return Effect.succeed(out.traceback)
        })
      })
      const stopped = Effect.catchTag(body, "OutputLimitError", (e) =>
        Effect.andThen(Effect.ignore(recover), Effect.fail(e)),
      )
      const bounded =
        timeout === undefined
          ? stopped
          : boundedBy(stopped, timeout, () =>
              Effect.suspend(() => {
                const activity = describeActivity(
                  printed?.() ?? recorder.bytesIn - receivedBefore,
                  started,
                  lastArrival,
                )
                return Effect.andThen(
                  recover,
                  Effect.fail(
                    new ProtocolTimeoutError({
                      phase: "call",
                      timeoutMs: Duration.toMillis(timeout),
                      received: "",
                      activity,
                    }),
                  ),
                )
              }),
            )
      const withCleanup =
        afterCutOff === undefined
          ? bounded.pipe(Effect.onInterrupt(recoverAfterInterrupt))
          : bounded.pipe(
              // Only when the board answers again: a stuck board or a dead link gets no more.
              Effect.onInterrupt(() => Effect.ignore(Effect.andThen(recover, afterCutOff))),
              Effect.tapError((e) =>
                e._tag === "BoardStuckError" || e._tag === "LinkClosedError" || e._tag === "LinkLostError"
                  ? Effect.void
                  : Effect.ignore(afterCutOff),
              ),
            )
      return lock.withLock(withCleanup.pipe(Effect.tapError(countProtocolError)))
    }

    /** An exchange for a caller that holds the lock already, bounded by `timeout`. */
    const runExchangeUnlocked = (code: Uint8Array, timeout: Duration.Duration) =>
      Effect.timeoutOrElse(
        Effect.andThen(
          engine.ensureRaw(),
          engine.exchange(code, () => Effect.void),
        ),
        {
          duration: timeout,
          orElse: () =>
            Effect.andThen(
              Effect.ignore(recover),
              Effect.fail(
                new ProtocolTimeoutError({
                  phase: "call",
                  timeoutMs: Duration.toMillis(timeout),
                  received: "",
                }),
              ),
            ),
        },
      )

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
        const collected = collector(limitOf(options))
        const bytes = typeof code === "string" ? encoder.encode(code) : code
        return Effect.flatMap(runExchange(bytes, collected.add, timeoutOf(options)), (traceback) => {
          const stdout = collected.bytes()
          return traceback.length > 0
            ? Effect.fail(toPythonError(traceback, decoder.decode(stdout)))
            : Effect.succeed(stdout)
        })
      })

    const limitOf = (options: ExecOptions | undefined) => options?.maxOutputBytes ?? resolved.maxOutputBytes
    const isChecked = (options: ExecOptions | undefined) =>
      (options?.integrity ?? resolved.integrity) === "checked"

    // The generation (count of resets) at which the checked exchanges' runtime was deployed. At
    // connect, the board is taken to have it (an earlier connection since its boot deployed it):
    // when it has not, the first call finds out at the cost of one short round trip.
    let runtimeGeneration: number | undefined = engine.generation
    const rawText = (code: string, timeout: Duration.Duration | undefined) =>
      Effect.map(execBytes(code, { timeout: timeout ?? Duration.infinity }), (out) => decoder.decode(out))
    // How a request that ran nothing is sent again: from a clean prompt, or on a collected heap.
    const resync = { interrupt: lock.withLock(engine.enterRaw("recover")), execBytes }
    // The board keeps no runtime between calls (see LEAN_EXEC_RUNTIME): learnt at the first deploy.
    let lean = false
    let depthAsked = false
    const deployRuntime = Effect.suspend(() => {
      const generation = engine.generation
      return resendWhileNothingRan(
        resync,
        rawText(checkedTopLevelRequest(EXEC_RUNTIME), defaultTimeout),
        (e) => classifyAttempt(e, { form: "checked" }),
      ).pipe(
        Effect.mapError((e) => (e._tag === "PythonError" ? fromCheckedRequest(e, 1) : e)),
        // A heap that cannot compile the runtime even once collected is a small board's: requests
        // bring the lean runtime along instead.
        Effect.catchIf(
          (e) => isCompileMemoryError(e, true),
          () => Effect.succeed("shallow"),
        ),
        Effect.tap((answer) =>
          Effect.sync(() => {
            if (engine.generation === generation) runtimeGeneration = generation
            // The runtime answers `shallow`, and removes itself, on a board with no stack to
            // spare for the counting print: requests bring the lean runtime along from then on.
            if (isShallow(answer)) lean = true
          }),
        ),
      )
    })
    const restorePrint = Effect.suspend(() =>
      lean
        ? Effect.void
        : Effect.asVoid(
            runExchangeUnlocked(
              encoder.encode(RESTORE_PRINT_REQUEST),
              Duration.millis(resolved.replyTimeoutMs),
            ),
          ),
    )

    /**
     * One checked exec or eval (see `CheckedOutput.ts`): the runtime deployed when the board does
     * not have it, the request sent again while nothing of it ran, the reply checked frame by
     * frame. Output goes to `deliver` as it is checked; eval's value is the result.
     */
    const checkedCall = (
      kind: "exec" | "eval",
      code: string,
      options: ExecOptions | undefined,
      deliver: (parts: ReadonlyArray<Uint8Array>) => Effect.Effect<void, ProtocolError>,
      printed: () => string,
    ): Effect.Effect<string | undefined, PythonError | ProtocolError> => {
      let attempts = 0
      const attempt = Effect.gen(function* () {
        attempts++
        if (!lean && runtimeGeneration !== engine.generation) {
          // Asked once per connection: a small board gets the lean runtime without being sent
          // the full one first. Only an intact `shallow` counts; anything else deploys, and the
          // runtime asks again itself.
          if (!depthAsked) {
            depthAsked = true
            const answer = yield* Effect.result(
              rawText(checkedTopLevelRequest(STACK_DEPTH_PROBE), defaultTimeout),
            )
            if (answer._tag === "Success" && isShallow(answer.success)) lean = true
          }
          if (!lean) yield* deployRuntime
        }
        const nonce = newExchangeNonce()
        const reader = new CheckedReplyReader(nonce, limitOf(options), lean)
        const built = buildCheckedRequest(kind, code, nonce, lean)
        const request = encoder.encode(built.request)
        const traceback = yield* runExchange(
          request,
          () => (reader.waiting > 0 ? deliver(reader.take()) : Effect.void),
          timeoutOf(options),
          reader,
          // Cut off (timeout, interruption, a protocol failure): wherever the board got to, its
          // own print is put back before anything else runs.
          Effect.ignore(restorePrint),
          () => reader.outputBytes,
        )
        if (reader.waiting > 0) yield* deliver(reader.take())
        const verdict = reader.verdict()
        // A damaged reply (or request: a byte turned into a control byte can cut the exchange
        // short) may have left the counting print in place: put the board's own back.
        if (verdict.damage !== undefined || (reader.hasStarted && !reader.hasEnded))
          yield* Effect.ignore(lock.withLock(restorePrint))
        if (!verdict.started) {
          // The code never started, unless the start frame itself was damaged.
          if (verdict.damage !== undefined || traceback.length === 0)
            return yield* new OutputDamagedError({
              reason: verdict.damage ?? "the start frame never came",
              receivedBytes: reader.outputBytes,
            })
          const error = toPythonError(traceback, "")
          if (error.exceptionType === "NameError" && error.pythonMessage.includes(EXEC_RUNTIME_NAME)) {
            runtimeGeneration = undefined
            return yield* new NothingRan({ error, outcome: "stale" })
          }
          if (isCompileMemoryError(error, true)) return yield* new NothingRan({ error, outcome: "no-heap" })
          // The checked code failed to compile (a SyntaxError in it): the caller's error. A
          // refusal by the runtime's check also shows a frame of its code: it is read first.
          if (isCodeFailure(error) && !isRequestRefused(error))
            return yield* Effect.fail(codeError(toPythonError(traceback, ""), built.codeLine))
          const read = isRequestRefused(error)
            ? new RequestDamagedError({ reason: error.message, attempts })
            : fromCheckedRequest(error, attempts)
          if (read._tag !== "RequestDamagedError") return yield* Effect.fail(read)
          // Sent again from a clean prompt (see resendWhileNothingRan): a byte damaged into a
          // control byte can end a request early and leave its rest to the board as another.
          return yield* new NothingRan({ error: read, outcome: "nothing-ran" })
        }
        if (verdict.damage !== undefined)
          return yield* new OutputDamagedError({ reason: verdict.damage, receivedBytes: reader.outputBytes })
        if (traceback.length > 0)
          return yield* Effect.fail(codeError(toPythonError(traceback, printed()), built.codeLine))
        if (kind === "eval" && verdict.value === undefined)
          return yield* new OutputDamagedError({ reason: "no value came", receivedBytes: reader.outputBytes })
        return verdict.value
      })
      return resendWhileNothingRan(resync, attempt, (e) =>
        e instanceof NothingRan ? e.outcome : "ran",
      ).pipe(
        Effect.catchIf(
          (e): e is NothingRan => e instanceof NothingRan,
          (e) =>
            Effect.fail(
              e.error._tag === "RequestDamagedError"
                ? new RequestDamagedError({ reason: e.error.reason, attempts })
                : e.error,
            ),
        ),
      )
    }

    const exec = (
      code: string,
      options?: ExecOptions,
    ): Effect.Effect<string, PythonError | ProtocolError> => {
      if (!isChecked(options)) return Effect.map(execBytes(code, options), (bytes) => decoder.decode(bytes))
      return Effect.suspend(() => {
        const collected = collector(limitOf(options))
        const deliver = (parts: ReadonlyArray<Uint8Array>) =>
          Effect.forEach(parts, collected.add, { discard: true })
        const text = () => decoder.decode(collected.bytes())
        return Effect.map(checkedCall("exec", code, options, deliver, text), text)
      })
    }

    const evalExpression = (
      expression: string,
      options?: ExecOptions,
    ): Effect.Effect<string, PythonError | ProtocolError> => {
      if (!isChecked(options))
        return Effect.map(exec(`print(repr(${expression}))`, options), (out) => out.replace(/\r?\n$/, ""))
      return Effect.suspend(() => {
        const collected = collector(limitOf(options))
        const deliver = (parts: ReadonlyArray<Uint8Array>) =>
          Effect.forEach(parts, collected.add, { discard: true })
        return Effect.map(
          checkedCall("eval", expression, options, deliver, () => decoder.decode(collected.bytes())),
          (value) => value ?? "",
        )
      })
    }

    const execStream = (
      code: string,
      options?: ExecOptions,
    ): Stream.Stream<string, PythonError | ProtocolError> =>
      Stream.callback<string, PythonError | ProtocolError>(
        (queue) =>
          Effect.gen(function* () {
            const decoder = new TextDecoder()
            let printed = ""
            const offer = (chunk: Uint8Array): Effect.Effect<void> => {
              const text = decoder.decode(chunk, { stream: true })
              if (text.length === 0) return Effect.void
              if (printed.length < 4096) printed += text
              return Effect.asVoid(Queue.offer(queue, text))
            }
            if (isChecked(options)) {
              yield* checkedCall(
                "exec",
                code,
                options,
                (parts) => Effect.forEach(parts, offer, { discard: true }),
                () => printed,
              )
              const rest = decoder.decode()
              if (rest.length > 0) yield* Queue.offer(queue, rest)
              yield* Queue.end(queue)
              return
            }
            const traceback = yield* runExchange(encoder.encode(code), offer, timeoutOf(options))
            const rest = decoder.decode()
            if (rest.length > 0) yield* Queue.offer(queue, rest)
            if (traceback.length > 0) yield* Queue.fail(queue, toPythonError(traceback, printed))
            else yield* Queue.end(queue)
          }).pipe(
            Effect.catchCause((cause) => Queue.failCause(queue, cause)),
            Effect.forkScoped,
          ),
        { bufferSize: 16, strategy: "suspend" },
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
      eval: evalExpression,
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
      connectionState: new StateStore(),
    } satisfies DeviceCommunicationShape
  })

/** Bound on the empty exchange that ends a recovery. */
const FLUSH_BOUND_MS = 300

/** The board's own answer `shallow` (see STACK_DEPTH_PROBE), exactly. */
const isShallow = (answer: string) => answer.trim().split("\n").at(-1)?.trim() === "shallow"

/** A sequence's attempt that ran nothing on the board (so it may be sent again), with why. */
class NothingRan extends Data.TaggedError("NothingRan")<{
  readonly error: PythonError | RequestDamagedError
  readonly outcome: AttemptOutcome
}> {}

/** Collected output, bounded: past `limit` bytes, `add` fails with `OutputLimitError`. */
const collector = (limit: number) => {
  const parts: Uint8Array[] = []
  let total = 0
  return {
    add: (chunk: Uint8Array): Effect.Effect<void, OutputLimitError> => {
      total += chunk.length
      if (total > limit) return Effect.fail(new OutputLimitError({ limitBytes: limit, kind: "collected" }))
      parts.push(chunk)
      return Effect.void
    },
    bytes: (): Uint8Array => {
      const whole = concat(parts, total)
      if (parts.length > 1) {
        parts.length = 0
        parts.push(whole)
      }
      return whole
    },
  }
}

const megabytes = (n: number) =>
  n >= 1024 * 1024
    ? `${(n / (1024 * 1024)).toFixed(1)} MB`
    : n >= 1024
      ? `${(n / 1024).toFixed(1)} KB`
      : `${n} bytes`

/** What the board did during a call that timed out, in words. */
const describeActivity = (received: number, started: number, lastArrival: number): string => {
  if (received === 0)
    return "the code printed nothing: it may be busy without printing, or the board is not answering"
  const quiet = performance.now() - Math.max(started, lastArrival)
  return quiet < 1000
    ? `the code was still running: it printed ${megabytes(received)}, the last ${Math.round(quiet)} ms before the timeout`
    : `the code printed ${megabytes(received)}, then nothing for the last ${(quiet / 1000).toFixed(1)} s`
}

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

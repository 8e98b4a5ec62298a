/**
 * The implementation of the `DeviceCommunication` service (see `DeviceCommunication.ts`): one
 * protocol engine on an open link, its received bytes, the lock that makes exchanges take turns,
 * metrics, recovery after a timeout or an interruption, and the plain, checked and streamed calls.
 */
import {
  type Cause,
  type Context,
  Deferred,
  Duration,
  Effect,
  Metric,
  PubSub,
  Queue,
  type Scope,
  Stream,
} from "effect"
import { BoardFileTransferKey, fileTransferOf, TextOnlyLinkKey } from "./BoardFileTransfer.js"
import { type ByteLink, receiveDirectly } from "./ByteLink.js"
import { boundedBy, collector, describeActivity, toDuration } from "./CallBounds.js"
import { makeCheckedCall, type RunExchange } from "./CheckedCall.js"
import type { DeviceCommunicationShape, ExecOptions, TerminalSession } from "./DeviceCommunication.js"
import {
  type BoardStuckError,
  LinkClosedError,
  type LinkError,
  type ProtocolError,
  ProtocolTimeoutError,
  PythonError,
} from "./errors.js"
import { FairLock } from "./FairLock.js"
import { monotonicMs } from "./MonotonicClock.js"
import { type InterceptedOutput, OutputInterceptorKey } from "./OutputInterceptor.js"
import { MetricsRecorder, TransportMetrics } from "./ProtocolMetrics.js"
import { type BoardResetEvent, RawReplEngine, type RawReplOptions, resolveOptions } from "./RawReplEngine.js"
import { ReceiveBuffer } from "./ReceiveBuffer.js"
import { StateStore } from "./StateStore.js"
import { parseTraceback } from "./Traceback.js"

const encoder = new TextEncoder()
/** For whole-buffer decodes only (no `stream: true`): it keeps no state between calls. */
const decoder = new TextDecoder()

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
    const connectionState = withFileTransfer(new StateStore(), link, lock)
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
        lastArrival = monotonicMs()
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
        lastArrival = monotonicMs()
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
    // With `enterRawOnOpen`, the raw REPL is entered as the connection is made (under the lock, so
    // the first exchange waits for it); its failure is the first exchange's, not a second wait.
    let earlyEntryFailure: ProtocolTimeoutError | BoardStuckError | LinkError | undefined
    const ensureRaw = Effect.suspend(() => {
      const failure = earlyEntryFailure
      // What follows is an exchange: a quick entry's quiet check overlaps its raw-paste request.
      if (failure === undefined) return engine.ensureRaw(true)
      earlyEntryFailure = undefined
      return Effect.fail(failure)
    })

    const runExchange: RunExchange = (code, onStdout, timeout, framing, afterCutOff, printed) => {
      const started = monotonicMs()
      const receivedBefore = recorder.bytesIn
      const body = Effect.gen(function* () {
        yield* ensureRaw
        const sentBefore = recorder.bytesOut
        const exchangeStarted = monotonicMs()
        const out = yield* engine.exchange(code, onStdout, framing)
        const latency = monotonicMs() - exchangeStarted
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
          ensureRaw,
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

    // Writes to the running code's stdin: nothing once its stdout ended (it would reach the REPL).
    const replyWhileRunning = (bytes: Uint8Array): Effect.Effect<void, LinkError> =>
      Effect.suspend(() => (engine.readingStdout ? engine.write(bytes) : Effect.void))

    /**
     * `deliver` behind the connection's output interceptor, if one is set (see
     * `OutputInterceptor.ts`), and what to do when the output ends (hand on what it held back).
     */
    const intercepted = <E>(
      deliver: (chunk: Uint8Array) => Effect.Effect<void, E>,
    ): {
      readonly deliver: (chunk: Uint8Array) => Effect.Effect<void, E | LinkError>
      readonly end: Effect.Effect<void, E>
    } => {
      const interceptor = connectionState.getOrUndefined(OutputInterceptorKey)
      if (interceptor === undefined) return { deliver, end: Effect.void }
      const stream: InterceptedOutput = interceptor.open(replyWhileRunning)
      return {
        deliver: (chunk) =>
          Effect.flatMap(stream.output(chunk), (own) => (own.length > 0 ? deliver(own) : Effect.void)),
        end: Effect.suspend(() => {
          const rest = stream.end()
          return rest.length > 0 ? deliver(rest) : Effect.void
        }),
      }
    }

    const execBytes = (code: string | Uint8Array, options?: ExecOptions) =>
      Effect.suspend(() => {
        const collected = collector(limitOf(options))
        const bytes = typeof code === "string" ? encoder.encode(code) : code
        const out = intercepted(collected.add)
        const run = Effect.tap(runExchange(bytes, out.deliver, timeoutOf(options)), () => out.end)
        return Effect.flatMap(run, (traceback) => {
          const stdout = collected.bytes()
          return traceback.length > 0
            ? Effect.fail(toPythonError(traceback, decoder.decode(stdout)))
            : Effect.succeed(stdout)
        })
      })

    const limitOf = (options: ExecOptions | undefined) => options?.maxOutputBytes ?? resolved.maxOutputBytes
    const isChecked = (options: ExecOptions | undefined) =>
      (options?.integrity ?? resolved.integrity) === "checked"

    const checkedCall = makeCheckedCall({
      generation: () => engine.generation,
      execBytes,
      interrupt: lock.withLock(engine.enterRaw("recover")),
      withLock: (effect) => lock.withLock(effect),
      runExchange,
      runExchangeUnlocked,
      defaultTimeout,
      replyTimeoutMs: resolved.replyTimeoutMs,
      limitOf,
      timeoutOf,
      toPythonError,
    })

    const exec = (
      code: string,
      options?: ExecOptions,
    ): Effect.Effect<string, PythonError | ProtocolError> => {
      if (!isChecked(options)) return Effect.map(execBytes(code, options), (bytes) => decoder.decode(bytes))
      return Effect.suspend(() => {
        const collected = collector(limitOf(options))
        const out = intercepted(collected.add)
        const deliver = (parts: ReadonlyArray<Uint8Array>) =>
          Effect.forEach(parts, out.deliver, { discard: true })
        const text = () => decoder.decode(collected.bytes())
        return Effect.map(
          Effect.tap(checkedCall("exec", code, options, deliver, text), () => out.end),
          text,
        )
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
        const out = intercepted(collected.add)
        const deliver = (parts: ReadonlyArray<Uint8Array>) =>
          Effect.forEach(parts, out.deliver, { discard: true })
        return Effect.map(
          Effect.tap(
            checkedCall("eval", expression, options, deliver, () => decoder.decode(collected.bytes())),
            () => out.end,
          ),
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
            const offerText = (chunk: Uint8Array): Effect.Effect<void> => {
              const text = decoder.decode(chunk, { stream: true })
              if (text.length === 0) return Effect.void
              if (printed.length < 4096) printed += text
              return Effect.asVoid(Queue.offer(queue, text))
            }
            const out = intercepted(offerText)
            const offer = out.deliver
            if (isChecked(options)) {
              yield* checkedCall(
                "exec",
                code,
                options,
                (parts) => Effect.forEach(parts, offer, { discard: true }),
                () => printed,
              )
              yield* out.end
              const rest = decoder.decode()
              if (rest.length > 0) yield* Queue.offer(queue, rest)
              yield* Queue.end(queue)
              return
            }
            const traceback = yield* runExchange(encoder.encode(code), offer, timeoutOf(options))
            yield* out.end
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
      // The link lost while the terminal is open fails its output once what had arrived is read:
      // a person's REPL ends saying so, rather than waiting on a board that is gone.
      yield* Effect.forkScoped(Effect.flatMap(Deferred.await(closed), (error) => Queue.fail(output, error)))
      // Behind an output interceptor, requests are served as the output is read: the friendly
      // REPL's code runs whenever a person sends it, so replies may be written at any time.
      const interceptor = connectionState.getOrUndefined(OutputInterceptorKey)
      const stream = interceptor?.open((bytes) => engine.write(bytes))
      return {
        write: (bytes: Uint8Array) => engine.write(bytes),
        output:
          stream === undefined
            ? Stream.fromQueue(output)
            : Stream.fromQueue(output).pipe(
                Stream.mapEffect(stream.output),
                Stream.filter((bytes) => bytes.length > 0),
              ),
      } satisfies TerminalSession
    })

    if (resolved.enterRawOnOpen)
      yield* Effect.forkScoped(
        lock.withLock(
          Effect.catch(engine.ensureRaw(true), (error) =>
            Effect.sync(() => {
              earlyEntryFailure = error
            }),
          ),
        ),
      )

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
        plainRawPauseMs: engine.plainRawPauseMs,
      })),
      metrics: Effect.sync(() => recorder.snapshot()),
      linkClosed: Deferred.await(closed),
      queueLength: Effect.sync(() => lock.waiting),
      connectionState,
    } satisfies DeviceCommunicationShape
  })

/**
 * The link's own file transfer, if it has one, in the connection's state: it takes its turn with
 * the exchanges. And whether the link carries text only.
 */
const withFileTransfer = (store: StateStore, link: ByteLink, lock: FairLock): StateStore => {
  if (link.textOnly === true) store.set(TextOnlyLinkKey, true)
  const transfer = fileTransferOf(link)
  if (transfer !== undefined) {
    store.set(BoardFileTransferKey, {
      ...transfer,
      put: (path, data) => lock.withLock(transfer.put(path, data)),
      get: (path) => lock.withLock(transfer.get(path)),
    })
  }
  return store
}

/** Bound on the empty exchange that ends a recovery. */
const FLUSH_BOUND_MS = 300

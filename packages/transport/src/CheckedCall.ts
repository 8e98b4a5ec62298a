/**
 * How a checked exec or eval is carried out on one connection (the frames and requests are in
 * `CheckedOutput.ts`, the reply reader in `CheckedReplyReader.ts`): the runtime deployed when the
 * board does not have it (or the lean runtime chosen, for a board with no stack to spare), the
 * request sent again while nothing of it ran, and the reply's verdict read into the caller's
 * result or a typed error.
 */
import { Data, Duration, Effect } from "effect"
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
import type { DeviceCommunicationShape, ExecOptions } from "./DeviceCommunication.js"
import { OutputDamagedError, type ProtocolError, type PythonError, RequestDamagedError } from "./errors.js"
import { isCompileMemoryError } from "./Traceback.js"

/**
 * One exchange under the connection's lock, bounded by `timeout`, with recovery when it is cut
 * off; then `afterCutOff`, still under the lock, when it did not end normally. `printed` counts
 * the output so far for a timeout's message. Succeeds with the traceback (empty when none).
 */
export type RunExchange = (
  code: Uint8Array,
  onStdout: (bytes: Uint8Array) => Effect.Effect<void, ProtocolError>,
  timeout: Duration.Duration | undefined,
  framing?: StdoutFraming,
  afterCutOff?: Effect.Effect<void>,
  printed?: () => number,
) => Effect.Effect<string, ProtocolError>

/** What a checked call needs of its connection. */
export interface CheckedCallContext {
  /** The connection's count of resets seen. */
  readonly generation: () => number
  readonly execBytes: DeviceCommunicationShape["execBytes"]
  /** Ctrl-C and the raw prompt back, under the lock. */
  readonly interrupt: Effect.Effect<void, ProtocolError>
  /** Run under the connection's lock. */
  readonly withLock: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
  readonly runExchange: RunExchange
  /** One exchange for a caller that holds the lock already. */
  readonly runExchangeUnlocked: (
    code: Uint8Array,
    timeout: Duration.Duration,
  ) => Effect.Effect<unknown, ProtocolError>
  readonly defaultTimeout: Duration.Duration | undefined
  readonly replyTimeoutMs: number
  readonly limitOf: (options: ExecOptions | undefined) => number
  readonly timeoutOf: (options: ExecOptions | undefined) => Duration.Duration | undefined
  readonly toPythonError: (traceback: string, stdout: string) => PythonError
}

const encoder = new TextEncoder()
/** For whole-buffer decodes only (no `stream: true`): it keeps no state between calls. */
const decoder = new TextDecoder()

/**
 * The checked calls of one connection: `checkedCall(kind, code, options, deliver, printed)` runs
 * one checked exec or eval; output goes to `deliver` as it is checked; eval's value is the result.
 * It remembers, per connection, whether the board has the runtime and whether it keeps one.
 *
 * @example
 * const checkedCall = makeCheckedCall(connection)
 * yield* checkedCall("eval", "1+1", undefined, deliver, () => "") // "2"
 */
export const makeCheckedCall = (connection: CheckedCallContext) => {
  const {
    generation,
    execBytes,
    interrupt,
    withLock,
    runExchange,
    runExchangeUnlocked,
    defaultTimeout,
    replyTimeoutMs,
    limitOf,
    timeoutOf,
    toPythonError,
  } = connection
  // The generation (count of resets) at which the checked exchanges' runtime was deployed. At
  // connect, the board is taken to have it (an earlier connection since its boot deployed it):
  // when it has not, the first call finds out at the cost of one short round trip.
  let runtimeGeneration: number | undefined = generation()
  const rawText = (code: string, timeout: Duration.Duration | undefined) =>
    Effect.map(execBytes(code, { timeout: timeout ?? Duration.infinity }), (out) => decoder.decode(out))
  // How a request that ran nothing is sent again: from a clean prompt, or on a collected heap.
  const resync = { interrupt, execBytes }
  // The board keeps no runtime between calls (see LEAN_EXEC_RUNTIME): learnt at the first deploy.
  let lean = false
  let depthAsked = false
  const deployRuntime = Effect.suspend(() => {
    const deployedAt = generation()
    return resendWhileNothingRan(resync, rawText(checkedTopLevelRequest(EXEC_RUNTIME), defaultTimeout), (e) =>
      classifyAttempt(e, { form: "checked" }),
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
          if (generation() === deployedAt) runtimeGeneration = deployedAt
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
          runExchangeUnlocked(encoder.encode(RESTORE_PRINT_REQUEST), Duration.millis(replyTimeoutMs)),
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
      if (!lean && runtimeGeneration !== generation()) {
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
        yield* Effect.ignore(withLock(restorePrint))
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
    return resendWhileNothingRan(resync, attempt, (e) => (e instanceof NothingRan ? e.outcome : "ran")).pipe(
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

  return checkedCall
}

/** The board's own answer `shallow` (see STACK_DEPTH_PROBE), exactly. */
const isShallow = (answer: string) => answer.trim().split("\n").at(-1)?.trim() === "shallow"

/** A sequence's attempt that ran nothing on the board (so it may be sent again), with why. */
class NothingRan extends Data.TaggedError("NothingRan")<{
  readonly error: PythonError | RequestDamagedError
  readonly outcome: AttemptOutcome
}> {}

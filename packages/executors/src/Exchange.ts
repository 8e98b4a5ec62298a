/**
 * One call on the board: plan the units it needs, send definitions and call in one checked
 * exchange, and settle what came back: a result, a registry miss (deploy and repeat), or a
 * failure (timeout, interrupt, a compile error to send again, deployed code gone missing).
 * Reading the reply is in `ExchangeReply.ts`; what a traceback says, in `CallFailure.ts`.
 *
 * @internal
 */
import { type DeviceSession, SessionError } from "@belay/core"
import {
  type CheckedExecOptions,
  execChecked,
  execStreamChecked,
  MinifyPython,
  type ProtocolError,
  PythonError,
} from "@belay/transport"
import { type Duration, Effect, Result } from "effect"
import { makeOutputLogger } from "./BoardOutput.js"
import { isCompileError, isMissingName, raisedAtOrAfter } from "./CallFailure.js"
import {
  boardView,
  buildExchange,
  type DeployUnit,
  frameUnit,
  parseRegistry,
  planUnit,
  recordOnBoard,
  type UnitPlan,
} from "./Deployment.js"
import { type Attempt, acceptFrame, sendStreamed } from "./ExchangeReply.js"
import { executorContext } from "./ExecutorContext.js"
import { FramingError, type ResultDecodeError, TaskInterruptedError, TaskTimeoutError } from "./errors.js"
import { excerpt, FrameSequence, newNonce, splitFrames } from "./Framing.js"

/** @internal one call on the board, with the units it needs */
export interface ExchangeRequest {
  /** The task (or thread, module member) name, for errors and logs. */
  readonly label: string
  readonly units: ReadonlyArray<DeployUnit>
  /** The call's lines, given the frame nonce. */
  readonly body: (nonce: string) => ReadonlyArray<string>
  readonly timeout: Duration.Input | undefined
  /** Deliver output as it arrives; without it, output is logged. */
  readonly onOutput?: ((text: string) => Effect.Effect<void>) | undefined
  /** Receive each result frame as it arrives (generator items). Makes the exchange streamed. */
  readonly onResult?: ((repr: string) => Effect.Effect<void, ResultDecodeError>) | undefined
  /** Run even though the session is ending (cleanup of what the session started). */
  readonly duringCleanup?: boolean
  /**
   * Which exception of a cached call means deployed code went missing from the board (deploy
   * and send again). Default: a `NameError` at the call site. A caller whose call line holds
   * code of its own narrows it, so that the code's own `NameError` is not taken for that.
   */
  readonly missingCode?: ((error: PythonError) => boolean) | undefined
}

/** @internal */
export interface ExchangeOutcome {
  /** The `repr()` of each checked result frame, in order (when `onResult` was not given). */
  readonly results: ReadonlyArray<string>
  /** A generator's end frame came, with the count of the items before it. */
  readonly ended: boolean
  /** What the code printed, frames removed. */
  readonly output: string
  /** The plans of the successful attempt, for spans and tests. */
  readonly plans: ReadonlyArray<UnitPlan>
}

export type ExchangeError =
  | TaskInterruptedError
  | PythonError
  | ProtocolError
  | TaskTimeoutError
  | FramingError
  | SessionError
  | ResultDecodeError

const PLAN_ATTRIBUTES = ["belay.plan.0", "belay.plan.1", "belay.plan.2"]
/** The span attribute holding the plans of an attempt. */
const planAttribute = (attempt: number): string => PLAN_ATTRIBUTES[attempt] ?? `belay.plan.${attempt}`

/**
 * Run one call on the board: plan the units, send definitions and call in one exchange, learn
 * the registry when a guarded call misses, and repeat (at most twice more).
 *
 * The path of a cached call (every unit ready, a result back) is plain effect composition: a
 * generator's suspend and resume cost grows with its size, and this runs on every call. The rare
 * outcomes (errors, registry misses) are generators.
 *
 * @internal
 */
export const runOnBoard = (
  session: DeviceSession,
  request: ExchangeRequest,
): Effect.Effect<ExchangeOutcome, ExchangeError> =>
  Effect.suspend(() => {
    if (!session.isActive && request.duringCleanup !== true) {
      return Effect.fail(
        new SessionError({
          sessionId: session.sessionId,
          reason: `cannot call ${request.label}: the session has ended`,
          recoverable: true,
        }),
      )
    }
    return attemptOnBoard(session, request, 0, 0)
  })

const allReady = (plans: ReadonlyArray<UnitPlan>): boolean => plans.every((plan) => plan === "ready")

const attemptOnBoard = (
  session: DeviceSession,
  request: ExchangeRequest,
  attempt: number,
  compileRetries: number,
): Effect.Effect<ExchangeOutcome, ExchangeError> =>
  // Definitions travel minified unless the caller turned it off.
  Effect.withFiber((fiber) =>
    attemptWith(session, request, attempt, compileRetries, fiber.getRef(MinifyPython)),
  )

const attemptWith = (
  session: DeviceSession,
  request: ExchangeRequest,
  attempt: number,
  compileRetries: number,
  minify: boolean,
): Effect.Effect<ExchangeOutcome, ExchangeError> => {
  const device = session.device
  return Effect.flatMap(device.generation, (generation) => {
    const view = boardView(device, generation)
    const context = executorContext(session)
    const plans = request.units.map((unit) => planUnit(context, view, unit, minify))
    const nonce = newNonce()
    const { code, callLine } = buildExchange(request.units, plans, request.body(nonce), nonce, minify)
    const state: Attempt = {
      session,
      request,
      streaming: request.onOutput !== undefined || request.onResult !== undefined,
      attempt,
      compileRetries,
      view,
      plans,
      nonce,
      callLine,
      results: [],
      misses: [],
      sequence: new FrameSequence(),
      output: "",
    }
    // Every exchange is checked end to end (the board runs it only if it arrived intact); once the
    // frame runtime is on the board, through its short form.
    const runtime = allReady(plans) && request.units.includes(frameUnit)
    const execOptions: CheckedExecOptions =
      request.timeout === undefined ? { runtime } : { timeout: request.timeout, runtime }
    if (state.streaming) {
      return Effect.flatMap(sendStreamed(state, execStreamChecked(device, code, execOptions)), (sent) =>
        settle(state, generation, Result.isFailure(sent) ? sent.failure : undefined),
      )
    }
    return Effect.matchEffect(execChecked(device, code, execOptions), {
      onFailure: (error) => settle(state, generation, error),
      onSuccess: (stdout) => {
        const split = splitFrames(stdout, nonce)
        state.output = split.output
        for (const frame of split.frames) {
          const accepted = acceptFrame(state, frame)
          if (Result.isFailure(accepted)) return settle(state, generation, accepted.failure)
          if (accepted.success !== undefined) state.results.push(accepted.success)
        }
        return settle(state, generation, undefined)
      },
    })
  })
}

/** After the exchange: note the plans on the span, then handle what came back. */
const settle = (
  state: Attempt,
  generation: number,
  failure: PythonError | ProtocolError | ResultDecodeError | FramingError | undefined,
): Effect.Effect<ExchangeOutcome, ExchangeError> =>
  Effect.flatMap(state.session.device.generation, (now) => {
    const sameBoard = now === generation
    const plans = state.plans
    return Effect.andThen(
      Effect.annotateCurrentSpan(
        planAttribute(state.attempt),
        plans.length === 1 ? plans[0]! : plans.join(","),
      ),
      failure !== undefined
        ? onExchangeFailure(state, failure, sameBoard)
        : state.misses.length > 0
          ? onRegistryMiss(state, sameBoard)
          : onExchangeSuccess(state, sameBoard),
    )
  })

/** Try again: another attempt, or the same one when only a compile retry was spent. */
const again = (state: Attempt, compileRetry: boolean): Effect.Effect<ExchangeOutcome, ExchangeError> =>
  compileRetry
    ? attemptOnBoard(state.session, state.request, state.attempt, state.compileRetries + 1)
    : attemptOnBoard(state.session, state.request, state.attempt + 1, state.compileRetries)

const onExchangeFailure = (
  state: Attempt,
  error: PythonError | ProtocolError | ResultDecodeError | FramingError,
  sameBoard: boolean,
): Effect.Effect<ExchangeOutcome, ExchangeError> =>
  Effect.gen(function* () {
    const { session, request, view, plans } = state
    if (error._tag === "ProtocolTimeoutError" && error.phase === "call") {
      return yield* new TaskTimeoutError({ task: request.label, timeoutMs: error.timeoutMs })
    }
    if (error._tag !== "PythonError") return yield* Effect.fail(error)
    const cleaned = new PythonError({
      exceptionType: error.exceptionType,
      pythonMessage: error.pythonMessage,
      traceback: error.traceback,
      stdout: splitFrames(error.stdout, state.nonce).output,
    })
    if (sameBoard && plans.some((p) => p === "deploy" || p === "ensure")) {
      if (raisedAtOrAfter(cleaned, state.callLine)) {
        // The call raised: the definitions before it ran and are on the board.
        yield* recordOnBoard(session, view, request.units, plans)
      } else {
        // The definitions themselves failed (or did not compile): check next time.
        request.units.forEach((unit, i) => {
          if (plans[i] === "deploy" || plans[i] === "ensure") view.entries.delete(unit.key)
        })
        view.complete = false
      }
    }
    if (state.compileRetries === 0 && isCompileError(cleaned)) {
      // Nothing ran. Bytes lost on the way (a small board's UART overflowing) are the usual
      // cause; a syntax error in the user's code fails again and is reported then.
      yield* Effect.logWarning("The board could not compile the call; sending it again").pipe(
        Effect.annotateLogs({
          task: request.label,
          sessionId: session.sessionId,
          error: cleaned.message,
        }),
      )
      return yield* again(state, true)
    }
    if (state.attempt < 2 && allReady(plans) && (request.missingCode ?? isMissingName)(cleaned)) {
      // The board lost what this session deployed (a reset the transport did not see).
      for (const unit of request.units) view.entries.delete(unit.key)
      view.complete = false
      yield* Effect.logWarning("Deployed code missing on the board; deploying again").pipe(
        Effect.annotateLogs({ task: request.label, sessionId: session.sessionId }),
      )
      return yield* again(state, false)
    }
    if (!state.streaming && cleaned.stdout.length > 0) {
      yield* makeOutputLogger(request.label, session.sessionId).feed(`${cleaned.stdout}\n`)
    }
    if (cleaned.exceptionType === "KeyboardInterrupt") {
      return yield* new TaskInterruptedError({ task: request.label, stdout: cleaned.stdout })
    }
    return yield* Effect.fail(cleaned)
  })

/** A guarded call found its code missing: learn the board's registry and deploy. */
const onRegistryMiss = (state: Attempt, sameBoard: boolean): Effect.Effect<ExchangeOutcome, ExchangeError> =>
  Effect.gen(function* () {
    const { session, request, view, misses } = state
    if (sameBoard) {
      const registry = yield* Effect.fromResult(parseRegistry(request.label, misses[misses.length - 1]!))
      view.entries = registry
      view.complete = true
    }
    if (state.attempt >= 2) {
      return yield* new FramingError({
        task: request.label,
        reason: "the board's deployment registry still lacks the code after deploying it",
        received: excerpt(misses.join(" ")),
      })
    }
    yield* Effect.logDebug("Code not on the board; deploying").pipe(
      Effect.annotateLogs({ task: request.label, sessionId: session.sessionId }),
    )
    return yield* again(state, false)
  })

const onExchangeSuccess = (state: Attempt, sameBoard: boolean): Effect.Effect<ExchangeOutcome> => {
  const { session, request, view, plans, results, output } = state
  const outcome: ExchangeOutcome = { results, output, plans, ended: state.sequence.ended }
  // A cached call (every unit ready) has nothing new to record.
  const record = sameBoard && !allReady(plans)
  const logOutput = !state.streaming && output.length > 0
  if (!record && !logOutput) return Effect.succeed(outcome)
  return Effect.gen(function* () {
    if (record) yield* recordOnBoard(session, view, request.units, plans)
    if (logOutput) {
      const logger = makeOutputLogger(request.label, session.sessionId)
      yield* logger.feed(output)
      yield* logger.flush
    }
    return outcome
  })
}

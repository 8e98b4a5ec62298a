import { type DeviceSession, SessionError } from "@belay/core"
import {
  type CheckedExecOptions,
  execChecked,
  execStreamChecked,
  type ProtocolError,
  PythonError,
  parsePythonLiteral,
} from "@belay/transport"
import { type Duration, Effect, Result, Stream, Tracer } from "effect"
import {
  type BoardView,
  boardView,
  buildExchange,
  type DeployUnit,
  frameUnit,
  planUnit,
  type UnitPlan,
} from "./Deployment.js"
import { executorContext } from "./ExecutorContext.js"
import { FramingError, type ResultDecodeError, TaskInterruptedError, TaskTimeoutError } from "./errors.js"
import {
  checkFrame,
  excerpt,
  type Frame,
  FrameSequence,
  FrameSplitter,
  newNonce,
  REGISTRY_TAG,
  splitFrames,
} from "./Framing.js"

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

/**
 * Run `effect` as a child span named `name`. The span is what `Effect.withSpan` makes, without
 * the stack frame `withSpan` also puts on the fiber: with a stack frame there, each fiber the
 * transport interrupts during the exchange (the losers of its timeout races) gets its cause
 * annotated, and on a cached call that costs more than all the executor's own work.
 *
 * @internal
 */
export const inSpan = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  name: string,
  attributes: Record<string, unknown>,
): Effect.Effect<A, E, R> =>
  Effect.useSpan(name, { attributes }, (span) => Effect.provideService(effect, Tracer.ParentSpan, span))

const PLAN_ATTRIBUTES = ["belay.plan.0", "belay.plan.1", "belay.plan.2"]
/** The span attribute holding the plans of an attempt. */
const planAttribute = (attempt: number): string => PLAN_ATTRIBUTES[attempt] ?? `belay.plan.${attempt}`

/** A NameError raised at the call site itself (one frame): something the call relied on is missing. */
const isMissingName = (error: PythonError): boolean =>
  error.exceptionType === "NameError" && (error.traceback.match(/File "/g)?.length ?? 0) <= 1

/**
 * A compile-time SyntaxError: one `File "<stdin>", line N` frame and no function name. Nothing
 * ran. Code Belay generates is valid, so on a call without user code this means the board
 * lost bytes on the link; with user code it may also be the user's own error.
 */
const isCompileError = (error: PythonError): boolean => {
  if (error.exceptionType !== "SyntaxError" && error.exceptionType !== "IndentationError") return false
  const frames = error.traceback.match(/File "[^\n]*/g) ?? []
  return frames.length === 1 && !frames[0]!.includes(", in ")
}

/** The module-level frame of the traceback is at or after `line` of the exchange's code. */
const raisedAtOrAfter = (error: PythonError, line: number): boolean => {
  const frame = /File "<stdin>", line (\d+), in <module>/.exec(error.traceback)
  return frame !== null && Number(frame[1]) >= line
}

/** Units deployed, ensured or found by a guard are on the board now: remember it. */
const recordOnBoard = (
  session: DeviceSession,
  view: BoardView,
  units: ReadonlyArray<DeployUnit>,
  plans: ReadonlyArray<UnitPlan>,
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const context = executorContext(session)
    for (let i = 0; i < units.length; i++) {
      const unit = units[i]!
      if (plans[i] === "ready") continue
      view.entries.set(unit.key, unit.hashHex)
      if (!context.isMethodDeployed(unit.key, unit.source.hash)) {
        yield* Effect.ignore(context.registerMethodDeployment(unit.key, unit.source.hash))
        yield* Effect.logDebug(plans[i] === "guard" ? "Deployed code verified" : "Code deployed").pipe(
          Effect.annotateLogs({ unit: unit.key, hash: unit.hashHex, sessionId: session.sessionId }),
        )
      }
    }
  })

/** Log what board code printed, a line per entry. */
export const makeOutputLogger = (label: string, sessionId: string) => {
  let pending = ""
  const log = (line: string) =>
    Effect.logInfo("Board output").pipe(Effect.annotateLogs({ task: label, sessionId, output: line }))
  return {
    feed: (text: string): Effect.Effect<void> => {
      pending += text
      const lines = pending.split(/\r?\n/)
      pending = lines.pop() ?? ""
      return lines.length === 0 ? Effect.void : Effect.forEach(lines, log, { discard: true })
    },
    flush: Effect.suspend(() => {
      const rest = pending
      pending = ""
      return rest.length > 0 ? log(rest) : Effect.void
    }),
  }
}

const parseRegistry = (label: string, repr: string): Result.Result<Map<string, string>, FramingError> => {
  const parsed = parsePythonLiteral(repr)
  if (Result.isSuccess(parsed)) {
    const value = parsed.success
    if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
      const entries = new Map<string, string>()
      for (const [k, v] of Object.entries(value)) if (typeof v === "string") entries.set(k, v)
      return Result.succeed(entries)
    }
  }
  return Result.fail(
    new FramingError({
      task: label,
      reason: "the board's deployment registry is unreadable",
      received: excerpt(repr),
    }),
  )
}

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

/** One attempt of an exchange: what it planned and sent, and what came back. */
interface Attempt {
  readonly session: DeviceSession
  readonly request: ExchangeRequest
  readonly streaming: boolean
  readonly attempt: number
  readonly compileRetries: number
  readonly view: BoardView
  readonly plans: ReadonlyArray<UnitPlan>
  readonly nonce: string
  /** The line of the exchange's code where the call starts (after the definitions). */
  readonly callLine: number
  readonly results: string[]
  readonly misses: string[]
  /** The result frames so far. */
  readonly sequence: FrameSequence
  /** What the code printed, frames removed. */
  output: string
}

const allReady = (plans: ReadonlyArray<UnitPlan>): boolean => plans.every((plan) => plan === "ready")

const attemptOnBoard = (
  session: DeviceSession,
  request: ExchangeRequest,
  attempt: number,
  compileRetries: number,
): Effect.Effect<ExchangeOutcome, ExchangeError> => {
  const device = session.device
  return Effect.flatMap(device.generation, (generation) => {
    const view = boardView(device, generation)
    const context = executorContext(session)
    const plans = request.units.map((unit) => planUnit(context, view, unit))
    const nonce = newNonce()
    const { code, callLine } = buildExchange(request.units, plans, request.body(nonce), nonce)
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

const damagedFrame = (state: Attempt, reason: string, frame: Frame): FramingError =>
  new FramingError({ task: state.request.label, reason, received: excerpt(frame.text) })

/**
 * Check a frame: a result frame in its place in the sequence (its `repr()` is given), the end
 * frame, or the registry (kept in `state.misses`).
 */
const acceptFrame = (state: Attempt, frame: Frame): Result.Result<string | undefined, FramingError> => {
  if (frame.kind === "result") {
    const accepted = state.sequence.accept(frame.text)
    return Result.isSuccess(accepted)
      ? Result.succeed(accepted.success)
      : Result.fail(damagedFrame(state, accepted.failure, frame))
  }
  const checked = checkFrame(frame.text)
  if (Result.isFailure(checked)) return Result.fail(damagedFrame(state, checked.failure, frame))
  if (checked.success.tag !== REGISTRY_TAG) {
    return Result.fail(damagedFrame(state, "a registry frame with a wrong tag", frame))
  }
  state.misses.push(checked.success.repr)
  return Result.succeed(undefined)
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

/** Stream the exchange's stdout: output to the caller (or the log) and frames as they arrive. */
const sendStreamed = (
  state: Attempt,
  stdout: Stream.Stream<string, PythonError | ProtocolError>,
): Effect.Effect<Result.Result<void, PythonError | ProtocolError | ResultDecodeError | FramingError>> => {
  const { request, session } = state
  const onOutput = request.onOutput
  const logger = onOutput === undefined ? makeOutputLogger(request.label, session.sessionId) : undefined
  const deliver = (text: string): Effect.Effect<void> => {
    if (text.length === 0) return Effect.void
    state.output += text
    return onOutput ? onOutput(text) : logger ? logger.feed(text) : Effect.void
  }
  const send = Effect.suspend(() => {
    const splitter = new FrameSplitter(state.nonce)
    return Stream.runForEach(stdout, (chunk) =>
      Effect.gen(function* () {
        const split = splitter.feed(chunk)
        yield* deliver(split.output)
        for (const frame of split.frames) {
          const accepted = acceptFrame(state, frame)
          if (Result.isFailure(accepted)) return yield* accepted.failure
          const repr = accepted.success
          if (repr === undefined) continue
          if (request.onResult) yield* request.onResult(repr)
          else state.results.push(repr)
        }
      }),
    ).pipe(Effect.ensuring(Effect.suspend(() => deliver(splitter.end()))))
  })
  const sent = Effect.result(send)
  return logger ? Effect.tap(sent, () => logger.flush) : sent
}

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
    if (state.attempt < 2 && allReady(plans) && isMissingName(cleaned)) {
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

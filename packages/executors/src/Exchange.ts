import { type DeviceSession, SessionError } from "@belay/core"
import { type ProtocolError, PythonError, parsePythonLiteral } from "@belay/transport"
import { type Duration, Effect, Result, Stream } from "effect"
import {
  type BoardView,
  boardView,
  buildExchange,
  type DeployUnit,
  planUnit,
  type UnitPlan,
} from "./Deployment.js"
import { FramingError, type ResultDecodeError, TaskInterruptedError, TaskTimeoutError } from "./errors.js"
import { excerpt, FrameSplitter, newNonce, splitFrames } from "./Framing.js"

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
  /** Result frames (when `onResult` was not given). */
  readonly results: ReadonlyArray<string>
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
    const context = session.executorContext
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
 * @internal
 */
export const runOnBoard = (
  session: DeviceSession,
  request: ExchangeRequest,
): Effect.Effect<ExchangeOutcome, ExchangeError> =>
  Effect.gen(function* () {
    if (!session.isActive && request.duringCleanup !== true) {
      return yield* new SessionError({
        sessionId: session.sessionId,
        reason: `cannot call ${request.label}: the session has ended`,
        recoverable: true,
      })
    }
    const device = session.device
    const context = session.executorContext
    const streaming = request.onOutput !== undefined || request.onResult !== undefined
    let compileRetries = 0
    for (let attempt = 0; ; attempt++) {
      const generation = yield* device.generation
      const view = boardView(device, generation)
      const plans = request.units.map((unit) => planUnit(context, view, unit))
      const nonce = newNonce()
      const { code, callLine } = buildExchange(request.units, plans, request.body(nonce), nonce)
      const results: string[] = []
      const misses: string[] = []
      let output = ""
      const logger =
        streaming && request.onOutput === undefined
          ? makeOutputLogger(request.label, session.sessionId)
          : undefined
      const deliver = (text: string): Effect.Effect<void> => {
        if (text.length === 0) return Effect.void
        output += text
        return request.onOutput ? request.onOutput(text) : logger ? logger.feed(text) : Effect.void
      }
      const send: Effect.Effect<void, PythonError | ProtocolError | ResultDecodeError> = streaming
        ? Effect.suspend(() => {
            const splitter = new FrameSplitter(nonce)
            return Stream.runForEach(
              device.execStream(
                code,
                request.timeout === undefined ? undefined : { timeout: request.timeout },
              ),
              (chunk) =>
                Effect.gen(function* () {
                  const split = splitter.feed(chunk)
                  yield* deliver(split.output)
                  for (const frame of split.frames) {
                    if (frame.kind === "miss") misses.push(frame.text)
                    else if (request.onResult) yield* request.onResult(frame.text)
                    else results.push(frame.text)
                  }
                }),
            ).pipe(Effect.ensuring(Effect.suspend(() => deliver(splitter.end()))))
          })
        : Effect.map(
            device.exec(code, request.timeout === undefined ? undefined : { timeout: request.timeout }),
            (stdout) => {
              const split = splitFrames(stdout, nonce)
              output = split.output
              for (const frame of split.frames) (frame.kind === "miss" ? misses : results).push(frame.text)
            },
          )
      const sent = yield* Effect.result(send)
      if (logger) yield* logger.flush
      const sameBoard = (yield* device.generation) === generation
      yield* Effect.annotateCurrentSpan({ [`belay.plan.${attempt}`]: plans.join(",") })

      if (Result.isFailure(sent)) {
        const error = sent.failure
        if (error._tag === "ProtocolTimeoutError" && error.phase === "call") {
          return yield* new TaskTimeoutError({ task: request.label, timeoutMs: error.timeoutMs })
        }
        if (error._tag !== "PythonError") return yield* Effect.fail(error)
        const cleaned = new PythonError({
          exceptionType: error.exceptionType,
          pythonMessage: error.pythonMessage,
          traceback: error.traceback,
          stdout: splitFrames(error.stdout, nonce).output,
        })
        if (sameBoard && plans.some((p) => p === "deploy" || p === "ensure")) {
          if (raisedAtOrAfter(cleaned, callLine)) {
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
        if (compileRetries === 0 && isCompileError(cleaned)) {
          // Nothing ran. Bytes lost on the way (a small board's UART overflowing) are the usual
          // cause; a syntax error in the user's code fails again and is reported then.
          compileRetries++
          attempt--
          yield* Effect.logWarning("The board could not compile the call; sending it again").pipe(
            Effect.annotateLogs({
              task: request.label,
              sessionId: session.sessionId,
              error: cleaned.message,
            }),
          )
          continue
        }
        if (attempt < 2 && plans.every((p) => p === "ready") && isMissingName(cleaned)) {
          // The board lost what this session deployed (a reset the transport did not see).
          for (const unit of request.units) view.entries.delete(unit.key)
          view.complete = false
          yield* Effect.logWarning("Deployed code missing on the board; deploying again").pipe(
            Effect.annotateLogs({ task: request.label, sessionId: session.sessionId }),
          )
          continue
        }
        if (!streaming && cleaned.stdout.length > 0) {
          yield* makeOutputLogger(request.label, session.sessionId).feed(`${cleaned.stdout}\n`)
        }
        if (cleaned.exceptionType === "KeyboardInterrupt") {
          return yield* new TaskInterruptedError({ task: request.label, stdout: cleaned.stdout })
        }
        return yield* Effect.fail(cleaned)
      }

      if (misses.length > 0) {
        if (sameBoard) {
          const registry = yield* Effect.fromResult(parseRegistry(request.label, misses[misses.length - 1]!))
          view.entries = registry
          view.complete = true
        }
        if (attempt >= 2) {
          return yield* new FramingError({
            task: request.label,
            reason: "the board's deployment registry still lacks the code after deploying it",
            received: excerpt(misses.join(" ")),
          })
        }
        yield* Effect.logDebug("Code not on the board; deploying").pipe(
          Effect.annotateLogs({ task: request.label, sessionId: session.sessionId }),
        )
        continue
      }

      if (sameBoard) yield* recordOnBoard(session, view, request.units, plans)
      if (!streaming && output.length > 0) {
        const logger = makeOutputLogger(request.label, session.sessionId)
        yield* logger.feed(output)
        yield* logger.flush
      }
      return { results, output, plans }
    }
  })

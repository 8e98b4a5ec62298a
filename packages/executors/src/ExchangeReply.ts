/**
 * Reading the board's reply to one attempt of an exchange: its frames, checked as they arrive
 * (results in sequence, the end frame, the registry a guarded call sends back), and what the code
 * printed, delivered to the caller or the log.
 */
import type { DeviceSession } from "@belay/core"
import type { ProtocolError, PythonError } from "@belay/transport"
import { Effect, Result, Stream } from "effect"
import { makeOutputLogger } from "./BoardOutput.js"
import type { BoardView, UnitPlan } from "./Deployment.js"
import type { ExchangeRequest } from "./Exchange.js"
import { FramingError, type ResultDecodeError } from "./errors.js"
import {
  checkFrame,
  excerpt,
  type Frame,
  type FrameSequence,
  FrameSplitter,
  REGISTRY_TAG,
} from "./Framing.js"

/** One attempt of an exchange: what it planned and sent, and what came back. */
export interface Attempt {
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

const damagedFrame = (state: Attempt, reason: string, frame: Frame): FramingError =>
  new FramingError({ task: state.request.label, reason, received: excerpt(frame.text) })

/**
 * Check a frame: a result frame in its place in the sequence (its `repr()` is given), the end
 * frame, or the registry (kept in `state.misses`).
 */
export const acceptFrame = (
  state: Attempt,
  frame: Frame,
): Result.Result<string | undefined, FramingError> => {
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

/** Stream the exchange's stdout: output to the caller (or the log) and frames as they arrive. */
export const sendStreamed = (
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

/**
 * The bounds of one call on a board: its time (a timer only while the call waits, and what the
 * board was doing when it ran out, in words) and its collected output (a limit in bytes).
 */
import { Duration, Effect, Fiber } from "effect"
import { concatBytes } from "./Bytes.js"
import { OutputLimitError } from "./errors.js"
import { monotonicMs } from "./MonotonicClock.js"

/** The longest delay `setTimeout` takes (about 24.8 days); longer bounds are clamped to it. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** `input` as a finite bound, else `fallbackMs` when finite; undefined for none. */
export const toDuration = (
  input: Duration.Input | undefined,
  fallbackMs: number,
): Duration.Duration | undefined => {
  if (input === undefined) return Number.isFinite(fallbackMs) ? Duration.millis(fallbackMs) : undefined
  const d = Duration.fromInputUnsafe(input)
  return Duration.isFinite(d) ? d : undefined
}

/** Collected output, bounded: past `limit` bytes, `add` fails with `OutputLimitError`. */
export const collector = (limit: number) => {
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
      const whole = concatBytes(parts)
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
export const describeActivity = (received: number, started: number, lastArrival: number): string => {
  if (received === 0)
    return "the code printed nothing: it may be busy without printing, or the board is not answering"
  const quiet = monotonicMs() - Math.max(started, lastArrival)
  return quiet < 1000
    ? `the code was still running: it printed ${megabytes(received)}, the last ${Math.round(quiet)} ms before the timeout`
    : `the code printed ${megabytes(received)}, then nothing for the last ${(quiet / 1000).toFixed(1)} s`
}

/**
 * `body` bounded by `timeout`, then `orElse`. The body runs at once in a child fiber; only when it
 * suspends is a timer set (no fiber for the timer, none forked per wait). On timeout the body is
 * interrupted before `orElse` runs, as with `Effect.timeoutOrElse`.
 */
export const boundedBy = <A, E>(
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

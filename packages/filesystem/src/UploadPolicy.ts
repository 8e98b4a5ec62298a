/**
 * Where an upload stands (a tagged union), and how each class of failure is recovered from: a
 * `Schedule` per class, over that state. `Upload` sends; this module decides what a failure means.
 * @internal
 */
import { PythonError } from "@belay/transport"
import { Cause, Data, type Duration, Effect, Pull, Schedule } from "effect"
import { REPLY_ATTEMPTS } from "./BoardExchange.js"
import type { FileSystemError } from "./errors.js"
import { memoryShrinks, type SizingOptions } from "./UploadPlan.js"

/** What the board must hold when an upload is done, as hex (host side). */
export interface Expected {
  readonly prefixSize: number
  readonly prefixHex: string
  readonly size: number
  readonly digestHex: string
}

/**
 * Where one upload attempt stands. The session's cleanup reads it: whatever stopped the upload, it
 * removes the temporary file, or finishes the commit when the board may hold the whole content.
 */
export type UploadState = Data.TaggedEnum<{
  /** Nothing acknowledged yet: the temporary file may or may not exist. */
  Opening: Record<never, never>
  /** The board holds the open temporary file with the prefix and `offset` bytes of the data. */
  Sending: { readonly offset: number; readonly prefixSize: number; readonly prefixHex: string }
  /** The exchange that closes the data was sent: the board may have verified, even committed, it. */
  Finishing: { readonly expected: Expected }
  /** An on-board copy onto the real name began: the temporary file is the only whole copy. */
  Committing: { readonly expected: Expected }
  /** After a reset, a lost link or a failed commit: finishing from what the board holds. */
  RollingForward: { readonly expected: Expected; readonly copyStarted: boolean }
  /** Committed (or refused and removed by the board): nothing to clean up. */
  Done: Record<never, never>
}>

/** Constructors and matchers of {@link UploadState}. */
export const UploadState = Data.taggedEnum<UploadState>()

/** Did an on-board copy onto the real name begin (the real file may be partly overwritten)? */
export const copyStarted = (state: UploadState): boolean =>
  state._tag === "Committing" || (state._tag === "RollingForward" && state.copyStarted)

/** The state a roll-forward starts from: what must be finished, and whether a copy already began. */
export const rollForward = (state: UploadState, expected: Expected): UploadState =>
  UploadState.RollingForward({ expected, copyStarted: copyStarted(state) })

/** What the session's cleanup does for an upload left in `state`. */
export type Cleanup =
  | { readonly _tag: "Nothing" }
  | { readonly _tag: "Abort" }
  /** Finish from what the board holds; failing that, abort unless a copy began (see {@link copyStarted}). */
  | { readonly _tag: "Recover"; readonly expected: Expected }

/** The cleanup of an upload left in `state`. */
export const cleanupOf = (state: UploadState): Cleanup =>
  UploadState.$match(state, {
    Done: (): Cleanup => ({ _tag: "Nothing" }),
    Opening: (): Cleanup => ({ _tag: "Abort" }),
    Sending: (): Cleanup => ({ _tag: "Abort" }),
    Finishing: (s): Cleanup => ({ _tag: "Recover", expected: s.expected }),
    Committing: (s): Cleanup => ({ _tag: "Recover", expected: s.expected }),
    RollingForward: (s): Cleanup => ({ _tag: "Recover", expected: s.expected }),
  })

/**
 * Part of an upload exchange arrived damaged and refused to run (a chunk of the wrong length, a
 * checked request whose sum failed); what ran before it was taken into the state. The rest is sent
 * again.
 */
export class DamagedExchange extends Data.TaggedError("DamagedExchange")<{ readonly error: PythonError }> {}

/** The board had no memory to compile an exchange (nothing ran): it is sent again, smaller. */
export class ExchangeTooLarge extends Data.TaggedError("ExchangeTooLarge")<{
  readonly error: PythonError
  readonly chunkBytes: number
}> {}

/** The failures of one exchange that the exchange recovers from itself, by sending again. */
export type ExchangeRetry = DamagedExchange | ExchangeTooLarge

/**
 * Damaged exchanges one upload attempt sends again. Each resend carries only what did not run; a
 * link that damages more than this is failing, and the attempt stops with the board's error.
 */
export const DAMAGED_RESENDS = 7

/**
 * A schedule per class of failure, stepped by the failures of its own class only; a failure of a
 * class without one (or whose schedule is done) stops the retry.
 *
 * @example
 * Effect.retry(exchange, perErrorClass((e) => e._tag, { Damaged: Schedule.recurs(7) }))
 */
export const perErrorClass = <E, K extends string>(
  classOf: (error: E) => K | undefined,
  schedules: { readonly [k in K]: Schedule.Schedule<unknown, E> },
): Schedule.Schedule<K | undefined, E> =>
  Schedule.fromStep(
    Effect.sync(() => {
      const steps = new Map<K, ScheduleStep<E>>()
      const stepOf = (key: K): Effect.Effect<ScheduleStep<E>> => {
        const known = steps.get(key)
        return known !== undefined
          ? Effect.succeed(known)
          : Effect.tap(Schedule.toStep(schedules[key]), (step) => Effect.sync(() => steps.set(key, step)))
      }
      return (now: number, error: E): Pull.Pull<[K | undefined, Duration.Duration], never, K | undefined> => {
        const key = classOf(error)
        if (key === undefined) return Cause.done(undefined)
        return stepOf(key).pipe(
          Effect.flatMap((step) => step(now, error)),
          Effect.map(([, delay]): [K | undefined, Duration.Duration] => [key, delay]),
          Pull.catchDone(() => Cause.done(key)),
        )
      }
    }),
  )

type ScheduleStep<E> = (now: number, input: E) => Pull.Pull<[unknown, Duration.Duration], never, unknown>

/**
 * How one exchange recovers: a damaged one is sent again ({@link DAMAGED_RESENDS} times per
 * attempt), one the board could not compile is sent again smaller (as often as shrinking can help,
 * see `memoryShrinks`). Any other failure is not retried here.
 */
export const exchangeRecovery = (
  sizing: Pick<SizingOptions, "maxChunkBytes">,
): Schedule.Schedule<ExchangeRetry["_tag"] | undefined, ExchangeRetry | FileSystemError> =>
  perErrorClass(
    (error: ExchangeRetry | FileSystemError) =>
      error._tag === "DamagedExchange" || error._tag === "ExchangeTooLarge" ? error._tag : undefined,
    {
      DamagedExchange: Schedule.recurs(DAMAGED_RESENDS),
      ExchangeTooLarge: Schedule.recurs(memoryShrinks(sizing)),
    },
  )

/** Failures after which a whole upload is worth another attempt: the content did not check out, or no memory for it. */
export const isAttemptRetryable = (error: { readonly _tag: string }): boolean =>
  error._tag === "TransferVerificationError" || error._tag === "BoardMemoryError"

/**
 * Whole upload attempts after the first: `verifyRetries` more, on a failure that another attempt
 * may not meet ({@link isAttemptRetryable}), each logged.
 */
export const attemptRecovery = (
  verifyRetries: number,
  path: string,
): Schedule.Schedule<number, FileSystemError> =>
  Schedule.recurs(verifyRetries).pipe(
    Schedule.setInputType<FileSystemError>(),
    Schedule.while(({ input }) => isAttemptRetryable(input)),
    Schedule.tap(({ input, attempt }) =>
      Effect.logWarning("Upload attempt failed; retrying").pipe(
        Effect.annotateLogs({ path, attempt, error: input.message }),
      ),
    ),
  )

/**
 * Failures after which a cleanup exchange is worth sending again: the link is up but an exchange
 * was lost or damaged on the way, the board reset under it (its files stay), or a stray Ctrl-C (an
 * interrupt of an earlier exchange, repeated on the line) interrupted it. Cleanup exchanges are
 * idempotent (`recover` looks at the board afresh each time).
 *
 * @example
 * isTransientFailure(new BoardResetError({ phase: "stdout", banner: "" })) // true
 */
export const isTransientFailure = (error: { readonly _tag: string }): boolean =>
  error._tag === "ProtocolTimeoutError" ||
  error._tag === "UnexpectedBytesError" ||
  error._tag === "UnexpectedBoardReplyError" ||
  error._tag === "RequestDamagedError" ||
  error._tag === "OutputDamagedError" ||
  error._tag === "BoardResetError" ||
  (error instanceof PythonError && error.exceptionType === "KeyboardInterrupt")

/** Sends of a cleanup exchange (abort, or recover): a few, since a cleanup that fails leaves files for later. */
export const CLEANUP_ATTEMPTS = 4

/** A cleanup exchange sent again after a transient failure, {@link CLEANUP_ATTEMPTS} sends in all. */
export const retryCleanup = <A, E extends { readonly _tag: string }, R>(
  cleanup: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> =>
  Effect.retry(cleanup, { schedule: Schedule.recurs(CLEANUP_ATTEMPTS - 1), while: isTransientFailure })

/**
 * An inspection asked again when its reply arrived damaged, `REPLY_ATTEMPTS` times in all, as any
 * read-only exchange (inspecting changes nothing on the board but closing the upload's handle).
 */
export const retryInspect = <A, E extends { readonly _tag: string }, R>(
  inspect: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> =>
  Effect.retry(inspect, {
    schedule: Schedule.recurs(REPLY_ATTEMPTS - 1),
    while: (e) => e._tag === "UnexpectedBoardReplyError",
  })

/**
 * Exchanges with the board for file operations: what every operation needs about its session
 * and board (`FsRuntime`), running code (guarded, sent again when it arrived damaged), checking
 * and parsing replies, and mapping what the board raised to typed errors.
 * @internal
 */
import type { DeviceCapabilities, DeviceSession } from "@belay/core"
import {
  type DeviceCommunicationShape,
  type ProtocolError,
  PythonError,
  type PythonValue,
  parsePythonLiteral,
} from "@belay/transport"
import {
  type AttemptForm,
  type AttemptOutcome,
  classifyAttempt,
  fromCheckedRequest,
  latin1String,
  resendWhileNothingRan,
} from "@belay/transport/internal"
import { Duration, Effect, Result, Schedule, Stream } from "effect"
import { type BoardDialect, FRAMED_OS_ERROR, guardCode } from "./BoardCode.js"
import {
  type DeviceProfile,
  errnoName,
  errnoNumber,
  type SizingOptions,
  type TransferProbe,
} from "./BoardProfile.js"
import type { UploadEncoding } from "./Encoding.js"
import {
  type BoardFileError,
  BoardFileSystemError,
  DirectoryNotEmptyError,
  FileExistsError,
  FileNotFoundError,
  IsADirectoryError,
  NoSpaceError,
  NotADirectoryError,
  ReadOnlyFileSystemError,
  UnexpectedBoardReplyError,
} from "./errors.js"
import { unframeReply } from "./ReplyFrame.js"

export interface FsRuntime {
  readonly session: DeviceSession
  readonly device: DeviceCommunicationShape
  readonly capabilities: DeviceCapabilities
  readonly profile: DeviceProfile
  readonly probe: TransferProbe
  readonly dialect: BoardDialect
  readonly encoding: UploadEncoding
  readonly sizing: SizingOptions
  readonly verifyRetries: number
  /** The link is known to have no flow control (plain raw mode): size exchanges and literals for it. */
  readonly guarded: boolean
}

const decoder = new TextDecoder()

/**
 * The code arrived damaged (what this package sends always compiles and names only what it
 * defines): nothing ran, sending it again is safe. The transport's {@link classifyAttempt} decides.
 */
export const isDamagedInTransit = (error: unknown, code?: string): boolean =>
  classifyAttempt(error, code === undefined ? { form: "plain" } : { form: "plain", code }) === "nothing-ran"

/** Attempts of an exchange whose code arrived damaged (or could not be parsed for lack of memory). */
export const TRANSIT_ATTEMPTS = 4

const latin1 = (code: string | Uint8Array) => (typeof code === "string" ? code : latin1String(code))

/**
 * Run code on the board; stdout as text. The code is guarded (runs only if it arrived whole) unless
 * `guard: false`; code damaged on the way, or that the board had no memory to parse, is sent again
 * (nothing of it ran).
 */
export const run = (
  rt: Pick<FsRuntime, "device" | "guarded">,
  code: string | Uint8Array,
  timeoutMs = 30_000,
  options: RunOptions = {},
): Effect.Effect<string, PythonError | ProtocolError> =>
  Effect.map(runBytes(rt, code, timeoutMs, options), (out) => decoder.decode(out))

export interface RunOptions {
  readonly guard?: boolean
  /** The caller composed the code of parts that may run before a later part fails: resend only what never ran. */
  readonly composed?: boolean
}

/** {@link run}, with stdout as bytes. */
export const runBytes = (
  rt: Pick<FsRuntime, "device" | "guarded">,
  code: string | Uint8Array,
  timeoutMs: number | undefined = 30_000,
  options: RunOptions = {},
): Effect.Effect<Uint8Array, PythonError | ProtocolError> =>
  Effect.suspend(() => {
    let attempt = 0
    // Code is always guarded (a checked request, see `guardCode`): a path damaged on the way would
    // otherwise be acted on (a file created under another name, "absent" for a present file).
    const guarded = typeof code === "string" && !options.composed && (options.guard ?? true)
    const sent = guarded ? guardCode(code as string) : code
    const form: AttemptForm = guarded
      ? { form: "checked" }
      : options.composed
        ? { form: "composed" }
        : { form: "plain", code: latin1(sent) }
    const send = Effect.suspend(() => {
      attempt++
      return rt.device.execBytes(sent, timeoutMs === undefined ? {} : { timeout: Duration.millis(timeoutMs) })
    })
    const once = resendWhileNothingRan(rt.device, send, (e) => classifyAttempt(e, form), {
      attempts: TRANSIT_ATTEMPTS,
      onResend: (e, outcome) => logResend(e, outcome, attempt),
    })
    // What the caller sees of a checked request: a refusal as RequestDamagedError, the code's own
    // errors with tracebacks as if it had been sent plainly.
    return guarded
      ? Effect.mapError(once, (e) => (e instanceof PythonError ? fromCheckedRequest(e, attempt) : e))
      : once
  })

const logResend = (error: { readonly message: string }, outcome: AttemptOutcome, attempt: number) =>
  outcome === "no-heap"
    ? Effect.logDebug("Board out of memory parsing; collected, sending again").pipe(
        Effect.annotateLogs({ error: error.message, attempt }),
      )
    : Effect.logWarning("Code arrived damaged on the board; sending it again").pipe(
        Effect.annotateLogs({ error: error.message, attempt }),
      )

const CHECKED: AttemptForm = { form: "checked" }

/**
 * {@link run} for code whose output is read as it comes (a download's pieces): guarded the same
 * way (it runs only if it arrived whole, so a helper that lost a byte never runs) and sent again
 * while none of it ran; stdout goes to `onText` as it arrives, the output unchecked (the caller
 * checks it: a download's size and hash). `onSend` runs before each send: what an earlier send
 * handed on is to be dropped.
 */
export const runStreamed = (
  rt: Pick<FsRuntime, "device">,
  code: string,
  timeoutMs: number,
  onText: (text: string) => void,
  onSend: () => void,
): Effect.Effect<void, PythonError | ProtocolError> =>
  Effect.suspend(() => {
    let attempt = 0
    const sent = guardCode(code)
    const send = Effect.suspend(() => {
      attempt++
      onSend()
      // Unchecked as an exchange: the guard checks the request, the caller the output.
      const output = rt.device.execStream(sent, {
        timeout: Duration.millis(timeoutMs),
        integrity: "unchecked",
      })
      return Stream.runForEach(output, (text) => Effect.sync(() => onText(text)))
    })
    return resendWhileNothingRan(rt.device, send, (e) => classifyAttempt(e, CHECKED), {
      attempts: TRANSIT_ATTEMPTS,
      onResend: (e, outcome) => logResend(e, outcome, attempt),
    }).pipe(Effect.mapError((e) => (e instanceof PythonError ? fromCheckedRequest(e, attempt) : e)))
  })

/** Every non-empty line of a reply, parsed as a Python literal. */
export const parseLines = (
  text: string,
  operation: string,
  path: string,
): Effect.Effect<PythonValue[], UnexpectedBoardReplyError> =>
  Effect.suspend(() => {
    const values: PythonValue[] = []
    for (const line of text.split(/\r?\n/)) {
      if (line.trim() === "") continue
      const parsed = parsePythonLiteral(line)
      if (Result.isFailure(parsed)) {
        return Effect.fail(
          new UnexpectedBoardReplyError({
            operation,
            path,
            reason: parsed.failure.message,
            reply: line.slice(0, 200),
          }),
        )
      }
      values.push(parsed.success)
    }
    return Effect.succeed(values)
  })

/** The last line of a reply, parsed. */
export const parseLast = (
  text: string,
  operation: string,
  path: string,
): Effect.Effect<PythonValue, UnexpectedBoardReplyError> =>
  Effect.flatMap(parseLines(text, operation, path), (values) =>
    values.length > 0
      ? Effect.succeed(values[values.length - 1]!)
      : Effect.fail(
          new UnexpectedBoardReplyError({ operation, path, reason: "no reply", reply: text.slice(0, 200) }),
        ),
  )

export const unexpected = (operation: string, path: string, reason: string, reply: unknown) =>
  new UnexpectedBoardReplyError({ operation, path, reason, reply: String(reply).slice(0, 200) })

/**
 * Map what the board raised to a typed error: OSError by errno (the board's own numbers first,
 * the micro:bit's messages too); anything else stays a `PythonError`.
 */
export const mapOSError = (
  error: PythonError,
  operation: string,
  path: string,
  probe: TransferProbe | undefined,
  bytes?: number,
): BoardFileError | PythonError => {
  if (error.exceptionType !== "OSError") return error
  const name = errnoName(error.pythonMessage, probe)
  switch (name) {
    case "ENOENT":
      return new FileNotFoundError({ operation, path })
    case "ENOTDIR":
      return new NotADirectoryError({ operation, path })
    case "EISDIR":
      return new IsADirectoryError({ operation, path })
    case "EEXIST":
      return new FileExistsError({ operation, path })
    case "ENOTEMPTY":
      return new DirectoryNotEmptyError({ operation, path })
    case "ENOSPC":
      return new NoSpaceError(bytes === undefined ? { operation, path } : { operation, path, bytes })
    case "EROFS":
      return new ReadOnlyFileSystemError({ operation, path })
  }
  return new BoardFileSystemError({
    operation,
    path,
    errno: errnoNumber(error.pythonMessage),
    reason: error.pythonMessage || "OSError",
  })
}

/** `Effect.catchTag("PythonError", ...)` with {@link mapOSError}. */
export const mapBoardErrors =
  (operation: string, path: string, probe: TransferProbe | undefined, bytes?: number) =>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
  ): Effect.Effect<A, Exclude<E, PythonError> | BoardFileError | PythonError, R> =>
    Effect.catchIf(
      effect,
      (e): e is Extract<E, PythonError> => e instanceof PythonError,
      (e) => Effect.fail(mapOSError(e, operation, path, probe, bytes)),
    ) as Effect.Effect<A, Exclude<E, PythonError> | BoardFileError | PythonError, R>

const encoderUtf8 = new TextEncoder()

/** The values of a framed reply, checked ({@link unframeReply}) then parsed. */
export const parseFramed = (
  reply: string | Uint8Array,
  operation: string,
  path: string,
): Effect.Effect<PythonValue[], UnexpectedBoardReplyError> =>
  Effect.suspend(() => {
    const bytes = typeof reply === "string" ? encoderUtf8.encode(reply) : reply
    const lines = unframeReply(bytes)
    if (Result.isFailure(lines)) {
      return Effect.fail(unexpected(operation, path, lines.failure, decoder.decode(bytes)))
    }
    return parseLines(lines.success.join("\n"), operation, path)
  })

/** Attempts of a read-only exchange whose reply arrived damaged (reads are idempotent). */
export const REPLY_ATTEMPTS = 3

/**
 * Run framed code (see `framedReply`) and return the values it replied with, checked end to end.
 * An OSError the board caught inside the frame fails typed (by errno), like {@link mapOSError};
 * an OSError outside the frame cannot come from the code and means the reply was damaged. With
 * `readOnly`, a damaged reply is asked for again, {@link REPLY_ATTEMPTS} times in all.
 */
export const runFramed = (
  rt: Pick<FsRuntime, "device" | "guarded" | "probe">,
  code: string | Uint8Array,
  request: {
    readonly operation: string
    readonly path: string
    readonly readOnly: boolean
    /** Bound of the exchange; default the connection's own (`execTimeoutMs`). */
    readonly timeoutMs?: number
  },
): Effect.Effect<PythonValue[], BoardFileError | PythonError | ProtocolError | UnexpectedBoardReplyError> => {
  const { operation, path } = request
  const once = Effect.gen(function* () {
    const out = yield* runBytes(rt, code, request.timeoutMs).pipe(
      Effect.catchIf(
        (e): e is PythonError => e instanceof PythonError && e.exceptionType === "OSError",
        (e) => Effect.fail(unexpected(operation, path, "an OSError outside the reply frame", e.traceback)),
      ),
    )
    const values = yield* parseFramed(out, operation, path)
    const failed = values.find((v) => Array.isArray(v) && v.length === 2 && v[0] === FRAMED_OS_ERROR) as
      | PythonValue[]
      | undefined
    if (failed !== undefined) {
      const errno = failed[1]
      const error = new PythonError({
        exceptionType: "OSError",
        pythonMessage:
          typeof errno === "number" || typeof errno === "bigint" || typeof errno === "string"
            ? String(errno)
            : "",
        traceback: "",
        stdout: "",
      })
      return yield* Effect.fail(mapOSError(error, operation, path, rt.probe))
    }
    return values.filter((v) => v !== failed)
  })
  if (!request.readOnly) return once
  // A read-only question is asked again when its reply arrived damaged (asking twice changes
  // nothing on the board); a write's damaged reply goes to its caller, which knows how to recover.
  return once.pipe(
    Effect.tapError((e) =>
      e instanceof UnexpectedBoardReplyError
        ? Effect.logWarning(
            `Board reply arrived damaged (a read-only question: asked ${REPLY_ATTEMPTS} times at most)`,
          ).pipe(Effect.annotateLogs({ operation, path, error: e.message }))
        : Effect.void,
    ),
    Effect.retry({
      while: (e) => e instanceof UnexpectedBoardReplyError,
      schedule: Schedule.recurs(REPLY_ATTEMPTS - 1),
    }),
  )
}

/**
 * Bound of one exchange that sends `wireBytes` back: four times their link time at the link's
 * measured rate (or the configured one, or 115200 baud), plus four times `exchangeMs`. Finite
 * whatever a damaged reply said the size was, and short enough that a board gone silent in the
 * middle of a read is noticed in seconds, not minutes.
 *
 * @example
 * replyTimeoutMs(rt, 20_000) // 8000 + 4 * 20000 / 11.52 ≈ 14944 at 115200 baud
 */
export const replyTimeoutMs = (rt: Pick<FsRuntime, "profile" | "sizing">, wireBytes: number): number => {
  const rate = rt.profile.rate ?? (rt.sizing.linkBytesPerSecond ?? 11_520) / 1000
  return Math.ceil(4 * rt.sizing.exchangeMs + (4 * Math.max(0, wireBytes)) / rate)
}

/** A number from a parsed reply (ints may come as bigint). */
export const asNumber = (value: PythonValue | undefined): number | undefined =>
  typeof value === "number" ? value : typeof value === "bigint" ? Number(value) : undefined

import { Data } from "effect"

/** Render up to `max` bytes as a hex excerpt, e.g. `72 61 77 20 …(+120 bytes)`. */
export const hexExcerpt = (bytes: Uint8Array, max = 48): string => {
  const shown = Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, "0")).join(" ")
  return bytes.length > max ? `${shown} …(+${bytes.length - max} bytes)` : shown
}

/**
 * A link could not be opened (no such port, permission denied, command not found).
 *
 * @example
 * Effect.catchTag("LinkOpenError", (e) => Console.error(`cannot open ${e.link}: ${e.reason}`))
 * @since 0.1.0
 */
export class LinkOpenError extends Data.TaggedError("LinkOpenError")<{
  readonly link: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `cannot open ${this.link}: ${this.reason}`
  }
}

/**
 * The link was closed (by us, or by the other side in an orderly way) while it was still needed.
 *
 * @example
 * Effect.catchTag("LinkClosedError", () => reconnect)
 * @since 0.1.0
 */
export class LinkClosedError extends Data.TaggedError("LinkClosedError")<{
  readonly link: string
  readonly reason: string
}> {
  override get message() {
    return `link ${this.link} is closed: ${this.reason}`
  }
}

/**
 * The link broke: the device disappeared, the process died, an I/O error happened.
 *
 * @example
 * Effect.catchTag("LinkLostError", (e) => Effect.logWarning(e.message))
 * @since 0.1.0
 */
export class LinkLostError extends Data.TaggedError("LinkLostError")<{
  readonly link: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `link ${this.link} was lost: ${this.reason}`
  }
}

/**
 * Any failure of the byte link itself.
 *
 * @example
 * comm.exec("x").pipe(Effect.catchTags({ LinkClosedError: () => reopen, LinkLostError: () => reopen }))
 * @since 0.1.0
 */
export type LinkError = LinkClosedError | LinkLostError

/**
 * The phases of a raw REPL exchange; every timeout and unexpected reply names one.
 *
 * @example
 * Effect.catchTag("ProtocolTimeoutError", (e) => Console.error(`no answer while in ${e.phase}`))
 * @since 0.1.0
 */
export type ProtocolPhase =
  | "interrupt"
  | "enter-raw"
  | "raw-paste-negotiate"
  | "raw-paste-window"
  | "raw-paste-echo"
  | "raw-ok"
  | "stdout"
  | "traceback"
  | "prompt"
  | "soft-reset"
  | "leave-raw"

/**
 * The board did not answer within the bound for this phase.
 *
 * @example
 * Effect.catchTag("ProtocolTimeoutError", (e) => Console.error(`${e.phase} after ${e.timeoutMs} ms`))
 * @since 0.1.0
 */
export class ProtocolTimeoutError extends Data.TaggedError("ProtocolTimeoutError")<{
  readonly phase: ProtocolPhase | "call"
  readonly timeoutMs: number
  /** Hex excerpt of the bytes received in this phase before the timeout. */
  readonly received: string
  /**
   * For a whole call: what the board did meanwhile, e.g. `the code was still running: it printed
   * 12 MB, the last 3 ms before the timeout` or `the board sent nothing`.
   */
  readonly activity?: string
}> {
  override get message() {
    return this.phase === "call" && this.activity !== undefined
      ? `the call did not finish within ${this.timeoutMs} ms (${this.activity})`
      : `board did not answer in phase "${this.phase}" within ${this.timeoutMs} ms (received: ${this.received || "nothing"})`
  }
}

/**
 * The board sent bytes that the protocol does not allow at this point.
 *
 * @example
 * Effect.catchTag("UnexpectedBytesError", (e) => Console.error(e.expected, e.received))
 * @since 0.1.0
 */
export class UnexpectedBytesError extends Data.TaggedError("UnexpectedBytesError")<{
  readonly phase: ProtocolPhase
  /** What the protocol expected, in words. */
  readonly expected: string
  /** Hex excerpt of what came instead. */
  readonly received: string
}> {
  override get message() {
    return `unexpected reply in phase "${this.phase}": expected ${this.expected}, got ${this.received}`
  }
}

/**
 * The board reset (soft reboot or power-on banner seen) while an exchange was running.
 * Everything the board held in RAM (threads, deployed functions, globals) is gone.
 *
 * @example
 * Effect.catchTag("BoardResetError", () => redeploy)
 * @since 0.1.0
 */
export class BoardResetError extends Data.TaggedError("BoardResetError")<{
  readonly phase: ProtocolPhase
  /** The banner text that revealed the reset. */
  readonly banner: string
}> {
  override get message() {
    return `board reset during phase "${this.phase}" (${JSON.stringify(this.banner.slice(0, 80))})`
  }
}

/**
 * Interrupting running code (Ctrl-C) did not bring the prompt back within the bound.
 *
 * @example
 * Effect.catchTag("BoardStuckError", () => hardReset)
 * @since 0.1.0
 */
export class BoardStuckError extends Data.TaggedError("BoardStuckError")<{
  readonly waitedMs: number
  readonly received: string
}> {
  override get message() {
    return `board did not return to the prompt ${this.waitedMs} ms after an interrupt (received: ${this.received || "nothing"})`
  }
}

/**
 * Python code raised an exception on the board.
 *
 * @example
 * Effect.catchTag("PythonError", (e) => Console.error(e.exceptionType, e.pythonMessage, e.traceback))
 * @since 0.1.0
 */
export class PythonError extends Data.TaggedError("PythonError")<{
  /** e.g. `ZeroDivisionError` */
  readonly exceptionType: string
  /** The exception's message, e.g. `divide by zero`; empty when it has none. */
  readonly pythonMessage: string
  /** The full traceback text as the board printed it. */
  readonly traceback: string
  /** What the code printed before it raised. */
  readonly stdout: string
}> {
  override get message() {
    return this.pythonMessage ? `${this.exceptionType}: ${this.pythonMessage}` : this.exceptionType
  }
}

/**
 * A checked request (see `execChecked`) reached the board damaged: its length or checksum did not
 * match, so the board ran none of it. Safe to send again.
 *
 * @example
 * Effect.catchTag("RequestDamagedError", (e) => Effect.logWarning(e.message))
 * @since 0.1.0
 */
export class RequestDamagedError extends Data.TaggedError("RequestDamagedError")<{
  /** What the board reported, e.g. `NameError: name '_belay_request_damaged' isn't defined`. */
  readonly reason: string
  /** How many times the request was sent. */
  readonly attempts: number
}> {
  override get message() {
    return `the request reached the board damaged ${this.attempts} time(s) and was not run (${this.reason})`
  }
}

/**
 * The reply of a checked exchange arrived damaged: the code ran (its start frame came), but a
 * frame of its output, its value, or the end of the reply failed its check. The output and the
 * value are not given, because they cannot be believed. Running the code again is the caller's
 * decision: it may have had effects.
 *
 * @example
 * Effect.catchTag("OutputDamagedError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class OutputDamagedError extends Data.TaggedError("OutputDamagedError")<{
  /** What failed its check. */
  readonly reason: string
  /** Bytes of output received (checked and not) before the damage was found. */
  readonly receivedBytes: number
}> {
  override get message() {
    return `the code ran, but its reply arrived damaged on the link (${this.reason}); its output is not trusted`
  }
}

/**
 * A call collected more output than its limit (`maxOutputBytes`): it was stopped (Ctrl-C on the
 * board) rather than let the host's memory grow without bound.
 *
 * @example
 * device.exec(code, { maxOutputBytes: 64 * 1024 * 1024 })
 * @since 0.1.0
 */
export class OutputLimitError extends Data.TaggedError("OutputLimitError")<{
  readonly limitBytes: number
  /**
   * `collected`: a call that collects its output (`exec`, `eval`) got more than `limitBytes`;
   * `unread`: the caller read a stream's output more slowly than the board printed it, and more
   * than `limitBytes` waited on the host.
   */
  readonly kind: "collected" | "unread"
}> {
  override get message() {
    return this.kind === "collected"
      ? `the code printed more than ${this.limitBytes} bytes, the limit of collected output; it was interrupted (stream the output, or raise maxOutputBytes)`
      : `more than ${this.limitBytes} bytes of the board's output waited unread on the host; the code was interrupted`
  }
}

/**
 * Everything an exchange with the board can fail with.
 *
 * @example
 * const run = (code: string): Effect.Effect<string, ProtocolError | PythonError> => comm.exec(code)
 * @since 0.1.0
 */
export type ProtocolError =
  | LinkError
  | ProtocolTimeoutError
  | UnexpectedBytesError
  | BoardResetError
  | BoardStuckError
  | RequestDamagedError
  | OutputDamagedError
  | OutputLimitError

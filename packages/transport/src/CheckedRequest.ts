import { Effect, Schedule, Stream } from "effect"
import type { DeviceCommunicationShape, ExecOptions } from "./DeviceCommunication.js"
import { type ProtocolError, ProtocolTimeoutError, PythonError, RequestDamagedError } from "./errors.js"
import { toPythonLiteral } from "./PythonLiteral.js"
import * as python from "./python/embedded.js"
import { isCompileMemoryError, isWellFormedTraceback } from "./Traceback.js"

/**
 * End-to-end checked requests. The raw REPL has no check of what the board received: a byte
 * dropped, repeated or flipped on the line can turn `f(123)` into `f(12)` or a path into another
 * one, and the board runs the altered code. A checked request travels as a bytes literal with its
 * length and byte sum; the board runs it (`exec`) only when both match, and otherwise raises
 * without running any of it. Any single damaged byte is caught: inside the literal it changes the
 * length or the sum, outside it breaks the wrapper, which then fails on its own.
 *
 * The cost is the wrapper (about 110 bytes) and a second compile on the board: about 30 µs per
 * exchange on the virtual board. Use it for requests whose damage would go unseen (calls with
 * arguments, paths, definitions), not for bulk data that is verified by its own hash.
 */

// The request is the argument of a lambda: no global holds it, so a damaged name in the wrapper
// can never pick up a value some earlier (damaged) request left behind.
const PARAMETER = "_belay_q"
const DAMAGED = "_belay_request_damaged"
const utf8 = new TextEncoder()

// Bytes kept as they are inside b"...": printable ASCII except the double quote and the
// backslash (generated code quotes its strings with single quotes, which then stay as they are).
// Line ends, tabs, the quote and the backslash take two-character escapes: the request is held in
// the board's line buffer while it runs, and a small board's heap has no byte to spare.
const ESCAPES: ReadonlyArray<string> = Array.from({ length: 256 }, (_, b) =>
  b === 0x0a
    ? "\\n"
    : b === 0x0d
      ? "\\r"
      : b === 0x09
        ? "\\t"
        : b === 0x22 || b === 0x5c
          ? `\\${String.fromCharCode(b)}`
          : b >= 0x20 && b < 0x7f
            ? String.fromCharCode(b)
            : `\\x${b.toString(16).padStart(2, "0")}`,
)

/**
 * The code that runs `code` on the board only if it arrives intact.
 *
 * @example
 * checkedRequest("print(1)")
 * // (lambda _belay_q:exec(_belay_q) if len(_belay_q)==8 and sum(_belay_q)==687 else _belay_request_damaged)(b"print(1)")
 * // A damaged request fails with NameError: _belay_request_damaged, having run nothing.
 */
export const checkedRequest = (code: string): string => {
  const { literal, length, sum } = bytesLiteral(code)
  return `(lambda ${PARAMETER}:exec(${PARAMETER}) if len(${PARAMETER})==${length} and sum(${PARAMETER})==${sum} else ${DAMAGED})(b"${literal}")`
}

/** `code` as UTF-8 in a Python bytes literal, with its length and byte sum. */
const bytesLiteral = (code: string) => {
  const bytes = utf8.encode(code)
  let sum = 0
  let literal = ""
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    sum += b
    literal += ESCAPES[b]!
  }
  return { literal, length: bytes.length, sum }
}

/**
 * {@link checkedRequest} for code that needs every stack level and every byte of a small board
 * (MicroPython 1.9 on a micro:bit has room for a few call levels only, and compiles a long bytes
 * literal into more heap than a string): the code travels as a string literal, is checked (its
 * length in characters, the byte sum of its UTF-8) inside a list comprehension, and runs at the
 * top level once that has returned, one call level less deep than the lambda form. Like it, no
 * global is assigned, so a damaged name can never pick up a value left by an earlier request.
 * With `collectFirst` the heap is collected before, for a board whose heap is full of the
 * previous exchanges' garbage.
 *
 * @example
 * checkedTopLevelRequest("print(1)")
 * // exec(*[_belay_q for _belay_q in ['print(1)'] if len(_belay_q)==8 and sum(bytes(_belay_q,'utf-8'))==687] or [_belay_request_damaged])
 */
export const checkedTopLevelRequest = (
  code: string,
  options?: { readonly collectFirst?: boolean },
): string => {
  // `exec(*x)`: on MicroPython 1.9 it parses in less heap than `exec(x[0])` (which the checked
  // exchanges use: it costs one call level less), and the filesystem needs every byte there.
  const run = `${topLevelExec(code, "unpacked")}\n`
  return options?.collectFirst === true ? `${COLLECT_GARBAGE}\n${run}` : run
}

/** Length in characters and UTF-8 byte sum of `code`, as the board computes them of a string. */
export const stringCheckOf = (code: string): { readonly length: number; readonly sum: number } => {
  const bytes = utf8.encode(code)
  let sum = 0
  for (let i = 0; i < bytes.length; i++) sum += bytes[i]!
  return { length: [...code].length, sum }
}

/**
 * `exec` of `code` quoted as a string literal, checked in a list comprehension that yields it
 * only when its length and byte sum are what was sent, else names the undefined
 * `_belay_request_damaged`: `"unpacked"` passes the one-element list as `exec(*list)`,
 * `"indexed"` as `exec(list[0])`.
 */
export const topLevelExec = (code: string, call: "unpacked" | "indexed"): string => {
  const { length, sum } = stringCheckOf(code)
  const q = PARAMETER
  const list = `[${q} for ${q} in [${toPythonLiteral(code)}] if len(${q})==${length} and sum(bytes(${q},'utf-8'))==${sum}] or [${DAMAGED}]`
  return call === "unpacked" ? `exec(*${list})` : `exec((${list})[0])`
}

// Without the file's last newline: a definition needs none, and inside a bytes literal it costs two.
/**
 * Python defining `_belay_x(q, n, s)` (`src/python/checked_runtime.py`): the short form of the
 * check for boards where it is deployed (about 20 bytes per request instead of 110). Deploy it
 * with a checked request.
 *
 * @example
 * yield* execChecked(device, CHECKED_RUNTIME)
 * yield* execChecked(device, "print(1)", { runtime: true })
 * @since 0.1.0
 */
export const CHECKED_RUNTIME = python.CHECKED_RUNTIME.code.trimEnd()

/**
 * `code` as a call of the deployed {@link CHECKED_RUNTIME}.
 *
 * @example
 * checkedRuntimeRequest("print(1)") // _belay_x(b"print(1)",8,687)
 */
export const checkedRuntimeRequest = (code: string): string => {
  const { literal, length, sum } = bytesLiteral(code)
  return `_belay_x(b"${literal}",${length},${sum})`
}

const FRAME = /^ *File "(<stdin>|<string>)", line \d+(?:, in (.+?))?\r?$/
const WRAPPER_FUNCTIONS = new Set(["<lambda>", "_belay_x", "<listcomp>"])

/**
 * Read a `PythonError` of a checked request: raised by the wrapper itself (a damaged request: it
 * never ran) becomes `RequestDamagedError`; raised by the code keeps its type, with the wrapper's
 * frames removed and the code's frames named `<stdin>` as if it had been sent plainly.
 * `KeyboardInterrupt` and `MemoryError` raised in the wrapper stay what they are, and so does the
 * `NameError` of the short form on a board without its runtime (deploy it again).
 *
 * @example
 * Effect.mapError(device.exec(checkedRequest(code)), (e) => e._tag === "PythonError" ? fromCheckedRequest(e, 1) : e)
 */
export const fromCheckedRequest = (
  error: PythonError,
  attempts: number,
): PythonError | RequestDamagedError => {
  const { lines, codeAt, wrapper, intact } = checkedFrames(error.traceback)
  // The short form on a board that lost the runtime (it reset unseen): the request did not run,
  // and the caller, who deployed the runtime, must deploy it again. Not damage.
  if (error.exceptionType === "NameError" && /'_belay_x'/.test(error.pythonMessage)) return error
  const damagedMarker = isRequestRefused(error)
  // No frame of the code: the wrapper raised, so none of the code ran. Unless the traceback itself
  // came damaged (a lost byte can unmake the code's frame): then the code may have run, and the
  // error stays what the board said, as it came.
  if (codeAt < 0 && !damagedMarker && !intact) return error
  if (codeAt < 0 || damagedMarker) {
    if (
      !damagedMarker &&
      (error.exceptionType === "KeyboardInterrupt" || error.exceptionType === "MemoryError")
    )
      return error
    return new RequestDamagedError({ reason: error.message, attempts })
  }
  const kept = lines.filter((_, i) => !wrapper.includes(i))
  return new PythonError({
    exceptionType: error.exceptionType,
    pythonMessage: error.pythonMessage,
    traceback: kept.join("\n").replaceAll('File "<string>"', 'File "<stdin>"'),
    stdout: error.stdout,
  })
}

/**
 * The frames of a checked request's traceback: the wrapper's come first (`<stdin>` frames and the
 * check's own function), the code's start at the first other `<string>` frame (`codeAt`, -1 when
 * none). `intact` when the traceback came whole and every frame before the code's is one of the
 * wrapper's: a frame of neither, there, is a damaged one, and may have been the code's.
 */
const checkedFrames = (traceback: string) => {
  const lines = traceback.split("\n")
  let codeAt = -1
  let unknownFrame = false
  const wrapper: number[] = []
  for (let i = 0; i < lines.length; i++) {
    const frame = FRAME.exec(lines[i]!)
    if (frame === null) {
      if (/^\s+File /.test(lines[i]!)) unknownFrame = true
      continue
    }
    const [, file, fn] = frame
    if (file === "<string>" && (fn === undefined || !WRAPPER_FUNCTIONS.has(fn))) {
      codeAt = i
      break
    }
    wrapper.push(i)
  }
  return { lines, codeAt, wrapper, intact: !unknownFrame && isWellFormedTraceback(traceback) }
}

/**
 * True when `error` is the check of a checked request refusing it: the request arrived damaged and
 * none of it ran. For code that composes checked requests with other parts (where
 * {@link fromCheckedRequest} cannot tell whose frame is whose).
 *
 * @example
 * Effect.catchIf(run, (e) => e._tag === "PythonError" && isRequestRefused(e), () => sendAgain)
 */
export const isRequestRefused = (error: PythonError): boolean =>
  error.exceptionType === "NameError" && error.pythonMessage.includes(DAMAGED)

/**
 * What a failed attempt at a request tells about the board, so that the request is sent again
 * only when none of it can have run:
 * - `"nothing-ran"`: the request arrived damaged (a checked request's refusal; for plain code, a
 *   SyntaxError or a NameError about a name the code does not contain), or its end (Ctrl-D)
 *   never arrived, so the board still waits for it;
 * - `"no-heap"`: the board had no memory to compile it (collect its heap, then send again);
 * - `"stale"`: the request relied on something the board no longer has (a runtime it lost in an
 *   unseen reset): nothing ran, and it goes again as it is once the caller has put that back;
 * - `"ran"`: the code ran, or may have: never sent again.
 *
 * @example
 * classifyAttempt(error, { form: "checked" }) // "nothing-ran" for a refused checked request
 */
export type AttemptOutcome = "nothing-ran" | "no-heap" | "stale" | "ran"

/** What the sender knows of a request, for {@link classifyAttempt}. */
export interface AttemptForm {
  /**
   * `"checked"`: a checked request (any of its forms). `"composed"`: plain code made of parts that
   * may run before a later part fails (only a SyntaxError proves nothing ran). `"plain"`: plain
   * code written by the sender, which names only what it defines (`code`, to tell a damaged name).
   */
  readonly form: "checked" | "composed" | "plain"
  readonly code?: string
}

const QUOTED_NAME = /'([A-Za-z_][A-Za-z0-9_]*)'/

/** See {@link AttemptOutcome}. */
export const classifyAttempt = (error: unknown, sent: AttemptForm): AttemptOutcome => {
  // No `OK` and nothing else either: the end of the request never arrived, the board still waits
  // for it and nothing ran. A board that sent part of its `OK` (then stalled) took the request.
  if (error instanceof ProtocolTimeoutError && error.phase === "raw-ok")
    return error.received === "" ? "nothing-ran" : "ran"
  if (error instanceof RequestDamagedError) return "nothing-ran"
  if (!(error instanceof PythonError)) return "ran"
  const syntax = error.exceptionType === "SyntaxError" || error.exceptionType === "IndentationError"
  switch (sent.form) {
    case "composed":
      return syntax && isWellFormedTraceback(error.traceback) ? "nothing-ran" : "ran"
    case "checked":
      // A traceback damaged on the way back proves nothing about what ran (a refusal's own
      // NameError excepted: only the check names that).
      if (!checkedFrames(error.traceback).intact) return isRequestRefused(error) ? "nothing-ran" : "ran"
      if (isCompileMemoryError(error, true)) return "no-heap"
      return fromCheckedRequest(error, 1)._tag === "RequestDamagedError" ? "nothing-ran" : "ran"
    case "plain": {
      if (isCompileMemoryError(error)) return "no-heap"
      // A traceback damaged on the way back proves nothing about what ran.
      if (!isWellFormedTraceback(error.traceback) && !isRequestRefused(error)) return "ran"
      if (syntax || isRequestRefused(error)) return "nothing-ran"
      if ((error.exceptionType === "NameError" || error.exceptionType === "AttributeError") && sent.code) {
        const name = QUOTED_NAME.exec(error.pythonMessage)?.[1]
        return name !== undefined && !sent.code.includes(name) ? "nothing-ran" : "ran"
      }
      return "ran"
    }
  }
}

/**
 * `send` again while none of it ran (see {@link classifyAttempt}), at most `attempts` times in
 * all: after a damaged request from a clean prompt (the board interrupted and back at its raw
 * prompt, so no late reply is read as the next attempt's), after `"no-heap"` on a collected heap.
 * What `"ran"` is never sent again.
 *
 * @example
 * resendWhileNothingRan(device, device.execBytes(request), (e) => classifyAttempt(e, { form: "checked" }))
 */
export const resendWhileNothingRan = <A, E>(
  device: Pick<DeviceCommunicationShape, "interrupt" | "execBytes">,
  send: Effect.Effect<A, E>,
  classify: (error: E) => AttemptOutcome,
  options?: {
    readonly attempts?: number
    readonly onResend?: (error: E, outcome: AttemptOutcome) => Effect.Effect<void>
  },
): Effect.Effect<A, E> => {
  const prepare = (error: E): Effect.Effect<void> => {
    const outcome = classify(error)
    if (outcome === "ran") return Effect.void
    const clean =
      outcome === "no-heap"
        ? Effect.ignore(device.execBytes(COLLECT_GARBAGE, { integrity: "unchecked" }))
        : outcome === "nothing-ran"
          ? Effect.ignore(device.interrupt)
          : Effect.void
    return options?.onResend === undefined ? clean : Effect.andThen(options.onResend(error, outcome), clean)
  }
  return Effect.retry(send.pipe(Effect.tapError(prepare)), {
    schedule: Schedule.recurs(Math.max(0, (options?.attempts ?? 1 + RESENDS) - 1)),
    while: (e: E) => classify(e) !== "ran",
  })
}

/** Further sends of a request that ran nothing, by default (three sends in all). */
export const RESENDS = 2

/**
 * Python collecting the board's heap (`src/python/collect_garbage.py`; a small board's heap is
 * full of the last exchanges' garbage). It binds no name: no `gc` global is left on the board, and
 * a person's own `gc` stays theirs.
 */
export const COLLECT_GARBAGE = python.COLLECT_GARBAGE.code.trimEnd()

/**
 * Options of a checked request.
 *
 * @example
 * const out = yield* execChecked(device, "print(f(1))", { resends: 1, runtime: true })
 * @since 0.1.0
 */
export interface CheckedExecOptions extends ExecOptions {
  /** Further sends of a request that arrived damaged (nothing of it ran). Default 2. */
  readonly resends?: number
  /** Use the short form: {@link CHECKED_RUNTIME} is deployed on the board. Default false. */
  readonly runtime?: boolean
}

/**
 * `exec` with an end-to-end check of the request: the board runs `code` only if it arrived
 * intact; a damaged request is sent again (it did not run), up to `resends` more times, then
 * fails with `RequestDamagedError`. Tracebacks read as if `code` had been sent plainly.
 *
 * @example
 * const out = yield* execChecked(device, "print(read_sensor(3))")
 * @since 0.1.0
 */
export const execChecked = (
  device: DeviceCommunicationShape,
  code: string,
  options?: CheckedExecOptions,
): Effect.Effect<string, PythonError | ProtocolError> => {
  const request = options?.runtime === true ? checkedRuntimeRequest(code) : checkedRequest(code)
  let attempts = 0
  const send = Effect.suspend(() => {
    attempts++
    return device.exec(request, { ...options, integrity: "unchecked" })
  })
  return resendWhileNothingRan(device, send, (e) => classifyAttempt(e, CHECKED), {
    attempts: 1 + (options?.resends ?? RESENDS),
  }).pipe(Effect.mapError((e) => (e._tag === "PythonError" ? fromCheckedRequest(e, attempts) : e)))
}

const CHECKED: AttemptForm = { form: "checked" }

/**
 * `execStream` with the end-to-end check of {@link execChecked}. A damaged request fails the
 * stream with `RequestDamagedError` before any output (it is not sent again: the caller decides).
 *
 * @example
 * const lines = execStreamChecked(device, "for i in range(3): print(i)")
 * @since 0.1.0
 */
export const execStreamChecked = (
  device: DeviceCommunicationShape,
  code: string,
  options?: Omit<CheckedExecOptions, "resends">,
): Stream.Stream<string, PythonError | ProtocolError> =>
  Stream.mapError(
    device.execStream(options?.runtime === true ? checkedRuntimeRequest(code) : checkedRequest(code), {
      ...options,
      integrity: "unchecked",
    }),
    (error) => (error._tag === "PythonError" ? fromCheckedRequest(error, 1) : error),
  )

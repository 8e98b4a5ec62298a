/**
 * Checked plain exchanges: `exec`, `eval` and `execStream` whose request and reply are both
 * checked end to end, so a damaged byte on the link becomes a typed error or a resend, never
 * altered code run on the board or a wrong value or altered text given to the caller.
 *
 * Threat model. Bytes on the link can be dropped, repeated or changed (a noisy UART, a small
 * board's FIFO overrun), in either direction, and the code itself, or what it prints, may hold
 * the protocol's own control bytes (`\x04`, which ends stdout, `\x03`, which interrupts). The raw
 * REPL has no check of its own: a flipped digit in a printed list reads as another list.
 *
 * How. The code travels as a string literal, checked on the board (length and UTF-8 byte sum)
 * before any of it runs, by a small runtime deployed once per board boot (`_belay_e1`, see
 * {@link EXEC_RUNTIME}; about 35 bytes of request around the code), which frames the reply:
 *
 *     \x1e<nonce>S\x1f                       the code starts (after the request check passed)
 *     \x1e<text>\x1f<bytes>:<sum16>\x1f      one call of print(), checked; text escaped
 *     \x1e<nonce>V<bytes>:<sum16>:<repr>\x1f  eval's value
 *     \x1e<nonce>E<frames>:<bytes>:<sum16>\x1f  the end: what print() wrote in all
 *
 * While the code runs, `builtins.print` is a counting print: every `print()` call (in the code,
 * in functions it defines, in modules it imports) is sent as one frame with its byte count and
 * 16-bit byte sum; inside it `\x10 \x04 \n \x1e \x1f` are escaped as `\x10` + the byte + 0x40,
 * so no frame holds a raw `\x04` and line ends are not rewritten by the board's terminal (`\n`
 * to `\r\n`).
 *
 * Small boards. The runtime costs about 1 KB of heap and, with the counting print, two call
 * levels. A board with fewer than 16 levels of stack (the micro:bit has about 5) or without
 * raw-paste (firmware before 1.14) keeps none: each request brings {@link LEAN_EXEC_RUNTIME}
 * (start, value and end frames only) inside its checked literal, run at the top level (one call
 * level), and deletes it after. Print output there comes unchecked; the request, eval's value
 * and the end of the reply stay checked.
 * The host checks each frame (`CheckedReplyReader.ts`), then the end frame's totals (a frame lost
 * whole). Output written another way (`sys.stdout.write`, a C module) arrives between frames,
 * delivered as it came but not checked; a `\x04` in it no longer ends the reply early, because the
 * reply ends only after the end frame, whose nonce the code cannot know in advance. A frame marker
 * (`\x1e`, `\x1f`) written that way while print frames are in use reads as damage (a false alarm,
 * never a changed text); with the lean runtime, whose prints all arrive that way, a `\x1e` is
 * output unless the nonce follows it.
 *
 * What one damaged byte can do: in a request, make the check fail (nothing ran: sent again) or
 * break the wrapper (a SyntaxError or NameError before the start frame: nothing ran, sent
 * again); in a frame, fail its check ({@link OutputDamagedError}: the code ran, its output or
 * value is not believed); in a marker, cut a frame short or hide it (the totals differ: the
 * same error). A frame can pass its check with two or more damaged bytes whose changes cancel;
 * uncounted output and the traceback text are not checked (the exception's presence is).
 *
 * Cost: the runtime (about 1.3 KB sent once per boot, about 1 KB of the board's heap), then
 * per call about 35 bytes around the code (about 500 with the lean runtime), per `print()` call
 * 6 to 12 bytes of frame, and about 40 bytes of start and end frames. `integrity.bench.ts` in
 * `@belay/virtual-device` measures times and bytes with and without.
 */
import { stringCheckOf, topLevelExec } from "./CheckedRequest.js"
import { PythonError } from "./errors.js"
import { toPythonLiteral } from "./PythonLiteral.js"
import * as python from "./python/embedded.js"

/** Name of the board-side runtime of checked exchanges (`checked_exchange` in its Python files). */
export const EXEC_RUNTIME_NAME = "_belay_e1"

/**
 * Python defining `_belay_e1(nonce, mode, value=None)` (`src/python/stack_depth.py`, then
 * `exec_runtime.py`): mode 1
 * starts a checked exchange (the start frame, the counting print), 3 sends eval's value, 0 ends
 * it (print restored, the end frame), 2 only restores print (after an interrupted exchange); a
 * string is a request, checked and run between the two. Deployed once per board boot with a
 * checked request; it keeps the original `print` and the counts in a closure, not in globals.
 */
export const EXEC_RUNTIME = python.STACK_DEPTH.code + python.EXEC_RUNTIME.code

/**
 * Python answering `deep` when the board's stack holds 16 call levels to spare for the counting
 * print, else `shallow` (`src/python/stack_depth.py`, then `stack_depth_probe.py`): asked before
 * the runtime is sent, so a small board is not sent 1.3 KB it would not keep.
 */
export const STACK_DEPTH_PROBE = python.STACK_DEPTH.code + python.STACK_DEPTH_PROBE.code

/**
 * The runtime for a board with no stack to spare for the counting print (see {@link
 * EXEC_RUNTIME}, which removes itself there and answers `shallow`),
 * `src/python/lean_exec_runtime.py`: start, value and end frames only, defined by each request
 * and deleted at its end, so it holds none of a small board's heap between calls.
 */
export const LEAN_EXEC_RUNTIME = python.LEAN_EXEC_RUNTIME.code

const NONCE_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
/**
 * 12 characters: MicroPython interns string literals of up to 10 characters for good, so a
 * shorter nonce would leak a little of a small board's RAM on every call.
 */
const NONCE_LENGTH = 12

/** A fresh nonce for one checked exchange: 12 characters of `[a-z0-9]`. */
export const newExchangeNonce = (): string => {
  let out = ""
  for (let i = 0; i < NONCE_LENGTH; i++) out += NONCE_ALPHABET[Math.floor(Math.random() * 36)]
  return out
}

/**
 * A checked request, and the line of the checked literal where the caller's code starts. The
 * start frame is sent by the checked code itself, from its first line: so it comes only once
 * every part of the wrapper before the code has run intact, and a damaged wrapper fails before it
 * (nothing ran: sent again). Tracebacks are read back from `codeLine` (see
 * {@link fromCheckedExchange}).
 */
export interface CheckedRequestText {
  readonly request: string
  /** Line of the caller's first line in the checked literal (tracebacks are read back from it). */
  readonly codeLine: number
}

/**
 * A checked exec or eval. With the lean runtime (a board that keeps none), its definition travels
 * inside the checked literal, so a damaged byte in it runs nothing either; eval then runs as an
 * exec whose code sends the value frame itself.
 */
export const buildCheckedRequest = (
  kind: "exec" | "eval",
  code: string,
  nonce: string,
  lean = false,
): CheckedRequestText => {
  if (!lean) {
    // The short form: the deployed runtime checks the code, sends the frames and runs it (one
    // call level deeper than the top-level form: boards that keep the runtime have levels to
    // spare). The kind travels as the code's first character, inside the check.
    const quoted = `${kind === "exec" ? "x" : "v"}${code}`
    const { length, sum } = stringCheckOf(quoted)
    return {
      request: `${EXEC_RUNTIME_NAME}('${nonce}',${toPythonLiteral(quoted)},${length},${sum})\n`,
      codeLine: 1,
    }
  }
  // The lean form, at the top level: the runtime's definition and the start line travel inside
  // the checked literal; eval runs as an exec whose code sends the value frame itself.
  const start = `${EXEC_RUNTIME_NAME}('${nonce}',1)`
  const body = kind === "exec" ? code : `${EXEC_RUNTIME_NAME}('${nonce}',3,(\n${code}\n))`
  const quoted = `${LEAN_EXEC_RUNTIME}${start}\n${body}`
  // Lines before the caller's code: the lean runtime's, the start line, eval's value line.
  const codeLine = LEAN_EXEC_RUNTIME.split("\n").length - 1 + 2 + (kind === "eval" ? 1 : 0)
  // `exec(x[0])`, not `exec(*x)`: on MicroPython 1.9 a call with a starred argument costs one
  // more call level of the few a micro:bit has.
  const checked = topLevelExec(quoted, "indexed")
  const end = `${EXEC_RUNTIME_NAME}('${nonce}',0)`
  // The runtime exists only if the checked code ran: the end frame and the deletion only then.
  const request = `try:\n ${checked}\nfinally:\n if '${EXEC_RUNTIME_NAME}' in globals():${end};del ${EXEC_RUNTIME_NAME}\n`
  return { request, codeLine }
}

const request = (kind: "exec" | "eval", code: string, nonce: string, lean = false): string =>
  buildCheckedRequest(kind, code, nonce, lean).request

/** Options of a checked request. */
export interface CheckedRequestOptions {
  /** Bring {@link LEAN_EXEC_RUNTIME} along (a board that does not keep {@link EXEC_RUNTIME}). */
  readonly lean?: boolean
}

/**
 * The request that runs `code` checked (see the module comment); {@link EXEC_RUNTIME} must be
 * deployed.
 *
 * @example
 * checkedExecRequest("print(1)", "k3x9a0b1c2d4")
 * // _belay_e1('k3x9a0b1c2d4','xprint(1)',9,807)
 * checkedExecRequest("print(1)", "k3x9a0b1c2d4", { lean: true })
 * // try:
 * //  exec(([_belay_q for _belay_q in ['def _belay_e1(k,m,v=None,s=[0]):\n ...\n_belay_e1(\'k3x9a0b1c2d4\',1)\nprint(1)'] if len(_belay_q)==... and sum(bytes(_belay_q,'utf-8'))==...] or [_belay_request_damaged])[0])
 * // finally:
 * //  if '_belay_e1' in globals():_belay_e1('k3x9a0b1c2d4',0);del _belay_e1
 */
export const checkedExecRequest = (code: string, nonce: string, options?: CheckedRequestOptions): string =>
  request("exec", code, nonce, options?.lean === true)

/**
 * The request that evaluates `expression` checked and sends its `repr()` in a value frame.
 *
 * @example
 * checkedEvalRequest("1+1", "k3x9a0b1c2d4")
 * // _belay_e1('k3x9a0b1c2d4','v1+1',4,259)
 */
export const checkedEvalRequest = (
  expression: string,
  nonce: string,
  options?: CheckedRequestOptions,
): string => request("eval", expression, nonce, options?.lean === true)

/**
 * Restores the board's `print` after a checked exchange that was cut off (interrupted, timed out).
 * Checked like any request: plain, one changed digit (`2` into `1`) would start an exchange
 * instead, and leave the counting print in place for whatever runs next.
 */
export const RESTORE_PRINT_REQUEST = `${topLevelExec(`${EXEC_RUNTIME_NAME}('',2)`, "indexed")}\n`

const WRAPPER_FRAME =
  /^ *File "<stdin>", line \d+(?:, in .*)?\r?$|^ *File "<string>", line \d+, in _belay_(?:print|step|e1)\r?$/
const CODE_FRAME = /^( *File "<string>", line )(\d+)/

/**
 * The `PythonError` of a checked exchange's code as if the code had been sent plainly: the
 * wrapper's frames removed, the code's frames named `<stdin>`, their lines counted from the
 * code's first line.
 *
 * @example
 * fromCheckedExchange(error).traceback
 * // Traceback (most recent call last):
 * //   File "<stdin>", line 3, in <module>
 * // ZeroDivisionError: divide by zero
 */
export const fromCheckedExchange = (error: PythonError, codeLine = 2): PythonError => {
  const lines = error.traceback
    .split("\n")
    .filter((line) => !WRAPPER_FRAME.test(line))
    .map((line) =>
      line.replace(
        CODE_FRAME,
        (_, head: string, n: string) => `${head}${Math.max(1, Number(n) - (codeLine - 1))}`,
      ),
    )
  return new PythonError({
    exceptionType: error.exceptionType,
    pythonMessage: error.pythonMessage,
    traceback: lines.join("\n").replaceAll('File "<string>"', 'File "<stdin>"'),
    stdout: error.stdout,
  })
}

/**
 * True when a failure before the start frame came from the checked code itself (it passed its
 * check and was compiled or started: a frame of `<string>`), not from a damaged wrapper.
 */
export const isCodeFailure = (error: PythonError): boolean => error.traceback.includes('File "<string>"')

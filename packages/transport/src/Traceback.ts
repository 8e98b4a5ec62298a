import { PythonError } from "./errors.js"
/**
 * The parts of a MicroPython traceback that a caller acts on.
 *
 * @example
 * parseTraceback('Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\nZeroDivisionError: divide by zero\r\n')
 * // => { exceptionType: "ZeroDivisionError", message: "divide by zero" }
 */
export const parseTraceback = (traceback: string): { exceptionType: string; message: string } => {
  const lines = traceback.replace(/\r/g, "").split("\n")
  // The exception line is the first line after the "File ..." frames that is not indented.
  let at = -1
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ""
    if (line === "" || /^\s/.test(line) || line.startsWith("Traceback (most recent call last)")) continue
    if (/^[A-Za-z_][\w.]*(:|$)/.test(line)) {
      at = i
      break
    }
  }
  if (at < 0) return { exceptionType: "Exception", message: traceback.trim() }
  const head = lines[at] ?? ""
  const colon = head.indexOf(":")
  const exceptionType = colon < 0 ? head.trim() : head.slice(0, colon)
  const firstLine = colon < 0 ? "" : head.slice(colon + 1).replace(/^ /, "")
  const rest = lines
    .slice(at + 1)
    .join("\n")
    .replace(/\n+$/, "")
  return { exceptionType, message: rest ? `${firstLine}\n${rest}` : firstLine }
}

/** A frame line as MicroPython prints it: `  File "<stdin>", line 3, in f`. */
const FRAME_LINE = /^ {2}File "[^"\r\n]*", line \d+(?:, in [^\r\n]+)?\r?$/
const TRACEBACK_HEADER = /^Traceback \(most recent call last\):\r?$/
const EXCEPTION_LINE = /^[A-Za-z_][\w.]*(?::|\r?$)/

/**
 * True when `traceback` reads as the board printed it: the header, frame lines each whole, then
 * the exception's line. A byte lost or altered on the way back can turn a frame of code that ran
 * into something else (a `<string>` frame into no frame, two lines into one); a decision that
 * the code did not run (to send it again) is taken only on a traceback that passes this, and a
 * damaged one counts as "it may have run".
 *
 * @example
 * isWellFormedTraceback('Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\nNameError: name \'f\' isn\'t defined\r\n') // true
 * isWellFormedTraceback('Traceback (most recent call last):\r\n  Fle "<stdin>", line 1, in <module>\r\nNameError: x\r\n') // false
 * @since 0.1.0
 */
export const isWellFormedTraceback = (traceback: string): boolean => {
  const lines = traceback.split("\n")
  let i = 0
  // Some exceptions come without frames (no header either): only the exception's line.
  if (TRACEBACK_HEADER.test(lines[0] ?? "")) {
    i = 1
    for (; i < lines.length && /^\s/.test(lines[i]!); i++) if (!FRAME_LINE.test(lines[i]!)) return false
  }
  return i < lines.length && EXCEPTION_LINE.test(lines[i]!)
}

/**
 * A frame of code a checked request `exec`uted, running (`in <module>`, `in f`): not the check's
 * own function (`_belay_x`, deployed from a string too, or its lambda and comprehension), and not
 * the frame without a function that a failed compile of the `exec`uted code leaves.
 */
const RAN_IN_CHECKED = /File "<string>", line \d+, in (?!_belay_x\r?$|<lambda>\r?$|<listcomp>\r?$)/m

/**
 * A `MemoryError` raised while the board parsed or compiled the code, so that none of it ran:
 * no `line N` in the traceback; or, for a checked request (`checked`), no running frame inside
 * the code the check `exec`uted (the short form's `_belay_x` is itself a `<string>` frame). Sending
 * the code again on a collected heap is safe.
 *
 * @example
 * Effect.catchIf(device.exec(code), isCompileMemoryError, () => Effect.andThen(collect, device.exec(code)))
 */
export const isCompileMemoryError = (error: unknown, checked = false): boolean =>
  error instanceof PythonError &&
  error.exceptionType === "MemoryError" &&
  isWellFormedTraceback(error.traceback) &&
  (checked ? !RAN_IN_CHECKED.test(error.traceback) : !/line \d+/.test(error.traceback))

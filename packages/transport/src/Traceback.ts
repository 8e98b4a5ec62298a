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
  (checked ? !RAN_IN_CHECKED.test(error.traceback) : !/line \d+/.test(error.traceback))

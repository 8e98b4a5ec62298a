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
 * A `MemoryError` raised while the board parsed or compiled the code, so that none of it ran:
 * no `line N` in the traceback; or, for a checked request (`checked`), no frame inside the code
 * the check `exec`uted. Sending the code again on a collected heap is safe.
 *
 * @example
 * Effect.catchIf(device.exec(code), isCompileMemoryError, () => Effect.andThen(collect, device.exec(code)))
 */
export const isCompileMemoryError = (error: unknown, checked = false): boolean =>
  error instanceof PythonError &&
  error.exceptionType === "MemoryError" &&
  (checked ? !error.traceback.includes('File "<string>"') : !/line \d+/.test(error.traceback))

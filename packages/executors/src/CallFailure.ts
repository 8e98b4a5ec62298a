/**
 * What a Python exception from an exchange says about how far the exchange ran: whether its
 * code compiled at all, whether the call (after the definitions) raised, and whether the call
 * found a name it relied on missing.
 */
import { isWellFormedTraceback, type PythonError } from "@belay/transport"

/**
 * A NameError raised at the call site itself (one frame): something the call relied on is missing.
 * Only on a traceback that came whole: a lost byte can unmake the frames of code that ran and
 * raised, and this answer sends the call again.
 */
export const isMissingName = (error: PythonError): boolean =>
  error.exceptionType === "NameError" &&
  (error.traceback.match(/File "/g)?.length ?? 0) <= 1 &&
  isWellFormedTraceback(error.traceback)

/**
 * A compile-time SyntaxError: one `File "<stdin>", line N` frame and no function name. Nothing
 * ran. Code Belay generates is valid, so on a call without user code this means the board
 * lost bytes on the link; with user code it may also be the user's own error.
 */
export const isCompileError = (error: PythonError): boolean => {
  if (error.exceptionType !== "SyntaxError" && error.exceptionType !== "IndentationError") return false
  const frames = error.traceback.match(/File "[^\n]*/g) ?? []
  return frames.length === 1 && !frames[0]!.includes(", in ") && isWellFormedTraceback(error.traceback)
}

/** The module-level frame of the traceback is at or after `line` of the exchange's code. */
export const raisedAtOrAfter = (error: PythonError, line: number): boolean => {
  const frame = /File "<stdin>", line (\d+), in <module>/.exec(error.traceback)
  return frame !== null && Number(frame[1]) >= line
}

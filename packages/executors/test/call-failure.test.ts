/**
 * What a call's exception says about how far it ran (`src/CallFailure.ts`): a NameError at the
 * call site (deployed code missing: deploy and send again) and a compile-time SyntaxError
 * (nothing ran: send again) are only read from a traceback that came whole. A byte lost on the
 * way back can unmake a frame of a task that ran and raised, and the call would then run twice.
 */
import { PythonError } from "@belay/transport"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { isCompileError, isMissingName } from "../src/CallFailure.js"

const frames = (...lines: ReadonlyArray<string>) => lines.map((l) => `  ${l}\r\n`).join("")
const errorOf = (exceptionType: string, traceback: string) =>
  new PythonError({ exceptionType, pythonMessage: "", traceback, stdout: "" })

// A task that ran and raised NameError inside itself (two frames), and one that raised a
// SyntaxError at run time (an `exec` of its own).
const RAN_NAME_ERROR = `Traceback (most recent call last):\r\n${frames('File "<stdin>", line 3, in <module>', 'File "<stdin>", line 2, in count')}NameError: name 'totl' isn't defined\r\n`
const RAN_SYNTAX_ERROR = `Traceback (most recent call last):\r\n${frames('File "<stdin>", line 3, in <module>', 'File "<stdin>", line 4, in load')}SyntaxError: invalid syntax\r\n`

const damage = (text: string, at: number, replacement: number | undefined) => {
  const i = at % text.length
  return (
    text.slice(0, i) + (replacement === undefined ? "" : String.fromCharCode(replacement)) + text.slice(i + 1)
  )
}

describe("call failures read from the traceback", () => {
  it("a NameError at the call site is missing code; one inside the task is not", () => {
    const missing = `Traceback (most recent call last):\r\n${frames('File "<stdin>", line 1, in <module>')}NameError: name 'count' isn't defined\r\n`
    expect(isMissingName(errorOf("NameError", missing))).toBe(true)
    expect(isMissingName(errorOf("NameError", RAN_NAME_ERROR))).toBe(false)
  })

  it("a compile-time SyntaxError is one; a SyntaxError raised while running is not", () => {
    const compile = `Traceback (most recent call last):\r\n${frames('File "<stdin>", line 2')}SyntaxError: invalid syntax\r\n`
    expect(isCompileError(errorOf("SyntaxError", compile))).toBe(true)
    expect(isCompileError(errorOf("SyntaxError", RAN_SYNTAX_ERROR))).toBe(false)
  })

  it("no single byte lost or changed on the way back makes a task that ran read as not run", () => {
    fc.assert(
      fc.property(fc.nat(), fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 255 })), (at, by) => {
        expect(isMissingName(errorOf("NameError", damage(RAN_NAME_ERROR, at, by)))).toBe(false)
        expect(isCompileError(errorOf("SyntaxError", damage(RAN_SYNTAX_ERROR, at, by)))).toBe(false)
      }),
      { numRuns: 3000 },
    )
  })
})

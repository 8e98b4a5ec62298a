import { DeviceCommunication, parsePythonLiteral } from "@belay/transport"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { onDevice } from "./Device.js"
import { UsageError } from "./Failure.js"
import { boardText, print, printJson, toJson } from "./Output.js"

/**
 * `belay exec CODE`: run Python code, streaming what it prints (within the usual exec timeout), so
 * output printed before an exception shows, and a closed stdout stops the code on the board.
 *
 * @example
 * yield* execCode("virtual", "print(1)")
 */
export const execCode = (device: string, code: string) =>
  Effect.gen(function* () {
    const text = boardText()
    yield* onDevice(
      device,
      Effect.flatMap(DeviceCommunication, (d) =>
        Stream.runForEach(d.execStream(code), (out) => print(text(out))),
      ),
    )
    yield* print(text(""))
  })

/** Words that begin a Python statement, never an expression. */
const STATEMENT_KEYWORDS =
  /^(import|from|def|class|for|while|if|with|try|del|pass|return|global|nonlocal|raise|assert|break|continue|async)\b/

/**
 * Whether `code` reads as a Python statement rather than an expression: a statement keyword first,
 * or, outside brackets and strings, an assignment (`=`, `+=`, but not `==`, `<=`, `:=`, a
 * `lambda`'s default), a `;` or a new line. Only asked after the board refused the code.
 *
 * @example
 * looksLikeStatement("x = 1") // true
 * looksLikeStatement("f(x=1)") // false
 */
export const looksLikeStatement = (code: string): boolean => {
  const text = code.trim()
  if (STATEMENT_KEYWORDS.test(text)) return true
  if (text.startsWith("lambda")) return false
  let depth = 0
  let quote: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string
    if (quote !== undefined) {
      if (c === "\\") i++
      else if (c === quote) quote = undefined
    } else if (c === "'" || c === '"') quote = c
    else if ("([{".includes(c)) depth++
    else if (")]}".includes(c)) depth--
    else if (depth === 0 && (c === ";" || c === "\n")) return true
    else if (depth === 0 && c === "=") {
      const before = text[i - 1] ?? ""
      const after = text[i + 1] ?? ""
      if (after === "=") i++
      else if (!"=<>!:".includes(before)) return true
    }
  }
  return false
}

/**
 * `belay eval EXPRESSION`: evaluate on the board and print its `repr`, as Python shows it; with
 * `json`, the value as JSON (a Python literal converted: bytes as `{"$bytes": base64}`, dicts with
 * keys other than strings as entries; the repr as a JSON string when it is not a literal). A
 * statement (`x = 1`) the board refuses is a usage error that points at `exec`.
 *
 * @example
 * yield* evalExpression("virtual", "{1: 2}", false) // prints {1: 2}
 */
export const evalExpression = (device: string, expression: string, json = false) =>
  Effect.gen(function* () {
    const repr = yield* onDevice(
      device,
      Effect.flatMap(DeviceCommunication, (d) => d.eval(expression)),
    ).pipe(
      Effect.mapError((error) =>
        error._tag === "PythonError" && looksLikeStatement(expression)
          ? new UsageError(
              `eval takes an expression, and ${JSON.stringify(expression)} is a statement`,
              `run statements with exec: belay exec ${JSON.stringify(expression)}`,
            )
          : error,
      ),
    )
    if (!json) return yield* print(`${repr}\n`)
    const parsed = parsePythonLiteral(repr)
    printJson(Result.isSuccess(parsed) ? toJson(parsed.success) : repr)
  })

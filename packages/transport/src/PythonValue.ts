/**
 * The values a Python literal stands for, as JS values, and the errors of reading and writing
 * them (see `PythonLiteral.ts` for the mapping).
 */
import { Data } from "effect"

/**
 * A value that a Python literal parses to.
 *
 * @example
 * const v: PythonValue = { name: "led", pins: [1, 2n ** 70n], raw: new Uint8Array([0xff]) }
 * @since 0.1.0
 */
export type PythonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PythonValue[]
  | PythonDict
  | Map<PythonValue, PythonValue>
  | Set<PythonValue>

/**
 * A Python `dict` whose keys are all strings, as a plain JS object.
 *
 * @example
 * const d: PythonDict = { a: 1, b: [true, null] }
 * @since 0.1.0
 */
export interface PythonDict {
  [key: string]: PythonValue
}

/**
 * The text is not a Python literal that {@link parsePythonLiteral} understands.
 *
 * `position` is the UTF-16 offset into the input where parsing stopped, `expected` says what
 * would have been valid there, and `excerpt` shows the input around `position`, with `▸`
 * marking the spot and `…` where the input was cut.
 *
 * @example
 * Effect.catchTag("PythonLiteralError", (e) => Console.error(e.expected, e.position, e.excerpt))
 * @since 0.1.0
 */
export class PythonLiteralError extends Data.TaggedError("PythonLiteralError")<{
  readonly position: number
  readonly expected: string
  readonly excerpt: string
}> {
  override get message() {
    return `not a Python literal: expected ${this.expected} at position ${this.position}: ${JSON.stringify(this.excerpt)}`
  }
}

/**
 * A JS value has no Python literal: a function, symbol, class instance, cycle, unhashable set
 * element or dict key, a string holding a lone UTF-16 surrogate, or nesting deeper than
 * {@link MAX_ENCODE_DEPTH}. `path` points at the offending value, e.g. `$.a[3].b`; Map entries
 * read `.get(key)`, Map keys `.entries()[i][0]`, Set elements `.values()[i]`.
 *
 * @example
 * try { toPythonLiteral({ f: () => 1 }) } catch (e) {
 *   if (e instanceof PythonLiteralEncodeError) console.error(e.path) // "$.f"
 * }
 *
 * @since 0.1.0
 */
export class PythonLiteralEncodeError extends Data.TaggedError("PythonLiteralEncodeError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `cannot encode ${this.path} as a Python literal: ${this.reason}`
  }
}

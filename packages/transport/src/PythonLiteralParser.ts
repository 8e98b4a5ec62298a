/**
 * Reading a Python literal: the `repr()` a board prints, as a JS value. One iterative parser,
 * over 400 lines because it is one loop over an explicit stack of open containers (so neither
 * long flat data nor deep nesting can overflow the JS call stack) with every token form `repr()`
 * writes inline; splitting the loop would pass its state between modules.
 */
import { Result } from "effect"
import { type PythonDict, PythonLiteralError, type PythonValue } from "./PythonValue.js"

type Frame =
  | { readonly kind: "list"; readonly items: PythonValue[] }
  | { readonly kind: "tuple"; readonly items: PythonValue[]; commas: number }
  | {
      readonly kind: "brace"
      /** Set elements, or dict keys. */
      readonly keys: PythonValue[]
      readonly values: PythonValue[]
      /**
       * What the next completed value is: the first element (dict or set still undecided),
       * a set element, a dict key, or a dict value.
       */
      state: "first" | "set" | "key" | "value"
    }
  | { readonly kind: "setCall"; readonly start: number }

/** A container was opened: its frame is on the stack and its first element comes next. */
const OPENED: unique symbol = Symbol("opened")

const isDigit = (c: number) => c >= 48 && c <= 57
const isIdentStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95
const isIdentPart = (c: number) => isIdentStart(c) || isDigit(c)
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11
const hexValue = (c: number) =>
  isDigit(c) ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1

const STR_ESCAPES = "\\\\, \\', \\\", \\a, \\b, \\f, \\n, \\r, \\t, \\v, \\ooo, \\xNN, \\uNNNN or \\UNNNNNNNN"
const BYTES_ESCAPES = "\\\\, \\', \\\", \\a, \\b, \\f, \\n, \\r, \\t, \\v, \\ooo or \\xNN"

const excerptAt = (text: string, at: number): string => {
  const from = Math.max(0, at - 24)
  const to = Math.min(text.length, at + 24)
  return `${from > 0 ? "…" : ""}${text.slice(from, at)}▸${text.slice(at, to)}${to < text.length ? "…" : ""}`
}

/** Assign an own enumerable property, also for the key `__proto__`. */
const setOwn = (target: PythonDict, key: string, value: PythonValue): void => {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

const makeDict = (keys: ReadonlyArray<PythonValue>, values: ReadonlyArray<PythonValue>): PythonValue => {
  if (keys.every((k) => typeof k === "string")) {
    const dict: PythonDict = {}
    for (let i = 0; i < keys.length; i++) setOwn(dict, keys[i] as string, values[i]!)
    return dict
  }
  const map = new Map<PythonValue, PythonValue>()
  for (let i = 0; i < keys.length; i++) map.set(keys[i]!, values[i]!)
  return map
}

const FLOAT_ARG = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/

/**
 * The parser proper. Containers are handled with an explicit stack, so neither long flat data
 * nor deep nesting can overflow the JS call stack. Throws `PythonLiteralError`.
 */
const parse = (text: string): PythonValue => {
  const len = text.length
  const stack: Frame[] = []
  let pos = 0

  const fail = (expected: string, at: number = pos): never => {
    throw new PythonLiteralError({ position: at, expected, excerpt: excerptAt(text, at) })
  }
  const skipSpace = () => {
    while (pos < len && isSpace(text.charCodeAt(pos))) pos++
  }
  const peek = () => (pos < len ? text.charCodeAt(pos) : -1)
  const expectChar = (c: number, what: string) => {
    skipSpace()
    if (peek() !== c) fail(what)
    pos++
  }

  const readHex = (digits: number): number => {
    let n = 0
    for (let i = 0; i < digits; i++) {
      const h = pos < len ? hexValue(text.charCodeAt(pos)) : -1
      if (h < 0) fail(`${digits} hex digits`)
      n = n * 16 + h
      pos++
    }
    return n
  }

  /** Read the escape at `pos` (a backslash); returns a code point, or -1 for a line continuation. */
  const readEscape = (bytes: boolean): number => {
    const at = pos
    pos++
    if (pos >= len) fail("an escape sequence")
    const c = text.charCodeAt(pos++)
    switch (c) {
      case 92: // \\
      case 39: // '
      case 34: // "
        return c
      case 97: // a
        return 7
      case 98: // b
        return 8
      case 102: // f
        return 12
      case 110: // n
        return 10
      case 114: // r
        return 13
      case 116: // t
        return 9
      case 118: // v
        return 11
      case 10: // backslash-newline: line continuation
        return -1
      case 13:
        if (peek() === 10) pos++
        return -1
      case 120: // x
        return readHex(2)
      case 117: // u
        if (bytes) break
        return readHex(4)
      case 85: {
        // U
        if (bytes) break
        const cp = readHex(8)
        if (cp > 0x10ffff) fail("a code point up to \\U0010ffff", at)
        return cp
      }
      default:
        if (c >= 48 && c <= 55) {
          // up to three octal digits
          let n = c - 48
          for (let i = 0; i < 2 && peek() >= 48 && peek() <= 55; i++)
            n = n * 8 + (text.charCodeAt(pos++) - 48)
          if (bytes && n > 255) fail("an octal escape up to \\377", at)
          return n
        }
    }
    return fail(`an escape sequence (${bytes ? BYTES_ESCAPES : STR_ESCAPES})`, at)
  }

  /** A str literal; `pos` is at the opening quote. */
  const parseStr = (): string => {
    const quote = text.charCodeAt(pos)
    pos++
    let out = ""
    let chunk = pos
    for (;;) {
      if (pos >= len) fail(quote === 39 ? "a closing '" : 'a closing "')
      const c = text.charCodeAt(pos)
      if (c === quote) {
        out += text.slice(chunk, pos)
        pos++
        return out
      }
      if (c === 92) {
        out += text.slice(chunk, pos)
        const cp = readEscape(false)
        if (cp >= 0) out += String.fromCodePoint(cp)
        chunk = pos
      } else if (c === 10 || c === 13) {
        fail(
          quote === 39 ? "a closing ' before the end of the line" : 'a closing " before the end of the line',
        )
      } else {
        pos++
      }
    }
  }

  /** A bytes literal; `pos` is at the `b` prefix. */
  const parseBytes = (): Uint8Array => {
    pos++
    const quote = text.charCodeAt(pos)
    pos++
    let out = new Uint8Array(64)
    let n = 0
    for (;;) {
      if (pos >= len) fail(quote === 39 ? "a closing '" : 'a closing "')
      const c = text.charCodeAt(pos)
      if (c === quote) {
        pos++
        return out.slice(0, n)
      }
      let b = c
      if (c === 92) {
        b = readEscape(true)
        if (b < 0) continue
      } else if (c === 10 || c === 13) {
        fail(
          quote === 39 ? "a closing ' before the end of the line" : 'a closing " before the end of the line',
        )
      } else if (c > 127) {
        fail("an ASCII character or an escape (bytes hold ASCII only)")
      } else {
        pos++
      }
      if (n === out.length) {
        const grown = new Uint8Array(n * 2)
        grown.set(out)
        out = grown
      }
      out[n++] = b
    }
  }

  const isQuoteAt = (at: number) => {
    const c = at < len ? text.charCodeAt(at) : -1
    return c === 39 || c === 34
  }

  const parseNumber = (): number | bigint => {
    const start = pos
    let i = pos
    let c = text.charCodeAt(i)
    if (c === 45 || c === 43) c = ++i < len ? text.charCodeAt(i) : -1
    if (isIdentStart(c)) {
      let end = i
      while (end < len && isIdentPart(text.charCodeAt(end))) end++
      const word = text.slice(i, end)
      if (word === "inf" || word === "nan") {
        pos = end
        if (word === "nan") return Number.NaN
        return text.charCodeAt(start) === 45 ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY
      }
      return fail("a number", start)
    }
    const intStart = i
    while (i < len && isDigit(text.charCodeAt(i))) i++
    let digits = i - intStart
    let isFloat = false
    if (i < len && text.charCodeAt(i) === 46) {
      isFloat = true
      const fracStart = ++i
      while (i < len && isDigit(text.charCodeAt(i))) i++
      digits += i - fracStart
    }
    if (digits === 0) fail("a number", start)
    if (i < len && (text.charCodeAt(i) | 0x20) === 101) {
      isFloat = true
      i++
      if (i < len && (text.charCodeAt(i) === 43 || text.charCodeAt(i) === 45)) i++
      const expStart = i
      while (i < len && isDigit(text.charCodeAt(i))) i++
      if (i === expStart) fail("exponent digits", i)
    }
    if (i < len && (isIdentPart(text.charCodeAt(i)) || text.charCodeAt(i) === 46)) {
      fail("the end of the number (only decimal int and float literals are supported)", i)
    }
    pos = i
    const literal = text.slice(start, i)
    if (isFloat) return Number(literal)
    const n = Number(literal)
    if (Number.isSafeInteger(n)) return n === 0 ? 0 : n
    return BigInt(literal)
  }

  /** `None`, `True`, `inf`, `set(`, `bytearray(`, `float(` ...; `pos` is at the name. */
  const parseName = (): PythonValue | typeof OPENED => {
    const start = pos
    while (pos < len && isIdentPart(text.charCodeAt(pos))) pos++
    const name = text.slice(start, pos)
    switch (name) {
      case "None":
        return null
      case "True":
        return true
      case "False":
        return false
      case "inf":
        return Number.POSITIVE_INFINITY
      case "nan":
        return Number.NaN
      case "set": {
        expectChar(40, "'(' after set")
        skipSpace()
        if (peek() === 41) {
          pos++
          return new Set()
        }
        if (peek() !== 91 && peek() !== 40) fail("a list or tuple of set elements, or ')'")
        stack.push({ kind: "setCall", start: pos })
        return OPENED
      }
      case "bytearray": {
        expectChar(40, "'(' after bytearray")
        skipSpace()
        let bytes: Uint8Array = new Uint8Array(0)
        if (peek() !== 41) {
          if (!((peek() === 98 || peek() === 66) && isQuoteAt(pos + 1))) fail("a bytes literal or ')'")
          bytes = parseBytes()
        }
        expectChar(41, "')' closing bytearray(")
        return bytes
      }
      case "float": {
        expectChar(40, "'(' after float")
        skipSpace()
        if (!isQuoteAt(pos)) fail("a string such as 'inf', '-inf' or 'nan'")
        const argAt = pos
        const arg = parseStr().trim().toLowerCase()
        expectChar(41, "')' closing float(")
        const unsigned = arg.replace(/^[+-]/, "")
        if (unsigned === "inf" || unsigned === "infinity") {
          return arg.startsWith("-") ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY
        }
        if (unsigned === "nan") return Number.NaN
        if (FLOAT_ARG.test(arg)) return Number(arg)
        return fail("a float() argument: 'inf', '-inf', 'nan' or a decimal number", argAt)
      }
      default:
        return fail(
          "a Python literal (None, True, False, a number, str, bytes, list, tuple, dict or set)",
          start,
        )
    }
  }

  /** Start of a value: a complete scalar, or a container opened onto the stack. */
  const parseStart = (): PythonValue | typeof OPENED => {
    skipSpace()
    if (pos >= len) return fail("a value")
    const c = text.charCodeAt(pos)
    switch (c) {
      case 91: // [
        pos++
        skipSpace()
        if (peek() === 93) {
          pos++
          return []
        }
        stack.push({ kind: "list", items: [] })
        return OPENED
      case 40: // (
        pos++
        skipSpace()
        if (peek() === 41) {
          pos++
          return []
        }
        stack.push({ kind: "tuple", items: [], commas: 0 })
        return OPENED
      case 123: // {
        pos++
        skipSpace()
        if (peek() === 125) {
          pos++
          return {}
        }
        stack.push({ kind: "brace", keys: [], values: [], state: "first" })
        return OPENED
      case 39: // '
      case 34: // "
        return parseStr()
      case 45: // -
      case 43: // +
      case 46: // .
        return parseNumber()
    }
    if (isDigit(c)) return parseNumber()
    if ((c === 98 || c === 66) && isQuoteAt(pos + 1)) return parseBytes()
    if (isIdentStart(c)) return parseName()
    return fail("a Python literal (None, True, False, a number, str, bytes, list, tuple, dict or set)")
  }

  for (;;) {
    const started = parseStart()
    if (started === OPENED) continue
    let value: PythonValue = started
    // Hand the completed value to the innermost open container, closing containers as we go.
    reduce: for (;;) {
      const top = stack[stack.length - 1]
      skipSpace()
      if (top === undefined) {
        if (pos < len) fail("the end of the input")
        return value
      }
      const c = peek()
      switch (top.kind) {
        case "list":
          top.items.push(value)
          if (c === 44) {
            pos++
            skipSpace()
            if (peek() !== 93) break reduce
            pos++
          } else if (c === 93) {
            pos++
          } else {
            fail("',' or ']'")
          }
          stack.pop()
          value = top.items
          continue
        case "tuple":
          top.items.push(value)
          if (c === 44) {
            pos++
            top.commas++
            skipSpace()
            if (peek() !== 41) break reduce
            pos++
            stack.pop()
            value = top.items
          } else if (c === 41) {
            pos++
            stack.pop()
            // `(x)` without a comma is just `x` in parentheses.
            value = top.commas === 0 ? top.items[0]! : top.items
          } else {
            fail("',' or ')'")
          }
          continue
        case "setCall":
          if (!Array.isArray(value)) fail("a list or tuple of set elements", top.start)
          if (c !== 41) fail("')' closing set(")
          pos++
          stack.pop()
          value = new Set(value as PythonValue[])
          continue
        case "brace":
          if (top.state === "first") top.state = c === 58 ? "key" : "set"
          if (top.state === "key") {
            if (c !== 58) fail("':'")
            pos++
            top.keys.push(value)
            top.state = "value"
            break reduce
          }
          if (top.state === "value") {
            top.values.push(value)
            top.state = "key"
          } else {
            top.keys.push(value)
          }
          if (c === 44) {
            pos++
            skipSpace()
            if (peek() !== 125) break reduce
          } else if (c !== 125) {
            fail("',' or '}'")
          }
          pos++
          stack.pop()
          value = top.state === "set" ? new Set(top.keys) : makeDict(top.keys, top.values)
          continue
      }
    }
  }
}

/**
 * Parse the `repr()` of a Python value, as MicroPython (any version, any board) or CPython
 * prints it: `None`, `True`/`False`, ints of any size, floats (`1.0`, `1e-05`, `inf`, `nan`,
 * also `float('inf')`), str and bytes with every escape repr produces (non-ASCII characters may
 * appear raw), `bytearray(b'...')`, lists, tuples, dicts, sets (`{1, 2}`, `set()`,
 * `set([1, 2])`), nested to any depth, with whitespace around tokens. Anything else, such as
 * `<function f at 0x2000a0b0>` or `OrderedDict(...)`, fails with a {@link PythonLiteralError}.
 *
 * Lists and tuples both become arrays; a dict becomes a plain object when all its keys are
 * strings, otherwise a `Map`. Ints become a `number` when safe, otherwise a `bigint`.
 *
 * @example
 * const r = parsePythonLiteral("{'temp': 21.5, 'ok': True, 'raw': b'\\x01\\xff'}")
 * if (Result.isSuccess(r)) r.success // { temp: 21.5, ok: true, raw: Uint8Array [1, 255] }
 * // In an Effect: const value = yield* Effect.fromResult(parsePythonLiteral(stdout))
 *
 * @since 0.1.0
 */
export const parsePythonLiteral = (text: string): Result.Result<PythonValue, PythonLiteralError> => {
  try {
    return Result.succeed(parse(text))
  } catch (error) {
    if (error instanceof PythonLiteralError) return Result.fail(error)
    throw error
  }
}

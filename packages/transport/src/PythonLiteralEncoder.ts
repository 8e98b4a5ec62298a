/**
 * Writing a Python literal: a JS value as Python source that any MicroPython (1.9 and later,
 * with or without `json`) evaluates to the same value.
 */
import { PythonLiteralEncodeError } from "./PythonValue.js"

/**
 * How deeply {@link toPythonLiteral} nests containers before it refuses. MicroPython's own
 * parser runs out of C stack far earlier on a small board.
 */
export const MAX_ENCODE_DEPTH = 1000

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0")

/** Everything in a str literal that is not printable ASCII, or is `'` or `\`. */
const STR_NEEDS_ESCAPE = /[^\x20-\x26\x28-\x5b\x5d-\x7e]/gu

const encodeStr = (s: string, onLoneSurrogate: (index: number) => never): string =>
  `'${s.replace(STR_NEEDS_ESCAPE, (ch: string, index: number) => {
    const cp = ch.codePointAt(0)!
    switch (cp) {
      case 39:
        return "\\'"
      case 92:
        return "\\\\"
      case 10:
        return "\\n"
      case 13:
        return "\\r"
      case 9:
        return "\\t"
    }
    if (cp < 0x80) return `\\x${hex(cp, 2)}`
    if (cp >= 0xd800 && cp <= 0xdfff) return onLoneSurrogate(index)
    return cp < 0x10000 ? `\\u${hex(cp, 4)}` : `\\U${hex(cp, 8)}`
  })}'`

const HEX_DIGITS = "0123456789abcdef"
const ASCII = new TextDecoder()

const encodeBytes = (bytes: Uint8Array): string => {
  // Written as ASCII codes into a buffer, then decoded once: 10x faster than string concatenation.
  const out = new Uint8Array(bytes.length * 4 + 3)
  let j = 0
  out[j++] = 98 // b
  out[j++] = 39 // '
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (b === 39 || b === 92) {
      out[j++] = 92
      out[j++] = b
    } else if (b >= 0x20 && b < 0x7f) {
      out[j++] = b
    } else if (b === 10 || b === 13 || b === 9) {
      out[j++] = 92
      out[j++] = b === 10 ? 110 : b === 13 ? 114 : 116
    } else {
      out[j++] = 92
      out[j++] = 120 // x
      out[j++] = HEX_DIGITS.charCodeAt(b >> 4)
      out[j++] = HEX_DIGITS.charCodeAt(b & 15)
    }
  }
  out[j++] = 39
  return ASCII.decode(out.subarray(0, j))
}

const encodeNumber = (n: number): string => {
  if (Number.isNaN(n)) return "float('nan')"
  if (n === Number.POSITIVE_INFINITY) return "float('inf')"
  if (n === Number.NEGATIVE_INFINITY) return "float('-inf')"
  if (Object.is(n, -0)) return "-0.0"
  if (Number.isSafeInteger(n)) return String(n)
  // Shortest round-trip decimal; JS and Python share the `1e+21` / `1.5e-7` exponent syntax.
  const s = String(n)
  return /[.e]/.test(s) ? s : `${s}.0`
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

const describeMapKey = (key: unknown, index: number): string => {
  switch (typeof key) {
    case "string":
      return `.get(${JSON.stringify(key)})`
    case "number":
    case "boolean":
      return `.get(${String(key)})`
    case "bigint":
      return `.get(${key}n)`
    default:
      return key === null || key === undefined ? `.get(${String(key)})` : `.entries()[${index}][1]`
  }
}

const describeObject = (value: object): string => {
  const ctor = (value as { constructor?: { name?: unknown } }).constructor
  return typeof ctor === "function" && typeof ctor.name === "string" && ctor.name !== ""
    ? `a ${ctor.name}`
    : "an object that is not a plain object"
}

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Encode a JS value as Python source that evaluates to the same value on any MicroPython
 * (and CPython). The result is pure printable ASCII on one line, so it can be embedded in code
 * sent to the board; no string value can break out of its literal.
 *
 * - `null`/`undefined` → `None`; booleans → `True`/`False`.
 * - Safe integers and bigints → int literals; other numbers → float literals with round-trip
 *   precision (`1.5`, `1e+300`, `9007199254740992.0`, `-0.0`); `Infinity` → `float('inf')`,
 *   `-Infinity` → `float('-inf')`, `NaN` → `float('nan')`. (Boards with single-precision
 *   floats round on their side.)
 * - Strings → `'...'` escaping `\`, `'`, control characters and `\x7f`; non-ASCII characters
 *   become `\uXXXX` / `\UXXXXXXXX`. A lone UTF-16 surrogate has no UTF-8 form, so it is refused
 *   (not replaced): data is never changed silently.
 * - `Uint8Array` (and `Buffer`) → `b'...'`, printable ASCII as is, other bytes as `\xNN`.
 * - Arrays → lists; plain objects and `Map`s → dicts; `Set`s → `{a, b}`, the empty set `set()`.
 *   Set elements and Map keys must be hashable in Python: arrays there become tuples, and
 *   objects, Maps and Sets are refused.
 *
 * Throws {@link PythonLiteralEncodeError} (with the path to the value) for functions, symbols,
 * class instances other than the above, cycles, and nesting deeper than {@link MAX_ENCODE_DEPTH}.
 * `options.encodeOther` is asked first about each function and class instance: the Python code
 * it returns stands for the value as it is (the caller vouches for that code: the executors
 * write a board object's registry lookup there); `undefined` refuses the value as above.
 *
 * @example
 * toPythonLiteral({ pin: 5, name: "led\n", big: 2n ** 64n, data: new Uint8Array([0, 65]) })
 * // "{'pin': 5, 'name': 'led\\n', 'big': 18446744073709551616, 'data': b'\\x00A'}"
 * @since 0.1.0
 */
export const toPythonLiteral = (
  value: unknown,
  options?: { readonly encodeOther?: (value: object) => string | undefined },
): string => {
  const encodeOther = options?.encodeOther
  const path: string[] = ["$"]
  const ancestors = new Set<object>()

  const fail = (reason: string): never => {
    throw new PythonLiteralEncodeError({ path: path.join(""), reason })
  }
  const loneSurrogate =
    (what: string) =>
    (index: number): never =>
      fail(`${what} holds a lone UTF-16 surrogate at index ${index}, which has no UTF-8 encoding`)
  const inside = (segment: string, item: unknown, hashable: boolean): string => {
    path.push(segment)
    const text = encode(item, hashable)
    path.pop()
    return text
  }

  const encode = (v: unknown, hashable: boolean): string => {
    switch (typeof v) {
      case "undefined":
        return "None"
      case "boolean":
        return v ? "True" : "False"
      case "number":
        return encodeNumber(v)
      case "bigint":
        return v.toString()
      case "string":
        return encodeStr(v, loneSurrogate("the string"))
      case "symbol":
        return fail("a symbol has no Python equivalent")
      case "function":
        return encodeOther?.(v) ?? fail("a function has no Python literal")
    }
    if (v === null) return "None"
    return encodeObject(v as object, hashable)
  }

  const encodeObject = (v: object, hashable: boolean): string => {
    if (v instanceof Uint8Array) return encodeBytes(v)
    const isArray = Array.isArray(v)
    const isContainer = isArray || v instanceof Map || v instanceof Set || isPlainObject(v)
    if (!isContainer) {
      const other = encodeOther?.(v)
      if (other !== undefined) return other
      return fail(
        `${describeObject(v)} has no Python literal (only null, booleans, numbers, bigints, strings, Uint8Array, arrays, Sets, Maps and plain objects do)`,
      )
    }
    if (hashable && !isArray) {
      return fail("a dict or set cannot be a set element or dict key in Python (it is not hashable)")
    }
    if (ancestors.has(v)) return fail("the value contains itself (a cycle)")
    if (ancestors.size >= MAX_ENCODE_DEPTH) return fail(`nested deeper than ${MAX_ENCODE_DEPTH} levels`)
    ancestors.add(v)
    let text: string
    if (isArray) {
      const items: string[] = []
      for (let i = 0; i < v.length; i++) items.push(inside(`[${i}]`, v[i], hashable))
      // In a hashable position (set element, dict key) a list would be refused by Python: use a tuple.
      text = !hashable
        ? `[${items.join(", ")}]`
        : items.length === 1
          ? `(${items[0]},)`
          : `(${items.join(", ")})`
    } else if (v instanceof Map) {
      const entries: string[] = []
      let i = 0
      for (const [key, item] of v) {
        const keyText = inside(`.entries()[${i}][0]`, key, true)
        entries.push(`${keyText}: ${inside(describeMapKey(key, i), item, false)}`)
        i++
      }
      text = `{${entries.join(", ")}}`
    } else if (v instanceof Set) {
      const items: string[] = []
      let i = 0
      for (const item of v) items.push(inside(`.values()[${i++}]`, item, true))
      text = items.length === 0 ? "set()" : `{${items.join(", ")}}`
    } else {
      const record = v as Record<string, unknown>
      const entries: string[] = []
      for (const key of Object.keys(record)) {
        path.push(IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`)
        const keyText = encodeStr(key, loneSurrogate("the key"))
        entries.push(`${keyText}: ${encode(record[key], false)}`)
        path.pop()
      }
      text = `{${entries.join(", ")}}`
    }
    ancestors.delete(v)
    return text
  }

  return encode(value, false)
}

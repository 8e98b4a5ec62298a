import { spawnSync } from "node:child_process"
import { Effect, Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  MAX_ENCODE_DEPTH,
  type PythonDict,
  PythonLiteralEncodeError,
  PythonLiteralError,
  type PythonValue,
  parsePythonLiteral,
  toPythonLiteral,
} from "../src/PythonLiteral.js"

const parse = (text: string): PythonValue => Result.getOrThrow(parsePythonLiteral(text))

const parseError = (text: string): PythonLiteralError => {
  const result = parsePythonLiteral(text)
  if (Result.isSuccess(result)) throw new Error(`expected ${JSON.stringify(text)} to fail`)
  return result.failure
}

const encodeError = (value: unknown): PythonLiteralEncodeError => {
  try {
    toPythonLiteral(value)
  } catch (error) {
    if (error instanceof PythonLiteralEncodeError) return error
    throw error
  }
  throw new Error("expected encoding to fail")
}

const bytes = (...values: number[]) => new Uint8Array(values)

/** The value `v` comes back as: safe bigints as numbers, string-keyed Maps as objects, undefined as null. */
const normalize = (v: unknown): PythonValue => {
  if (v === undefined || v === null) return null
  if (typeof v === "bigint") return v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v
  if (typeof v !== "object") return v as PythonValue
  if (v instanceof Uint8Array) return new Uint8Array(v)
  if (Array.isArray(v)) return Array.from(v, normalize)
  if (v instanceof Set) return new Set(Array.from(v, normalize))
  const entries: Array<[PythonValue, PythonValue]> =
    v instanceof Map
      ? Array.from(v, ([k, x]) => [normalize(k), normalize(x)])
      : Object.keys(v).map((k) => [k, normalize((v as Record<string, unknown>)[k])])
  if (!entries.every(([k]) => typeof k === "string")) return new Map(entries)
  const dict: PythonDict = {}
  for (const [k, x] of entries) {
    Object.defineProperty(dict, k as string, {
      value: x,
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  return dict
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** One code point, biased towards the characters that escaping must get right. */
const nastyChar = fc.oneof(
  fc.constantFrom(
    "'",
    '"',
    "\\",
    "\n",
    "\r",
    "\t",
    "\0",
    "\x7f",
    "\x1b",
    "é",
    "\u2028",
    "\uffff",
    "😀",
    "\u{10ffff}",
  ),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
)
const anyString = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: nastyChar }))

const leaf = (finite: boolean) =>
  fc.oneof(
    fc.constant(null),
    fc.constant(undefined),
    fc.boolean(),
    fc.integer(),
    finite ? fc.double({ noNaN: true, noDefaultInfinity: true }) : fc.double(),
    fc.bigInt(),
    fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
    anyString,
    fc.uint8Array({ maxLength: 24 }),
  )

/** Hashable in Python, and distinct in Python exactly when distinct in JS (no 1 vs True, no floats). */
const hashable = fc.oneof(fc.integer(), anyString, fc.array(fc.integer(), { maxLength: 3 }))
const distinctKey = (x: unknown) => `${typeof x}:${JSON.stringify(x)}`

const pythonish = (finite: boolean) =>
  fc.letrec<{
    value: unknown
    list: unknown[]
    dict: Record<string, unknown>
    set: Set<unknown>
    map: Map<unknown, unknown>
  }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf(finite),
      tie("list"),
      tie("dict"),
      tie("set"),
      tie("map"),
    ),
    list: fc.array(tie("value"), { maxLength: 5 }),
    dict: fc.dictionary(anyString, tie("value"), { maxKeys: 5 }),
    set: fc.uniqueArray(hashable, { maxLength: 5, selector: distinctKey }).map((xs) => new Set(xs)),
    map: fc
      .uniqueArray(fc.tuple(fc.oneof(fc.integer(), fc.array(fc.integer(), { maxLength: 2 })), tie("value")), {
        minLength: 1,
        maxLength: 4,
        selector: ([k]) => distinctKey(k),
      })
      .map((entries) => new Map(entries)),
  })).value

// ---------------------------------------------------------------------------------------------
// parsePythonLiteral
// ---------------------------------------------------------------------------------------------

describe("parsePythonLiteral", () => {
  it("parses None, True and False", () => {
    expect(parse("None")).toBe(null)
    expect(parse("True")).toBe(true)
    expect(parse("False")).toBe(false)
  })

  it("parses ints: safe ones as number, the rest as bigint", () => {
    expect(parse("0")).toBe(0)
    expect(parse("-0")).toBe(0)
    expect(Object.is(parse("-0"), 0)).toBe(true)
    expect(parse("42")).toBe(42)
    expect(parse("-17")).toBe(-17)
    expect(parse("9007199254740991")).toBe(Number.MAX_SAFE_INTEGER)
    expect(parse("-9007199254740991")).toBe(Number.MIN_SAFE_INTEGER)
    expect(parse("9007199254740992")).toBe(2n ** 53n)
    expect(parse("9007199254740993")).toBe(2n ** 53n + 1n)
    expect(parse("-123456789012345678901234567890")).toBe(-123456789012345678901234567890n)
  })

  it("parses floats as MicroPython and CPython print them", () => {
    expect(parse("1.0")).toBe(1)
    expect(parse("1.5")).toBe(1.5)
    expect(parse("-2.25")).toBe(-2.25)
    expect(parse("1e-05")).toBe(1e-5)
    expect(parse("1e+100")).toBe(1e100)
    expect(parse("1.5e-10")).toBe(1.5e-10)
    expect(parse("21.37891")).toBe(21.37891) // single-precision boards print 7 significant digits
    expect(parse("1.2E3")).toBe(1200)
    expect(parse(".5")).toBe(0.5)
    expect(parse("5.")).toBe(5)
    expect(Object.is(parse("-0.0"), -0)).toBe(true)
    expect(parse("inf")).toBe(Number.POSITIVE_INFINITY)
    expect(parse("-inf")).toBe(Number.NEGATIVE_INFINITY)
    expect(parse("nan")).toBeNaN()
    expect(parse("-nan")).toBeNaN()
  })

  it("accepts float('inf'), float('-inf'), float('nan') and float() of a decimal string", () => {
    expect(parse("float('inf')")).toBe(Number.POSITIVE_INFINITY)
    expect(parse('float("-inf")')).toBe(Number.NEGATIVE_INFINITY)
    expect(parse("float( 'nan' )")).toBeNaN()
    expect(parse("float('Infinity')")).toBe(Number.POSITIVE_INFINITY)
    expect(parse("float('1.5')")).toBe(1.5)
    expect(parseError("float('abc')").expected).toContain("float() argument")
    expect(parseError("float(1)").expected).toContain("'inf'")
  })

  it("parses strings in either quote, as repr picks them", () => {
    expect(parse("'abc'")).toBe("abc")
    expect(parse("''")).toBe("")
    expect(parse('""')).toBe("")
    expect(parse(`"it's"`)).toBe("it's") // repr switches to double quotes for a lone '
    expect(parse(`'say "hi"'`)).toBe('say "hi"')
    expect(parse(`'both \\' and "'`)).toBe(`both ' and "`) // both quotes: single, with \'
    expect(parse(`"esc \\" too"`)).toBe('esc " too')
  })

  it("parses every escape repr produces", () => {
    expect(parse(String.raw`'a\\b'`)).toBe("a\\b")
    expect(parse(String.raw`'\n\r\t'`)).toBe("\n\r\t")
    expect(parse(String.raw`'\x00\x1b\x7f'`)).toBe("\0\x1b\x7f")
    expect(parse(String.raw`'\xe9\xFF'`)).toBe("é\xff")
    expect(parse(String.raw`'\u00e9\u2028\uffff'`)).toBe("é\u2028\uffff")
    expect(parse(String.raw`'\U0001f600\U0010ffff'`)).toBe("😀\u{10ffff}")
    expect(parse(String.raw`'\ud800'`)).toBe("\ud800") // CPython repr of a lone surrogate
    // Python's other escapes, which repr does not produce but literals may contain
    expect(parse(String.raw`'\a\b\f\v\0\101\7'`)).toBe("\x07\b\f\v\0A\x07")
    expect(parse("'a\\\nb'")).toBe("ab") // backslash-newline continues the line
  })

  it("keeps non-ASCII characters that MicroPython prints unescaped", () => {
    expect(parse("'héllo wörld'")).toBe("héllo wörld")
    expect(parse("'温度'")).toBe("温度")
    expect(parse("'😀 ok'")).toBe("😀 ok")
    expect(parse("['µs', {'°C': 21.5}]")).toEqual(["µs", { "°C": 21.5 }])
  })

  it("parses bytes and bytearray to Uint8Array", () => {
    expect(parse("b''")).toEqual(bytes())
    expect(parse("b'abc'")).toEqual(bytes(97, 98, 99))
    expect(parse(String.raw`b'\x00\xff\x7f'`)).toEqual(bytes(0, 255, 127))
    expect(parse(String.raw`b'\\\'\n\r\t"'`)).toEqual(bytes(92, 39, 10, 13, 9, 34))
    expect(parse(`b"it's"`)).toEqual(bytes(105, 116, 39, 115))
    expect(parse(String.raw`b'\101\0'`)).toEqual(bytes(65, 0))
    expect(parse("B'x'")).toEqual(bytes(120))
    expect(parse(String.raw`bytearray(b'\x01\x02')`)).toEqual(bytes(1, 2))
    expect(parse("bytearray(b'')")).toEqual(bytes())
    expect(parse("bytearray()")).toEqual(bytes())
    expect(parse("b'abc'")).toBeInstanceOf(Uint8Array)
  })

  it("parses lists and tuples to arrays", () => {
    expect(parse("[]")).toEqual([])
    expect(parse("[1, 2, 3]")).toEqual([1, 2, 3])
    expect(parse("()")).toEqual([])
    expect(parse("(1,)")).toEqual([1])
    expect(parse("(1, 'a', None)")).toEqual([1, "a", null])
    expect(parse("(1)")).toBe(1) // parentheses, not a tuple
    expect(parse("[1, 2,]")).toEqual([1, 2])
    expect(parse("(1, 2,)")).toEqual([1, 2])
    expect(parse("[[1, [2, (3,)]], [], ()]")).toEqual([[1, [2, [3]]], [], []])
  })

  it("parses dicts with string keys to plain objects", () => {
    expect(parse("{}")).toEqual({})
    const value = parse("{'a': 1, 'b': [True, None], 'c': {'d': b'\\x01'}}")
    expect(value).toEqual({ a: 1, b: [true, null], c: { d: bytes(1) } })
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
    expect(parse("{'a': 1, 'a': 2}")).toEqual({ a: 2 }) // the last duplicate wins, as in Python
  })

  it("keeps a '__proto__' key as an own property", () => {
    const value = parse("{'__proto__': {'polluted': True}}") as PythonDict
    expect(Object.keys(value)).toEqual(["__proto__"])
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.getOwnPropertyDescriptor(value, "__proto__")?.value).toEqual({ polluted: true })
  })

  it("parses dicts with other keys to Maps", () => {
    expect(parse("{1: 'a', 2: 'b'}")).toEqual(
      new Map<PythonValue, PythonValue>([
        [1, "a"],
        [2, "b"],
      ]),
    )
    expect(parse("{'a': 1, 2: 3}")).toEqual(
      new Map<PythonValue, PythonValue>([
        ["a", 1],
        [2, 3],
      ]),
    )
    expect(parse("{(1, 2): 'x', None: b'', True: 1.5}")).toEqual(
      new Map<PythonValue, PythonValue>([
        [[1, 2], "x"],
        [null, bytes()],
        [true, 1.5],
      ]),
    )
  })

  it("parses sets", () => {
    expect(parse("{1, 2, 3}")).toEqual(new Set([1, 2, 3]))
    expect(parse("{'a'}")).toEqual(new Set(["a"]))
    expect(parse("{1,}")).toEqual(new Set([1]))
    expect(parse("set()")).toEqual(new Set())
    expect(parse("set([1, 2])")).toEqual(new Set([1, 2]))
    expect(parse("set((1,))")).toEqual(new Set([1]))
    expect(parse("set([])")).toEqual(new Set())
    expect(parse("{(1, 2), 'x'}")).toEqual(new Set<PythonValue>([[1, 2], "x"]))
  })

  it("accepts whitespace around tokens, and a trailing newline as print() leaves it", () => {
    expect(parse("  [ 1 ,\n\t2 ]  \r\n")).toEqual([1, 2])
    expect(parse("{ 'a' :1 }")).toEqual({ a: 1 })
    expect(parse("set ( )")).toEqual(new Set())
  })

  it("parses a MicroPython result with everything nested", () => {
    const text = String.raw`{'id': 7, 'ok': True, 'readings': [21.5, 1e-05, inf, -0.0], 'raw': bytearray(b'\x00A\xff'), 'tags': {'a', 'b'}, 'pos': (1, -2), 'names': {1: 'é', 2: "it's"}, 'none': None}`
    expect(parse(text)).toEqual({
      id: 7,
      ok: true,
      readings: [21.5, 1e-5, Number.POSITIVE_INFINITY, -0],
      raw: bytes(0, 65, 255),
      tags: new Set(["a", "b"]),
      pos: [1, -2],
      names: new Map<PythonValue, PythonValue>([
        [1, "é"],
        [2, "it's"],
      ]),
      none: null,
    })
  })

  it("fails on anything that is not a literal, saying where and what was expected", () => {
    const cases: Array<[string, number, string]> = [
      ["<function f at 0x20003a40>", 0, "a Python literal"],
      ["<object object at 0x7f>", 0, "a Python literal"],
      ["OrderedDict({'a': 1})", 0, "a Python literal"],
      ["frozenset({1})", 0, "a Python literal"],
      ["Nonesuch", 0, "a Python literal"],
      ["", 0, "a value"],
      ["   ", 3, "a value"],
      ["[1, 2", 5, "',' or ']'"],
      ["[1 2]", 3, "',' or ']'"],
      ["[1, ]]", 5, "the end of the input"],
      ["1 2", 2, "the end of the input"],
      ["[,]", 1, "a Python literal"],
      ["(1 2)", 3, "',' or ')'"],
      ["{1: 2, 3}", 8, "':'"],
      ["{1, 2: 3}", 5, "',' or '}'"],
      ["{1: 2", 5, "',' or '}'"],
      ["'abc", 4, "a closing '"],
      ['"abc', 4, 'a closing "'],
      ["'line\nbreak'", 5, "a closing ' before the end of the line"],
      [String.raw`'a\qb'`, 2, "an escape sequence"],
      [String.raw`'\x4'`, 4, "2 hex digits"],
      [String.raw`'\u12'`, 5, "4 hex digits"],
      [String.raw`'\U00110000'`, 1, "a code point up to"],
      [String.raw`'\N{DASH}'`, 1, "an escape sequence"],
      ["b'é'", 2, "an ASCII character"],
      [String.raw`b'\u00e9'`, 2, "an escape sequence"],
      [String.raw`b'\777'`, 2, "an octal escape"],
      ["0x10", 1, "the end of the number"],
      ["1j", 1, "the end of the number"],
      ["1_000", 1, "the end of the number"],
      ["1.2.3", 3, "the end of the number"],
      ["1e", 2, "exponent digits"],
      ["-", 0, "a number"],
      ["-foo", 0, "a number"],
      ["set(5)", 4, "a list or tuple"],
      ["set((5))", 4, "a list or tuple"],
      ["set([1]", 7, "')' closing set("],
      ["set", 3, "'(' after set"],
      ["bytearray('x')", 10, "a bytes literal"],
      ["True False", 5, "the end of the input"],
    ]
    for (const [text, position, expected] of cases) {
      const error = parseError(text)
      expect(error, text).toBeInstanceOf(PythonLiteralError)
      expect(error._tag).toBe("PythonLiteralError")
      expect({ text, position: error.position }).toEqual({ text, position })
      expect(error.expected, text).toContain(expected)
    }
  })

  it("puts an excerpt of the input around the failure into the error", () => {
    const error = parseError("[1, 2, <function f at 0x2000a0b0>]")
    expect(error.position).toBe(7)
    expect(error.excerpt).toBe("[1, 2, ▸<function f at 0x2000a0b…")
    expect(error.message).toContain("position 7")
    expect(error.message).toContain("▸<function")
    const long = `[${"1, ".repeat(100)}x]`
    const cut = parseError(long)
    expect(cut.excerpt).toBe(`…${long.slice(cut.position - 24, cut.position)}▸x]`)
  })

  it("lifts into Effect with Effect.fromResult and fails with a catchable tagged error", () => {
    const ok = Effect.runSync(
      Effect.gen(function* () {
        return yield* Effect.fromResult(parsePythonLiteral("[1, 2]"))
      }),
    )
    expect(ok).toEqual([1, 2])
    const recovered = Effect.runSync(
      Effect.gen(function* () {
        return yield* Effect.fromResult(parsePythonLiteral("<generator object>"))
      }).pipe(Effect.catchTag("PythonLiteralError", (e) => Effect.succeed(`bad at ${e.position}`))),
    )
    expect(recovered).toBe("bad at 0")
  })

  it("handles 1 MB of flat data", () => {
    const n = 150_000
    const list = `[${Array.from({ length: n }, (_, i) => String(i * 7)).join(", ")}]`
    expect(list.length).toBeGreaterThan(1_000_000)
    const parsed = parse(list) as number[]
    expect(parsed.length).toBe(n)
    expect(parsed[n - 1]).toBe((n - 1) * 7)

    const text = "x".repeat(1_000_000)
    expect(parse(`'${text}'`)).toBe(text)
    expect((parse(`b'${"\\xff".repeat(300_000)}'`) as Uint8Array).length).toBe(300_000)

    const dict = `{${Array.from({ length: 60_000 }, (_, i) => `'k${i}': (${i}, 'v')`).join(", ")}}`
    expect(dict.length).toBeGreaterThan(1_000_000)
    expect(Object.keys(parse(dict) as PythonDict).length).toBe(60_000)
  })

  it("handles deep nesting without recursion", () => {
    const depth = 100_000
    let value = parse(`${"[".repeat(depth)}${"]".repeat(depth)}`)
    let seen = 0
    while (Array.isArray(value) && value.length > 0) {
      value = value[0]!
      seen++
    }
    expect(seen).toBe(depth - 1)
    expect(parseError(`${"(".repeat(depth)}1`).expected).toBe("',' or ')'")
  })
})

// ---------------------------------------------------------------------------------------------
// toPythonLiteral
// ---------------------------------------------------------------------------------------------

describe("toPythonLiteral", () => {
  it("asks encodeOther about functions and class instances, and refuses them when it declines", () => {
    class Handle {
      constructor(readonly id: number) {}
    }
    const asked: unknown[] = []
    const encodeOther = (value: object) => {
      asked.push(value)
      return value instanceof Handle ? `lookup(${value.id})` : undefined
    }
    const fn = () => 1
    expect(toPythonLiteral({ a: [new Handle(3), 1], b: new Set([new Handle(4)]) }, { encodeOther })).toBe(
      "{'a': [lookup(3), 1], 'b': {lookup(4)}}",
    )
    expect(() => toPythonLiteral([new Date(0)], { encodeOther })).toThrow(
      /\$\[0\].*Date has no Python literal/,
    )
    expect(() => toPythonLiteral({ f: fn }, { encodeOther })).toThrow(/a function has no Python literal/)
    // Containers are never handed to it; strings stay literals.
    toPythonLiteral([{ x: "lookup(1)" }, new Map([[1, 2]])], { encodeOther })
    expect(asked.filter((v) => !(v instanceof Handle))).toEqual([new Date(0), fn])
  })

  it("encodes None and booleans", () => {
    expect(toPythonLiteral(null)).toBe("None")
    expect(toPythonLiteral(undefined)).toBe("None")
    expect(toPythonLiteral(true)).toBe("True")
    expect(toPythonLiteral(false)).toBe("False")
  })

  it("encodes numbers: integers as ints, the rest as round-trip floats", () => {
    expect(toPythonLiteral(0)).toBe("0")
    expect(toPythonLiteral(-42)).toBe("-42")
    expect(toPythonLiteral(Number.MAX_SAFE_INTEGER)).toBe("9007199254740991")
    expect(toPythonLiteral(1.5)).toBe("1.5")
    expect(toPythonLiteral(0.1)).toBe("0.1")
    expect(toPythonLiteral(5e-7)).toBe("5e-7")
    expect(toPythonLiteral(1e300)).toBe("1e+300")
    expect(toPythonLiteral(2 ** 60)).toBe("1152921504606847000.0")
    expect(toPythonLiteral(-0)).toBe("-0.0")
    expect(toPythonLiteral(Number.POSITIVE_INFINITY)).toBe("float('inf')")
    expect(toPythonLiteral(Number.NEGATIVE_INFINITY)).toBe("float('-inf')")
    expect(toPythonLiteral(Number.NaN)).toBe("float('nan')")
    expect(toPythonLiteral(Number.MIN_VALUE)).toBe("5e-324")
  })

  it("encodes bigints as ints", () => {
    expect(toPythonLiteral(0n)).toBe("0")
    expect(toPythonLiteral(2n ** 100n)).toBe("1267650600228229401496703205376")
    expect(toPythonLiteral(-(2n ** 64n))).toBe("-18446744073709551616")
  })

  it("encodes strings as pure ASCII single-quoted literals", () => {
    expect(toPythonLiteral("abc")).toBe("'abc'")
    expect(toPythonLiteral("")).toBe("''")
    expect(toPythonLiteral("it's")).toBe(String.raw`'it\'s'`)
    expect(toPythonLiteral('say "hi"')).toBe(`'say "hi"'`)
    expect(toPythonLiteral("a\\b")).toBe(String.raw`'a\\b'`)
    expect(toPythonLiteral("\n\r\t")).toBe(String.raw`'\n\r\t'`)
    expect(toPythonLiteral("\0\x01\x1b\x1f\x7f")).toBe(String.raw`'\x00\x01\x1b\x1f\x7f'`)
    expect(toPythonLiteral("é\x80\xff")).toBe(String.raw`'\u00e9\u0080\u00ff'`)
    expect(toPythonLiteral("温度 \u2028\uffff")).toBe(String.raw`'\u6e29\u5ea6 \u2028\uffff'`)
    expect(toPythonLiteral("😀\u{10ffff}")).toBe(String.raw`'\U0001f600\U0010ffff'`)
    expect(toPythonLiteral("'); import os; os.remove('main.py'); ('")).toBe(
      String.raw`'\'); import os; os.remove(\'main.py\'); (\''`,
    )
  })

  it("refuses lone UTF-16 surrogates instead of replacing them", () => {
    for (const s of ["\ud800", "a\udc00", "\ude00\ud83d"]) {
      const error = encodeError(s)
      expect(error._tag).toBe("PythonLiteralEncodeError")
      expect(error.path).toBe("$")
      expect(error.reason).toContain("lone UTF-16 surrogate")
    }
    expect(encodeError("ab\ud800").reason).toContain("index 2")
    expect(encodeError({ list: ["ok", { s: "x\udfff" }] }).path).toBe("$.list[1].s")
    const keyError = encodeError({ "k\ud800": 1 })
    expect(keyError.path).toBe('$["k\\ud800"]')
    expect(keyError.reason).toContain("the key")
  })

  it("encodes Uint8Array and Buffer as bytes", () => {
    expect(toPythonLiteral(bytes())).toBe("b''")
    expect(toPythonLiteral(bytes(0, 65, 39, 92, 34, 10, 13, 9, 127, 128, 255))).toBe(
      String.raw`b'\x00A\'\\"\n\r\t\x7f\x80\xff'`,
    )
    expect(toPythonLiteral(Buffer.from("hi"))).toBe("b'hi'")
  })

  it("encodes arrays, objects, Maps and Sets", () => {
    expect(toPythonLiteral([])).toBe("[]")
    expect(toPythonLiteral([1, "a", [null]])).toBe("[1, 'a', [None]]")
    expect(toPythonLiteral({})).toBe("{}")
    expect(toPythonLiteral({ a: 1, "b c": [true] })).toBe("{'a': 1, 'b c': [True]}")
    expect(toPythonLiteral(Object.assign(Object.create(null), { x: 1 }))).toBe("{'x': 1}")
    expect(toPythonLiteral(JSON.parse('{"__proto__": 1}'))).toBe("{'__proto__': 1}")
    expect(
      toPythonLiteral(
        new Map<unknown, unknown>([
          [1, "a"],
          ["b", 2n],
        ]),
      ),
    ).toBe("{1: 'a', 'b': 2}")
    expect(toPythonLiteral(new Map())).toBe("{}")
    expect(toPythonLiteral(new Set([1, "x"]))).toBe("{1, 'x'}")
    expect(toPythonLiteral(new Set())).toBe("set()")
    expect(toPythonLiteral([undefined, null, 1])).toBe("[None, None, 1]")
    expect(toPythonLiteral(new Array(2))).toBe("[None, None]") // holes
  })

  it("turns arrays into tuples where Python needs something hashable", () => {
    expect(toPythonLiteral(new Set([[1, 2], [3], []]))).toBe("{(1, 2), (3,), ()}")
    expect(toPythonLiteral(new Map([[[1, [2]], "x"]]))).toBe("{(1, (2,)): 'x'}")
    expect(toPythonLiteral(new Set([bytes(1)]))).toBe(String.raw`{b'\x01'}`)
    const error = encodeError({ s: new Set([1, { a: 1 }]) })
    expect(error.path).toBe("$.s.values()[1]")
    expect(error.reason).toContain("not hashable")
    expect(encodeError(new Map([[new Set(), 1]])).path).toBe("$.entries()[0][0]")
  })

  it("refuses what has no Python literal, with the path to it", () => {
    expect(encodeError({ a: [0, 1, 2, { b: () => 1 }] }).path).toBe("$.a[3].b")
    expect(encodeError({ a: [0, 1, 2, { b: () => 1 }] }).reason).toContain("function")
    expect(encodeError([Symbol("s")]).path).toBe("$[0]")
    expect(encodeError({ when: new Date(0) }).reason).toContain("a Date")
    class Point {
      x = 1
    }
    expect(encodeError([new Point()]).reason).toContain("a Point")
    expect(encodeError(new Uint16Array(2)).reason).toContain("Uint16Array")
    expect(encodeError(new Map([["k", [1, () => 0]]])).path).toBe('$.get("k")[1]')
    expect(encodeError(new Map([[7, { f() {} }]])).path).toBe("$.get(7).f")
    expect(encodeError({ "not an identifier": Promise.resolve() }).path).toBe('$["not an identifier"]')
  })

  it("refuses cycles but accepts shared values", () => {
    const self: Record<string, unknown> = { a: 1 }
    self.self = self
    const error = encodeError({ outer: self })
    expect(error.path).toBe("$.outer.self")
    expect(error.reason).toContain("cycle")
    const shared = [1]
    expect(toPythonLiteral({ x: shared, y: shared })).toBe("{'x': [1], 'y': [1]}")
  })

  it("refuses nesting deeper than MAX_ENCODE_DEPTH", () => {
    const nest = (depth: number) => {
      let value: unknown = 0
      for (let i = 0; i < depth; i++) value = [value]
      return value
    }
    expect(toPythonLiteral(nest(MAX_ENCODE_DEPTH))).toBe(
      `${"[".repeat(MAX_ENCODE_DEPTH)}0${"]".repeat(MAX_ENCODE_DEPTH)}`,
    )
    expect(encodeError(nest(MAX_ENCODE_DEPTH + 1)).reason).toContain("nested deeper")
  })

  it("encodes a 1 MB byte string", () => {
    const data = new Uint8Array(1_000_000).map((_, i) => (i * 7) % 256)
    const back = parse(toPythonLiteral(data))
    expect(back).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(back as Uint8Array).equals(data)).toBe(true)
  })
})

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/** Put `ws` around every bracket, comma and colon outside string literals. */
const spaceOut = (literal: string, ws: string): string => {
  let out = ""
  let quote: string | undefined
  for (let i = 0; i < literal.length; i++) {
    const c = literal[i]!
    if (quote !== undefined) {
      out += c
      if (c === "\\") out += literal[++i]
      else if (c === quote) quote = undefined
    } else if (c === "'" || c === '"') {
      quote = c
      out += c
    } else {
      out += "[](){},:".includes(c) ? `${ws}${c}${ws}` : c
    }
  }
  return out
}

describe("properties", () => {
  it("parsePythonLiteral(toPythonLiteral(v)) gives v back", () => {
    fc.assert(
      fc.property(pythonish(false), (v) => {
        expect(parse(toPythonLiteral(v))).toEqual(normalize(v))
      }),
      { numRuns: 500 },
    )
  })

  it("encodes any string as printable ASCII that no quote escapes from", () => {
    fc.assert(
      fc.property(anyString, (s) => {
        const literal = toPythonLiteral(s)
        expect(literal).toMatch(/^'[\x20-\x7e]*'$/)
        const inner = literal.slice(1, -1)
        for (let i = 0; i < inner.length; i++) {
          if (inner[i] === "\\") i++
          else expect(inner[i]).not.toBe("'")
        }
        // the last character inside is not a dangling backslash that would escape the closing quote
        expect(/(^|[^\\])(\\\\)*\\$/.test(inner)).toBe(false)
        expect(parse(literal)).toBe(s)
      }),
      { numRuns: 1000 },
    )
  })

  it("re-parses whatever whitespace surrounds the tokens", () => {
    fc.assert(
      fc.property(pythonish(false), fc.constantFrom(" ", "\n", "\t ", "\r\n  "), (v, ws) => {
        expect(parse(`${ws}${spaceOut(toPythonLiteral(v), ws)}${ws}`)).toEqual(normalize(v))
      }),
      { numRuns: 200 },
    )
  })
})

// ---------------------------------------------------------------------------------------------
// Against CPython
// ---------------------------------------------------------------------------------------------

const CPYTHON = `
import ast, json, sys
out = []
for line in sys.stdin:
    req = json.loads(line)
    try:
        if req["mode"] == "literal":
            value = ast.literal_eval(req["src"])
        else:
            value = eval(req["src"], {"__builtins__": {}}, {"float": float, "set": set})
        out.append({"ok": True, "repr": repr(value)})
    except Exception as e:
        out.append({"ok": False, "error": type(e).__name__ + ": " + str(e)})
print(json.dumps(out))
`

const hasPython = spawnSync("python3", ["--version"]).status === 0

describe.skipIf(!hasPython)("against CPython", () => {
  it("ast.literal_eval accepts the encodings, and its repr parses back to the same value", () => {
    const values: unknown[] = [
      ...fc.sample(pythonish(true), { numRuns: 400, seed: 20240611 }),
      // a sweep over the code points, skipping the surrogate range
      Array.from({ length: 0x800 }, (_, i) => i * 0x220 + (i % 7))
        .filter((cp) => cp < 0xd800 || cp > 0xdfff)
        .map((cp) => String.fromCodePoint(cp))
        .join(""),
      String.fromCodePoint(...Array.from({ length: 128 }, (_, i) => i)),
      "😀\u{10ffff}\u{e0001}\u200b\u00ad\u2028",
      Uint8Array.from({ length: 256 }, (_, i) => i),
      new Set([[1, 2], [3], []]),
      new Map<unknown, unknown>([[[1, [2]], "x"]]),
      [-0, 1e300, 5e-324, 2 ** 60, 0.1, -1.5e-7],
      2n ** 1000n,
    ]
    const special = [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      [Number.NaN, -0],
      new Set(),
    ]
    const requests = [
      ...values.map((v) => ({ mode: "literal", src: toPythonLiteral(v), expected: normalize(v) })),
      ...special.map((v) => ({ mode: "eval", src: toPythonLiteral(v), expected: normalize(v) })),
    ]
    const run = spawnSync("python3", ["-c", CPYTHON], {
      input: requests.map(({ mode, src }) => JSON.stringify({ mode, src })).join("\n"),
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    })
    expect(run.status, run.stderr).toBe(0)
    const answers = JSON.parse(run.stdout) as Array<{ ok: true; repr: string } | { ok: false; error: string }>
    expect(answers.length).toBe(requests.length)
    requests.forEach(({ src, expected }, i) => {
      const answer = answers[i]!
      if (!answer.ok) throw new Error(`CPython refused ${src}: ${answer.error}`)
      expect(parse(src), src).toEqual(expected)
      expect(parse(answer.repr), answer.repr).toEqual(expected)
    })
  })
})

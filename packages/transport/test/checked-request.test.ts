/**
 * The checked request's own check (`checkedRequest`, `checkedRuntimeRequest`,
 * `checkedTopLevelRequest`): the length and byte sum that the wrapper compares on the board must
 * be those of the literal it carries, so that the intact request runs and a request with one byte
 * changed inside its literal is refused. Pure tests of the builder: the literal is read back with
 * `parsePythonLiteral`, the wrapper's numbers with a regular expression; where `python3` is
 * installed the requests also run in CPython (which runs the wrapper as MicroPython does).
 *
 * Mutations tried (each applied by hand to src/CheckedRequest.ts, this file run, then reverted):
 * - `bytesLiteral` sums all bytes but the last (`if (i < bytes.length - 1) sum += b`): caught by
 *   "the lambda form carries ...", "a request with one byte changed ... is refused", "the short
 *   form carries ..." and "in CPython > the lambda form ...";
 * - `checkedRequest` drops the sum from its check (`if len(q)==n else ...`): caught by "the lambda
 *   form carries ...", "a request with one byte changed ... is refused", "in CPython > the lambda
 *   form ...";
 * - `checkedTopLevelRequest` sums UTF-16 code units (`code.charCodeAt(i)`) instead of UTF-8
 *   bytes: caught by "the top-level form carries ...", "refuses one changed character", "in
 *   CPython > the top-level form ...";
 * - `checkedTopLevelRequest` drops the sum from its check: caught by the same three.
 */
import { spawnSync } from "node:child_process"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  checkedRequest,
  checkedRuntimeRequest,
  checkedTopLevelRequest,
  classifyAttempt,
  fromCheckedRequest,
} from "../src/CheckedRequest.js"
import { ProtocolTimeoutError, PythonError } from "../src/errors.js"
import { parsePythonLiteral } from "../src/PythonLiteral.js"
import { isWellFormedTraceback } from "../src/Traceback.js"

const utf8 = new TextEncoder()

const byteSum = (bytes: Uint8Array): number => bytes.reduce((a, b) => a + b, 0)

const CODES = [
  "print(1)",
  "",
  "f(\"a\\\\b\", 'c')\n\tg()\r\n",
  "print('héllo ✓ 😀')",
  "x = b'\\x00\\xff'\nprint(len(x))",
  String.fromCharCode(...Array.from({ length: 127 }, (_, i) => i + 1)),
]

/** The lambda form, read back: the bytes of its literal, and the length and sum it checks. */
const readLambda = (request: string) => {
  const match =
    /^\(lambda _belay_q:exec\(_belay_q\) if len\(_belay_q\)==(\d+) and sum\(_belay_q\)==(\d+) else _belay_request_damaged\)\((b".*")\)$/s.exec(
      request,
    )
  if (match === null) throw new Error(`not a checked request: ${request}`)
  const literal = Result.getOrThrow(parsePythonLiteral(match[3]!))
  if (!(literal instanceof Uint8Array)) throw new Error("the literal is not bytes")
  return { length: Number(match[1]), sum: Number(match[2]), literal: match[3]!, bytes: literal }
}

/** The check the board makes, on the literal it received. */
const lambdaAccepts = (request: string, received: string): boolean => {
  const { length, sum } = readLambda(request)
  const bytes = Result.getOrThrow(parsePythonLiteral(received)) as Uint8Array
  return bytes.length === length && byteSum(bytes) === sum
}

const readTopLevel = (request: string) => {
  const match =
    /^exec\(\*\[_belay_q for _belay_q in \[(.*)\] if len\(_belay_q\)==(\d+) and sum\(bytes\(_belay_q,'utf-8'\)\)==(\d+)\] or \[_belay_request_damaged\]\)\n$/s.exec(
      request,
    )
  if (match === null) throw new Error(`not a top-level checked request: ${request}`)
  const text = Result.getOrThrow(parsePythonLiteral(match[1]!))
  if (typeof text !== "string") throw new Error("the literal is not a string")
  return { literal: match[1]!, text, length: Number(match[2]), sum: Number(match[3]) }
}

const topLevelAccepts = (request: string, text: string): boolean => {
  const { length, sum } = readTopLevel(request)
  return [...text].length === length && byteSum(utf8.encode(text)) === sum
}

/** The literal with the byte of one printable ASCII character (not a quote or backslash) changed. */
const changeOneByte = (literal: string, at: number): string | undefined => {
  const inner = literal.slice(2, -1)
  // Only characters that stand for themselves: never inside an escape.
  const plain: number[] = []
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === "\\") {
      i += inner[i + 1] === "x" ? 3 : 1
      continue
    }
    plain.push(i)
  }
  if (plain.length === 0) return undefined
  const i = plain[at % plain.length]!
  const c = inner.charCodeAt(i)
  const changed = c === 0x7e ? 0x7d : c + 1 === 0x22 || c + 1 === 0x5c ? c + 2 : c + 1
  return `b"${inner.slice(0, i)}${String.fromCharCode(changed)}${inner.slice(i + 1)}"`
}

describe("checkedRequest", () => {
  it("the lambda form carries the literal's length and byte sum", () => {
    expect(checkedRequest("print(1)")).toBe(
      '(lambda _belay_q:exec(_belay_q) if len(_belay_q)==8 and sum(_belay_q)==687 else _belay_request_damaged)(b"print(1)")',
    )
    for (const code of CODES) {
      const { length, sum, bytes } = readLambda(checkedRequest(code))
      const expected = utf8.encode(code)
      expect(bytes).toEqual(expected)
      expect(length).toBe(expected.length)
      expect(sum).toBe(byteSum(expected))
    }
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (code) => {
        const { length, sum, bytes } = readLambda(checkedRequest(code))
        const expected = utf8.encode(code)
        expect(bytes).toEqual(expected)
        expect(length).toBe(expected.length)
        expect(sum).toBe(byteSum(expected))
      }),
    )
  })

  it("a request with one byte changed inside the literal is refused", () => {
    for (const code of CODES) {
      const request = checkedRequest(code)
      const { literal } = readLambda(request)
      expect(lambdaAccepts(request, literal)).toBe(true)
      for (let at = 0; at < 20; at++) {
        const changed = changeOneByte(literal, at)
        if (changed === undefined) continue
        expect(lambdaAccepts(request, changed)).toBe(false)
      }
    }
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 100 }), fc.nat(), (code, at) => {
        const request = checkedRequest(code)
        const changed = changeOneByte(readLambda(request).literal, at)
        if (changed !== undefined) expect(lambdaAccepts(request, changed)).toBe(false)
      }),
    )
  })

  it("the short form carries the literal's length and byte sum", () => {
    for (const code of CODES) {
      const match = /^_belay_x\((b".*"),(\d+),(\d+)\)$/s.exec(checkedRuntimeRequest(code))
      expect(match).not.toBeNull()
      const bytes = Result.getOrThrow(parsePythonLiteral(match![1]!)) as Uint8Array
      expect(bytes).toEqual(utf8.encode(code))
      expect(Number(match![2])).toBe(bytes.length)
      expect(Number(match![3])).toBe(byteSum(bytes))
    }
  })
})

describe("classifyAttempt of a MemoryError in a checked request", () => {
  const memoryError = (frames: ReadonlyArray<string>) =>
    new PythonError({
      exceptionType: "MemoryError",
      pythonMessage: "parser could not allocate enough memory",
      traceback: `Traceback (most recent call last):\r\n${frames.map((f) => `  ${f}\r\n`).join("")}MemoryError: parser could not allocate enough memory\r\n`,
      stdout: "",
    })
  const checked = { form: "checked" } as const

  it("compiling the executed code failed: nothing ran (collect and send again), in either form", () => {
    // The short form: `_belay_x` was deployed from a string, so its own frame is a `<string>` one
    // (seen on the QEMU micro:bit, MicroPython 1.9.2).
    expect(
      classifyAttempt(
        memoryError([
          'File "<stdin>", line 1, in <module>',
          'File "<string>", line 8, in _belay_x',
          'File "<string>", line 1',
        ]),
        checked,
      ),
    ).toBe("no-heap")
    expect(
      classifyAttempt(
        memoryError(['File "<stdin>", line 1, in <lambda>', 'File "<string>", line 1']),
        checked,
      ),
    ).toBe("no-heap")
    expect(classifyAttempt(memoryError(['File "<stdin>", line 1']), checked)).toBe("no-heap")
  })

  it("the executed code ran out of memory while running: never sent again", () => {
    expect(
      classifyAttempt(
        memoryError([
          'File "<stdin>", line 1, in <module>',
          'File "<string>", line 8, in _belay_x',
          'File "<string>", line 3, in <module>',
        ]),
        checked,
      ),
    ).toBe("ran")
    expect(
      classifyAttempt(
        memoryError([
          'File "<stdin>", line 1, in <lambda>',
          'File "<string>", line 2, in <module>',
          'File "<string>", line 5, in grow',
        ]),
        checked,
      ),
    ).toBe("ran")
  })
})

describe("checkedTopLevelRequest", () => {
  it("the top-level form carries the length in characters and the UTF-8 byte sum", () => {
    expect(checkedTopLevelRequest("print(1)")).toBe(
      "exec(*[_belay_q for _belay_q in ['print(1)'] if len(_belay_q)==8 and sum(bytes(_belay_q,'utf-8'))==687] or [_belay_request_damaged])\n",
    )
    for (const code of CODES) {
      const { text, length, sum } = readTopLevel(checkedTopLevelRequest(code))
      expect(text).toBe(code)
      expect(length).toBe([...code].length)
      expect(sum).toBe(byteSum(utf8.encode(code)))
    }
  })

  it("refuses one changed character", () => {
    for (const code of CODES.filter((c) => c.length > 0)) {
      const request = checkedTopLevelRequest(code)
      expect(topLevelAccepts(request, code)).toBe(true)
      for (let i = 0; i < code.length; i++) {
        const c = code.charCodeAt(i)
        if (c >= 0xd800 && c < 0xe000) continue
        const changed = `${code.slice(0, i)}${String.fromCharCode(c === 0x7e ? 0x7d : c + 1)}${code.slice(i + 1)}`
        expect(topLevelAccepts(request, changed)).toBe(false)
      }
    }
  })

  it("collectFirst collects the heap, then runs the same check", () => {
    expect(checkedTopLevelRequest("print(1)", { collectFirst: true })).toBe(
      `__import__('gc').collect()\n${checkedTopLevelRequest("print(1)")}`,
    )
  })
})

const hasPython = spawnSync("python3", ["--version"]).status === 0

// Runs each request, then the request with one literal byte changed, in CPython: the first prints,
// the second raises NameError: _belay_request_damaged (having run nothing).
const RUNNER = `
import sys, json
for request in json.loads(sys.stdin.read()):
    try:
        exec(request, {})
        print("ran")
    except NameError as e:
        print("refused" if "_belay_request_damaged" in str(e) else "error")
`

const runInPython = (requests: ReadonlyArray<string>): ReadonlyArray<string> => {
  const run = spawnSync("python3", ["-c", RUNNER], { input: JSON.stringify(requests), encoding: "utf8" })
  if (run.status !== 0) throw new Error(run.stderr)
  return run.stdout
    .trim()
    .split("\n")
    .filter((line) => line === "ran" || line === "refused" || line === "error")
}

describe.skipIf(!hasPython)("in CPython", () => {
  const CODE = "print('héllo ✓ \"q\" \\\\ 😀')\nx = 1"

  it("the lambda form runs intact and is refused with one byte changed", () => {
    const request = checkedRequest(CODE)
    const { literal } = readLambda(request)
    const changed = request.replace(literal, changeOneByte(literal, 3)!)
    expect(runInPython([request, changed])).toEqual(["ran", "refused"])
  })

  it("the top-level form runs intact and is refused with one character changed", () => {
    const request = checkedTopLevelRequest(CODE)
    const { literal } = readTopLevel(request)
    const changed = request.replace(literal, literal.replace("h", "i"))
    expect(runInPython([request, changed])).toEqual(["ran", "refused"])
  })
})

describe("a traceback damaged on the way back", () => {
  // Tracebacks of checked requests whose code ran (and raised): the code's frame is there. One
  // byte lost or changed on the way back must never make them read as "nothing ran" (which sends
  // the request again, running the code twice).
  const frames = (...lines: ReadonlyArray<string>) => lines.map((l) => `  ${l}\r\n`).join("")
  const RAN: ReadonlyArray<readonly [string, string]> = [
    [
      "NameError",
      `Traceback (most recent call last):\r\n${frames('File "<stdin>", line 1, in <lambda>', 'File "<string>", line 2, in <module>')}NameError: name 'x' isn't defined\r\n`,
    ],
    [
      "ValueError",
      `Traceback (most recent call last):\r\n${frames('File "<stdin>", line 1, in <module>', 'File "<string>", line 8, in _belay_x', 'File "<string>", line 3, in <module>', 'File "<string>", line 5, in camp_add')}ValueError: bad\r\n`,
    ],
    [
      "MemoryError",
      `Traceback (most recent call last):\r\n${frames('File "<stdin>", line 1, in <module>', 'File "<string>", line 8, in _belay_x', 'File "<string>", line 3, in <module>')}MemoryError: memory allocation failed, allocating 64 bytes\r\n`,
    ],
    [
      "SyntaxError",
      `Traceback (most recent call last):\r\n${frames('File "<stdin>", line 1, in <listcomp>', 'File "<string>", line 4, in <module>')}SyntaxError: invalid syntax\r\n`,
    ],
  ]
  const errorOf = (exceptionType: string, traceback: string) =>
    new PythonError({ exceptionType, pythonMessage: "", traceback, stdout: "" })

  it("undamaged, each reads as code that ran", () => {
    for (const [type, traceback] of RAN)
      expect(classifyAttempt(errorOf(type, traceback), { form: "checked" })).toBe("ran")
  })

  it("with any one byte dropped or changed, none reads as nothing ran", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...RAN),
        fc.nat(),
        fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 255 })),
        ([type, traceback], at, replacement) => {
          const i = at % traceback.length
          const damaged =
            traceback.slice(0, i) +
            (replacement === undefined ? "" : String.fromCharCode(replacement)) +
            traceback.slice(i + 1)
          const error = errorOf(type, damaged)
          expect(classifyAttempt(error, { form: "checked" })).toBe("ran")
          expect(fromCheckedRequest(error, 1)._tag).toBe("PythonError")
        },
      ),
      { numRuns: 3000 },
    )
  })

  it("a refusal still reads as one, and a wrapper's own damaged name as damage", () => {
    const refused = errorOf(
      "NameError",
      `Traceback (most recent call last):\r\n${frames('File "<stdin>", line 1, in <lambda>')}NameError: name '_belay_request_damaged' isn't defined\r\n`,
    )
    expect(classifyAttempt(refused, { form: "checked" })).toBe("nothing-ran")
    const wrapper = errorOf(
      "NameError",
      `Traceback (most recent call last):\r\n${frames('File "<stdin>", line 1, in <module>')}NameError: name '_belay_qq' isn't defined\r\n`,
    )
    expect(classifyAttempt(wrapper, { form: "checked" })).toBe("nothing-ran")
  })

  it("isWellFormedTraceback tells a whole traceback from a damaged one", () => {
    for (const [, traceback] of RAN) expect(isWellFormedTraceback(traceback)).toBe(true)
    expect(isWellFormedTraceback("MemoryError:\r\n")).toBe(true)
    expect(isWellFormedTraceback(RAN[0]![1].replace("File", "Fle"))).toBe(false)
    expect(isWellFormedTraceback(RAN[0]![1].replace("<lambda>\r\n", "<lambda>\r"))).toBe(false)
    expect(isWellFormedTraceback(RAN[0]![1].replace("NameError:", "  NameError:"))).toBe(false)
  })
})

describe("classifyAttempt of a plain raw request whose OK did not come", () => {
  it("nothing at all: the request's end never arrived, nothing ran; part of the OK: the board took it", () => {
    const silent = new ProtocolTimeoutError({ phase: "raw-ok", timeoutMs: 5000, received: "" })
    expect(classifyAttempt(silent, { form: "checked" })).toBe("nothing-ran")
    const half = new ProtocolTimeoutError({ phase: "raw-ok", timeoutMs: 5000, received: "4f" })
    expect(classifyAttempt(half, { form: "checked" })).toBe("ran")
    expect(classifyAttempt(half, { form: "plain" })).toBe("ran")
  })
})

/**
 * Minified code does what the code did, on MicroPython itself: the minifier's corpus
 * (packages/transport/test/pythonCorpus.ts) and programs composed from it print the same bytes
 * minified and not on the virtual board (MicroPython 1.27) and, without f-strings, on the QEMU
 * micro:bit (1.9.2); code that raises gives the same traceback, naming the line as written.
 */
import {
  type DeviceCommunicationShape,
  makeDeviceCommunication,
  minifyPython,
  PythonError,
} from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { Effect, Exit, Scope } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FRAGMENTS, programArbitrary, renderProgram } from "../../transport/test/pythonCorpus.ts"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"
import { startQemuMicrobit } from "../src/qemu.ts"

/** What running `code` gave: its output, or its exception's type and traceback (and output before it). */
const outcome = (device: DeviceCommunicationShape, code: string) =>
  Effect.runPromise(
    device.exec(code).pipe(
      Effect.map((stdout) => ({ stdout })),
      Effect.catchTag("PythonError", (error) =>
        Effect.succeed({ stdout: error.stdout, raised: error.exceptionType, traceback: error.traceback }),
      ),
    ),
  )

/** Programs that raise, and the line of the code as written that each traceback must name. */
const RAISING: ReadonlyArray<{ readonly name: string; readonly code: string; readonly line: number }> = [
  {
    name: "after docstrings, comments and blank lines, inside a continuation line",
    code: [
      '"""A module docstring,',
      'over two lines."""',
      "",
      "# a comment",
      "def f(x):",
      '    """The docstring."""',
      "    # why",
      "    return (x +",
      "            1 / 0)",
      "",
      "f(1)",
    ].join("\n"),
    line: 9,
  },
  {
    name: "after a backslash continuation and a triple-quoted string",
    code: [
      "t = '''a",
      "# not a comment",
      "'''",
      "x = 1 + \\",
      "    2",
      "def g():",
      "    '''Only a docstring.'''",
      "g()",
      "y = {}['missing']  # KeyError",
    ].join("\n"),
    line: 9,
  },
  {
    name: "in a method called from a nested function, with tabs and CRLF",
    code: [
      "class C:",
      "\t'doc'",
      "\tdef m(self):",
      "\t\t# comment",
      "\t\treturn self.missing",
      "def outer():",
      "\tdef inner():",
      "\t\treturn C().m()",
      "\treturn inner()",
      "outer()",
    ].join("\r\n"),
    line: 5,
  },
]

describe("minified code on the virtual board (MicroPython 1.27)", () => {
  const scope = Effect.runSync(Scope.make())
  let device: DeviceCommunicationShape
  beforeAll(async () => {
    device = await Effect.runPromise(
      Scope.provide(
        Effect.flatMap(openVirtualBoard({}), (link) => makeDeviceCommunication(link)),
        scope,
      ),
    )
  }, 60_000)
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

  it("each fragment of the corpus prints the same bytes minified", async () => {
    for (const fragment of FRAGMENTS) {
      const layout = { indent: "    ", comments: true, blanks: true, crlf: false, moduleDoc: true } as const
      const code = renderProgram([fragment], layout, [true, false, true])
      const small = minifyPython(code)
      expect(small.length, fragment.name).toBeLessThan(code.length)
      const plain = await outcome(device, code)
      expect(plain, fragment.name).not.toHaveProperty("raised")
      expect(await outcome(device, small), fragment.name).toEqual(plain)
    }
  }, 60_000)

  it("programs composed from the corpus, in any layout, print the same bytes minified", async () => {
    await fc.assert(
      fc.asyncProperty(programArbitrary({ fstrings: true, mixedTabs: true }), async (code) => {
        const small = minifyPython(code)
        expect(small).not.toBe(code)
        const plain = await outcome(device, code)
        expect(plain).not.toHaveProperty("raised")
        expect(await outcome(device, small)).toEqual(plain)
      }),
      { numRuns: 200 },
    )
  }, 120_000)

  it("tracebacks name the lines of the code as written", async () => {
    for (const { name, code, line } of RAISING) {
      const small = minifyPython(code)
      expect(small.length, name).toBeLessThan(code.length)
      const plain = await outcome(device, code)
      expect(plain, name).toHaveProperty("raised")
      expect(plain.traceback, name).toContain(`line ${line}, in `)
      expect(await outcome(device, small), name).toEqual(plain)
    }
  }, 60_000)

  it("malformed code goes as it was written and fails on the board as it would have", async () => {
    const code = "def f():\n    return 'unterminated\nf()\n"
    expect(minifyPython(code)).toBe(code)
    const error = await Effect.runPromise(Effect.flip(device.exec(code)))
    expect(error).toBeInstanceOf(PythonError)
    expect((error as PythonError).exceptionType).toBe("SyntaxError")
  }, 30_000)
})

describe("minified code on the QEMU micro:bit (MicroPython 1.9.2)", () => {
  it("each fragment without f-strings prints the same bytes minified, and a traceback names the same line", async () => {
    const results = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const qemu = yield* startQemuMicrobit()
          const link = yield* openSerialLink({ path: qemu.ptyPath })
          const device = yield* makeDeviceCommunication(link, { execTimeoutMs: 20_000 })
          const layout = { indent: "\t", comments: true, blanks: true, crlf: true, moduleDoc: true } as const
          const rows: Array<{ name: string; plain: unknown; small: unknown }> = []
          const run = (name: string, code: string) =>
            Effect.gen(function* () {
              // A fresh heap for each: the micro:bit's few KB must hold the whole program.
              yield* device.softReset
              const plain = yield* Effect.promise(() => outcome(device, code))
              yield* device.softReset
              const small = yield* Effect.promise(() => outcome(device, minifyPython(code)))
              rows.push({ name, plain, small })
            })
          for (const fragment of FRAGMENTS.filter((f) => f.fstrings !== true)) {
            yield* run(fragment.name, renderProgram([fragment], layout, [true, false]))
          }
          yield* run("raising", RAISING[0]!.code)
          return rows
        }),
      ),
    )
    for (const { name, plain, small } of results) {
      expect(small, name).toEqual(plain)
      if (name !== "raising") expect(plain, name).not.toHaveProperty("raised")
    }
    expect(results.at(-1)!.plain).toHaveProperty(
      "traceback",
      expect.stringContaining(`line ${RAISING[0]!.line}`),
    )
  }, 300_000)
})

/**
 * The minifier (src/PythonMinifier.ts): each case it must get right, malformed code left as it
 * is, and, against CPython's own parser where python3 is installed, that minified programs of the
 * corpus parse to the same tree with every node on the same line. That the corpus prints the same
 * bytes minified and not on MicroPython is tested in @belay/virtual-device (test/minifier.test.ts).
 */
import { spawnSync } from "node:child_process"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { minifyPython, PythonMinifyError, tryMinifyPython } from "../src/PythonMinifier.js"
import * as transportPython from "../src/python/embedded.js"
import { FRAGMENTS, type Layout, programArbitrary, renderProgram } from "./pythonCorpus.js"

const minified = (source: string, lines: "keep" | "join" = "keep") =>
  Result.getOrThrow(tryMinifyPython(source, { lines })).code

const failure = (source: string): PythonMinifyError => {
  const result = tryMinifyPython(source)
  if (Result.isSuccess(result)) throw new Error(`expected ${JSON.stringify(source)} to be refused`)
  return result.failure
}

describe("minifyPython", () => {
  it("removes comments and blank lines, narrows indentation and spaces, and keeps every line's number", () => {
    const source = [
      "# a header comment",
      "",
      "def add(a, b):",
      "    # the sum",
      "    total = a + b   # inline",
      "",
      "    return total",
      "",
    ].join("\n")
    expect(minified(source)).toBe("\n\ndef add(a,b):\n\n total=a+b\n\n return total\n")
  })

  it("keeps strings that hold # and quotes as they are", () => {
    const source = `s = "a # b 'c'"  # real\nt = 'it\\'s # "x"'\nprint(s, "#", '"', "'")\n`
    expect(minified(source)).toBe(`s="a # b 'c'"\nt='it\\'s # "x"'\nprint(s,"#",'"',"'")\n`)
  })

  it("keeps f-strings whole: quotes of the other kind, braces, format specs, # in the text", () => {
    const source = `print(f"{d['k']} {{x}} {d['k'] + 1:>4} #{n!r}", f'{ {1: 2}[1] }')\n`
    expect(minified(source)).toBe(`print(f"{d['k']} {{x}} {d['k'] + 1:>4} #{n!r}",f'{ {1: 2}[1] }')\n`)
  })

  it("refuses what MicroPython's lexer refuses in f-strings: a # or backslash in an expression, rf prefixes", () => {
    expect(failure(`x = f"{a # b}"\n`).reason).toContain("f-string")
    expect(failure(`x = f"{'#'}"\n`).reason).toContain("f-string")
    expect(failure(`x = f"{'\\n'}"\n`).reason).toContain("f-string")
    expect(failure(`x = rf"{a}"\n`).reason).toContain("raw f-strings")
  })

  it("keeps bytes, raw and unicode strings, with their escapes", () => {
    const source = `b = b'\\x41\\n' + br'\\x00' + rb"\\d"\nr = r'\\d+\\'' + r"#"\nu = u'é'\n`
    expect(minified(source)).toBe(`b=b'\\x41\\n'+br'\\x00'+rb"\\d"\nr=r'\\d+\\''+r"#"\nu=u'é'\n`)
    // `\u` is no escape in bytes; raw strings have none.
    expect(minified("x = b'\\u12' + r'\\x'\n")).toBe("x=b'\\u12'+r'\\x'\n")
  })

  it("keeps continuation lines as lines: a backslash outside brackets, a bare line end inside", () => {
    const source = "x = 1 + \\\n    2\ny = [1,  # one\n     2,\n]\n"
    expect(minified(source)).toBe("x=1+\\\n2\ny=[1,\n2,\n]\n")
  })

  it("keeps decorators, global and nonlocal, and statements joined by ;", () => {
    const source = [
      "@deco(1)",
      "def f():",
      "    global g; g = 1",
      "    def h():",
      "        nonlocal q",
      "        q += 1 ;",
      "",
    ].join("\n")
    expect(minified(source)).toBe("@deco(1)\ndef f():\n global g;g=1\n def h():\n  nonlocal q\n  q+=1;\n")
  })

  it("keeps triple-quoted strings that are values: assigned, passed, concatenated", () => {
    const source = 't = """a\n  # not a comment\n"""\nprint("""b""" + \'\'\'c\'\'\', len("""\nd"""))\n'
    expect(minified(source)).toBe(
      't="""a\n  # not a comment\n"""\nprint("""b"""+\'\'\'c\'\'\',len("""\nd"""))\n',
    )
  })

  it("removes docstrings and lonely strings, leaving 0 where a block would be empty", () => {
    const source = [
      '"""Module docstring."""',
      "def f():",
      '    """Only a docstring,',
      '    over two lines."""',
      "class C:",
      "    'doc'",
      "    x = 1",
      "if x:",
      "    b'lonely' b'bytes'",
      "",
    ].join("\n")
    expect(minified(source)).toBe("\ndef f():\n 0\n\nclass C:\n\n x=1\nif x:\n 0\n")
  })

  it("keeps f-string statements (a call to MicroPython) and a docstring on its header's line", () => {
    expect(minified(`def f(): "doc"\nf"{print(1)}"\n`)).toBe(`def f():"doc"\nf"{print(1)}"\n`)
  })

  it("keeps module and class docstrings when the code names __doc__", () => {
    const source =
      '"""Module."""\nclass C:\n    """Class."""\n    def m(self):\n        """Method."""\n        return C.__doc__\n'
    expect(minified(source)).toBe(
      '"""Module."""\nclass C:\n """Class."""\n def m(self):\n\n  return C.__doc__\n',
    )
  })

  it("reads tabs as MicroPython does (to the next multiple of 8 columns), tabs and spaces mixed", () => {
    const source = "if x:\n\tif y:\n\t\tprint(1)\n        print(2)\n  \tprint(3)\n"
    expect(minified(source)).toBe("if x:\n if y:\n  print(1)\n print(2)\n print(3)\n")
  })

  it("reads CRLF and CR as line ends, inside strings too", () => {
    expect(minified("x = 1\r\nif x:\r\n    y = '''a\r\nb'''\r\n")).toBe("x=1\nif x:\n y='''a\nb'''\n")
    expect(minified("x = 1\ry = 2\r")).toBe("x=1\ny=2\n")
  })

  it("keeps a space wherever two tokens would read as one (or as another)", () => {
    expect(minified("print(1 .real, 1 if x else 2, [1 for i in y], x or 'y')\n")).toBe(
      "print(1 .real,1 if x else 2,[1 for i in y],x or'y')\n",
    )
    expect(minified("a = '' 'b'\nb = r 'x'\nc = a - -b\nd = a * *b\ne = x[1: =2]\n")).toBe(
      "a='' 'b'\nb=r 'x'\nc=a--b\nd=a* *b\ne=x[1: =2]\n",
    )
    expect(minified("return f'{x}'\nx = 1e-5 + 0x1e+1\n")).toBe("return f'{x}'\nx=1e-5+0x1e+1\n")
  })

  it("keeps the code as written when there is nothing to gain", () => {
    expect(minified("x=1\n")).toBe("x=1\n")
    expect(minified("")).toBe("")
  })

  it("refuses malformed code, and minifyPython then gives it back unchanged", () => {
    const cases: ReadonlyArray<[string, string]> = [
      ["print('unterminated)\n", "unterminated string"],
      ['s = """never closed\n', "unterminated string"],
      ["if x:\n    y = 1\n  z = 2\n", "indent that matches no outer level"],
      ["  x = 1\n", "first line is indented"],
      ["x = (1,\n", "bracket left open"],
      ["x = 1)\n", "closing bracket"],
      ["x = $y\n", "no Python token"],
      ["x = 1 \\ 2\n", "backslash"],
      ["x = '\\x4'\n", "hex digits"],
      ['x = "b\\u12"\n', "hex digits"],
      ["x = 1\f\n", "form feed"],
    ]
    for (const [source, reason] of cases) {
      const error = failure(source)
      expect(error).toBeInstanceOf(PythonMinifyError)
      expect(error.reason, source).toContain(reason)
      expect(minifyPython(source)).toBe(source)
    }
  })

  it("says which line it stopped at", () => {
    expect(failure("x = 1\ny = 2\nz = 'open\n").line).toBe(3)
  })

  it("joins lines on request, with a map back to the source's lines", () => {
    const source = "# c\ndef f():\n    '''doc'''\n    return (1 +\n            2)\n\nx = '''a\nb'''\n"
    const result = Result.getOrThrow(tryMinifyPython(source, { lines: "join" }))
    expect(result.code).toBe("def f():\n return(1+2)\nx='''a\nb'''\n")
    expect(result.lineMap).toEqual([2, 4, 7, 8])
  })

  it("does not grow the board helpers minified at build time", () => {
    for (const helper of Object.values(transportPython)) {
      expect(minifyPython(helper.code).length).toBeLessThanOrEqual(helper.code.length)
    }
  })

  it("minifies the corpus's programs to code that minifies to itself", () => {
    fc.assert(
      fc.property(programArbitrary({ fstrings: true, mixedTabs: true }), (program) => {
        const once = minified(program)
        expect(once.length).toBeLessThan(program.length)
        expect(minified(once)).toBe(once)
        // Every line keeps its number: the same count of lines, up to blank ones at the end.
        expect(once.replace(/\n+$/, "").split("\n").length).toBeLessThanOrEqual(
          program.replace(/\r\n?/g, "\n").split("\n").length,
        )
      }),
      { numRuns: 300 },
    )
  })
})

/**
 * CPython's parser as a second reader: both texts parse to the same tree once lonely constants
 * (docstrings, and the `0` left for an emptied block) are taken out, and with `keep`, every
 * node of it starts on the same line.
 */
const CPYTHON = `
import ast, json, sys
def strip(tree):
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list):
                body[:] = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return tree
out = []
for request in sys.stdin:
    pair = json.loads(request)
    try:
        a = strip(ast.parse(pair["a"]))
    except SyntaxError as e:
        out.append({"same": pair.get("soup", False), "why": "not Python" if pair.get("soup") else "syntax error: %s" % e})
        continue
    try:
        b = strip(ast.parse(pair["b"]))
    except SyntaxError as e:
        out.append({"same": False, "why": "the minified code does not parse: %s" % e})
        continue
    lines = lambda t: [getattr(n, "lineno", 0) for n in ast.walk(t)]
    same = ast.dump(a) == ast.dump(b) and (not pair["keep"] or lines(a) == lines(b))
    out.append({"same": same, "why": "" if same else ast.dump(a) + "\\n" + ast.dump(b)})
print(json.dumps(out))
`

const hasPython = spawnSync("python3", ["--version"]).status === 0

/** Ask CPython about each pair: the same tree, and with `keep` every node on the same line. */
const askCPython = (requests: ReadonlyArray<{ a: string; b: string; keep: boolean; soup?: boolean }>) => {
  const run = spawnSync("python3", ["-W", "ignore", "-c", CPYTHON], {
    input: requests.map((r) => JSON.stringify(r)).join("\n"),
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  })
  expect(run.status, run.stderr).toBe(0)
  const answers = JSON.parse(run.stdout) as Array<{ same: boolean; why: string }>
  expect(answers.length).toBe(requests.length)
  answers.forEach((answer, i) => {
    expect(answer.same, `${JSON.stringify(requests[i]!.a)}\n${answer.why}`).toBe(true)
  })
  return answers
}

/** Token soup: names, keywords, string prefixes, numbers, strings of each kind, operators, layout. */
const SOUP = [
  ..."x y1 if else or not in r b f u rb lambda pass return def class print( 0 1 0x1f 1e5 1. .5 1j".split(" "),
  ..."+ - * ** / // = == < <= << >> != . ... , : ; ( ) [ ] { } @ ~".split(" "),
  "'a'",
  '"b"',
  "''",
  '""',
  "'''t\n'''",
  "r'\\d'",
  "b'z'",
  "f'{x}'",
  "'#'",
  " ",
  "  ",
  "\t",
  "\n",
  "\n    ",
  "\n\t",
  "# c\n",
  "\\\n",
]

describe.skipIf(!hasPython)("against CPython's parser", () => {
  it("each fragment, and generated programs, parse the same minified, every node on its line", () => {
    const layouts: ReadonlyArray<Layout> = [
      { indent: "    ", comments: true, blanks: true, crlf: false, moduleDoc: true },
      { indent: "\t", comments: true, blanks: false, crlf: true, moduleDoc: false },
    ]
    const programs = [
      ...FRAGMENTS.flatMap((fragment) =>
        layouts.map((layout) => renderProgram([fragment], layout, [true, false])),
      ),
      // CPython refuses tabs mixed with spaces (MicroPython reads them as 8 columns).
      ...fc.sample(programArbitrary({ fstrings: true, mixedTabs: false }), { numRuns: 200, seed: 15 }),
    ]
    askCPython(
      programs.flatMap((a) => [
        { a, b: minified(a), keep: true },
        { a, b: minified(a, "join"), keep: false },
      ]),
    )
  })

  it("token soup that CPython parses minifies to the same tree, every node on its line", () => {
    const soups = fc.sample(
      fc.array(fc.constantFrom(...SOUP), { minLength: 1, maxLength: 30 }).map((p) => p.join("")),
      { numRuns: 40_000, seed: 3 },
    )
    const requests = soups.flatMap((a) => {
      // Never an exception other than the minifier's own refusal (which tryMinifyPython returns).
      const keep = tryMinifyPython(a)
      const join = tryMinifyPython(a, { lines: "join" })
      return [
        ...(Result.isSuccess(keep) && keep.success.code !== a
          ? [{ a, b: keep.success.code, keep: true, soup: true }]
          : []),
        ...(Result.isSuccess(join) && join.success.code !== a
          ? [{ a, b: join.success.code, keep: false, soup: true }]
          : []),
      ]
    })
    const answers = askCPython(requests)
    // Enough of the soup is Python for the comparison to mean something.
    expect(answers.filter((a) => a.why !== "not Python").length).toBeGreaterThan(2_000)
  })
})

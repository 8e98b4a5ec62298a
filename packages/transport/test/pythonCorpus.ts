/**
 * A corpus of Python for the minifier's tests: fragments that each cover a case the minifier must
 * get right (strings holding `#` and quotes, f-strings, bytes and raw strings, continuations,
 * decorators, `global`/`nonlocal`, triple-quoted strings that are not docstrings, docstrings,
 * `;`, numbers next to names, ...), each printing what it computed, and a generator that
 * composes them into programs laid out in varied ways (indent unit, tabs, tabs mixed with spaces,
 * comments, blank lines, CRLF line ends). Shared with the virtual board's test (output compared
 * byte for byte, minified and not).
 */
import fc from "fast-check"

/** One line of a fragment: its level (blocks), its text, and how the layout may treat it. */
export interface FragmentLine {
  readonly level: number
  readonly text: string
  /**
   * The line goes on into the next (a backslash, or inside a triple-quoted string): no comment
   * after it and nothing between it and the next.
   */
  readonly open?: boolean
  /** A line inside a triple-quoted string: written as it is, without indent. */
  readonly raw?: boolean
}

/** A fragment: lines that define and print, with names made unique by `id`. */
export interface Fragment {
  readonly name: string
  /** Whether it needs f-strings (MicroPython 1.17 and later: not the micro:bit's 1.9.2). */
  readonly fstrings?: boolean
  readonly lines: (id: number) => ReadonlyArray<FragmentLine>
}

const line = (level: number, text: string, more: Partial<FragmentLine> = {}): FragmentLine => ({
  level,
  text,
  ...more,
})

/** The fragments, each a case of the minifier. */
export const FRAGMENTS: ReadonlyArray<Fragment> = [
  {
    name: "strings with # and quotes",
    lines: (id) => [
      line(0, `s${id} = "a # not a comment 'q'"`),
      line(0, `t${id} = 'it\\'s # "x"'  # a real comment`),
      line(0, `print(s${id}, t${id}, "x#y", '"', "'", '#')`),
    ],
  },
  {
    name: "f-strings",
    fstrings: true,
    lines: (id) => [
      line(0, `v${id} = {'k': 3, "j": 'w'}`),
      line(0, `print(f"{v${id}['k']} {{braces}} {v${id}['k'] + 1:>4} #{v${id}['j']}")`),
      line(0, `print(f'{v${id}["k"]!r}', f"{'x'}", f'{ {1: 2}[1] }' + 'tail')`),
    ],
  },
  {
    name: "bytes and raw strings",
    lines: (id) => [
      line(0, `b${id} = b'\\x41\\n' + br'\\x00' + rb"\\d"`),
      line(0, `r${id} = r'\\d+\\'' + r"#"`),
      line(0, `print(b${id}, r${id}, len(r${id}), u'u')`),
    ],
  },
  {
    name: "line continuations",
    lines: (id) => [
      line(0, `total${id} = 1 + \\`, { open: true }),
      line(1, "2 + \\", { open: true }),
      line(1, "3"),
      line(0, `items${id} = [`),
      line(1, "1,  # one"),
      line(1, "(2 +"),
      line(2, "3),"),
      line(0, "]"),
      line(0, `call${id} = max(1,`),
      line(2, `total${id},`),
      line(2, "0)"),
      line(0, `print(total${id}, items${id}, call${id})`),
    ],
  },
  {
    name: "decorators",
    lines: (id) => [
      line(0, `def deco${id}(f):`),
      line(1, "def w(*a, **k):"),
      line(2, "return f(*a, **k) * 2"),
      line(1, "return w"),
      line(0, `@deco${id}`),
      line(0, `def twice${id}(x):`),
      line(1, '"""Doubled, plus one."""'),
      line(1, "return x + 1"),
      line(0, `print(twice${id}(3))`),
    ],
  },
  {
    name: "global and nonlocal",
    lines: (id) => [
      line(0, `counter${id} = 0`),
      line(0, `def bump${id}():`),
      line(1, `global counter${id}`),
      line(1, `counter${id} += 1`),
      line(0, `def outer${id}():`),
      line(1, "n = 0"),
      line(1, "def inner():"),
      line(2, "nonlocal n"),
      line(2, "n += 2"),
      line(1, "inner(); inner()"),
      line(1, "return n"),
      line(0, `bump${id}(); bump${id}()`),
      line(0, `print(counter${id}, outer${id}())`),
    ],
  },
  {
    name: "triple-quoted strings that are not docstrings",
    lines: (id) => [
      line(0, `t${id} = """line one`, { open: true }),
      line(0, "    # kept: inside the string", { open: true, raw: true }),
      line(0, '  line three"""', { raw: true }),
      line(0, `print(len(t${id}), t${id})`),
      line(0, `print("""a""" + '''b''', """c"""`),
      line(2, `'''d''')`),
      line(0, `u${id} = str("""x`, { open: true }),
      line(0, '   y""")', { raw: true }),
      line(0, `print(u${id}.split())`),
    ],
  },
  {
    name: "docstrings",
    lines: (id) => [
      line(0, `def empty${id}():`),
      line(1, '"""Only a docstring."""'),
      line(0, `class Box${id}:`),
      line(1, "'''A box.'''"),
      line(1, "def get(self):"),
      line(2, '"""The value,', { open: true }),
      line(0, "over two lines.", { open: true, raw: true }),
      line(0, '        """', { raw: true }),
      line(2, "return 7"),
      line(0, `class Bare${id}:`),
      line(1, '"only"'),
      line(0, "if True:"),
      line(1, "'a lonely string'"),
      line(1, "print('if body')"),
      line(0, `print(empty${id}(), Box${id}().get(), Bare${id} is not None)`),
    ],
  },
  {
    name: "statements joined by ;",
    lines: (id) => [
      line(0, `a${id} = 1; b${id} = 2; print(a${id} + b${id});`),
      line(0, `if a${id}: c${id} = 3; print(c${id})`),
    ],
  },
  {
    name: "numbers, names and operators side by side",
    lines: () => [
      line(
        0,
        "print(1 .to_bytes(1, 'little'), 0x1F, 0o17, 0b11, 1e-3, 2.5e+2, 2 ** -1, -(-3), 5 // 2, 7 % 3, ~1)",
      ),
      line(0, "print(1 if 0 else 2, [i for i in range(4) if i % 2], 3 in [3], not 0, 1 < 2 <= 2 != 3)"),
      line(0, "print([1, 2, 3][::-1], {1: 2}[1], (lambda x: x * 2)(4), {5} | {6}, 9 >> 1 << 2)"),
    ],
  },
  {
    name: "compound statements",
    lines: (id) => [
      line(0, `def tries${id}(x):`),
      line(1, "try:"),
      line(2, "return 10 // x"),
      line(1, "except ZeroDivisionError as e:"),
      line(2, "return 'zero'"),
      line(1, "finally:"),
      line(2, "pass"),
      line(0, `k${id} = 0`),
      line(0, `while k${id} < 3:`),
      line(1, `k${id} += 1`),
      line(0, "else:"),
      line(1, `print('done', k${id})`),
      line(0, `for q${id} in (1, 0):`),
      line(1, `print(tries${id}(q${id}))`),
    ],
  },
  {
    name: "__doc__ read",
    lines: (id) => [
      line(0, `class Documented${id}:`),
      line(1, '"""Kept: the code reads __doc__."""'),
      line(0, `print(getattr(Documented${id}, '__doc__', None) is None)`),
    ],
  },
]

/** How a program is laid out. */
export interface Layout {
  /** One indent level: spaces, a tab, or tabs and 8 spaces mixed (the same columns to MicroPython). */
  readonly indent: "  " | "    " | "\t" | "mixed"
  /** Comment lines and end-of-line comments added where they may go. */
  readonly comments: boolean
  /** Blank lines added between lines where they may go. */
  readonly blanks: boolean
  readonly crlf: boolean
  /** A docstring at the top. */
  readonly moduleDoc: boolean
}

/** The program text of `fragments` (unique names from their position) in `layout`. */
export const renderProgram = (
  fragments: ReadonlyArray<Fragment>,
  layout: Layout,
  choices: ReadonlyArray<boolean> = [],
): string => {
  let pick = 0
  const chance = () => choices[pick++ % Math.max(1, choices.length)] ?? false
  const out: string[] = []
  if (layout.moduleDoc) out.push('"""A program of the minifier\'s corpus."""')
  fragments.forEach((fragment, id) => {
    const lines = fragment.lines(id)
    lines.forEach((l, k) => {
      const indent =
        layout.indent === "mixed"
          ? Array.from({ length: l.level }, () => (chance() ? "\t" : "        ")).join("")
          : layout.indent.repeat(l.level)
      const closedBefore = k === 0 || lines[k - 1]!.open !== true
      if (closedBefore && layout.comments && chance())
        out.push(`${indent}# a comment, with 'quotes' and """ and \\`)
      if (closedBefore && layout.blanks && chance()) out.push("")
      const comment = layout.comments && l.open !== true && !l.raw && chance() ? "  # end of line" : ""
      out.push(`${l.raw ? "" : indent}${l.text}${comment}`)
    })
  })
  const eol = layout.crlf ? "\r\n" : "\n"
  return `${out.join(eol)}${eol}`
}

/** A layout; `mixedTabs: false` for CPython, which refuses tabs and spaces mixed. */
export const layoutArbitrary = (mixedTabs: boolean): fc.Arbitrary<Layout> =>
  fc.record({
    indent: fc.constantFrom<Layout["indent"]>("  ", "    ", "\t", ...(mixedTabs ? (["mixed"] as const) : [])),
    comments: fc.boolean(),
    blanks: fc.boolean(),
    crlf: fc.boolean(),
    moduleDoc: fc.boolean(),
  })

/** A program: one to four fragments (with or without f-strings), laid out. */
export const programArbitrary = (options: {
  readonly fstrings: boolean
  readonly mixedTabs: boolean
}): fc.Arbitrary<string> => {
  const usable = FRAGMENTS.filter((f) => options.fstrings || f.fstrings !== true)
  return fc
    .record({
      fragments: fc.array(fc.constantFrom(...usable), { minLength: 1, maxLength: 4 }),
      layout: layoutArbitrary(options.mixedTabs),
      choices: fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
    })
    .map(({ fragments, layout, choices }) => renderProgram(fragments, layout, choices))
}

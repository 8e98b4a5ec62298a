import { minifyPython, toPythonLiteral } from "@belay/transport"
import { digestBytes } from "@belay/transport/internal"

/**
 * Python code to send to a board, with where it came from (for messages). Made with the
 * {@link py} template tag, {@link pythonFile} or {@link PythonSource.of}.
 *
 * @example
 * const source = py`
 *   def add(a, b):
 *       return a + b
 * `
 * source.text // "def add(a, b):\n    return a + b"
 *
 * @since 0.1.0
 */
export class PythonSource {
  private hashRef: Uint8Array | undefined
  private indentableRef: boolean | undefined
  private minifiedRef: PythonSource | undefined

  constructor(
    /** The code, dedented, with `\n` line ends and no trailing blank lines. */
    readonly text: string,
    /** Where it came from: `inline` or a file path. */
    readonly origin: string,
  ) {}

  /** SHA-256 of the text: the code hash deployments are keyed by. */
  get hash(): Uint8Array {
    this.hashRef ??= digestBytes("sha256", this.text)
    return this.hashRef
  }

  /**
   * Whether indenting every line by one space keeps the code's meaning (no triple-quoted
   * strings, backslash continuations or tab indentation): the code can then be sent inside an
   * `if` block.
   */
  get indentable(): boolean {
    this.indentableRef ??= !/'''|"""|\\\n|\n\t|^\t/.test(this.text)
    return this.indentableRef
  }

  /**
   * The same code minified (`minifyPython` of `@belay/transport`: comments, docstrings and blank
   * lines removed, one space per indent level, every line keeping its number): what Belay sends
   * unless minifying is turned off (`MinifyPython`). Itself when minifying gains nothing or the
   * code cannot be minified.
   */
  get minified(): PythonSource {
    if (this.minifiedRef === undefined) {
      const text = minifyPython(this.text)
      const minified = text === this.text ? this : new PythonSource(text, this.origin)
      minified.minifiedRef = minified
      this.minifiedRef = minified
    }
    return this.minifiedRef
  }

  toString(): string {
    return this.text
  }

  /**
   * A source from a plain string, dedented like {@link py}.
   *
   * @example
   * const source = PythonSource.of("def f():\n    return 1")
   */
  static of(text: string, origin = "inline"): PythonSource {
    return new PythonSource(dedent(normalize(text)), origin)
  }

  /** Join sources into one, in order (a blank line between them). */
  static concat(sources: ReadonlyArray<PythonSource>, origin = "inline"): PythonSource {
    return new PythonSource(
      sources
        .map((s) => s.text)
        .filter((t) => t.length > 0)
        .join("\n\n"),
      origin,
    )
  }
}

/** @internal code given as a `PythonSource` or as text (dedented like {@link py}) */
export const asSource = (source: PythonSource | string): PythonSource =>
  typeof source === "string" ? PythonSource.of(source) : source

const normalize = (text: string): string => text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n")

const leadingWhitespace = (line: string): string => /^[ \t]*/.exec(line)?.[0] ?? ""

/**
 * Remove the indentation every non-blank line shares, a first line that is blank (the one after
 * the opening backtick), and trailing blank lines.
 */
const dedent = (text: string): string => {
  const lines = text.split("\n")
  if (lines.length > 1 && lines[0]!.trim() === "") lines.shift()
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === "") lines.pop()
  let common: string | undefined
  for (const line of lines) {
    if (line.trim() === "") continue
    const ws = leadingWhitespace(line)
    if (common === undefined) common = ws
    else {
      let i = 0
      while (i < common.length && i < ws.length && common[i] === ws[i]) i++
      common = common.slice(0, i)
    }
    if (common === "") break
  }
  const cut = common?.length ?? 0
  return lines.map((line) => (line.trim() === "" ? "" : line.slice(cut))).join("\n")
}

const SENTINEL = "\u0000py"

/**
 * A template tag for Python code written inside TypeScript. It keeps Python's indentation right:
 * the indentation shared by all lines is removed, so the code can sit indented in the TS file.
 * Backslashes are kept as written (like `String.raw`): `py\`print('a\\nb')\`` sends `\n` to Python.
 *
 * Interpolations are safe: a {@link PythonSource} is inserted as code (re-indented to where it
 * stands), any other value is inserted as a Python literal (`toPythonLiteral`), so no value can
 * change the code around it.
 *
 * @example
 * const pin = 5
 * const source = py`
 *   from machine import Pin
 *   led = Pin(${pin}, Pin.OUT)
 *   def toggle():
 *       led.value(not led.value())
 *       return led.value()
 * `
 *
 * @since 0.1.0
 */
export const py = (strings: TemplateStringsArray, ...values: ReadonlyArray<unknown>): PythonSource => {
  let joined = ""
  for (let i = 0; i < strings.raw.length; i++) {
    joined += strings.raw[i]!
    if (i < values.length) joined += `${SENTINEL}${i}\u0000`
  }
  const template = dedent(normalize(joined))
  const lines = template.split("\n")
  const out = lines.map((line) => {
    if (!line.includes(SENTINEL)) return line
    const indent = leadingWhitespace(line)
    return line.replace(/\u0000py(\d+)\u0000/g, (_, index: string) => {
      const value = values[Number(index)]
      if (value instanceof PythonSource) return value.text.split("\n").join(`\n${indent}`)
      return toPythonLiteral(value)
    })
  })
  return new PythonSource(out.join("\n"), "inline")
}

/** @internal a source from the text of a `.py` file (a BOM and `\r\n` line ends removed, dedented) */
export const sourceFromFile = (text: string, origin: string): PythonSource =>
  new PythonSource(dedent(normalize(text)), origin)

/**
 * Python made smaller before it travels: comments, docstrings and blank lines go, each indent
 * level becomes one space, and spaces between tokens go where the tokens stay apart without them.
 * A tokenizer that reads code as MicroPython's lexer (`py/lexer.c`) does: its string prefixes and
 * escapes, f-strings, its greedy numbers (`1if` is one token to it), its operators, tabs to the
 * next multiple of 8 columns, CR and CRLF as one line end.
 *
 * Line numbers stay as they were (`lines: "keep"`, the default): a removed line is left empty and
 * continuation lines stay lines, so a traceback from the board names the line of the code as it
 * was written. Empty lines cost a byte each; `lines: "join"` drops them and joins continuation
 * lines, with a map from its lines back to the source's (measured in the README: a few percent
 * fewer bytes, for tracebacks that would need rewriting).
 *
 * What it never does is change what the code does. Every token other than a removed docstring is
 * copied as it was written, and the result is tokenized again and compared with the source's
 * tokens (text, line and indent level of each); code the tokenizer does not take (an unterminated
 * string, an indent that matches no outer level, a character Python has no token for) or a
 * result that does not compare equal is a `PythonMinifyError`, and `minifyPython` sends such code
 * as it was given.
 */
import { Context, Data, Result } from "effect"

/**
 * Code that the minifier leaves as it is: `line` is where it stopped reading, `reason` why
 * (an unterminated string, an indent that matches no outer level, ...).
 *
 * @example
 * const result = tryMinifyPython("print('unterminated)")
 * if (Result.isFailure(result)) console.log(result.failure.reason) // "unterminated string"
 *
 * @since 0.1.0
 */
export class PythonMinifyError extends Data.TaggedError("PythonMinifyError")<{
  readonly line: number
  readonly reason: string
}> {
  override get message(): string {
    return `cannot minify: ${this.reason} (line ${this.line})`
  }
}

/**
 * Options of {@link minifyPython}.
 *
 * @example
 * minifyPython(code, { lines: "join" })
 *
 * @since 0.1.0
 */
export interface MinifyOptions {
  /**
   * `"keep"` (default): every line keeps its number, a removed line is left empty, so a traceback
   * names the lines as written. `"join"`: empty lines go and a statement's continuation lines are
   * joined onto its first line; `lineMap` says where each line came from.
   */
  readonly lines?: "keep" | "join"
}

/**
 * Minified code, and for `lines: "join"`, the source line of each of its lines.
 *
 * @example
 * const { code, lineMap } = Result.getOrThrow(tryMinifyPython(source, { lines: "join" }))
 *
 * @since 0.1.0
 */
export interface MinifiedPython {
  readonly code: string
  /** `lines: "join"`: `lineMap[i]` is the source line of line `i + 1` of `code`; `undefined` for `"keep"`. */
  readonly lineMap: ReadonlyArray<number> | undefined
}

/**
 * Whether Belay minifies the Python it sends (task and module definitions, setups, teardowns,
 * the CLI's `run` files). On unless turned off: `Effect.provideService(MinifyPython, false)`,
 * `BelayLive({ minify: false })`, `BELAY_MINIFY=0`, or the CLI's `--no-minify`.
 *
 * @example
 * program.pipe(Effect.provideService(MinifyPython, false))
 *
 * @since 0.1.0
 */
export const MinifyPython = Context.Reference<boolean>("@belay/transport/MinifyPython", {
  defaultValue: () => true,
})

/**
 * `source` minified (see {@link tryMinifyPython}), or `source` itself, unchanged, when it cannot
 * be minified (malformed code is sent as it was written, and fails on the board as it would
 * have).
 *
 * @example
 * minifyPython("def f(a, b):\n    # add\n    return a + b\n") // "def f(a,b):\n\n return a+b\n"
 *
 * @since 0.1.0
 */
export const minifyPython = (source: string, options?: MinifyOptions): string => {
  const result = tryMinifyPython(source, options)
  return Result.isSuccess(result) ? result.success.code : source
}

/**
 * `source` minified: comments, docstrings and blank lines removed (a docstring that is a
 * block's only statement becomes `0`; module and class docstrings stay when the code names
 * `__doc__`, which ports built with docstrings can read), one space per indent level, spaces
 * between tokens only where two tokens would otherwise read as one. Fails with
 * `PythonMinifyError` when the code is malformed or the result would not tokenize as the source
 * does.
 *
 * @example
 * const result = tryMinifyPython("x = (1 +\n     2)  # three\n")
 * // Result.succeed({ code: "x=(1+\n2)\n", lineMap: undefined })
 *
 * @since 0.1.0
 */
export const tryMinifyPython = (
  source: string,
  options?: MinifyOptions,
): Result.Result<MinifiedPython, PythonMinifyError> => {
  try {
    return Result.succeed(minify(source, options?.lines ?? "keep"))
  } catch (error) {
    if (error instanceof PythonMinifyError) return Result.fail(error)
    throw error
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens

const NAME = 0
const NUMBER = 1
const STRING = 2
/** An f-string: a call of `format` to MicroPython, so never a lonely constant. */
const FSTRING = 3
const OP = 4
type Kind = typeof NAME | typeof NUMBER | typeof STRING | typeof FSTRING | typeof OP

interface Token {
  readonly kind: Kind
  readonly text: string
  /** The line it starts on. */
  readonly line: number
  /** The line it ends on (a triple-quoted string, a string with an escaped line end). */
  readonly endLine: number
}

/** One logical line: a statement (or several joined by `;`), its indent and its tokens. */
interface LogicalLine {
  /** Columns of indent, as MicroPython counts them (a tab to the next multiple of 8). */
  readonly width: number
  /** Indent level: 0 at the top, one more per block. */
  level: number
  readonly tokens: Array<Token>
}

const fail = (line: number, reason: string): never => {
  throw new PythonMinifyError({ line, reason })
}

const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isDigit = (c: number) => c >= 48 && c <= 57
const isHex = (c: number) => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)
/** MicroPython takes any byte with the high bit set as part of a name (UTF-8 identifiers). */
const isNameHead = (c: number) => isLetter(c) || c === 95 || c >= 0x80
const isNameTail = (c: number) => isNameHead(c) || isDigit(c)

const QUOTE = 39
const DQUOTE = 34
const BACKSLASH = 92
const NEWLINE = 10
const isQuote = (c: number) => c === QUOTE || c === DQUOTE

/** Operators that are one character and never start a longer one. */
const SINGLES = new Set("()[]{},;~".split("").map((c) => c.charCodeAt(0)))
/** Characters an operator of two or three characters can continue with, after its first one. */
const FOLLOWERS: Readonly<Record<string, ReadonlyArray<string>>> = {
  ":": ["="],
  "<": ["<=", "=", "<"],
  ">": [">=", "=", ">"],
  "*": ["*=", "=", "*"],
  "/": ["/=", "=", "/"],
  "+": ["="],
  "-": ["=", ">"],
  "&": ["="],
  "|": ["="],
  "%": ["="],
  "^": ["="],
  "@": ["="],
  "=": ["="],
  "!": ["="],
}

/**
 * The prefix of the string literal starting at `i` (its length, raw or not, f-string or not), or
 * undefined when none starts there. The prefixes are MicroPython's: lower case `r u b f`, `rb br`;
 * `rf fr` are refused as it refuses them.
 */
const stringPrefix = (
  src: string,
  i: number,
  line: number,
): { length: number; raw: boolean; f: boolean } | undefined => {
  const c0 = src.charCodeAt(i)
  if (isQuote(c0)) return { length: 0, raw: false, f: false }
  const c1 = src.charCodeAt(i + 1)
  const ch0 = src[i]
  if ((ch0 === "r" || ch0 === "u" || ch0 === "b" || ch0 === "f") && isQuote(c1)) {
    return { length: 1, raw: ch0 === "r", f: ch0 === "f" }
  }
  if (!isQuote(src.charCodeAt(i + 2))) return undefined
  const two = src.slice(i, i + 2)
  if (two === "rb" || two === "br") return { length: 2, raw: true, f: false }
  if (two === "rf" || two === "fr") fail(line, "raw f-strings are not MicroPython")
  return undefined
}

/** The end of the string literal at `i` (its prefix at `i`), checking escapes as MicroPython reads them. */
const scanString = (
  src: string,
  i: number,
  prefix: { length: number; raw: boolean; f: boolean },
  line: number,
): number => {
  let j = i + prefix.length
  const quote = src.charCodeAt(j)
  j++
  let quotes = 1
  if (src.charCodeAt(j) === quote && src.charCodeAt(j + 1) === quote) {
    quotes = 3
    j += 2
  }
  const bytes = src.slice(i, i + prefix.length).includes("b")
  let closing = 0
  let inExpression = false
  while (closing < quotes) {
    if (j >= src.length) fail(line, "unterminated string")
    const c = src.charCodeAt(j)
    if (c === quote) {
      closing++
      j++
      continue
    }
    closing = 0
    if (c === NEWLINE && quotes === 1) fail(line, "unterminated string")
    if (prefix.f) {
      if (c === 123) {
        inExpression = !inExpression
        j++
        continue
      }
      if (c === 125) {
        inExpression = false
        j++
        continue
      }
      if (inExpression && (c === 35 || c === BACKSLASH))
        fail(line, "a # or \\ inside an f-string's expression")
    }
    if (c === BACKSLASH && !inExpression) {
      j++
      if (j >= src.length) fail(line, "unterminated string")
      const e = src[j]
      if (!prefix.raw) {
        // Too few hex digits: MicroPython's lexer reads on past them (even past a quote).
        const digits = e === "x" ? 2 : e === "u" && !bytes ? 4 : e === "U" && !bytes ? 8 : 0
        for (let k = 1; k <= digits; k++) {
          if (!isHex(src.charCodeAt(j + k))) fail(line, "an escape with too few hex digits")
        }
      }
    }
    j++
  }
  return j
}

/** The end of the number at `i`, read as greedily as MicroPython reads it (letters, digits, `.`, `_`, `e+`). */
const scanNumber = (src: string, i: number): number => {
  const forced = src[i] === "0" && "bBoOxX".includes(src[i + 1] ?? " ")
  let j = i + 1
  for (;;) {
    const c = src.charCodeAt(j)
    if (!forced && (c === 101 || c === 69)) {
      j++
      const sign = src.charCodeAt(j)
      if (sign === 43 || sign === 45) j++
    } else if (isLetter(c) || isDigit(c) || c === 46 || c === 95) {
      j++
    } else {
      return j
    }
  }
}

/** The end of the operator at `i`, or `-1` when no operator starts there. */
const scanOperator = (src: string, i: number): number => {
  const c = src.charCodeAt(i)
  if (SINGLES.has(c)) return i + 1
  const ch = src[i]!
  if (ch === ".") return src[i + 1] === "." && src[i + 2] === "." ? i + 3 : i + 1
  const followers = FOLLOWERS[ch]
  if (followers === undefined) return -1
  for (const follower of followers) {
    if (src.startsWith(follower, i + 1)) return i + 1 + follower.length
  }
  return ch === "!" ? -1 : i + 1
}

/**
 * The first token of `src` (for the spacing check): its end, or `-1` when `src` does not start
 * with a token.
 */
const firstTokenEnd = (src: string): number => {
  try {
    const c = src.charCodeAt(0)
    const prefix = stringPrefix(src, 0, 0)
    if (prefix !== undefined) return scanString(src, 0, prefix, 0)
    if (isNameHead(c)) {
      let j = 1
      while (j < src.length && isNameTail(src.charCodeAt(j))) j++
      return j
    }
    if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(1)))) return scanNumber(src, 0)
    return scanOperator(src, 0)
  } catch {
    return -1
  }
}

/** Python source as logical lines, as MicroPython's lexer reads it (comments and blank lines gone). */
const tokenize = (src: string): Array<LogicalLine> => {
  const lines: Array<LogicalLine> = []
  let current: LogicalLine | undefined
  let line = 1
  let depth = 0
  let i = 0
  const n = src.length
  const push = (kind: Kind, end: number) => {
    const text = src.slice(i, end)
    let endLine = line
    if (kind === STRING || kind === FSTRING) {
      for (let k = text.indexOf("\n"); k >= 0; k = text.indexOf("\n", k + 1)) endLine++
    }
    current!.tokens.push({ kind, text, line, endLine })
    line = endLine
    i = end
  }
  while (i < n) {
    if (current === undefined) {
      // The start of a line outside brackets: its indent, unless it is blank or only a comment.
      let width = 0
      let c = src.charCodeAt(i)
      while (c === 32 || c === 9) {
        width = c === 9 ? Math.floor(width / 8) * 8 + 8 : width + 1
        c = src.charCodeAt(++i)
      }
      if (i >= n) break
      if (c === NEWLINE) {
        line++
        i++
        continue
      }
      if (c === 35) {
        while (i < n && src.charCodeAt(i) !== NEWLINE) i++
        continue
      }
      if (c === BACKSLASH) fail(line, "a line continuation at the start of a line")
      current = { width, level: 0, tokens: [] }
    }
    const c = src.charCodeAt(i)
    if (c === NEWLINE) {
      line++
      i++
      if (depth === 0) {
        lines.push(current)
        current = undefined
      }
      continue
    }
    if (c === 32 || c === 9) {
      i++
      continue
    }
    if (c === 35) {
      while (i < n && src.charCodeAt(i) !== NEWLINE) i++
      continue
    }
    if (c === BACKSLASH) {
      if (src.charCodeAt(i + 1) !== NEWLINE)
        fail(line, "a backslash outside a string that does not end its line")
      i += 2
      line++
      continue
    }
    const prefix = stringPrefix(src, i, line)
    if (prefix !== undefined) {
      push(prefix.f ? FSTRING : STRING, scanString(src, i, prefix, line))
      continue
    }
    if (isNameHead(c)) {
      let j = i + 1
      while (j < n && isNameTail(src.charCodeAt(j))) j++
      push(NAME, j)
      continue
    }
    if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(i + 1)))) {
      push(NUMBER, scanNumber(src, i))
      continue
    }
    const end = scanOperator(src, i)
    if (end < 0) fail(line, `no Python token starts with ${JSON.stringify(src[i])}`)
    if (c === 40 || c === 91 || c === 123) depth++
    else if (c === 41 || c === 93 || c === 125) {
      depth--
      if (depth < 0) fail(line, "a closing bracket without its opening one")
    }
    push(OP, end)
  }
  if (depth > 0) fail(line, "a bracket left open")
  if (current !== undefined) lines.push(current)
  setLevels(lines)
  return lines
}

/** Indent levels from widths, as MicroPython's lexer gives INDENT and DEDENT. */
const setLevels = (lines: ReadonlyArray<LogicalLine>) => {
  const stack = [0]
  for (const logical of lines) {
    if (logical.width > stack[stack.length - 1]!) stack.push(logical.width)
    else {
      while (logical.width < stack[stack.length - 1]!) stack.pop()
      if (logical.width !== stack[stack.length - 1]) {
        fail(logical.tokens[0]!.line, "an indent that matches no outer level")
      }
    }
    logical.level = stack.length - 1
  }
  if (lines.length > 0 && lines[0]!.width !== 0) fail(lines[0]!.tokens[0]!.line, "the first line is indented")
}

// ---------------------------------------------------------------------------------------------
// Minifying

/** A statement that is only string literals (no f-string): a docstring, or a string nothing reads. */
const isLonelyString = (logical: LogicalLine) => logical.tokens.every((t) => t.kind === STRING)

/** Whether `prev` and `next` written side by side would read as other tokens. */
const needsSpace = (prev: Token, next: Token): boolean => {
  if (SINGLES.has(next.text.charCodeAt(0))) return false
  if (prev.kind === OP && SINGLES.has(prev.text.charCodeAt(0))) return false
  return firstTokenEnd(prev.text + next.text) !== prev.text.length
}

/**
 * Which lines stay: lonely strings go (module and class docstrings stay when the code names
 * `__doc__`), but a block keeps at least one statement: its first removed line becomes `0` (a
 * constant MicroPython compiles to nothing), so the structure of blocks is unchanged.
 */
const keptLines = (lines: ReadonlyArray<LogicalLine>, source: string): Array<LogicalLine> => {
  const readsDoc = source.includes("__doc__")
  const removed = lines.map((logical, k) => {
    if (!isLonelyString(logical)) return false
    const next = lines[k + 1]
    // A deeper line after it is a syntax error that removing the string would change.
    if (next !== undefined && next.level > logical.level) return false
    if (readsDoc) {
      if (k === 0) return false
      const header = lines[k - 1]!
      if (header.level < logical.level && header.tokens[0]!.text === "class") return false
    }
    return true
  })
  const placeholders = new Set<number>()
  // Runs of lines at one level: a run whose every line at that level is removed keeps a `0`.
  const runs: Array<{ level: number; kept: boolean; firstRemoved: number }> = []
  const close = (run: { level: number; kept: boolean; firstRemoved: number }) => {
    if (!run.kept && run.firstRemoved >= 0 && run.level > 0) placeholders.add(run.firstRemoved)
  }
  lines.forEach((logical, k) => {
    while (runs.length > 0 && runs[runs.length - 1]!.level > logical.level) close(runs.pop()!)
    let run = runs[runs.length - 1]
    if (run === undefined || run.level !== logical.level) {
      run = { level: logical.level, kept: false, firstRemoved: -1 }
      runs.push(run)
    }
    if (!removed[k]) run.kept = true
    else if (run.firstRemoved < 0) run.firstRemoved = k
  })
  while (runs.length > 0) close(runs.pop()!)
  const out: Array<LogicalLine> = []
  lines.forEach((logical, k) => {
    if (placeholders.has(k)) {
      const at = logical.tokens[0]!.line
      out.push({
        width: logical.width,
        level: logical.level,
        tokens: [{ kind: NUMBER, text: "0", line: at, endLine: at }],
      })
    } else if (!removed[k]) out.push(logical)
  })
  return out
}

/** The kept lines as text, one space per level; `keep` pads with empty lines to keep line numbers. */
const render = (
  lines: ReadonlyArray<LogicalLine>,
  mode: "keep" | "join",
): { code: string; lineMap: Array<number> | undefined } => {
  const parts: Array<string> = []
  const lineMap: Array<number> | undefined = mode === "join" ? [] : undefined
  // The line the output is on, once something was written.
  let at = 1
  let started = false
  for (const logical of lines) {
    const first = logical.tokens[0]!
    if (started) {
      parts.push("\n")
      at++
    }
    started = true
    if (mode === "keep") {
      for (; at < first.line; at++) parts.push("\n")
    } else {
      lineMap!.push(first.line)
    }
    if (logical.level > 0) parts.push(" ".repeat(logical.level))
    let depth = 0
    let prev: Token | undefined
    for (const token of logical.tokens) {
      if (prev !== undefined) {
        if (mode === "keep" && token.line > prev.endLine) {
          // A continuation line: implicit inside brackets, a backslash outside.
          const newline = depth > 0 ? "\n" : "\\\n"
          for (let k = prev.endLine; k < token.line; k++) parts.push(newline)
          at = token.line
        } else if (needsSpace(prev, token)) parts.push(" ")
      }
      parts.push(token.text)
      if (token.endLine > token.line) {
        if (lineMap !== undefined) for (let k = token.line + 1; k <= token.endLine; k++) lineMap.push(k)
        at += token.endLine - token.line
      }
      if (token.kind === OP) {
        const c = token.text.charCodeAt(0)
        if (c === 40 || c === 91 || c === 123) depth++
        else if (c === 41 || c === 93 || c === 125) depth--
      }
      prev = token
    }
    at = Math.max(at, logical.tokens[logical.tokens.length - 1]!.endLine)
  }
  return { code: parts.join(""), lineMap }
}

/** The minified code's tokens must be the kept tokens: same text, line (when kept) and level. */
const verify = (expected: ReadonlyArray<LogicalLine>, code: string, mode: "keep" | "join") => {
  let actual: Array<LogicalLine>
  try {
    actual = tokenize(code)
  } catch (error) {
    if (error instanceof PythonMinifyError)
      fail(error.line, `the minified code does not tokenize (${error.reason})`)
    throw error
  }
  if (actual.length !== expected.length) fail(1, "the minified code has other statements")
  for (let k = 0; k < expected.length; k++) {
    const a = actual[k]!
    const e = expected[k]!
    if (a.level !== e.level || a.tokens.length !== e.tokens.length) {
      fail(e.tokens[0]!.line, "the minified code reads differently here")
    }
    for (let t = 0; t < e.tokens.length; t++) {
      const at = a.tokens[t]!
      const et = e.tokens[t]!
      if (at.text !== et.text || at.kind !== et.kind || (mode === "keep" && at.line !== et.line)) {
        fail(et.line, "the minified code reads differently here")
      }
    }
  }
}

const minify = (input: string, mode: "keep" | "join"): MinifiedPython => {
  // MicroPython reads CR and CRLF as one line end, inside strings too.
  const source = input.includes("\r") ? input.replace(/\r\n?/g, "\n") : input
  const odd = /[\0\v\f]/.exec(source)
  if (odd !== null) fail(source.slice(0, odd.index).split("\n").length, "a NUL, vertical tab or form feed")
  const kept = keptLines(tokenize(source), source)
  const rendered = render(kept, mode)
  verify(kept, rendered.code, mode)
  const code = rendered.code.length > 0 && source.endsWith("\n") ? `${rendered.code}\n` : rendered.code
  if (code.length < input.length) return { code, lineMap: rendered.lineMap }
  // Nothing to gain: the code as it was.
  return { code: input, lineMap: mode === "join" ? identityMap(input) : undefined }
}

const identityMap = (text: string): Array<number> =>
  Array.from({ length: text.split("\n").length }, (_, k) => k + 1)

#!/usr/bin/env node
/**
 * Embeds a package's board-side Python (`src/python/*.py`) into a generated TypeScript module of
 * string constants (`src/python/embedded.ts`), minified on the way: comments, docstrings and blank
 * lines go, each indent level becomes one space, spaces between tokens go where Python does not
 * need them, simple statements are joined with `;` (a block of them on its header's line), and
 * the names a file lists in a `# board names: long=short ...` line are renamed
 * (MicroPython interns every identifier it parses for good, and a micro:bit parses code in a few KB
 * of heap). Build time, not run time, so that the package needs no file system (a browser bundle).
 *
 * Usage: `node scripts/embed-python.mjs [packageDir]` writes the module;
 * `node scripts/embed-python.mjs [packageDir] --check` exits 1 when it is out of date.
 * Also importable: `embed(packageDir)` returns the module's text.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y
const NUMBER = /(?:0[xXoObB][0-9a-fA-F_]+|\d[\d_]*\.?\d*(?:[eE][+-]?\d+)?j?|\.\d+(?:[eE][+-]?\d+)?j?)/y
const STRING_START = /(?:[rRbBuU]|[rR][bB]|[bB][rR])?('''|"""|'|")/y
const OPERATOR = /(?:\*\*=|\/\/=|>>=|<<=|->|[-+*/%&|^@=<>!]=|\*\*|\/\/|<<|>>|[-+*/%&|^~<>=.,:;()[\]{}@])/y
const RENAMES = /^#\s*board names:(.*)$/

/** Python source as logical lines: `{ indent, tokens: [{ kind, text }] }`; comments dropped, continuations joined. */
export const tokenize = (source, file = "<python>") => {
  const lines = []
  let tokens = []
  let indent = 0
  let depth = 0
  let lineStart = true
  let i = 0
  const fail = (what) => {
    const line = source.slice(0, i).split("\n").length
    throw new Error(`${file}:${line}: ${what}`)
  }
  const end = () => {
    if (tokens.length > 0) lines.push({ indent, tokens })
    tokens = []
    lineStart = true
  }
  while (i < source.length) {
    if (lineStart && depth === 0) {
      let width = 0
      while (source[i] === " " || source[i] === "\t") {
        if (source[i] === "\t") fail("tabs are not allowed")
        width++
        i++
      }
      if (source[i] === "\n" || source[i] === "#" || i >= source.length) {
        while (i < source.length && source[i] !== "\n") i++
        i++
        continue
      }
      indent = width
      lineStart = false
    }
    const c = source[i]
    if (c === "\n") {
      i++
      if (depth === 0) end()
      continue
    }
    if (c === " " || c === "\r") {
      i++
      continue
    }
    if (c === "\\" && source[i + 1] === "\n") {
      i += 2
      continue
    }
    if (c === "#") {
      while (i < source.length && source[i] !== "\n") i++
      continue
    }
    STRING_START.lastIndex = i
    const string = STRING_START.exec(source)
    if (string !== null) {
      const quote = string[1]
      let j = i + string[0].length
      while (j < source.length && !source.startsWith(quote, j)) {
        if (source[j] === "\\") j++
        else if (quote.length === 1 && source[j] === "\n") fail("unterminated string")
        j++
      }
      if (j >= source.length) fail("unterminated string")
      j += quote.length
      tokens.push({ kind: "string", text: source.slice(i, j) })
      i = j
      continue
    }
    const token = matchToken(source, i)
    if (token === undefined) fail(`unexpected character ${JSON.stringify(c)}`)
    tokens.push(token)
    if ("([{".includes(token.text)) depth++
    if (")]}".includes(token.text)) depth--
    i += token.text.length
  }
  end()
  return lines
}

/** The name, number or operator token at `i`. */
const matchToken = (source, i) => {
  for (const [kind, pattern] of [
    ["name", NAME],
    ["number", NUMBER],
    ["op", OPERATOR],
  ]) {
    pattern.lastIndex = i
    const match = pattern.exec(source)
    if (match !== null) return { kind, text: match[0] }
  }
  return undefined
}

const isWordChar = (ch) => ch !== undefined && /[A-Za-z0-9_]/.test(ch)

/** One logical line, with a space only where two tokens would otherwise merge. */
const joinTokens = (tokens) => {
  let out = ""
  for (const token of tokens) {
    if (isWordChar(out.at(-1)) && isWordChar(token.text[0])) out += " "
    out += token.text
  }
  return out
}

/**
 * The renames a file asks for in its `# board names: long=short ...` lines, after those of the
 * package's `board-names.txt` (`long=short` pairs, `#` comments). `.long=short` renames an
 * attribute.
 */
const renamesOf = (source, shared) => {
  const renames = new Map()
  const pairs = [
    ...shared.split("\n").filter((line) => !line.trim().startsWith("#")),
    ...source.split("\n").flatMap((line) => RENAMES.exec(line.trim())?.[1] ?? []),
  ]
  for (const line of pairs) {
    for (const pair of line
      .trim()
      .split(/\s+/)
      .filter((p) => p !== "")) {
      const [from, to] = pair.split("=")
      if (!from || !to) throw new Error(`bad rename ${pair}`)
      renames.set(from, to)
    }
  }
  return renames
}

/**
 * Minify one file: drop docstrings (a line that is only a string), reindent one space per level,
 * rename names as the file asks. Returns the code and the global names it defines (for the `del`
 * that ends each exchange).
 */
export const minify = (source, file, shared = "") => {
  const renames = renamesOf(source, shared)
  const lines = tokenize(source, file)
  const levels = []
  const out = []
  const defined = []
  for (const line of lines) {
    if (line.tokens.length === 1 && line.tokens[0].kind === "string") continue
    while (levels.length > 0 && levels.at(-1) >= line.indent) levels.pop()
    const level = levels.length
    levels.push(line.indent)
    const tokens = line.tokens.map((token, k) => {
      if (token.kind !== "name") return token
      const key = line.tokens[k - 1]?.text === "." ? `.${token.text}` : token.text
      return renames.has(key) ? { ...token, text: renames.get(key) } : token
    })
    out.push({ level, text: joinTokens(tokens), compound: COMPOUND.has(tokens[0].text) })
    if (level === 0) defined.push(...definedBy(tokens))
  }
  return { code: render(out), defined: [...new Set(defined)] }
}

/** Keywords that open a compound statement (a header ending in `:` and a block). */
const COMPOUND = new Set([
  "if",
  "elif",
  "else",
  "for",
  "while",
  "try",
  "except",
  "finally",
  "def",
  "class",
  "with",
  "@",
])

/**
 * Lines (with their levels) as code, statements joined where Python allows it: consecutive
 * simple statements with `;`, and a block of simple statements on its header's line
 * (`if not d:break`). Fewer bytes: the micro:bit holds the code more than once while it parses.
 */
const render = (lines) => {
  const out = []
  let i = 0
  while (i < lines.length) {
    const line = lines[i]
    const pad = " ".repeat(line.level)
    if (line.compound) {
      let j = i + 1
      while (j < lines.length && lines[j].level > line.level) j++
      const block = lines.slice(i + 1, j)
      if (block.length > 0 && block.every((l) => l.level === line.level + 1 && !l.compound)) {
        out.push(`${pad}${line.text}${block.map((l) => l.text).join(";")}`)
        i = j
      } else {
        out.push(pad + line.text)
        i++
      }
      continue
    }
    let j = i + 1
    while (j < lines.length && lines[j].level === line.level && !lines[j].compound) j++
    out.push(
      pad +
        lines
          .slice(i, j)
          .map((l) => l.text)
          .join(";"),
    )
    i = j
  }
  return `${out.join("\n")}\n`
}

/** The global names a top-level line defines: `def f`, `class C`, `x = ...`. */
const definedBy = (tokens) => {
  const [first, second] = tokens
  if ((first.text === "def" || first.text === "class") && second?.kind === "name") return [second.text]
  if (first.kind === "name" && second?.text === "=") return [first.text]
  return []
}

/** `list_tree.py` -> `LIST_TREE`. */
const constantName = (file) =>
  path
    .basename(file, ".py")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .toUpperCase()

/** The generated module's text, formatted as Biome formats it (a string property stays on its line). */
export const embed = (packageDir) => {
  const dir = path.join(packageDir, "src", "python")
  let shared = ""
  try {
    shared = readFileSync(path.join(dir, "board-names.txt"), "utf8")
  } catch {}
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".py"))
    .sort()
  const parts = [
    "/**",
    " * Generated by scripts/embed-python.mjs from src/python/*.py: do not edit, run the package's build.",
    " * Each constant is one file, minified (see the script), and the global names it defines.",
    " * @internal",
    " */",
    "",
    "/** A helper's code and the global names it defines. */",
    "export interface EmbeddedPython {",
    "  readonly code: string",
    "  readonly defines: ReadonlyArray<string>",
    "}",
  ]
  for (const file of files) {
    const { code, defined } = minify(readFileSync(path.join(dir, file), "utf8"), file, shared)
    const literal = JSON.stringify(code)
    const defines = `defines: [${defined.map((d) => JSON.stringify(d)).join(", ")}]`
    parts.push("", `/** \`python/${file}\`, minified. */`)
    parts.push(`export const ${constantName(file)}: EmbeddedPython = {`)
    parts.push(`  code: ${literal},`)
    parts.push(`  ${defines},`, "}")
  }
  return `${parts.join("\n")}\n`
}

export const OUTPUT = path.join("src", "python", "embedded.ts")

const main = () => {
  const args = process.argv.slice(2)
  const check = args.includes("--check")
  const packageDir = path.resolve(args.find((a) => !a.startsWith("--")) ?? ".")
  const text = embed(packageDir)
  const target = path.join(packageDir, OUTPUT)
  let current = ""
  try {
    current = readFileSync(target, "utf8")
  } catch {}
  if (check) {
    if (current !== text) {
      console.error(`${target} is out of date: run node scripts/embed-python.mjs ${packageDir}`)
      process.exit(1)
    }
    return
  }
  if (current !== text) writeFileSync(target, text)
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()

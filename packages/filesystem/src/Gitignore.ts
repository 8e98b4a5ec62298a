/**
 * A small matcher for gitignore patterns, for `sync` and `download`.
 *
 * Supported, as gitignore documents it: blank lines and `#` comments (`\#` for a literal `#`),
 * trailing spaces dropped unless escaped, `!` to re-include (`\!` for a literal `!`), a trailing
 * `/` to match directories only, a `/` at the start or in the middle to anchor the pattern at the
 * root (otherwise it matches at any depth), `*`, `?`, `[...]` classes (`[!...]` negated), `**/
;`
 * at the start, ` /**` at the end and `/**\/` in the middle, and backslash escapes. A path inside
 * an ignored directory is ignored whatever later patterns say (git cannot re-include it either).
 * Paths are relative, `/`-separated, without a leading slash.
 */

interface Rule {
  readonly regex: RegExp
  readonly negate: boolean
  readonly dirOnly: boolean
}

/**
 * Decides which relative paths a set of gitignore patterns excludes.
 *
 * @example
 * const ignore = gitignore(["*.pyc", "build/", "!keep.pyc"])
 * ignore.ignores("lib/x.pyc", false) // true
 * ignore.ignores("build", true)      // true
 *
 * @since 0.1.0
 */
export interface IgnoreMatcher {
  /** True when `path` (relative, `/`-separated) is excluded, itself or through a parent directory. */
  readonly ignores: (path: string, isDirectory: boolean) => boolean
  /** The patterns in effect, in order. */
  readonly patterns: ReadonlyArray<string>
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/-]/

const escapeChar = (c: string) => (REGEX_SPECIAL.test(c) ? `\\${c}` : c)

/** Trailing spaces go unless the last one is escaped. */
const trimTrailing = (line: string): string => {
  let end = line.length
  while (end > 0 && line[end - 1] === " ") {
    if (end >= 2 && line[end - 2] === "\\") break
    end--
  }
  return line.slice(0, end)
}

/** A `[...]` class starting at `at` (the `[`): the regex text and where it ends, or undefined. */
const bracket = (pattern: string, at: number): { text: string; end: number } | undefined => {
  let i = at + 1
  let negate = false
  if (pattern[i] === "!" || pattern[i] === "^") {
    negate = true
    i++
  }
  let body = ""
  let first = true
  for (; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === "]" && !first) return { text: `[${negate ? "^" : ""}${body}]`, end: i }
    first = false
    if (c === "\\" && i + 1 < pattern.length) {
      body += `\\${pattern[++i]}`
    } else if (c === "/") {
      return undefined
    } else if (c === "-") {
      body += "-"
    } else {
      body += c === "^" || c === "[" || c === "]" ? `\\${c}` : c
    }
  }
  return undefined
}

const compile = (raw: string): Rule | undefined => {
  let line = trimTrailing(raw.replace(/\r$/, ""))
  if (line === "" || line.startsWith("#")) return undefined
  let negate = false
  if (line.startsWith("!")) {
    negate = true
    line = line.slice(1)
  } else if (line.startsWith("\\!") || line.startsWith("\\#")) {
    line = line.slice(1)
  }
  let dirOnly = false
  if (line.endsWith("/") && !line.endsWith("\\/")) {
    dirOnly = true
    line = line.replace(/\/+$/, "")
  }
  if (line === "") return undefined
  const anchored = line.includes("/")
  if (line.startsWith("/")) line = line.slice(1)
  let body = ""
  let i = 0
  while (i < line.length) {
    const c = line[i]!
    if (c === "*" && line[i + 1] === "*") {
      const atStart = i === 0
      const before = atStart || line[i - 1] === "/"
      const after = i + 2 === line.length || line[i + 2] === "/"
      if (before && after) {
        if (i + 2 === line.length) {
          // `/**` at the end (or `**` alone): everything inside, at any depth.
          body += atStart ? ".*" : ".*"
          i += 2
        } else if (atStart) {
          // `**/` at the start: in any directory.
          body += "(?:.*/)?"
          i += 3
        } else {
          // `/**/`: zero or more directories (the `/` before it is already in `body`).
          body += "(?:.*/)?"
          i += 3
        }
        continue
      }
      body += "[^/]*"
      i += 2
      continue
    }
    if (c === "*") {
      body += "[^/]*"
      i++
    } else if (c === "?") {
      body += "[^/]"
      i++
    } else if (c === "[") {
      const cls = bracket(line, i)
      if (cls === undefined) {
        body += "\\["
        i++
      } else {
        body += cls.text
        i = cls.end + 1
      }
    } else if (c === "\\" && i + 1 < line.length) {
      body += escapeChar(line[i + 1]!)
      i += 2
    } else {
      body += escapeChar(c)
      i++
    }
  }
  const source = anchored ? `^${body}$` : `^(?:.*/)?${body}$`
  return { regex: new RegExp(source, "s"), negate, dirOnly }
}

/**
 * A matcher for gitignore patterns (one per array item, or the lines of a `.gitignore` text).
 *
 * @example
 * gitignore("__pycache__/\n*.log\n!important.log").ignores("a/__pycache__/x.pyc", false) // true
 *
 * @since 0.1.0
 */
export const gitignore = (patterns: string | ReadonlyArray<string>): IgnoreMatcher => {
  const lines = typeof patterns === "string" ? patterns.split("\n") : patterns.flatMap((p) => p.split("\n"))
  const rules = lines.map(compile).filter((r): r is Rule => r !== undefined)
  const own = (path: string, isDirectory: boolean): boolean => {
    let ignored = false
    for (const rule of rules) {
      if (rule.dirOnly && !isDirectory) continue
      if (rule.negate === !ignored) continue
      if (rule.regex.test(path)) ignored = !rule.negate
    }
    return ignored
  }
  return {
    patterns: lines,
    ignores: (path, isDirectory) => {
      const clean = path.replace(/^\/+|\/+$/g, "")
      if (clean === "") return false
      const parts = clean.split("/")
      for (let i = 1; i < parts.length; i++) if (own(parts.slice(0, i).join("/"), true)) return true
      return own(clean, isDirectory)
    },
  }
}

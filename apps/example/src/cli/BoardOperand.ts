/**
 * How the file commands read their path arguments, with mpremote's conventions: in `cp`, a
 * leading `:` marks a board path (`belay cp main.py :`, `belay cp :data.csv .`) and anything else
 * is a host path; the other file commands take board paths only, with or without the `:`. A board
 * path that does not start with `/` is relative to the board's working directory (`os.getcwd()`),
 * and `:` alone is that directory.
 */

/**
 * A `cp` operand: a board path (written with a leading `:`) or a host path.
 *
 * @example
 * const here: Operand = { board: true, path: "" } // `:`, the board's working directory
 */
export interface Operand {
  readonly board: boolean
  /** The path without its `:` (empty for `:` alone: the board's working directory). */
  readonly path: string
}

/**
 * A `cp` operand as typed.
 *
 * @example
 * operand(":lib/a.py") // { board: true, path: "lib/a.py" }
 * operand("a.py") // { board: false, path: "a.py" }
 */
export const operand = (text: string): Operand =>
  text.startsWith(":") ? { board: true, path: text.slice(1) } : { board: false, path: text }

/**
 * A board path argument of `ls`, `cat`, `rm` and the rest: the `:` is optional.
 *
 * @example
 * boardArgument(":main.py") // "main.py"
 */
export const boardArgument = (text: string): string => (text.startsWith(":") ? text.slice(1) : text)

/**
 * True when a path names a directory by its form, whatever is there: empty (the working
 * directory), `.`, `..`, or ending in `/` (or the host's separator).
 *
 * @example
 * namesDirectory("lib/") // true
 * namesDirectory("lib") // false: only the board or the host can tell
 */
export const namesDirectory = (path: string, separator = "/"): boolean => {
  const last = path.split(separator).at(-1)
  return (
    path === "" ||
    path.endsWith("/") ||
    path.endsWith(separator) ||
    last === "." ||
    last === ".." ||
    path.split("/").at(-1) === "." ||
    path.split("/").at(-1) === ".."
  )
}

/**
 * The last name of a host or board path (`dir/a.py` gives `a.py`; a trailing `/` is ignored).
 *
 * @example
 * baseName("src/lib/") // "lib"
 */
export const baseName = (path: string): string => {
  const parts = path.split(/[\\/]/).filter((p) => p !== "")
  return parts.at(-1) ?? ""
}

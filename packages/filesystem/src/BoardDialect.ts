/**
 * What the Python sent to a board may rely on, and how a value reaches it: as an argument of a
 * helper's call, written as a Python literal.
 * @internal
 */
import { toPythonLiteral } from "@belay/transport"
import type { HashAlgorithm } from "./Checksum.js"
import { type EmbeddedPython, IMPORT_OS, PROBE } from "./python/embedded.js"

/** What the generated code may use on this board. */
export interface BoardDialect {
  /** No directories: `os.listdir()` takes no argument, paths are bare names. */
  readonly flat: boolean
  readonly os: ReadonlySet<string>
  readonly hash: HashAlgorithm
  /** Python tuple literal of the values `OSError.args[0]` takes for "no such file". */
  readonly notFound: string
  /** Python tuple literal of the values `OSError.args[0]` takes for "exists". */
  readonly exists: string
  /** The board's errno for "not a directory" (raised by our own code). */
  readonly enotdir: number
  /** The board's errno for "exists" (raised by our own code). */
  readonly eexist: number
  /** Bytes read per step when hashing, copying and downloading on the board. */
  readonly piece: number
}

export const py = (value: unknown): string => toPythonLiteral(value)

/** `import os` (or `uos` before MicroPython 1.20), as a statement block. */
export const OS_IMPORT = IMPORT_OS.code

/** `os`, imported, as a helper of a call: defines `os`, which stays (a module the board already holds). */
export const OS: EmbeddedPython = { code: IMPORT_OS.code, defines: [] }

/** The last global a helper defines: the function its call names. */
export const nameOf = (helper: EmbeddedPython): string => helper.defines.at(-1)!

/**
 * The name of a short-lived global in Belay's file code (a caught exception, an upload's open file,
 * bound and gone within one exchange), never the person's `e` or `f`: the probe's own name (`_bp`),
 * free once the probe has run (every file operation comes after it) and already known to the
 * board. MicroPython keeps every name it has parsed for good, and on the micro:bit's 16 KB heap a
 * name of its own for this left a later import without room.
 */
export const SCRATCH = nameOf(PROBE)

/**
 * Helpers (their code, one after the other), then `call` (simple statements) run at the top level,
 * then the helpers and the globals `also` deleted whatever happens: nothing stays in the board's
 * RAM.
 *
 * @example
 * callAndDelete([ABORT_UPLOAD], "_ba('.belay-k3x9ab-7',[])") // "def _ba(k,l):...try:_ba(...)\nfinally:del _ba\n"
 */
export const callAndDelete = (
  helpers: ReadonlyArray<EmbeddedPython>,
  call: string,
  also: ReadonlyArray<string> = [],
): string =>
  `${helpers.map((h) => h.code).join("")}try:${call}\nfinally:del ${[...helpers.flatMap((h) => h.defines), ...also].join(",")}\n`

/** Python text already written as a literal (a dialect's tuple of errno values, say), passed as it is. */
export class PythonLiteral {
  constructor(readonly text: string) {}
}

/**
 * The call of a board helper, each argument a Python literal.
 *
 * @example
 * callOf("_bl", "/a'b", 1) // "_bl('/a\\'b',1)"
 */
export const callOf = (name: string, ...args: ReadonlyArray<unknown>): string =>
  `${name}(${args.map(argument).join(",")})`

/** One argument as a Python literal; a list without the spaces `toPythonLiteral` puts after commas. */
const argument = (value: unknown): string =>
  value instanceof PythonLiteral
    ? value.text
    : Array.isArray(value)
      ? `[${value.map(argument).join(",")}]`
      : py(value)

/** A running hash in Python: how to start, feed `d`, and finish it (for the transfer loops). */
export interface HashCode {
  readonly imports: string
  readonly init: string
  /** Feeds the bytes in `d` (several lines, at indent 0). */
  readonly update: string
  readonly digest: string
  /** Largest read size that keeps the sums small ints. */
  readonly maxPiece: number
}

/** Largest read of an Adler-32 step: the two sums stay small ints on the board. */
const ADLER32_MAX_PIECE = 1024

export const hashCode = (algorithm: HashAlgorithm): HashCode =>
  algorithm === "adler32"
    ? {
        imports: "",
        init: "a=1;b=0",
        update: "for x in d:a+=x;b+=a\na%=65521;b%=65521",
        digest: "'%04x%04x'%(b,a)",
        maxPiece: ADLER32_MAX_PIECE,
      }
    : {
        imports: "import hashlib",
        init: `h=hashlib.${algorithm}()`,
        update: "h.update(d)",
        digest: "h.digest()",
        maxPiece: 1 << 16,
      }

/** Read piece for hashing-related loops. */
export const hashPiece = (d: BoardDialect): number => Math.min(d.piece, hashCode(d.hash).maxPiece)

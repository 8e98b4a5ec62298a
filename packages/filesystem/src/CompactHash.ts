/**
 * The hash and size functions the exchanges that hash on the board define (`_bh`, `_bsz`),
 * written here for the board's dialect rather than in `python/`: which hash (an inline Adler-32
 * loop or `hashlib`'s constructor) and how to size a file are code, not values, and the helpers
 * that call them (`_bh(p, 0)`) would otherwise pass the algorithm and the read size down every
 * call. A helper taking the algorithm as an argument, with an Adler-32 class, made the micro:bit
 * run out of heap; these are as short as they can be, for the same reason.
 * @internal
 */
import { type BoardDialect, hashCode, hashPiece } from "./BoardDialect.js"
import type { EmbeddedPython } from "./python/embedded.js"

/**
 * `_bh(p, s)`: hash file `p` in two parts, the first `s` bytes and the rest; returns
 * `(size of the rest, digest of the first part, digest of the rest)`. With `whole`, for callers
 * that always pass `s = 0`: the same answer for the whole file, `(size, None, digest)`, from a
 * third less code (a micro:bit parses the exchange in about 1 KB of heap in one piece).
 */
export const hashFunction = (d: BoardDialect, whole = false): string => {
  const h = hashCode(d.hash)
  const c = hashPiece(d)
  const [loop, ...after] = h.update.split("\n")
  if (whole) {
    return [
      "def _bh(p,s):",
      ` ${h.imports ? `${h.imports};` : ""}f=open(p,'rb');${h.init};n=0`,
      " while 1:",
      `  d=f.read(${c})`,
      "  if not d:break",
      ...(after.length > 0 ? ["  n+=len(d)", `  ${loop}`] : [`  n+=len(d);${loop}`]),
      ...after.map((line) => `  ${line}`),
      " f.close()",
      ` return(n,None,${h.digest})`,
      "",
    ].join("\n")
  }
  return [
    "def _bh(p,s):",
    ` ${h.imports ? `${h.imports};` : ""}f=open(p,'rb');${h.init};q=None;n=0`,
    " while 1:",
    `  if n==s:q=${h.digest};${h.init}`,
    `  d=f.read(s-n if 0<s-n<${c} else ${c})`,
    "  if not d:break",
    // Adler-32's update starts with a loop, which cannot follow a `;`.
    ...(after.length > 0 ? ["  n+=len(d)", `  ${loop}`] : [`  n+=len(d);${loop}`]),
    ...after.map((line) => `  ${line}`),
    " f.close()",
    ` if q is None:q=${h.digest};${h.init}`,
    ` return(n-s,q,${h.digest})`,
    "",
  ].join("\n")
}

/**
 * `_bsz(p)`: the size of file `p`, with what the board's `os` offers (reading it through when it
 * offers nothing).
 */
export const sizeFunction = (d: BoardDialect): string => {
  if (d.os.has("stat")) return "def _bsz(p):return os.stat(p)[6]\n"
  if (d.os.has("size")) return "def _bsz(p):return os.size(p)\n"
  return [
    "def _bsz(p):",
    " f=open(p,'rb');n=0",
    " while 1:",
    `  d=f.read(${d.piece})`,
    "  if not d:break",
    "  n+=len(d)",
    " f.close();return n",
    "",
  ].join("\n")
}

/** {@link hashFunction} as a helper of a call (`whole`: its callers always pass `s = 0`). */
export const hashHelper = (d: BoardDialect, whole = false): EmbeddedPython => ({
  code: hashFunction(d, whole),
  defines: ["_bh"],
})

/** {@link sizeFunction} as a helper of a call. */
export const sizeHelper = (d: BoardDialect): EmbeddedPython => ({ code: sizeFunction(d), defines: ["_bsz"] })

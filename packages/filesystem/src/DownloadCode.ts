/**
 * Requests of downloads: a file printed in pieces (repr or base64), or written raw through
 * `sys.stdout.buffer`, hashed on the board as it goes.
 * @internal
 */
import { type BoardDialect, hashCode, indent, OS_IMPORT, py } from "./BoardDialect.js"
import { RAW_OUT_ESCAPE } from "./ProbeCode.js"
import { runThenDelete } from "./UploadCode.js"

/**
 * Write `length` bytes of a file from `offset` as raw bytes (escaped, see {@link RAW_OUT_ESCAPE}),
 * then ESC 0x06 and `('end', size, digest)` of what was sent, all through `sys.stdout.buffer`. For boards whose stdout is 8-bit
 * clean: one byte on the wire per byte of data, almost.
 */
export const downloadRawCode = (
  d: BoardDialect,
  native: string,
  offset: number,
  length: number,
  piece: number,
): string => {
  const h = hashCode(d.hash)
  const step = Math.min(piece, h.maxPiece)
  return [
    "import sys",
    "def _bd(p):",
    h.imports ? ` ${h.imports}` : "",
    " f=open(p,'rb')",
    offset > 0 ? ` f.seek(${offset})` : "",
    ` w=sys.stdout.buffer.write;${h.init};n=0`,
    ` while n<${length}:`,
    `  d=f.read(min(${step},${length}-n))`,
    "  if not d:break",
    "  n+=len(d)",
    indent(h.update, 2),
    `  w(${RAW_OUT_ESCAPE})`,
    " f.close()",
    // The end goes through the same channel as the data: `print` may be ordered differently.
    ` w(b'\\x1b\\x06'+repr(('end',n,${h.digest})).encode())`,
    runThenDelete(`_bd(${py(native)})`, ["_bd"]),
  ]
    .filter((l) => l !== "")
    .join("\n")
}

/**
 * Print a file in pieces (one line each: `b'...'` or base64), hashing as it goes, then
 * `('end', size, digest)`. One exchange, constant memory on the board.
 */
export const downloadCode = (d: BoardDialect, native: string, base64: boolean, piece: number): string => {
  const h = hashCode(d.hash)
  const step = Math.min(piece, h.maxPiece)
  return [
    OS_IMPORT.trimEnd(),
    base64 ? "import binascii" : "",
    "def _bd(p):",
    h.imports ? ` ${h.imports}` : "",
    " f=open(p,'rb')",
    ` ${h.init};n=0`,
    " while 1:",
    `  d=f.read(${step})`,
    "  if not d:break",
    "  n+=len(d)",
    indent(h.update, 2),
    ...(base64
      ? // Whichever is shorter for this piece: repr (text) or base64 (binary, marked with `!`);
        // base64's length is known without computing it.
        [
          "  r=repr(d)",
          "  if len(r)>4*((len(d)+2)//3)+1:print('!'+binascii.b2a_base64(d).decode(),end='')",
          "  else:print(r)",
        ]
      : ["  print(d)"]),
    " f.close()",
    ` return ('end',n,${h.digest})`,
    // Not framed: the end tuple is checked against the data it describes.
    `try:\n print(repr(_bd(${py(native)})))\nfinally:\n del _bd\n`,
  ]
    .filter((l) => l !== "")
    .join("\n")
}

/**
 * Requests of downloads: a file printed in pieces (repr or base64), or written raw through
 * `sys.stdout.buffer`, hashed on the board as it goes. One loop (`python/download_*.py`, one per
 * kind of hash) passes each piece to a printer given as an argument: `print`,
 * `python/print_shorter.py` or `python/write_escaped.py`. The raw exchange is about 60 bytes longer
 * than a loop with the escape written inline would be; a micro:bit never sends it (its stdout has
 * no `buffer`: the probe finds no raw output).
 * @internal
 */
import { type BoardDialect, callAndDelete, callOf, hashCode, nameOf, PythonLiteral } from "./BoardDialect.js"
import { DOWNLOAD_ADLER32, DOWNLOAD_HASHLIB, PRINT_SHORTER, WRITE_ESCAPED } from "./python/embedded.js"

/** More bytes than any file a board holds: "to the end". */
const TO_THE_END = 2 ** 30

/** The download loop for the board's hash, and the call of it passing pieces to `printer`. */
const downloadCall = (
  d: BoardDialect,
  native: string,
  offset: number,
  length: number,
  piece: number,
  printer: string,
) => {
  const loop = d.hash === "adler32" ? DOWNLOAD_ADLER32 : DOWNLOAD_HASHLIB
  const step = Math.min(piece, hashCode(d.hash).maxPiece)
  const call = callOf(
    nameOf(loop),
    native,
    offset,
    length,
    step,
    new PythonLiteral(printer),
    ...(d.hash === "adler32" ? [] : [d.hash]),
  )
  return { loop, call }
}

/**
 * Write `length` bytes of a file from `offset` as raw bytes (escaped, see `python/write_escaped.py`),
 * then ESC 0x06 and `('end', size, digest)` of what was sent, all through `sys.stdout.buffer`
 * (the end goes through the same channel as the data: `print` may be ordered differently). For
 * boards whose stdout is 8-bit clean: one byte on the wire per byte of data, almost.
 */
export const downloadRawCode = (
  d: BoardDialect,
  native: string,
  offset: number,
  length: number,
  piece: number,
): string => {
  const { loop, call } = downloadCall(d, native, offset, length, piece, nameOf(WRITE_ESCAPED))
  return `import sys\n${callAndDelete([WRITE_ESCAPED, loop], `sys.stdout.buffer.write(b'\\x1b\\x06'+repr(${call}).encode())`)}`
}

/**
 * Print a file in pieces (one line each: `b'...'` or base64), hashing as it goes, then
 * `('end', size, digest)`. One exchange, constant memory on the board. Not framed: the end tuple
 * is checked against the data it describes.
 */
export const downloadCode = (d: BoardDialect, native: string, base64: boolean, piece: number): string => {
  const printer = base64 ? [PRINT_SHORTER] : []
  const { loop, call } = downloadCall(
    d,
    native,
    0,
    TO_THE_END,
    piece,
    base64 ? nameOf(PRINT_SHORTER) : "print",
  )
  return `${base64 ? "import binascii\n" : ""}${callAndDelete([...printer, loop], `print(repr(${call}))`)}`
}

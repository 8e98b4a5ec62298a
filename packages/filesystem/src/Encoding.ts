import { toBase64 } from "@belay/transport/internal"

/**
 * How file bytes travel inside the Python code sent to the board (uploads) and in what the board
 * prints back (downloads).
 *
 * Uploads, densest first:
 * - `raw`: a bytes literal holding the bytes themselves; only the bytes the raw REPL or the Python
 *   lexer treat specially are escaped (NUL and Ctrl-A..Ctrl-D, `\n`, `\r`, `'`, `\`): about 1.07
 *   bytes on the wire per byte of random data. MicroPython's lexer keeps bytes literals 8-bit
 *   clean; whether the link does is probed once per board (a link that decodes text would mangle
 *   them).
 * - `base64`: `binascii.a2b_base64(b'...')`, 1.33 bytes per byte, where the board has `binascii`.
 * - `repr`: an ASCII bytes literal with `\xNN` escapes: about 2.9 bytes per byte of random data
 *   (1 for text), the fallback that works everywhere.
 *
 * Downloads: `base64` (`binascii.b2a_base64`) where available, else `repr` (`print(bytes)`).
 *
 * @since 0.1.0
 */
export type UploadEncoding = "raw" | "base64" | "repr"

/**
 * How downloaded content is printed by the board.
 *
 * @since 0.1.0
 */
export type DownloadEncoding = "base64" | "repr"

const enc = new TextEncoder()
const HEX_DIGITS = enc.encode("0123456789abcdef")

/** Bytes that the `raw` encoding escapes: raw REPL control bytes, line ends, quote, backslash. */
export const RAW_ESCAPED: ReadonlySet<number> = new Set([0, 1, 2, 3, 4, 10, 13, 39, 92])

const rawCost = (b: number): number =>
  RAW_ESCAPED.has(b) ? (b === 39 || b === 92 || b === 10 || b === 13 ? 2 : 4) : 1

const reprCost = (b: number): number => {
  if (b === 39 || b === 92 || b === 10 || b === 13 || b === 9) return 2
  return b >= 0x20 && b < 0x7f ? 1 : 4
}

const writeEscape = (out: Uint8Array, j: number, b: number): number => {
  out[j++] = 92 // backslash
  switch (b) {
    case 10:
      out[j++] = 110 // n
      return j
    case 13:
      out[j++] = 114 // r
      return j
    case 9:
      out[j++] = 116 // t
      return j
    case 39:
    case 92:
      out[j++] = b
      return j
  }
  out[j++] = 120 // x
  out[j++] = HEX_DIGITS[b >> 4]!
  out[j++] = HEX_DIGITS[b & 15]!
  return j
}

/** One piece of file data as a Python expression that evaluates to its bytes. */
export interface EncodedChunk {
  /** The expression's source bytes (not valid UTF-8 with the `raw` encoding). */
  readonly expression: Uint8Array
  /** How many data bytes it holds. */
  readonly consumed: number
}

const BASE64_PREFIX = enc.encode("binascii.a2b_base64(b'")
const BASE64_SUFFIX = enc.encode("')")

/**
 * Encode as much of `data` from `offset` as fits in `budget` bytes of expression (at least one
 * data byte while any is left).
 *
 * @example
 * encodeChunk("raw", new Uint8Array([0x41, 0x0a, 0xff]), 0, 64).expression // b'A\n<0xff>'
 */
export const encodeChunk = (
  encoding: UploadEncoding,
  data: Uint8Array,
  offset: number,
  budget: number,
): EncodedChunk => {
  if (encoding === "base64") {
    const room = Math.max(4, budget - BASE64_PREFIX.length - BASE64_SUFFIX.length)
    const consumed = Math.min(data.length - offset, Math.floor(room / 4) * 3)
    const text = toBase64(data.subarray(offset, offset + consumed))
    const expression = new Uint8Array(BASE64_PREFIX.length + text.length + BASE64_SUFFIX.length)
    expression.set(BASE64_PREFIX)
    expression.set(enc.encode(text), BASE64_PREFIX.length)
    expression.set(BASE64_SUFFIX, BASE64_PREFIX.length + text.length)
    return { expression, consumed }
  }
  const cost = encoding === "raw" ? rawCost : reprCost
  const room = Math.max(4, budget - 3)
  let size = 0
  let end = offset
  while (end < data.length) {
    const c = cost(data[end]!)
    if (size + c > room && end > offset) break
    size += c
    end++
  }
  const out = new Uint8Array(size + 3)
  let j = 0
  out[j++] = 98 // b
  out[j++] = 39 // '
  for (let i = offset; i < end; i++) {
    const b = data[i]!
    if (cost(b) === 1) out[j++] = b
    else j = writeEscape(out, j, b)
  }
  out[j++] = 39
  return { expression: out, consumed: end - offset }
}

/** Expression bytes per data byte for this data (for sizing and reports). */
export const expansion = (encoding: UploadEncoding, data: Uint8Array): number => {
  if (data.length === 0) return 1
  if (encoding === "base64") return 4 / 3
  const cost = encoding === "raw" ? rawCost : reprCost
  let total = 0
  for (const b of data) total += cost(b)
  return total / data.length
}

const ESC = 0x1b

/**
 * Escape bytes as raw downloads print them: ESC becomes ESC ESC, Ctrl-D ESC 0x05 (Ctrl-D ends
 * stdout in the raw REPL) and LF ESC 0x0b (some boards print LF as CR LF).
 *
 * @example
 * escapeRawOutput(new Uint8Array([4, 27, 10, 65])) // [27, 5, 27, 27, 27, 11, 65]
 */
export const escapeRawOutput = (data: Uint8Array): Uint8Array => {
  const out: number[] = []
  for (const b of data) {
    if (b === ESC) out.push(ESC, ESC)
    else if (b === 4) out.push(ESC, 5)
    else if (b === 10) out.push(ESC, 11)
    else out.push(b)
  }
  return Uint8Array.from(out)
}

/**
 * Undo {@link escapeRawOutput} up to the end mark (ESC 0x06): the data, and where the text after
 * the mark starts; `undefined` when the mark is missing or an escape is invalid.
 */
export const unescapeRawOutput = (
  bytes: Uint8Array,
): { readonly data: Uint8Array; readonly rest: number } | undefined => {
  const out = new Uint8Array(bytes.length)
  let n = 0
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (b !== ESC) {
      out[n++] = b
      continue
    }
    const next = bytes[++i]
    if (next === ESC) out[n++] = ESC
    else if (next === 5) out[n++] = 4
    else if (next === 11) out[n++] = 10
    else if (next === 6) return { data: out.slice(0, n), rest: i + 1 }
    else return undefined
  }
  return undefined
}

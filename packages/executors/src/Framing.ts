/**
 * How values come back from the board without being confused with what the code prints, and
 * without being taken for a value when bytes were damaged on the way.
 *
 * Each value is printed on its own line as a marker byte, a per-call nonce, a tag, the length
 * and a 16-bit sum of the payload's UTF-8 bytes, and the payload, the value's `repr()`:
 *
 *     \x1e<nonce><tag>:<length>:<sum16>:<repr>\n
 *
 * The tag is the item's sequence number (`0` for a task's result), `e` for the end of a
 * generator (its payload is the item count), `r` for the deployment registry a guarded call
 * sends back, behind the `\x1f` marker, when it found its function missing. `repr()` output
 * never holds a control character or a newline (MicroPython escapes them), and the nonce is
 * chosen per call by the host and never shown to the called function, so nothing the function
 * prints can be taken for a frame. Everything outside frames is the function's own output.
 *
 * Why a single damaged byte cannot pass for a value: a changed byte in the payload changes its
 * sum by 1 to 255 (never a multiple of 65536), an added or lost byte changes its length; a
 * damaged header field no longer matches the payload; a damaged marker or nonce hides the frame,
 * which the sequence numbers, the end frame and the one-result rule of a task call then miss.
 * The host decodes the board's bytes as UTF-8 before it sees them, replacing bytes that are not
 * UTF-8 with U+FFFD, so the check is made on the text's UTF-8 encoding and a frame holding
 * U+FFFD is refused: the board never sends one raw (a `repr()` containing U+FFFD is sent as
 * `!` and the `repr()` of its UTF-8 bytes, which is ASCII).
 *
 * @internal
 */
import { CHECKED_RUNTIME, parsePythonLiteral } from "@belay/transport"
import { Result } from "effect"
import { PythonSource } from "./PythonSource.js"
import { FRAME } from "./python/embedded.js"

/** Marks a result (or a generator item). */
export const RESULT_MARK = "\x1e"
/** Marks the registry sent back by a guarded call that found its function missing. */
export const MISS_MARK = "\x1f"
/** The same markers as Python string escapes, for code sent to the board. */
export const RESULT_MARK_PY = "\\x1e"
export const MISS_MARK_PY = "\\x1f"

const NONCE_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
/**
 * The nonce stands in the code as a string literal with its marker, `'\x1e<nonce>'`. MicroPython's
 * parser interns string literals of up to 10 characters (`MICROPY_ALLOC_PARSE_INTERN_STRING_LEN`)
 * as qstrs, which are never freed: with a 5-character nonce every call leaked its literal, and
 * the QEMU micro:bit (MicroPython 1.9.2) ran out of memory after about 300 calls. With 10
 * characters the literal is 11 long, lives on the heap and is collected.
 */
const NONCE_LENGTH = 10

/** A fresh nonce: 10 characters of `[a-z0-9]` (about 51 bits). */
export const newNonce = (): string => {
  let out = ""
  for (let i = 0; i < NONCE_LENGTH; i++) out += NONCE_ALPHABET[Math.floor(Math.random() * 36)]
  return out
}

/** One frame as received: what kind, and the text after its nonce (tag, check and payload). */
export interface Frame {
  readonly kind: "result" | "miss"
  readonly text: string
}

/**
 * The board side of framing, deployed like any unit: `_belay_o(mark, value, tag=0)` prints
 * `value` as a checked frame (`python/frame.py`, minified at build time), followed by the
 * transport's checked-request runtime, which exchanges use once the unit is on the board.
 */
export const FRAME_RUNTIME = PythonSource.of(FRAME.code + CHECKED_RUNTIME)

/** The tag of a generator's end frame. */
export const END_TAG = "e"
/** The tag of the registry frame. */
export const REGISTRY_TAG = "r"

/** A frame whose check passed: its tag and the `repr()` it carries. */
export interface CheckedFrame {
  readonly tag: string
  readonly repr: string
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true })

/** A decimal field of the header: digits only, else -1. */
const decimalField = (text: string, from: number, to: number): number => {
  if (to <= from || to - from > 9) return -1
  let n = 0
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i) - 48
    if (c < 0 || c > 9) return -1
    n = n * 10 + c
  }
  return n
}

/**
 * Check a frame's text (what follows its nonce) against its length and sum. Fails with the
 * reason when the header is malformed, the payload does not match it, or it holds U+FFFD.
 */
export const checkFrame = (text: string): Result.Result<CheckedFrame, string> => {
  const a = text.indexOf(":")
  const b = a < 0 ? -1 : text.indexOf(":", a + 1)
  const c = b < 0 ? -1 : text.indexOf(":", b + 1)
  if (c < 0 || a === 0) return Result.fail("the frame header is malformed")
  const length = decimalField(text, a + 1, b)
  const sum = decimalField(text, b + 1, c)
  if (length < 0 || sum < 0) return Result.fail("the frame header is malformed")
  let bytes = 0
  let total = 0
  for (let i = c + 1; i < text.length; i++) {
    const u = text.charCodeAt(i)
    if (u < 0x80) {
      bytes += 1
      total += u
    } else if (u < 0x800) {
      bytes += 2
      total += 0xc0 + (u >> 6) + 0x80 + (u & 63)
    } else if (u >= 0xd800 && u < 0xdc00 && i + 1 < text.length) {
      // A surrogate pair: one code point of 4 UTF-8 bytes.
      const p = ((u - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00) + 0x10000
      bytes += 4
      total += 0xf0 + (p >> 18) + 0x80 + ((p >> 12) & 63) + 0x80 + ((p >> 6) & 63) + 0x80 + (p & 63)
    } else if (u === 0xfffd) {
      return Result.fail("the frame holds bytes that are not UTF-8")
    } else {
      bytes += 3
      total += 0xe0 + (u >> 12) + 0x80 + ((u >> 6) & 63) + 0x80 + (u & 63)
    }
  }
  if (bytes !== length || (total & 0xffff) !== sum) {
    return Result.fail(`the frame does not match its check (${bytes}:${total & 0xffff} received)`)
  }
  const tag = text.slice(0, a)
  if (text.charCodeAt(c + 1) !== 33 /* ! */) return Result.succeed({ tag, repr: text.slice(c + 1) })
  // The repr held U+FFFD and was sent as the repr of its UTF-8 bytes.
  const escaped = parsePythonLiteral(text.slice(c + 2))
  if (Result.isSuccess(escaped) && escaped.success instanceof Uint8Array) {
    try {
      return Result.succeed({ tag, repr: fatalUtf8.decode(escaped.success) })
    } catch {
      // not UTF-8: reported below
    }
  }
  return Result.fail("the frame's escaped payload is unreadable")
}

/**
 * The frames of one exchange, checked as they arrive: each frame against its length and sum,
 * result frames numbered from 0 in order, the end frame carrying their count, nothing after it.
 */
export class FrameSequence {
  /** Result frames accepted so far: the sequence number the next one must carry. */
  items = 0
  /** The end frame came. */
  ended = false

  /**
   * Take one frame: the `repr()` of a result frame, `undefined` for the end frame, or the
   * reason it is refused. Registry frames are read with {@link checkFrame} alone.
   */
  accept(text: string): Result.Result<string | undefined, string> {
    const checked = checkFrame(text)
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
    const { tag, repr } = checked.success
    if (this.ended) return Result.fail("a result frame after the end frame")
    if (tag === END_TAG) {
      if (repr !== String(this.items)) {
        return Result.fail(`the end frame counts ${repr} items but ${this.items} arrived`)
      }
      this.ended = true
      return Result.succeed(undefined)
    }
    if (tag !== String(this.items)) {
      return Result.fail(`result frame ${tag} arrived where ${this.items} was due`)
    }
    this.items++
    return Result.succeed(repr)
  }
}

/**
 * Frame `repr` as the board's `_belay_o` does (for fake boards and tests).
 *
 * @example
 * encodeFrame("abc0123456", "0", "42") // "\x1eabc01234560:2:102:42\n"
 */
export const encodeFrame = (nonce: string, tag: string, repr: string, mark: string = RESULT_MARK): string => {
  let payload = repr
  let bytes = new TextEncoder().encode(payload)
  if (repr.includes("\ufffd")) {
    let literal = "b'"
    for (const byte of bytes) literal += `\\x${byte.toString(16).padStart(2, "0")}`
    payload = `!${literal}'`
    bytes = new TextEncoder().encode(payload)
  }
  let sum = 0
  for (const byte of bytes) sum += byte
  return `${mark}${nonce}${tag}:${bytes.length}:${sum & 0xffff}:${payload}\n`
}

/**
 * Splits a board's stdout, fed in chunks as it arrives, into frames and the code's own output.
 * Output is released as soon as it cannot be the start of a frame.
 */
export class FrameSplitter {
  private buffer = ""
  private readonly result: string
  private readonly miss: string

  constructor(readonly nonce: string) {
    this.result = RESULT_MARK + nonce
    this.miss = MISS_MARK + nonce
  }

  feed(chunk: string): { output: string; frames: Frame[] } {
    this.buffer += chunk
    let output = ""
    const frames: Frame[] = []
    for (;;) {
      const r = this.buffer.indexOf(this.result)
      const m = this.buffer.indexOf(this.miss)
      const at = r < 0 ? m : m < 0 ? r : Math.min(r, m)
      if (at < 0) break
      const newline = this.buffer.indexOf("\n", at)
      output += this.buffer.slice(0, at)
      if (newline < 0) {
        this.buffer = this.buffer.slice(at)
        return { output, frames }
      }
      let text = this.buffer.slice(at + this.result.length, newline)
      if (text.endsWith("\r")) text = text.slice(0, -1)
      frames.push({ kind: at === r ? "result" : "miss", text })
      this.buffer = this.buffer.slice(newline + 1)
    }
    // Hold back a tail that may be the start of a frame split across chunks.
    const hold = this.partialMarkAt()
    output += this.buffer.slice(0, hold)
    this.buffer = this.buffer.slice(hold)
    return { output, frames }
  }

  /** The stream ended: whatever is left (an unfinished frame included) is output. */
  end(): string {
    const rest = this.buffer
    this.buffer = ""
    return rest
  }

  private partialMarkAt(): number {
    const from = Math.max(0, this.buffer.length - this.result.length + 1)
    for (let i = from; i < this.buffer.length; i++) {
      const c = this.buffer[i]
      if (c !== RESULT_MARK && c !== MISS_MARK) continue
      const tail = this.buffer.slice(i)
      if (this.result.startsWith(tail) || this.miss.startsWith(tail)) return i
    }
    return this.buffer.length
  }
}

/**
 * Split a complete stdout at once: the same frames and output as a {@link FrameSplitter} fed the
 * whole text and ended, without its buffering (this runs on every task call).
 */
export const splitFrames = (stdout: string, nonce: string): { output: string; frames: Frame[] } => {
  const result = RESULT_MARK + nonce
  const miss = MISS_MARK + nonce
  const frames: Frame[] = []
  let output = ""
  let from = 0
  for (;;) {
    const r = stdout.indexOf(result, from)
    const m = stdout.indexOf(miss, from)
    const at = r < 0 ? m : m < 0 || r < m ? r : m
    if (at < 0) break
    const newline = stdout.indexOf("\n", at)
    // An unfinished frame is output, like the rest after it.
    if (newline < 0) break
    const start = at + result.length
    const end = newline > start && stdout.charCodeAt(newline - 1) === 13 ? newline - 1 : newline
    if (at > from) output += stdout.slice(from, at)
    frames.push({ kind: at === r ? "result" : "miss", text: stdout.slice(start, end) })
    from = newline + 1
  }
  return { output: from === 0 ? stdout : output + stdout.slice(from), frames }
}

/** A short, printable excerpt of text for error messages. */
export const excerpt = (text: string, max = 120): string => {
  const shown = JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text)
  return shown.slice(1, -1)
}

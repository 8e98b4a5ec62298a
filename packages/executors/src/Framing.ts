/**
 * How values come back from the board without being confused with what the code prints.
 *
 * Each value is printed on its own line as a marker byte, a per-call nonce and the value's
 * `repr()`: `\x1e<nonce><repr>\n` for a result or a generator item, `\x1f<nonce><repr>\n` for
 * the deployment registry when a guarded call found its function missing. `repr()` output never
 * holds a control character or a newline (MicroPython escapes them), and the nonce is chosen
 * per call by the host and never shown to the called function, so nothing the function prints
 * can be taken for a frame. Everything outside frames is the function's own output.
 *
 * @internal
 */

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

/** One frame: what kind, and the `repr()` text it carries. */
export interface Frame {
  readonly kind: "result" | "miss"
  readonly text: string
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

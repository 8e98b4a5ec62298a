/**
 * The host side of a checked exchange's reply (the frames are described in `CheckedOutput.ts`):
 * how the engine finds where stdout ends, plainly (the first `\x04`) or checked (after the end
 * frame), and the reader that checks each frame as it arrives. One concept, a byte-level state
 * machine over the frames; over 400 lines because its cases (a marker lost, repeated or damaged;
 * a `\x04` that is output or the board's own end) are what it is for.
 */
const RS = 0x1e
const US = 0x1f
const DLE = 0x10
const EOT = 0x04
const GT = 0x3e

const utf8 = new TextEncoder()

/** Where a reply's stdout ends, as the engine reads it. */
export interface StdoutScan {
  /** Bytes at the start of the view that belong to stdout (handed on and consumed). */
  readonly consumed: number
  /** True when the byte after `consumed` is the `\x04` that ends stdout. */
  readonly end: boolean
  /**
   * With bytes held back (`consumed` short of the view, `end` false): when nothing more arrives
   * within this many milliseconds, the engine asks {@link StdoutFraming.settle}.
   */
  readonly settleAfterMs?: number
}

/**
 * How the engine finds the end of stdout in the bytes it has not consumed yet. Stateful: it sees
 * every byte once, in order, except bytes it leaves unconsumed (it is shown them again).
 */
export interface StdoutFraming {
  readonly scan: (view: Uint8Array) => StdoutScan
  /** The line went quiet with bytes held back (see {@link StdoutScan.settleAfterMs}): decide. */
  readonly settle?: (view: Uint8Array) => StdoutScan
}

/**
 * How long the line must stay quiet after \`\x04 ... \x04>\` in a checked reply's output (the
 * board's own end, with the end frame lost) before it is taken as the end. The engine waits a
 * whole reply's bound when that is longer.
 */
export const SETTLE_MS = 300

/** Plain raw REPL framing: stdout ends at the first `\x04`. */
export const plainStdoutFraming: StdoutFraming = {
  scan: (view) => {
    const at = view.indexOf(EOT)
    return at < 0 ? { consumed: view.length, end: false } : { consumed: at, end: true }
  },
}

/** The longest run after a `\x04` in output that is held back while its meaning is unknown. */
const HOLD_LIMIT = 8192

/** A growable byte buffer for one frame. */
class Bytes {
  private data = new Uint8Array(64)
  length = 0
  push(view: Uint8Array, from: number, to: number): void {
    const n = to - from
    if (this.length + n > this.data.length) {
      let capacity = this.data.length * 2
      while (capacity < this.length + n) capacity *= 2
      const grown = new Uint8Array(capacity)
      grown.set(this.data.subarray(0, this.length))
      this.data = grown
    }
    this.data.set(view.subarray(from, to), this.length)
    this.length += n
  }
  view(): Uint8Array {
    return this.data.subarray(0, this.length)
  }
  reset(): void {
    this.length = 0
    if (this.data.length > 65536) this.data = new Uint8Array(64)
  }
}

/** Decimal fields `a:b[:c]` of a frame, or undefined. */
const decimals = (text: string, count: number): number[] | undefined => {
  const parts = text.split(":", count)
  if (parts.length !== count) return undefined
  const out: number[] = []
  for (const part of parts) {
    if (!/^\d{1,12}$/.test(part)) return undefined
    out.push(Number(part))
  }
  return out
}

const latin1 = new TextDecoder("latin1")

/** Undo the counting print's escapes; undefined for an escape the board never writes. */
const unescapeFrameText = (escaped: Uint8Array): Uint8Array | undefined => {
  if (escaped.indexOf(DLE) < 0) return escaped.slice()
  const out = new Uint8Array(escaped.length)
  let n = 0
  for (let i = 0; i < escaped.length; i++) {
    const b = escaped[i]!
    if (b !== DLE) {
      out[n++] = b
      continue
    }
    const x = escaped[++i]
    if (x === undefined) return undefined
    const original = x - 0x40
    if (original !== DLE && original !== EOT && original !== 0x0a && original !== RS && original !== US)
      return undefined
    out[n++] = original
  }
  return out.subarray(0, n)
}

const byteSum = (bytes: Uint8Array): number => {
  let sum = 0
  for (let i = 0; i < bytes.length; i++) sum += bytes[i]!
  return sum
}

/** What a checked reply came to, once its stdout ended. */
export interface CheckedReplyVerdict {
  /** The start frame came: the code ran (or started to). */
  readonly started: boolean
  /** Why the reply cannot be believed, when it cannot. */
  readonly damage: string | undefined
  /** eval's value (`repr()` text), checked. */
  readonly value: string | undefined
}

/**
 * Reads the stdout of a checked exchange as it arrives: checks each frame, hands on output
 * (checked print text and unchecked other output, in order) through {@link take}, and finds where
 * stdout really ends. Memory: one frame at a time, bounded by `maxFrameBytes`.
 *
 * @example
 * const reader = new CheckedReplyReader(nonce)
 * engine.exchange(code, deliver, reader) // the engine calls reader.scan(view) as bytes arrive
 * reader.take() // output ready to hand on
 * reader.verdict() // { started: true, damage: undefined, value: "[1, 2]" }
 */
export class CheckedReplyReader implements StdoutFraming {
  private readonly nonce: Uint8Array
  private mode: "out" | "head" | "trailer" | "after-end" = "out"
  private started = false
  private ended = false
  private damage: string | undefined
  private value: string | undefined
  private readonly frame = new Bytes()
  private text: Uint8Array | undefined
  private frames = 0
  private bytes = 0
  private sum = 0
  private received = 0
  private pending: Uint8Array[] = []
  private pendingBytes = 0

  /**
   * @param lean The request brought the lean runtime (`LEAN_EXEC_RUNTIME`): no print frames,
   *   only the runtime's own (start, value, end), so a `\x1e` not followed by the nonce is output.
   */
  constructor(
    nonce: string,
    private readonly maxFrameBytes = 16 * 1024 * 1024,
    private readonly lean = false,
  ) {
    this.nonce = utf8.encode(nonce)
  }

  /** Output ready to hand on, in order; taken once. */
  take(): Uint8Array[] {
    const out = this.pending
    this.pending = []
    this.pendingBytes = 0
    return out
  }

  /** Bytes of output waiting in {@link take}. */
  get waiting(): number {
    return this.pendingBytes
  }

  /** Output bytes handed on or waiting so far (checked text after unescaping, plus unchecked). */
  get outputBytes(): number {
    return this.received
  }

  /** True once the end frame came: the board restored its `print`. */
  get hasEnded(): boolean {
    return this.ended
  }

  /** True once the start frame came: the code ran (or started to). */
  get hasStarted(): boolean {
    return this.started
  }

  verdict(): CheckedReplyVerdict {
    let damage = this.damage
    // (The end frame's totals were compared with what arrived checked when it came.)
    if (damage === undefined && this.started && !this.ended) damage = "the end frame never came"
    return { started: this.started, damage, value: this.value }
  }

  /** Hand on output from outside frames (not checked). */
  private emitUnchecked(view: Uint8Array, from: number, to: number): void {
    if (to <= from) return
    // Nothing is printed before the start frame: bytes there are the start frame, damaged. A
    // `\x1f` outside frames is a frame's end repeated or a frame's start lost (output written
    // around print holding one is taken for damage too: a false alarm, never a wrong text).
    if (!this.started) this.damaged("output before the start frame")
    else if (view.subarray(from, to).indexOf(US) >= 0) this.damaged("a frame marker outside a frame")
    this.emit(view, from, to)
  }

  private emit(view: Uint8Array, from: number, to: number): void {
    if (to <= from) return
    const part = view.slice(from, to)
    this.pending.push(part)
    this.pendingBytes += part.length
    this.received += part.length
  }

  private damaged(reason: string): void {
    if (this.damage === undefined) this.damage = reason
  }

  readonly scan = (view: Uint8Array): StdoutScan => {
    let i = 0
    while (i < view.length) {
      if (this.mode === "out" || this.mode === "after-end") {
        let j = i
        if (this.mode === "after-end") {
          // Only the \x04 that ends stdout comes after the end frame: anything else is damage.
          j = view.indexOf(EOT, i)
          if ((j < 0 ? view.length : j) > i) this.damaged("bytes after the end frame")
          if (j < 0) return { consumed: view.length, end: false }
          return { consumed: j, end: true }
        } else {
          while (j < view.length && view[j] !== RS && view[j] !== EOT) j++
          if (j === view.length) j = -1
        }
        if (j < 0) {
          this.emitUnchecked(view, i, view.length)
          return { consumed: view.length, end: false }
        }
        this.emitUnchecked(view, i, j)
        if (view[j] === RS) {
          this.mode = "head"
          this.frame.reset()
          i = j + 1
          continue
        }
        // A `\x04` outside frames. Before the start frame (the wrapper failed: nothing ran), it
        // ends stdout. After it, it is the code's own output, unless the end frame was lost and
        // this is the board's own end: `\x04`, a traceback or none, `\x04>`, then quiet.
        if (!this.started) return { consumed: j, end: true }
        const meaning = this.afterEot(view, j)
        if (meaning === "unknown") return { consumed: j, end: false }
        if (meaning === "end?") return { consumed: j, end: false, settleAfterMs: SETTLE_MS }
        this.emitUnchecked(view, j, j + 1)
        i = j + 1
        continue
      }
      // Inside a frame: up to the next `\x1f`. A raw `\x04` never occurs in one (it is escaped),
      // so it is the board's end of stdout, and the frame was cut short. Nor does a raw `\x1e`.
      // With the lean runtime (no print frames, prints arrive raw) one in a head shows that the
      // `\x1e` before it was the code's own output. With print frames it cannot be told from a
      // marker repeated on the link: damage (a false alarm for `sys.stdout.write("\x1e")`).
      let j = i
      while (j < view.length && view[j] !== US && view[j] !== EOT && view[j] !== RS) j++
      if (this.frame.length + (j - i) > this.maxFrameBytes) {
        this.damaged(`a frame longer than ${this.maxFrameBytes} bytes`)
        this.frame.reset()
        this.mode = "out"
        i = j
        continue
      }
      this.frame.push(view, i, j)
      if (j === view.length) return { consumed: view.length, end: false }
      if (view[j] === RS) {
        if (this.mode === "head" && this.lean) {
          const output = new Uint8Array(this.frame.length + 1)
          output[0] = RS
          output.set(this.frame.view(), 1)
          this.emitUnchecked(output, 0, output.length)
        } else this.damaged("a frame marker inside a frame")
        this.mode = "head"
        this.frame.reset()
        i = j + 1
        continue
      }
      if (view[j] === EOT) {
        this.damaged("a frame was cut short")
        this.mode = "out"
        this.frame.reset()
        return { consumed: j, end: true }
      }
      i = j + 1
      if (this.mode === "head") this.closeHead()
      else this.closeTrailer()
    }
    return { consumed: view.length, end: false }
  }

  /**
   * What a `\x04` at `at` in output (after the start frame, before the end frame) means, from what
   * follows it: the code's output when a frame or other bytes follow; perhaps the board's own end
   * (its end frame lost) when a traceback or nothing, `\x04` and the prompt follow ("end?": the
   * line staying quiet decides, see {@link SETTLE_MS}); undecided while more may come.
   */
  private afterEot(view: Uint8Array, at: number): "output" | "end?" | "unknown" {
    for (let k = at + 1; k < view.length; k++) {
      const b = view[k]
      if (b === RS) return "output"
      if (b === EOT) {
        if (k + 1 >= view.length) return k - at > HOLD_LIMIT ? "output" : "unknown"
        if (view[k + 1] !== GT) return "output"
        if (k + 2 < view.length) return "output"
        // Even after a traceback only quiet decides: the code may have written an imitation and
        // go on, and a chunk of output can end right there.
        return "end?"
      }
      if (k - at > HOLD_LIMIT) return "output"
    }
    return view.length - at > HOLD_LIMIT ? "output" : "unknown"
  }

  /** Nothing came after `\x04 ... \x04>` for a while: that was the board's end. */
  readonly settle = (view: Uint8Array): StdoutScan => {
    const at = view.indexOf(EOT)
    if (at < 0) return { consumed: 0, end: false }
    this.damaged("the reply ended without its end frame")
    return { consumed: at, end: true }
  }

  private isNonceFrame(head: Uint8Array): boolean {
    if (head.length <= this.nonce.length) return false
    for (let i = 0; i < this.nonce.length; i++) if (head[i] !== this.nonce[i]) return false
    return true
  }

  private closeHead(): void {
    const head = this.frame.view()
    if (this.isNonceFrame(head)) {
      const kind = head[this.nonce.length]
      const rest = latin1.decode(head.subarray(this.nonce.length + 1))
      this.mode = "out"
      if (kind === 0x53 /* S */) {
        if (this.started || rest.length > 0) this.damaged("a second start frame")
        this.started = true
      } else if (kind === 0x56 /* V */) this.closeValue(head.subarray(this.nonce.length + 1))
      else if (kind === 0x45 /* E */) {
        const totals = decimals(rest, 3)
        if (!this.started) this.damaged("an end frame without a start frame")
        else if (totals === undefined || rest !== totals.join(":")) this.damaged("the end frame is malformed")
        else if (totals[0] !== this.frames || totals[1] !== this.bytes || totals[2] !== this.sum)
          this.damaged(
            `the board printed ${totals[0]} frames of ${totals[1]} bytes, ${this.frames} frames of ${this.bytes} bytes arrived checked`,
          )
        this.ended = true
        this.mode = "after-end"
      } else this.damaged("a frame of unknown kind")
      this.frame.reset()
      return
    }
    if (!this.started || this.ended) {
      this.damaged("a print frame outside the code's run")
      this.frame.reset()
      this.mode = "out"
      return
    }
    this.text = head.slice()
    this.frame.reset()
    this.mode = "trailer"
  }

  private closeTrailer(): void {
    this.mode = "out"
    const trailer = latin1.decode(this.frame.view())
    this.frame.reset()
    const escaped = this.text ?? new Uint8Array(0)
    this.text = undefined
    const check = decimals(trailer, 2)
    const text = unescapeFrameText(escaped)
    if (check === undefined || trailer !== check.join(":") || text === undefined) {
      this.damaged("a print frame is malformed")
      return
    }
    const sum = byteSum(text) & 0xffff
    if (text.length !== check[0] || sum !== check[1]) {
      this.damaged(
        `a print frame failed its check (${text.length}:${sum} received, ${check[0]}:${check[1]} sent)`,
      )
      return
    }
    this.frames++
    this.bytes += text.length
    this.sum = (this.sum + sum) & 0xffff
    this.emit(text, 0, text.length)
  }

  private closeValue(body: Uint8Array): void {
    // <bytes>:<sum16>:<repr>
    const first = body.indexOf(0x3a)
    const second = first < 0 ? -1 : body.indexOf(0x3a, first + 1)
    const check = second < 0 ? undefined : decimals(latin1.decode(body.subarray(0, second)), 2)
    if (check === undefined) {
      this.damaged("the value frame is malformed")
      return
    }
    const repr = body.subarray(second + 1)
    const sum = byteSum(repr) & 0xffff
    if (repr.length !== check[0] || sum !== check[1]) {
      this.damaged(
        `the value failed its check (${repr.length}:${sum} received, ${check[0]}:${check[1]} sent)`,
      )
      return
    }
    const text = new TextDecoder("utf-8", { fatal: true })
    try {
      this.value = text.decode(repr)
    } catch {
      this.damaged("the value is not UTF-8")
    }
  }
}

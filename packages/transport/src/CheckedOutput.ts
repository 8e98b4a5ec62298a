/**
 * Checked plain exchanges: `exec`, `eval` and `execStream` whose request and reply are both
 * checked end to end, so a damaged byte on the link becomes a typed error or a resend, never
 * altered code run on the board or a wrong value or altered text given to the caller.
 *
 * Threat model. Bytes on the link can be dropped, repeated or changed (a noisy UART, a small
 * board's FIFO overrun), in either direction, and the code itself, or what it prints, may hold
 * the protocol's own control bytes (`\x04`, which ends stdout, `\x03`, which interrupts). The raw
 * REPL has no check of its own: a flipped digit in a printed list reads as another list.
 *
 * How. The code travels as a string literal, checked on the board (length and UTF-8 byte sum)
 * before any of it runs, by a small runtime deployed once per board boot (`_belay_e1`, see
 * {@link EXEC_RUNTIME}; about 35 bytes of request around the code), which frames the reply:
 *
 *     \x1e<nonce>S\x1f                       the code starts (after the request check passed)
 *     \x1e<text>\x1f<bytes>:<sum16>\x1f      one call of print(), checked; text escaped
 *     \x1e<nonce>V<bytes>:<sum16>:<repr>\x1f  eval's value
 *     \x1e<nonce>E<frames>:<bytes>:<sum16>\x1f  the end: what print() wrote in all
 *
 * While the code runs, `builtins.print` is a counting print: every `print()` call (in the code,
 * in functions it defines, in modules it imports) is sent as one frame with its byte count and
 * 16-bit byte sum; inside it `\x10 \x04 \n \x1e \x1f` are escaped as `\x10` + the byte + 0x40,
 * so no frame holds a raw `\x04` and line ends are not rewritten by the board's terminal (`\n`
 * to `\r\n`).
 *
 * Small boards. The runtime costs about 1 KB of heap and, with the counting print, two call
 * levels. A board with fewer than 16 levels of stack (the micro:bit has about 5) or without
 * raw-paste (firmware before 1.14) keeps none: each request brings {@link LEAN_EXEC_RUNTIME}
 * (start, value and end frames only) inside its checked literal, run at the top level (one call
 * level), and deletes it after. Print output there comes unchecked; the request, eval's value
 * and the end of the reply stay checked.
 * The host checks each frame, then the end frame's totals (a frame lost whole). Output
 * written another way (`sys.stdout.write`, a C module) arrives between frames, delivered as it
 * came but not checked; a `\x04` in it no longer ends the reply early, because the reply ends
 * only after the end frame, whose nonce the code cannot know in advance. A frame marker
 * (`\x1e`, `\x1f`) written that way while print frames are in use reads as damage (a false
 * alarm, never a changed text); with the lean runtime, whose prints all arrive that way, a `\x1e`
 * is output unless the nonce follows it.
 *
 * What one damaged byte can do: in a request, make the check fail (nothing ran: sent again) or
 * break the wrapper (a SyntaxError or NameError before the start frame: nothing ran, sent
 * again); in a frame, fail its check ({@link OutputDamagedError}: the code ran, its output or
 * value is not believed); in a marker, cut a frame short or hide it (the totals differ: the
 * same error). A frame can pass its check with two or more damaged bytes whose changes cancel;
 * uncounted output and the traceback text are not checked (the exception's presence is).
 *
 * Cost: the runtime (about 1.3 KB sent once per boot, about 1 KB of the board's heap), then
 * per call about 35 bytes around the code (about 500 with the lean runtime), per `print()` call
 * 6 to 12 bytes of frame, and about 40 bytes of start and end frames. `integrity.bench.ts` in
 * `@belay/virtual-device` measures times and bytes with and without.
 */
import { PythonError } from "./errors.js"
import { toPythonLiteral } from "./PythonLiteral.js"

const RS = 0x1e
const US = 0x1f
const DLE = 0x10
const EOT = 0x04
const GT = 0x3e

/** Name of the board-side runtime of checked exchanges. */
export const EXEC_RUNTIME_NAME = "_belay_e1"

/**
 * Python defining `_belay_e1(nonce, mode, value=None)`: mode 1 starts a checked exchange (the
 * start frame, the counting print), 3 sends eval's value, 0 ends it (print restored, the end
 * frame), 2 only restores print (after an interrupted exchange). Deployed once per board boot
 * with a checked request; it keeps the original `print` and the counts in a closure, not in
 * globals.
 */
export const EXEC_RUNTIME = `def _belay_m():
 import builtins as B
 try:${EXEC_RUNTIME_NAME}('',2)
 except:pass
 P=B.print;c=[0,0,0,0]
 def d(n):
  if n>15:return n
  try:return d(n+1)
  except RuntimeError:return n
 w=d(0)>15
 def _belay_print(*a,sep=' ',end='\\n',file=None):
  if file is not None:return P(*a,sep=sep,end=end,file=file)
  t=(' ' if sep is None else sep).join(map(str,a))+('\\n' if end is None else end)
  b=bytes(t,'utf8');l=len(b);u=sum(b)&65535
  c[0]+=1;c[1]+=l;c[2]=(c[2]+u)&65535
  for x in '\\x10\\x04\\n\\x1e\\x1f':
   if x in t:t=t.replace(x,'\\x10'+chr(ord(x)+64))
  P('\\x1e',t,'\\x1f',l,':',u,sep='',end='\\x1f')
 def _belay_step(k,m,v=None,s=None):
  if type(m) is str:
   if len(m)!=v or sum(bytes(m,'utf8'))!=s:raise NameError('_belay_request_damaged')
   _belay_step(k,1)
   try:
    if m[0]=='v':_belay_step(k,3,eval(m[1:]))
    else:exec(m[1:])
   finally:_belay_step(k,0)
   return
  if m==1:
   c[0]=c[1]=c[2]=0;c[3]=1;P('\\x1e',k,'S',sep='',end='\\x1f')
   if w:B.print=_belay_print
   return
  if m==3:
   r=repr(v);b=bytes(r,'utf8');P('\\x1e',k,'V',len(b),':',sum(b)&65535,':',r,sep='',end='\\x1f')
   return
  B.print=P
  if m==0 and c[3]:P('\\x1e',k,'E',c[0],':',c[1],':',c[2],sep='',end='\\x1f')
  c[3]=0
 return _belay_step,w
${EXEC_RUNTIME_NAME},_belay_w=_belay_m()
del _belay_m
if not _belay_w:del ${EXEC_RUNTIME_NAME}
print('deep' if _belay_w else 'shallow')
del _belay_w
`

/**
 * Python answering `deep` when the board's stack holds 16 call levels to spare for the counting
 * print, else `shallow`: asked before the runtime is sent, so a small board is not sent 1.3 KB it
 * would not keep. Words, not digits: no single damaged byte turns one answer into the other.
 */
export const STACK_DEPTH_PROBE = `def _belay_d(n):
 if n>15:return n
 try:return _belay_d(n+1)
 except RuntimeError:return n
print('deep' if _belay_d(0)>15 else 'shallow')
del _belay_d
`

/**
 * The runtime for a board with no stack to spare for the counting print (see {@link
 * EXEC_RUNTIME}, which removes itself there and answers 0): start, value and end frames only,
 * defined by each request and deleted at its end, so it holds none of a small board's heap
 * between calls. A default argument keeps whether the code started.
 */
export const LEAN_EXEC_RUNTIME = `def ${EXEC_RUNTIME_NAME}(k,m,v=None,s=[0]):
 if m==1:s[0]=1;print('\\x1e',k,'S',sep='',end='\\x1f')
 elif m==3:r=repr(v);b=bytes(r,'utf8');print('\\x1e',k,'V',len(b),':',sum(b)&65535,':',r,sep='',end='\\x1f')
 elif s[0]:s[0]=0;print('\\x1e',k,'E0:0:0',sep='',end='\\x1f')
`

const NONCE_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
/**
 * 12 characters: MicroPython interns string literals of up to 10 characters for good, so a
 * shorter nonce would leak a little of a small board's RAM on every call.
 */
const NONCE_LENGTH = 12

/** A fresh nonce for one checked exchange: 12 characters of `[a-z0-9]`. */
export const newExchangeNonce = (): string => {
  let out = ""
  for (let i = 0; i < NONCE_LENGTH; i++) out += NONCE_ALPHABET[Math.floor(Math.random() * 36)]
  return out
}

const utf8 = new TextEncoder()

/** Length in characters and UTF-8 byte sum of `code`, as the board computes them. */
const checkOf = (code: string): { readonly length: number; readonly sum: number } => {
  const bytes = utf8.encode(code)
  let sum = 0
  for (let i = 0; i < bytes.length; i++) sum += bytes[i]!
  return { length: [...code].length, sum }
}

/**
 * The start frame is sent by the checked code itself, from its first line: so it comes only
 * once every part of the wrapper before the code has run intact, and a damaged wrapper fails
 * before it (nothing ran: sent again). The code's own lines are one further down; tracebacks
 * are read back (see {@link fromCheckedExchange}).
 */
/** A checked request, and the line of the checked literal where the caller's code starts. */
export interface CheckedRequestText {
  readonly request: string
  /** Line of the caller's first line in the checked literal (tracebacks are read back from it). */
  readonly codeLine: number
}

/**
 * A checked exec or eval. With the lean runtime (a board that keeps none), its definition travels
 * inside the checked literal, so a damaged byte in it runs nothing either; eval then runs as an
 * exec whose code sends the value frame itself.
 */
export const buildCheckedRequest = (
  kind: "exec" | "eval",
  code: string,
  nonce: string,
  lean = false,
): CheckedRequestText => {
  if (!lean) {
    // The short form: the deployed runtime checks the code, sends the frames and runs it (one
    // call level deeper than the top-level form: boards that keep the runtime have levels to
    // spare). The kind travels as the code's first character, inside the check.
    const quoted = `${kind === "exec" ? "x" : "v"}${code}`
    const { length, sum } = checkOf(quoted)
    return {
      request: `${EXEC_RUNTIME_NAME}('${nonce}',${toPythonLiteral(quoted)},${length},${sum})\n`,
      codeLine: 1,
    }
  }
  // The lean form, at the top level: the runtime's definition and the start line travel inside
  // the checked literal; eval runs as an exec whose code sends the value frame itself.
  const start = `${EXEC_RUNTIME_NAME}('${nonce}',1)`
  const body = kind === "exec" ? code : `${EXEC_RUNTIME_NAME}('${nonce}',3,(\n${code}\n))`
  const quoted = `${LEAN_EXEC_RUNTIME}${start}\n${body}`
  // Lines before the caller's code: the lean runtime's, the start line, eval's value line.
  const codeLine = LEAN_EXEC_RUNTIME.split("\n").length - 1 + 2 + (kind === "eval" ? 1 : 0)
  const { length, sum } = checkOf(quoted)
  const q = "_belay_q"
  // `exec(x[0])`, not `exec(*x)`: on MicroPython 1.9 a call with a starred argument costs one
  // more call level of the few a micro:bit has.
  const checked = `exec(([${q} for ${q} in [${toPythonLiteral(quoted)}] if len(${q})==${length} and sum(bytes(${q},'utf-8'))==${sum}] or [_belay_request_damaged])[0])`
  const end = `${EXEC_RUNTIME_NAME}('${nonce}',0)`
  // The runtime exists only if the checked code ran: the end frame and the deletion only then.
  const request = `try:\n ${checked}\nfinally:\n if '${EXEC_RUNTIME_NAME}' in globals():${end};del ${EXEC_RUNTIME_NAME}\n`
  return { request, codeLine }
}

const request = (kind: "exec" | "eval", code: string, nonce: string, lean = false): string =>
  buildCheckedRequest(kind, code, nonce, lean).request

/** Options of a checked request. */
export interface CheckedRequestOptions {
  /** Bring {@link LEAN_EXEC_RUNTIME} along (a board that does not keep {@link EXEC_RUNTIME}). */
  readonly lean?: boolean
}

/**
 * The request that runs `code` checked (see the module comment); {@link EXEC_RUNTIME} must be
 * deployed.
 *
 * @example
 * checkedExecRequest("print(1)", "k3x9a0b1c2d4")
 * // _belay_e1('k3x9a0b1c2d4','xprint(1)',9,807)
 * checkedExecRequest("print(1)", "k3x9a0b1c2d4", { lean: true })
 * // try:
 * //  exec(([_belay_q for _belay_q in ['def _belay_e1(k,m,v=None,s=[0]):\n ...\n_belay_e1(\'k3x9a0b1c2d4\',1)\nprint(1)'] if len(_belay_q)==... and sum(bytes(_belay_q,'utf-8'))==...] or [_belay_request_damaged])[0])
 * // finally:
 * //  if '_belay_e1' in globals():_belay_e1('k3x9a0b1c2d4',0);del _belay_e1
 */
export const checkedExecRequest = (code: string, nonce: string, options?: CheckedRequestOptions): string =>
  request("exec", code, nonce, options?.lean === true)

/**
 * The request that evaluates `expression` checked and sends its `repr()` in a value frame.
 *
 * @example
 * checkedEvalRequest("1+1", "k3x9a0b1c2d4")
 * // _belay_e1('k3x9a0b1c2d4','v1+1',4,259)
 */
export const checkedEvalRequest = (
  expression: string,
  nonce: string,
  options?: CheckedRequestOptions,
): string => request("eval", expression, nonce, options?.lean === true)

/** Restores the board's `print` after a checked exchange that was cut off (interrupted, timed out). */
export const RESTORE_PRINT_REQUEST = `${EXEC_RUNTIME_NAME}('',2)\n`

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
   * @param lean The request brought {@link LEAN_EXEC_RUNTIME}: no print frames, only the
   *   runtime's own (start, value, end), so a `\x1e` not followed by the nonce is output.
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

const WRAPPER_FRAME =
  /^ *File "<stdin>", line \d+(?:, in .*)?\r?$|^ *File "<string>", line \d+, in _belay_(?:print|step|e1)\r?$/
const CODE_FRAME = /^( *File "<string>", line )(\d+)/

/**
 * The `PythonError` of a checked exchange's code as if the code had been sent plainly: the
 * wrapper's frames removed, the code's frames named `<stdin>`, their lines counted from the
 * code's first line.
 *
 * @example
 * fromCheckedExchange(error).traceback
 * // Traceback (most recent call last):
 * //   File "<stdin>", line 3, in <module>
 * // ZeroDivisionError: divide by zero
 */
export const fromCheckedExchange = (error: PythonError, codeLine = 2): PythonError => {
  const lines = error.traceback
    .split("\n")
    .filter((line) => !WRAPPER_FRAME.test(line))
    .map((line) =>
      line.replace(
        CODE_FRAME,
        (_, head: string, n: string) => `${head}${Math.max(1, Number(n) - (codeLine - 1))}`,
      ),
    )
  return new PythonError({
    exceptionType: error.exceptionType,
    pythonMessage: error.pythonMessage,
    traceback: lines.join("\n").replaceAll('File "<string>"', 'File "<stdin>"'),
    stdout: error.stdout,
  })
}

/**
 * True when a failure before the start frame came from the checked code itself (it passed its
 * check and was compiled or started: a frame of `<string>`), not from a damaged wrapper.
 */
export const isCodeFailure = (error: PythonError): boolean => error.traceback.includes('File "<string>"')

/**
 * The wire format of a mounted host folder (the board side is `python/mount_vfs.py`): requests the
 * board's VFS writes into its output, found and checked by {@link RequestScanner}; replies the host
 * writes to the board's stdin, built by {@link encodeReply}.
 *
 * Request: `\x18` nonce seq(2 hex) op len(hex) `:` sum(hex) `:` body `\x17`. The body is escaped
 * ({@link unescapeFromBoard}) so that no byte the link or the checked reply reader treats specially
 * (`\x04 \n \r \x17 \x18 \x1e \x1f`) appears raw; `len` and `sum` (16 bits) are of the escaped body.
 *
 * Reply: `\x18` nonce seq(2 hex) status len(6 hex) sum(4 hex) headersum(2 hex), the escaped payload
 * (`\x03`, which would interrupt the code, `\x10`, `\x18` and `;` escaped) and `;`. A board that
 * finds a reply's header damaged skips to its `;`. Status `K` (done),
 * `E` (an error: `<errno name> <number>`), `D` (the request arrived damaged: send it again).
 *
 * What one damaged byte does: in a request, a check fails (the host answers `D`) or the marker is
 * missed (the bytes reach the output, see {@link RequestScanner}); in a reply, the board's check
 * fails and it sends the request again, which the host answers without doing it twice (see
 * `MountServer.ts`). Never wrong file contents.
 */

const MARK = 0x18
const END = 0x17
const DLE = 0x10

/** Bytes escaped in a request's body (board to host). */
const FROM_BOARD = new Set([0x04, 0x0a, 0x0d, END, MARK, 0x1e, 0x1f])
/** Bytes escaped in a reply's payload (host to board): `;` ends a reply, and only that. */
const TO_BOARD = new Set([0x03, DLE, MARK, 0x3b])

/** One request, checked, its body unescaped. */
export interface MountRequest {
  readonly seq: string
  readonly op: string
  readonly body: Uint8Array
  /** The escaped body as it came (to tell a request sent again from a new one). */
  readonly raw: string
}

/** What the scanner found in a stretch of output. */
export type ScanItem =
  | { readonly _tag: "output"; readonly bytes: Uint8Array }
  | { readonly _tag: "request"; readonly request: MountRequest }
  | { readonly _tag: "damaged"; readonly seq: string | undefined }

const latin1 = new TextDecoder("latin1")
const ascii = new TextEncoder()

const sum16 = (bytes: Uint8Array): number => {
  let sum = 0
  for (let i = 0; i < bytes.length; i++) sum += bytes[i]!
  return sum & 0xffff
}

/** Undo the board's escapes (`\x10` + byte + 0x40); undefined for an escape it never writes. */
export const unescapeFromBoard = (escaped: Uint8Array): Uint8Array | undefined => {
  if (escaped.indexOf(DLE) < 0) return escaped
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
    if (original !== DLE && !FROM_BOARD.has(original)) return undefined
    out[n++] = original
  }
  return out.subarray(0, n)
}

/**
 * How many of `data`'s bytes fit in `room` bytes once escaped for the board, and the escaped size.
 */
export const escapedFit = (
  data: Uint8Array,
  room: number,
): { readonly take: number; readonly size: number } => {
  let size = 0
  let take = 0
  for (; take < data.length; take++) {
    const cost = TO_BOARD.has(data[take]!) ? 2 : 1
    if (size + cost > room) break
    size += cost
  }
  return { take, size }
}

/** The reply to one request, as the board reads it from stdin. */
export const encodeReply = (
  nonce: string,
  seq: string,
  status: "K" | "E" | "D",
  payload: Uint8Array,
): Uint8Array => {
  const { size } = escapedFit(payload, Number.POSITIVE_INFINITY)
  const body = new Uint8Array(size + 1)
  let n = 0
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i]!
    if (TO_BOARD.has(b)) {
      body[n++] = DLE
      body[n++] = b + 0x40
    } else body[n++] = b
  }
  const check = sum16(body.subarray(0, n))
  body[n] = 0x3b // ';'
  const fields = `${nonce}${seq}${status}${size.toString(16).padStart(6, "0")}${check.toString(16).padStart(4, "0")}`
  const head = ascii.encode(fields)
  const headerSum = sum16(head) & 0xff
  const out = new Uint8Array(1 + head.length + 2 + body.length)
  out[0] = MARK
  out.set(head, 1)
  out.set(ascii.encode(headerSum.toString(16).padStart(2, "0")), 1 + head.length)
  out.set(body, 3 + head.length)
  return out
}

/** The longest request body taken (a write's chunk, escaped, and a path); longer is damage. */
const MAX_REQUEST_BYTES = 1024 * 1024

const REQUEST_HEAD = /^([0-9a-f]{2})([a-z])([0-9a-f]+):([0-9a-f]+):/

/**
 * Finds the board's requests in its output, in order, across chunks: the bytes before, between and
 * after them are output. A `\x18` at the end of a chunk, with fewer bytes after it than the nonce,
 * is held back until the next chunk (or {@link flush}) tells. A `\x17` outside a request, after
 * the nonce with one byte changed, is a request whose marker or nonce was damaged: reported as
 * damage, so that the board, which waits for a reply, sends it again.
 */
export class RequestScanner {
  private readonly nonce: Uint8Array
  private held: Uint8Array = new Uint8Array(0)
  private frame: true | undefined
  private frameBytes: Uint8Array[] = []
  private frameLength = 0
  /** The frame's length up to its end marker, once its head has been read. */
  private frameEnd: number | undefined

  constructor(nonce: string) {
    this.nonce = ascii.encode(nonce)
  }

  /** The items in `chunk` (with what was held back before it). */
  scan(chunk: Uint8Array): ScanItem[] {
    const items: ScanItem[] = []
    let view = chunk
    if (this.held.length > 0) {
      const joined = new Uint8Array(this.held.length + chunk.length)
      joined.set(this.held)
      joined.set(chunk, this.held.length)
      view = joined
      this.held = new Uint8Array(0)
    }
    let i = 0
    let outFrom = 0
    const output = (to: number) => {
      if (to > outFrom) items.push({ _tag: "output", bytes: view.slice(outFrom, to) })
    }
    while (i < view.length) {
      if (this.frame !== undefined) {
        // Inside a request: up to its end, or a new marker (the board sent it again). Once its head
        // is read, no further than the length it gives: a damaged end marker must not keep the
        // scanner (and the board, which waits for the reply) waiting.
        let j = i
        const limit =
          this.frameEnd === undefined
            ? view.length
            : Math.min(view.length, i + this.frameEnd - this.frameLength)
        while (j < limit && view[j] !== END && view[j] !== MARK) j++
        this.frameBytes.push(view.slice(i, j))
        this.frameLength += j - i
        if (this.frameEnd === undefined) this.frameEnd = this.readHead()
        if (
          this.frameEnd !== undefined &&
          this.frameLength >= this.frameEnd &&
          j < view.length &&
          view[j] !== END
        ) {
          // The body is complete and no end marker follows: damaged (what follows is output).
          items.push({ _tag: "damaged", seq: this.seqOfFrame() })
          this.endFrame()
          i = j
          outFrom = j
          continue
        }
        if (
          this.frameEnd !== undefined &&
          this.frameLength < this.frameEnd &&
          j === limit &&
          limit < view.length
        ) {
          // Stopped short by the head's length having been read just now: go on reading.
          i = j
          outFrom = j
          continue
        }
        if (this.frameLength > MAX_REQUEST_BYTES) {
          this.endFrame()
          items.push({ _tag: "damaged", seq: undefined })
          i = j
          outFrom = j
          continue
        }
        if (j === view.length) {
          i = j
          outFrom = j
          break
        }
        if (view[j] === MARK) {
          // A request cut short by the next one: the board sent it again.
          this.endFrame()
          i = j
          outFrom = j
          continue
        }
        items.push(this.closeFrame())
        i = j + 1
        outFrom = i
        continue
      }
      const at = view.indexOf(MARK, i)
      const stray = view.indexOf(END, i)
      if (stray >= 0 && (at < 0 || stray < at)) {
        // A request whose marker or nonce was damaged ends here: its text is not output.
        // Only then is it answered: other output (a binary download's) may hold a `\x17`.
        const start = this.damagedStart(view, outFrom, stray)
        output(start < 0 ? stray + 1 : start)
        outFrom = stray + 1
        if (start >= 0) items.push({ _tag: "damaged", seq: undefined })
        i = stray + 1
        continue
      }
      if (at < 0) break
      if (view.length - at - 1 < this.nonce.length) {
        // Too few bytes to tell: held back.
        output(at)
        this.held = view.slice(at)
        return items
      }
      let match = true
      for (let k = 0; k < this.nonce.length; k++)
        if (view[at + 1 + k] !== this.nonce[k]) {
          match = false
          break
        }
      if (!match) {
        i = at + 1
        continue
      }
      output(at)
      this.frame = true
      this.frameBytes = []
      this.frameLength = 0
      this.frameEnd = undefined
      i = at + 1 + this.nonce.length
      outFrom = i
    }
    if (this.frame === undefined) output(view.length)
    return items
  }

  /**
   * Where a request ending at `end` started, when its marker or one byte of its nonce was
   * damaged: the last place in `[from, end)` followed by the nonce with at most one byte changed
   * (-1 when there is none).
   */
  private damagedStart(view: Uint8Array, from: number, end: number): number {
    const n = this.nonce.length
    for (let p = end - n - 1; p >= Math.max(from, end - MAX_REQUEST_BYTES); p--) {
      let differ = 0
      for (let k = 0; k < n && differ < 2; k++) if (view[p + 1 + k] !== this.nonce[k]) differ++
      if (differ < 2) return p
    }
    return -1
  }

  /** The stream ended: what was held back is output. */
  flush(): Uint8Array {
    const rest = this.held
    this.held = new Uint8Array(0)
    this.endFrame()
    return rest
  }

  private endFrame(): void {
    this.frame = undefined
    this.frameBytes = []
    this.frameLength = 0
    this.frameEnd = undefined
  }

  private joined(): Uint8Array {
    if (this.frameBytes.length === 1) return this.frameBytes[0]!
    const whole = new Uint8Array(this.frameLength)
    let n = 0
    for (const part of this.frameBytes) {
      whole.set(part, n)
      n += part.length
    }
    this.frameBytes = [whole]
    return whole
  }

  /** The frame's length before its end marker, from its head, once the head has come whole. */
  private readHead(): number | undefined {
    if (this.frameLength < 6) return undefined
    const head = REQUEST_HEAD.exec(latin1.decode(this.joined().subarray(0, 24)))
    if (head === null) return undefined
    const length = Number.parseInt(head[3]!, 16)
    return length <= MAX_REQUEST_BYTES ? head[0].length + length : undefined
  }

  private seqOfFrame(): string | undefined {
    return /^[0-9a-f]{2}/.exec(latin1.decode(this.joined().subarray(0, 2)))?.[0]
  }

  private closeFrame(): ScanItem {
    const whole = this.joined()
    this.endFrame()
    // The head is ASCII: at most 2 + 1 + 8 + 1 + 4 + 1 bytes before the body.
    const headText = latin1.decode(whole.subarray(0, 24))
    const head = REQUEST_HEAD.exec(headText)
    if (head === null) return { _tag: "damaged", seq: /^[0-9a-f]{2}/.exec(headText)?.[0] }
    const [matched, seq, op, length, sum] = head as unknown as [string, string, string, string, string]
    const escaped = whole.subarray(matched.length)
    if (escaped.length !== Number.parseInt(length, 16) || sum16(escaped) !== Number.parseInt(sum, 16))
      return { _tag: "damaged", seq }
    const body = unescapeFromBoard(escaped)
    if (body === undefined) return { _tag: "damaged", seq }
    return { _tag: "request", request: { seq, op, body, raw: latin1.decode(escaped) } }
  }
}

/**
 * The telnet byte stream (RFC 854/855) as an RFC 2217 link needs it: data with 0xFF doubled,
 * option negotiation (WILL/WONT/DO/DONT), subnegotiations (`IAC SB … IAC SE`) and the other
 * two-byte commands. Pure: the decoder keeps its state between chunks, so a command split
 * across TCP segments at any byte decodes the same as a whole one.
 *
 * Binary mode is negotiated both ways, so the decoder does not treat CR specially (no CR NUL).
 */

/** Interpret As Command: starts every telnet command; doubled in data. */
export const IAC = 0xff
/** Ends a subnegotiation (after IAC). */
export const SE = 0xf0
/** Starts a subnegotiation (after IAC). */
export const SB = 0xfa
export const WILL = 0xfb
export const WONT = 0xfc
export const DO = 0xfd
export const DONT = 0xfe

/** The option verbs. */
export type TelnetVerb = typeof WILL | typeof WONT | typeof DO | typeof DONT

/** One telnet command taken out of the stream. */
export type TelnetCommand =
  | { readonly _tag: "Negotiation"; readonly verb: TelnetVerb; readonly option: number }
  /** The payload is unescaped (IAC IAC inside became one 0xFF). */
  | { readonly _tag: "Subnegotiation"; readonly option: number; readonly payload: Uint8Array }
  /** A two-byte command: NOP, GA, BRK, AYT and the like. */
  | { readonly _tag: "Command"; readonly code: number }

/** What one chunk decoded to, in stream order: data runs and commands. */
export type TelnetEvent = { readonly _tag: "Data"; readonly bytes: Uint8Array } | TelnetCommand

const isVerb = (byte: number): byte is TelnetVerb => byte >= WILL && byte <= DONT

/** Data to send: every 0xFF doubled. Returns `bytes` itself when it holds no 0xFF. */
export const encodeData = (bytes: Uint8Array): Uint8Array => {
  let count = 0
  for (const byte of bytes) if (byte === IAC) count++
  if (count === 0) return bytes
  const out = new Uint8Array(bytes.length + count)
  let at = 0
  for (const byte of bytes) {
    out[at++] = byte
    if (byte === IAC) out[at++] = IAC
  }
  return out
}

/** A command as bytes on the wire (a subnegotiation's payload gets its 0xFF doubled). */
export const encodeCommand = (command: TelnetCommand): Uint8Array => {
  switch (command._tag) {
    case "Negotiation":
      return Uint8Array.of(IAC, command.verb, command.option)
    case "Command":
      return Uint8Array.of(IAC, command.code)
    case "Subnegotiation": {
      const payload = encodeData(command.payload)
      const out = new Uint8Array(payload.length + 5)
      out.set([IAC, SB, command.option])
      out.set(payload, 3)
      out.set([IAC, SE], payload.length + 3)
      return out
    }
  }
}

/** Where the decoder is between two bytes. */
type DecoderState =
  | { readonly at: "Data" }
  | { readonly at: "Iac" }
  | { readonly at: "Option"; readonly verb: TelnetVerb }
  | { readonly at: "SubOption" }
  | { readonly at: "SubData"; readonly option: number; readonly iac: boolean }

/**
 * A telnet stream decoder: feed it chunks as they arrive, in order.
 *
 * @example
 * const decoder = new TelnetDecoder()
 * for (const event of decoder.feed(chunk)) if (event._tag === "Data") rx.push(event.bytes)
 */
export class TelnetDecoder {
  private state: DecoderState = { at: "Data" }
  private payload: number[] = []

  /** Decode one chunk into data runs and commands, in order; state carries over to the next chunk. */
  feed(chunk: Uint8Array): TelnetEvent[] {
    // The common case: plain data, nothing pending: handed on without a copy.
    if (this.state.at === "Data" && chunk.indexOf(IAC) < 0) {
      return chunk.length === 0 ? [] : [{ _tag: "Data", bytes: chunk }]
    }
    const events: TelnetEvent[] = []
    let runStart = 0
    const flush = (end: number) => {
      if (end > runStart) events.push({ _tag: "Data", bytes: chunk.subarray(runStart, end) })
    }
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number
      const state = this.state
      switch (state.at) {
        case "Data":
          if (byte === IAC) {
            flush(i)
            this.state = { at: "Iac" }
          }
          continue
        case "Iac":
          if (byte === IAC) {
            // An escaped 0xFF: data; the run restarts at this byte.
            runStart = i
            this.state = { at: "Data" }
            continue
          }
          if (isVerb(byte)) this.state = { at: "Option", verb: byte }
          else if (byte === SB) this.state = { at: "SubOption" }
          else {
            events.push({ _tag: "Command", code: byte })
            this.state = { at: "Data" }
          }
          break
        case "Option":
          events.push({ _tag: "Negotiation", verb: state.verb, option: byte })
          this.state = { at: "Data" }
          break
        case "SubOption":
          this.payload = []
          this.state = { at: "SubData", option: byte, iac: false }
          break
        case "SubData":
          if (!state.iac) {
            if (byte === IAC) this.state = { ...state, iac: true }
            else this.payload.push(byte)
          } else if (byte === IAC) {
            this.payload.push(IAC)
            this.state = { ...state, iac: false }
          } else if (byte === SE) {
            events.push({
              _tag: "Subnegotiation",
              option: state.option,
              payload: Uint8Array.from(this.payload),
            })
            this.payload = []
            this.state = { at: "Data" }
          } else {
            // IAC and something else inside a subnegotiation: a broken sender; keep both bytes.
            this.payload.push(IAC, byte)
            this.state = { ...state, iac: false }
          }
          break
      }
      runStart = i + 1
    }
    if (this.state.at === "Data") flush(chunk.length)
    return events
  }
}

import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  acknowledgedCommand,
  controlLineSettings,
  OPTION_BINARY,
  OPTION_COM_PORT,
  OPTION_SUPPRESS_GO_AHEAD,
  serialSettings,
  TelnetOptions,
} from "../src/rfc2217/Rfc2217Protocol.js"
import {
  DO,
  DONT,
  encodeCommand,
  encodeData,
  IAC,
  type TelnetCommand,
  TelnetDecoder,
  type TelnetEvent,
  WILL,
  WONT,
} from "../src/rfc2217/TelnetCodec.js"

const concat = (parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** Events with adjacent data runs merged and empty ones dropped: how a stream is compared. */
const normalise = (events: ReadonlyArray<TelnetEvent>) => {
  const out: Array<TelnetEvent | { _tag: "Data"; bytes: number[] }> = []
  for (const event of events) {
    if (event._tag !== "Data") {
      out.push(
        event._tag === "Subnegotiation" ? { ...event, payload: Uint8Array.from(event.payload) } : event,
      )
      continue
    }
    if (event.bytes.length === 0) continue
    const last = out.at(-1)
    if (last?._tag === "Data") (last.bytes as number[]).push(...event.bytes)
    else out.push({ _tag: "Data", bytes: [...event.bytes] })
  }
  return out
}

/** Bytes biased towards 0xFF and the telnet command codes, so that every escape is exercised. */
const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(IAC, 0xf0, 0xfa, WILL, DO, 0))
const bytes = fc.array(byte, { maxLength: 40 }).map((a) => Uint8Array.from(a))
const command: fc.Arbitrary<TelnetCommand> = fc.oneof(
  fc.record({
    _tag: fc.constant("Negotiation" as const),
    verb: fc.constantFrom(WILL, WONT, DO, DONT),
    option: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    _tag: fc.constant("Subnegotiation" as const),
    option: fc.integer({ min: 0, max: 255 }),
    payload: bytes,
  }),
  // Two-byte commands: anything but SB, the verbs and IAC itself (0xF0 SE alone is a command too).
  fc.record({ _tag: fc.constant("Command" as const), code: fc.integer({ min: 0xf0, max: 0xf9 }) }),
)
const event: fc.Arbitrary<TelnetEvent> = fc.oneof(
  bytes.map((b) => ({ _tag: "Data" as const, bytes: b })),
  command,
)

const encodeEvent = (e: TelnetEvent) => (e._tag === "Data" ? encodeData(e.bytes) : encodeCommand(e))

/** Cut `wire` at the given points (sorted, deduplicated) and decode the pieces in order. */
const decodeSplit = (wire: Uint8Array, cuts: ReadonlyArray<number>) => {
  const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b)
  const decoder = new TelnetDecoder()
  const events: TelnetEvent[] = []
  let from = 0
  for (const point of [...points, wire.length]) {
    // Copy each piece, as a socket hands over separate buffers.
    events.push(...decoder.feed(wire.slice(from, point)))
    from = point
  }
  return events
}

describe("the telnet codec", () => {
  it("any data and commands, encoded and cut anywhere, decode to the same data and commands in order", () => {
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (events, cuts) => {
          const wire = concat(events.map(encodeEvent))
          expect(normalise(decodeSplit(wire, cuts))).toEqual(normalise(events))
        },
      ),
      { numRuns: 2000 },
    )
  })

  it("plain bytes survive at every split point, one byte at a time too", () => {
    fc.assert(
      fc.property(bytes, (data) => {
        const wire = encodeData(data)
        const cuts = Array.from({ length: wire.length }, (_, i) => i)
        expect(normalise(decodeSplit(wire, cuts))).toEqual(normalise([{ _tag: "Data", bytes: data }]))
      }),
    )
  })

  it("0xFF is doubled on the way out, and data without it goes out unchanged (no copy)", () => {
    expect([...encodeData(Uint8Array.of(1, IAC, 2))]).toEqual([1, IAC, IAC, 2])
    const plain = Uint8Array.of(1, 2, 3)
    expect(encodeData(plain)).toBe(plain)
  })

  it("a subnegotiation split in the middle of an escaped 0xFF in its payload", () => {
    const decoder = new TelnetDecoder()
    expect(decoder.feed(Uint8Array.of(0x41, IAC, 0xfa, 44, 101, IAC))).toEqual([
      { _tag: "Data", bytes: Uint8Array.of(0x41) },
    ])
    expect(decoder.feed(Uint8Array.of(IAC, 7, IAC, 0xf0, 0x42))).toEqual([
      { _tag: "Subnegotiation", option: 44, payload: Uint8Array.of(101, IAC, 7) },
      { _tag: "Data", bytes: Uint8Array.of(0x42) },
    ])
  })
})

describe("the RFC 2217 option negotiation", () => {
  it("opens with WILL/DO binary and suppress-go-ahead and WILL COM-PORT-OPTION", () => {
    const options = new TelnetOptions()
    const opening = options.opening().map((c) => [...encodeCommand(c)])
    expect(opening).toEqual(
      expect.arrayContaining([
        [IAC, WILL, OPTION_BINARY],
        [IAC, DO, OPTION_BINARY],
        [IAC, WILL, OPTION_SUPPRESS_GO_AHEAD],
        [IAC, DO, OPTION_SUPPRESS_GO_AHEAD],
        [IAC, WILL, OPTION_COM_PORT],
      ]),
    )
    expect(opening).toHaveLength(5)
  })

  it("answers as ser2net expects: acknowledgements are not answered, unknown options are refused once", () => {
    const options = new TelnetOptions()
    options.opening()
    const answer = (verb: 0xfb | 0xfc | 0xfd | 0xfe, option: number) =>
      options.answer({ _tag: "Negotiation", verb, option }).map((c) => [...encodeCommand(c)])
    // What ser2net 4 sends first.
    expect(answer(WILL, OPTION_SUPPRESS_GO_AHEAD)).toEqual([])
    expect(answer(DO, OPTION_SUPPRESS_GO_AHEAD)).toEqual([])
    expect(answer(WILL, 1)).toEqual([[IAC, DONT, 1]]) // echo: refused
    expect(answer(WONT, 1)).toEqual([]) // its acknowledgement: no answer, no loop
    expect(answer(DO, OPTION_COM_PORT)).toEqual([])
    expect(options.comPortAccepted).toBe(true)
    // Asked again for what is on: nothing to say.
    expect(answer(DO, OPTION_SUPPRESS_GO_AHEAD)).toEqual([])
    // Agreed, then turned off by the server: acknowledged once.
    expect(answer(DO, OPTION_BINARY)).toEqual([])
    expect(answer(DONT, OPTION_BINARY)).toEqual([[IAC, WONT, OPTION_BINARY]])
    expect(answer(DONT, OPTION_BINARY)).toEqual([])
    // An option we never offered, asked for: refused.
    expect(answer(DO, 24)).toEqual([[IAC, WONT, 24]])
  })

  it("notices a server that refuses COM-PORT-OPTION", () => {
    const options = new TelnetOptions()
    options.opening()
    options.answer({ _tag: "Negotiation", verb: DONT, option: OPTION_COM_PORT })
    expect(options.comPortRefused).toBe(true)
    expect(options.comPortAccepted).toBe(false)
  })

  it("sets baud rate and 8N1 with the bytes RFC 2217 gives, and reads the server's answers", () => {
    const wire = serialSettings(115200).map((c) => [...encodeCommand(c)])
    expect(wire).toEqual([
      [IAC, 0xfa, 44, 1, 0x00, 0x01, 0xc2, 0x00, IAC, 0xf0],
      [IAC, 0xfa, 44, 2, 8, IAC, 0xf0],
      [IAC, 0xfa, 44, 3, 1, IAC, 0xf0],
      [IAC, 0xfa, 44, 4, 1, IAC, 0xf0],
    ])
    // A baud rate with a 0xFF byte in it is escaped inside the subnegotiation.
    expect([...encodeCommand(serialSettings(0xff)[0] as TelnetCommand)]).toEqual([
      IAC,
      0xfa,
      44,
      1,
      0,
      0,
      0,
      IAC,
      IAC,
      IAC,
      0xf0,
    ])
    expect(
      controlLineSettings({ dtr: false, rts: true }).map((c) => [...(c as { payload: Uint8Array }).payload]),
    ).toEqual([
      [5, 9],
      [5, 11],
    ])
    expect(controlLineSettings({ dtr: undefined, rts: undefined })).toEqual([])
    expect(
      acknowledgedCommand({ _tag: "Subnegotiation", option: 44, payload: Uint8Array.of(101, 0, 1, 0xc2, 0) }),
    ).toBe(1)
    expect(acknowledgedCommand({ _tag: "Subnegotiation", option: 44, payload: Uint8Array.of(1) })).toBe(
      undefined,
    )
    expect(acknowledgedCommand({ _tag: "Negotiation", verb: DO, option: 44 })).toBe(undefined)
  })
})

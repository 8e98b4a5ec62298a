import { toPythonLiteral } from "@belay/transport"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { checkFrame, encodeFrame, FrameSequence, splitFrames } from "../src/Framing.js"

const NONCE = "k3v9q0zz1a"
const utf8 = new TextEncoder()
/** The host decodes the board's bytes as the transport does: bytes that are not UTF-8 become U+FFFD. */
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** What the board prints for a task (one frame) or a generator (numbered frames, then the end). */
const boardStdout = (
  reprs: ReadonlyArray<string>,
  generator: boolean,
  prints: ReadonlyArray<string>,
): string => {
  let out = ""
  reprs.forEach((repr, i) => {
    out += (prints[i] ?? "") + encodeFrame(NONCE, String(i), repr).replace("\n", "\r\n")
  })
  if (generator) out += encodeFrame(NONCE, "e", String(reprs.length)).replace("\n", "\r\n")
  return out
}

/**
 * What the host takes from a stdout, by the rules of an exchange: the items when every frame
 * passed, the sequence ended (a generator) or held exactly one frame (a task); else undefined.
 */
const hostReads = (stdout: string, generator: boolean): ReadonlyArray<string> | undefined => {
  const sequence = new FrameSequence()
  const items: string[] = []
  for (const frame of splitFrames(stdout, NONCE).frames) {
    const accepted = sequence.accept(frame.text)
    if (Result.isFailure(accepted)) return undefined
    if (accepted.success !== undefined) items.push(accepted.success)
  }
  if (generator) return sequence.ended ? items : undefined
  return items.length === 1 && !sequence.ended ? items : undefined
}

type Fault =
  | { readonly kind: "drop"; readonly at: number }
  | { readonly kind: "duplicate"; readonly at: number }
  | { readonly kind: "corrupt"; readonly at: number; readonly byte: number }

const applyFault = (bytes: Uint8Array, fault: Fault): Uint8Array => {
  const at = fault.at % bytes.length
  const out = Array.from(bytes)
  if (fault.kind === "drop") out.splice(at, 1)
  else if (fault.kind === "duplicate") out.splice(at, 0, out[at]!)
  else out[at] = fault.byte === out[at] ? (fault.byte + 1) & 0xff : fault.byte
  return Uint8Array.from(out)
}

const fault: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("corrupt" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
)

/** Values whose reprs hold ASCII, 2-, 3- and 4-byte UTF-8, U+FFFD and quotes. */
const value: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.constantFrom("héllo 298343329", "\ufffd", "a\ufffdb", "\u{10000}", "\uEFFE'", "€", ""),
  fc.integer(),
  fc.array(fc.oneof(fc.integer({ min: -9, max: 99 }), fc.string({ unit: "grapheme", maxLength: 4 })), {
    maxLength: 4,
  }),
  fc.boolean(),
  fc.constant(null),
)

const prints = fc.array(
  fc.string({ maxLength: 8 }).map((s) => s.replace(/[\x1e\x1f]/g, "")),
  { maxLength: 4 },
)

describe("checked frames", () => {
  it("a frame read back unharmed gives the value's repr, U+FFFD and astral characters included (property)", () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 4 }), fc.boolean(), prints, (values, generator, noise) => {
        const reprs = values.map((v) => toPythonLiteral(v as never))
        const shown = generator ? reprs : reprs.slice(0, 1)
        if (!generator && shown.length === 0) return
        const stdout = boardStdout(shown, generator, noise)
        expect(hostReads(decode(utf8.encode(stdout)), generator)).toEqual(shown)
      }),
    )
  })

  it("one dropped, duplicated or corrupted byte anywhere in the reply never yields a different value (property)", () => {
    fc.assert(
      fc.property(
        fc.array(value, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        prints,
        fault,
        (values, generator, noise, f) => {
          const reprs = values.map((v) => toPythonLiteral(v as never))
          const shown = generator ? reprs : reprs.slice(0, 1)
          const damaged = decode(applyFault(utf8.encode(boardStdout(shown, generator, noise)), f))
          const read = hostReads(damaged, generator)
          // Refused, or exactly what the board sent (a fault in its prints, or one that leaves
          // the text as it was, like a duplicated CR).
          if (read !== undefined) expect(read).toEqual(shown)
        },
      ),
      { numRuns: 3000 },
    )
  })

  it("refuses a damaged byte that decodes to U+FFFD even when length and sum still match", () => {
    // U+EFFE is EE BF BE; with its lead byte turned into F0 the host decodes F0 BF BE as one
    // U+FFFD, EF BF BD: the same length and the same sum (619).
    const frame = encodeFrame(NONCE, "0", "'\uEFFE'")
    const bytes = utf8.encode(frame)
    const lead = bytes.indexOf(0xee)
    bytes[lead] = 0xf0
    const text = decode(bytes)
    expect(text).toContain("\ufffd")
    const damaged = splitFrames(text, NONCE).frames[0]!
    expect(checkFrame(damaged.text)).toMatchObject({ _tag: "Failure" })
  })

  it("a repr holding U+FFFD travels as its escaped UTF-8 bytes and comes back whole", () => {
    const frame = encodeFrame(NONCE, "0", "'a\ufffdb'")
    // ASCII only: escaped bytes, behind the `!` that no repr starts with.
    expect(frame).toMatch(new RegExp(`^\x1e${NONCE}0:\\d+:\\d+:!b'[\\x20-\\x7e]+'\n$`))
    const text = splitFrames(frame, NONCE).frames[0]!.text
    expect(checkFrame(text)).toEqual(Result.succeed({ tag: "0", repr: "'a\ufffdb'" }))
  })

  it("numbers generator items, and refuses a gap, a repeat, a wrong count and a frame after the end", () => {
    const frames = [0, 1, 2].map((i) => encodeFrame(NONCE, String(i), String(i * i)).slice(11, -1))
    const end = (n: number) => encodeFrame(NONCE, "e", String(n)).slice(11, -1)
    const read = (texts: string[]) => {
      const sequence = new FrameSequence()
      return texts.map((t) => sequence.accept(t)._tag)
    }
    expect(read([...frames, end(3)])).toEqual(["Success", "Success", "Success", "Success"])
    expect(read([frames[1]!])).toEqual(["Failure"])
    expect(read([frames[0]!, frames[0]!])).toEqual(["Success", "Failure"])
    expect(read([frames[0]!, end(2)])).toEqual(["Success", "Failure"])
    expect(read([frames[0]!, end(1), frames[1]!])).toEqual(["Success", "Success", "Failure"])
  })
})

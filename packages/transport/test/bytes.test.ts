import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { concatBytes, fromBase64, indexOfBytes, latin1String, toBase64 } from "../src/Bytes.js"

describe("concatBytes", () => {
  it("puts the parts one after another, strings as UTF-8 (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array(), fc.string())), (parts) => {
        const expected = Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : p)))
        expect(Buffer.from(concatBytes(parts)).equals(expected)).toBe(true)
      }),
    )
  })

  it("hands back a single byte part as it is, without a copy", () => {
    const part = Uint8Array.of(1, 2, 3)
    expect(concatBytes([part])).toBe(part)
    expect(concatBytes([])).toEqual(new Uint8Array(0))
  })
})

describe("base64, latin1 and search without Buffer", () => {
  it("toBase64 writes what Node's base64 writes, and fromBase64 reads it back (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = toBase64(bytes)
        expect(text).toBe(Buffer.from(bytes).toString("base64"))
        expect(fromBase64(text)).toEqual(bytes)
      }),
    )
  })

  it("fromBase64 reads damaged or unpadded text as Node does (property)", () => {
    const alphabet = fc.constantFrom(..."ABCabc0189+/-_=! \n\u00e9")
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 60 }), (text) => {
        expect(fromBase64(text)).toEqual(new Uint8Array(Buffer.from(text, "base64")))
      }),
    )
  })

  it("latin1String gives one character per byte, like Node's latin1 (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20_000 }), (bytes) => {
        expect(latin1String(bytes)).toBe(Buffer.from(bytes).toString("latin1"))
      }),
      { numRuns: 30 },
    )
  })

  it("indexOfBytes finds what Buffer.indexOf finds (property)", () => {
    const small = fc.uint8Array({ maxLength: 40 }).map((b) => b.map((x) => x % 3))
    fc.assert(
      fc.property(small, small, fc.nat(45), (haystack, needle, from) => {
        expect(indexOfBytes(haystack, needle, from)).toBe(
          Buffer.from(haystack).indexOf(Buffer.from(needle), from),
        )
      }),
    )
  })
})

import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { concatBytes } from "../src/Bytes.js"

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

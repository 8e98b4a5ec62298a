/** The lent link's token line, read byte by byte as a connection's first bytes arrive. */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { newLendToken, readTokenLine, tokenLine } from "../src/BoardLending.js"

describe("a lent link's token line", () => {
  it("is 32 hex digits and a line feed, new each time", () => {
    const a = newLendToken()
    expect(a).toMatch(/^[0-9a-f]{32}$/)
    expect(newLendToken()).not.toBe(a)
    expect(new TextDecoder().decode(tokenLine(a))).toBe(`${a}\n`)
  })

  it("waits for more on any prefix of the line, and accepts it whole with what came after", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 33 }), (after, cut) => {
        const token = newLendToken()
        const line = tokenLine(token)
        expect(readTokenLine(line.subarray(0, Math.min(cut, 32)), token)).toEqual({ kind: "more" })
        const whole = readTokenLine(new Uint8Array([...line, ...after]), token)
        expect(whole).toEqual({ kind: "accepted", rest: new Uint8Array(after) })
      }),
    )
  })

  it("refuses as soon as one byte differs from the line", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 32 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const token = newLendToken()
        const sent = new Uint8Array(tokenLine(token))
        sent[at] = (sent[at] as number) ^ flip
        expect(readTokenLine(sent.subarray(0, at + 1), token)).toEqual({ kind: "refused" })
        expect(readTokenLine(sent, token)).toEqual({ kind: "refused" })
      }),
    )
  })
})

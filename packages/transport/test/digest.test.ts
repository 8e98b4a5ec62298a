import { createHash } from "node:crypto"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { createDigest, type DigestAlgorithm, digestBytes } from "../src/Digest.js"

const ALGORITHMS: ReadonlyArray<DigestAlgorithm> = ["sha256", "sha1", "md5"]
const node = (algorithm: DigestAlgorithm, bytes: Uint8Array) =>
  createHash(algorithm).update(bytes).digest("hex")
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")

describe("digests without node:crypto", () => {
  it("known answers (FIPS 180 and RFC 1321 examples)", () => {
    expect(hex(digestBytes("sha256", "abc"))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    )
    expect(hex(digestBytes("sha1", "abc"))).toBe("a9993e364706816aba3e25717850c26c9cd0d89d")
    expect(hex(digestBytes("md5", "abc"))).toBe("900150983cd24fb0d6963f7d28e17f72")
    expect(hex(digestBytes("md5", ""))).toBe("d41d8cd98f00b204e9800998ecf8427e")
  })

  for (const algorithm of ALGORITHMS) {
    it(`${algorithm}: the digest Node computes, fed in any split (property)`, () => {
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 150 }), { maxLength: 6 }), (parts) => {
          const digest = createDigest(algorithm)
          for (const part of parts) digest.update(part)
          expect(hex(digest.digest())).toBe(node(algorithm, Buffer.concat(parts)))
        }),
      )
    })

    it(`${algorithm}: every length around the padding's block boundaries`, () => {
      for (let length = 0; length <= 200; length++) {
        const bytes = Uint8Array.from({ length }, (_, i) => (i * 7 + length) & 0xff)
        expect(hex(digestBytes(algorithm, bytes))).toBe(node(algorithm, bytes))
      }
    })
  }

  it("a digest is read once", () => {
    const digest = createDigest("sha256")
    digest.digest()
    expect(() => digest.update(new Uint8Array(1))).toThrow(/already read/)
    expect(() => digest.digest()).toThrow(/already read/)
  })
})

/**
 * SHA-256, SHA-1 and MD5 in plain TypeScript, incremental and synchronous (`@belay/transport/internal`).
 *
 * The host hashes what it sends (code hashes key deployments; file hashes verify transfers) with
 * the same function the board runs. Node's `crypto` would do it faster, but a browser has only
 * Web Crypto, which is asynchronous and not incremental: these run the same everywhere, and are
 * checked byte for byte against Node's in the tests. The three share the Merkle–Damgård frame
 * (64-byte blocks, the message length in the last 8 bytes of the padding); MD5 reads its words
 * and writes its length little-endian, the SHAs big-endian.
 */

/**
 * The digests this module computes.
 *
 * @example
 * const algorithm: DigestAlgorithm = "sha256"
 */
export type DigestAlgorithm = "sha256" | "sha1" | "md5"

/**
 * An incremental digest: feed bytes, then read the digest once.
 *
 * @example
 * const d = createDigest("sha256"); d.update(bytes); d.digest() // Uint8Array(32)
 */
export interface Digest {
  readonly update: (bytes: Uint8Array) => void
  readonly digest: () => Uint8Array
}

/** What differs between the three: the state, the block function, the byte order. */
interface Core {
  readonly state: Uint32Array
  readonly block: (state: Uint32Array, words: Uint32Array) => void
  readonly littleEndian: boolean
}

const SHA256_K = Uint32Array.of(
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
)

const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n))
const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n))

const sha256Block = (() => {
  const w = new Uint32Array(64)
  return (s: Uint32Array, words: Uint32Array) => {
    w.set(words)
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15]!
      const b = w[i - 2]!
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3)
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10)
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0
    }
    let a = s[0]!
    let b = s[1]!
    let c = s[2]!
    let d = s[3]!
    let e = s[4]!
    let f = s[5]!
    let g = s[6]!
    let h = s[7]!
    for (let i = 0; i < 64; i++) {
      const t1 =
        (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + SHA256_K[i]! + w[i]!) | 0
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0
      h = g
      g = f
      f = e
      e = (d + t1) | 0
      d = c
      c = b
      b = a
      a = (t1 + t2) | 0
    }
    s[0] = s[0]! + a
    s[1] = s[1]! + b
    s[2] = s[2]! + c
    s[3] = s[3]! + d
    s[4] = s[4]! + e
    s[5] = s[5]! + f
    s[6] = s[6]! + g
    s[7] = s[7]! + h
  }
})()

const sha1Block = (() => {
  const w = new Uint32Array(80)
  return (s: Uint32Array, words: Uint32Array) => {
    w.set(words)
    for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!, 1)
    let a = s[0]!
    let b = s[1]!
    let c = s[2]!
    let d = s[3]!
    let e = s[4]!
    for (let i = 0; i < 80; i++) {
      let f: number
      let k: number
      if (i < 20) {
        f = (b & c) | (~b & d)
        k = 0x5a827999
      } else if (i < 40) {
        f = b ^ c ^ d
        k = 0x6ed9eba1
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d)
        k = 0x8f1bbcdc
      } else {
        f = b ^ c ^ d
        k = 0xca62c1d6
      }
      const t = (rotl(a, 5) + f + e + k + w[i]!) | 0
      e = d
      d = c
      c = rotl(b, 30)
      b = a
      a = t
    }
    s[0] = s[0]! + a
    s[1] = s[1]! + b
    s[2] = s[2]! + c
    s[3] = s[3]! + d
    s[4] = s[4]! + e
  }
})()

const MD5_SHIFTS = Uint8Array.of(7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21)
const MD5_K = Uint32Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32))

const md5Block = (s: Uint32Array, m: Uint32Array) => {
  let a = s[0]!
  let b = s[1]!
  let c = s[2]!
  let d = s[3]!
  for (let i = 0; i < 64; i++) {
    const round = i >> 4
    let f: number
    let g: number
    if (round === 0) {
      f = (b & c) | (~b & d)
      g = i
    } else if (round === 1) {
      f = (d & b) | (~d & c)
      g = (5 * i + 1) & 15
    } else if (round === 2) {
      f = b ^ c ^ d
      g = (3 * i + 5) & 15
    } else {
      f = c ^ (b | ~d)
      g = (7 * i) & 15
    }
    const sum = (a + f + MD5_K[i]! + m[g]!) | 0
    a = d
    d = c
    c = b
    b = (b + rotl(sum, MD5_SHIFTS[(round << 2) | (i & 3)]!)) | 0
  }
  s[0] = s[0]! + a
  s[1] = s[1]! + b
  s[2] = s[2]! + c
  s[3] = s[3]! + d
}

const core = (algorithm: DigestAlgorithm): Core => {
  switch (algorithm) {
    case "sha256":
      return {
        state: Uint32Array.of(
          0x6a09e667,
          0xbb67ae85,
          0x3c6ef372,
          0xa54ff53a,
          0x510e527f,
          0x9b05688c,
          0x1f83d9ab,
          0x5be0cd19,
        ),
        block: sha256Block,
        littleEndian: false,
      }
    case "sha1":
      return {
        state: Uint32Array.of(0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0),
        block: sha1Block,
        littleEndian: false,
      }
    case "md5":
      return {
        state: Uint32Array.of(0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476),
        block: md5Block,
        littleEndian: true,
      }
  }
}

/**
 * A new incremental digest of `algorithm`. `digest()` ends it: feeding it afterwards throws.
 *
 * @example
 * const d = createDigest("sha1")
 * d.update(new TextEncoder().encode("abc"))
 * d.digest() // a9993e36…
 */
export const createDigest = (algorithm: DigestAlgorithm): Digest => {
  const { state, block, littleEndian } = core(algorithm)
  const buffer = new Uint8Array(64)
  const view = new DataView(buffer.buffer)
  const words = new Uint32Array(16)
  let buffered = 0
  let length = 0
  let done = false

  const compress = () => {
    for (let i = 0; i < 16; i++) words[i] = view.getUint32(i * 4, littleEndian)
    block(state, words)
  }

  const update = (bytes: Uint8Array) => {
    if (done) throw new Error("digest already read")
    length += bytes.length
    let at = 0
    while (at < bytes.length) {
      const take = Math.min(64 - buffered, bytes.length - at)
      buffer.set(bytes.subarray(at, at + take), buffered)
      buffered += take
      at += take
      if (buffered === 64) {
        compress()
        buffered = 0
      }
    }
  }

  const digest = () => {
    if (done) throw new Error("digest already read")
    const bits = length * 8
    buffer[buffered++] = 0x80
    if (buffered > 56) {
      buffer.fill(0, buffered)
      compress()
      buffered = 0
    }
    buffer.fill(0, buffered, 56)
    const high = Math.floor(bits / 2 ** 32)
    const low = bits >>> 0
    view.setUint32(littleEndian ? 56 : 60, low, littleEndian)
    view.setUint32(littleEndian ? 60 : 56, high, littleEndian)
    compress()
    done = true
    const out = new Uint8Array(state.length * 4)
    const outView = new DataView(out.buffer)
    for (let i = 0; i < state.length; i++) outView.setUint32(i * 4, state[i]!, littleEndian)
    return out
  }

  return { update, digest }
}

/**
 * The digest of `bytes` (a string is taken as UTF-8) in one call.
 *
 * @example
 * digestBytes("sha256", "") // e3b0c442…
 */
export const digestBytes = (algorithm: DigestAlgorithm, bytes: Uint8Array | string): Uint8Array => {
  const d = createDigest(algorithm)
  d.update(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes)
  return d.digest()
}

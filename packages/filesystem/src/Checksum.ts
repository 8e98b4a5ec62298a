import { createDigest } from "@belay/transport/internal"

/**
 * How file content is fingerprinted. The board computes it on its side: with `hashlib` where the
 * board has it (`sha256`, else `sha1`, else `md5`), otherwise `adler32` computed by a small Python
 * loop on the board (the micro:bit has no hashlib). Adler-32 catches the faults a serial link
 * makes (a lost, doubled or changed byte) together with the size check, but it is not a
 * cryptographic hash.
 *
 * @since 0.1.0
 */
export type HashAlgorithm = "sha256" | "sha1" | "md5" | "adler32"

/**
 * A file's fingerprint as the board computed it.
 *
 * @example
 * const { algorithm, digest, size } = yield* fs.hash("/main.py") // "sha256", "9f86d0…", 42
 *
 * @since 0.1.0
 */
export interface FileHash {
  readonly path: string
  readonly algorithm: HashAlgorithm
  /** Lowercase hex: 64 digits for sha256, 8 for adler32. */
  readonly digest: string
  readonly size: number
}

/** An incremental hash on the host, the same function the board runs. */
export interface Hasher {
  readonly update: (bytes: Uint8Array) => void
  readonly digest: () => string
}

const ADLER_MOD = 65521
// The largest run of bytes whose sums stay below 2^53 before a reduction is needed is far more
// than this; 5552 is the classic bound for 32-bit sums, kept for familiarity.
const ADLER_RUN = 5552

const adler32Hasher = (): Hasher => {
  let a = 1
  let b = 0
  return {
    update: (bytes) => {
      for (let at = 0; at < bytes.length; at += ADLER_RUN) {
        const end = Math.min(bytes.length, at + ADLER_RUN)
        for (let i = at; i < end; i++) {
          a += bytes[i]!
          b += a
        }
        a %= ADLER_MOD
        b %= ADLER_MOD
      }
    },
    digest: () => adlerHex(a, b),
  }
}

/** Adler-32 as 8 hex digits from its two sums. */
export const adlerHex = (a: number, b: number): string => (b * 65536 + a).toString(16).padStart(8, "0")

const digestHasher = (algorithm: "sha256" | "sha1" | "md5"): Hasher => {
  const digest = createDigest(algorithm)
  return { update: digest.update, digest: () => toHex(digest.digest()) }
}

/**
 * An incremental hasher for `algorithm`.
 *
 * @example
 * const h = createHasher("adler32"); h.update(new TextEncoder().encode("Wikipedia")); h.digest() // "11e60398"
 */
export const createHasher = (algorithm: HashAlgorithm): Hasher =>
  algorithm === "adler32" ? adler32Hasher() : digestHasher(algorithm)

/**
 * The digest of `bytes` as lowercase hex.
 *
 * @example
 * digestHex("sha256", new Uint8Array()) // "e3b0c442…"
 *
 * @since 0.1.0
 */
export const digestHex = (algorithm: HashAlgorithm, bytes: Uint8Array): string => {
  const hasher = createHasher(algorithm)
  hasher.update(bytes)
  return hasher.digest()
}

/** The best algorithm a board offers, from its capabilities' `hashAlgorithms`. */
export const chooseHashAlgorithm = (available: ReadonlyArray<string>): HashAlgorithm => {
  for (const candidate of ["sha256", "sha1", "md5"] as const)
    if (available.includes(candidate)) return candidate
  return "adler32"
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"))

/** Lowercase hex of bytes. */
export const toHex = (bytes: Uint8Array): string => {
  let out = ""
  for (const b of bytes) out += HEX[b]
  return out
}

/** Bytes from hex (even length, validated by the caller). */
export const fromHex = (hex: string): Uint8Array => {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

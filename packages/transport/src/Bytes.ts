/**
 * Byte helpers shared by the packages of this repository (`@belay/transport/internal`): plain
 * `Uint8Array`s, no `Buffer`, so that they run in a browser too.
 */

const utf8 = new TextEncoder()

/**
 * The parts one after another in one new array (the part itself when there is only one). Strings
 * are taken as UTF-8.
 *
 * @example
 * concatBytes([Uint8Array.of(1), "A"]) // Uint8Array [1, 65]
 */
export const concatBytes = (parts: ReadonlyArray<Uint8Array | string>): Uint8Array => {
  if (parts.length === 1 && typeof parts[0] !== "string") return parts[0]!
  const bytes = parts.map((part) => (typeof part === "string" ? utf8.encode(part) : part))
  let total = 0
  for (const part of bytes) total += part.length
  const out = new Uint8Array(total)
  let at = 0
  for (const part of bytes) {
    out.set(part, at)
    at += part.length
  }
  return out
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
const BASE64_VALUES = (() => {
  const values = new Int16Array(128).fill(-1)
  for (let i = 0; i < BASE64.length; i++) values[BASE64.charCodeAt(i)] = i
  // The URL-safe alphabet's two, read like Node's decoder does.
  values["-".charCodeAt(0)] = 62
  values["_".charCodeAt(0)] = 63
  return values
})()

/**
 * Bytes as standard base64, with padding.
 *
 * @example
 * toBase64(Uint8Array.of(0xfb, 0xff)) // "+/8="
 */
export const toBase64 = (bytes: Uint8Array): string => {
  let out = ""
  let chunk = ""
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    chunk += BASE64[n >> 18]! + BASE64[(n >> 12) & 63]! + BASE64[(n >> 6) & 63]! + BASE64[n & 63]!
    if (chunk.length >= 8192) {
      out += chunk
      chunk = ""
    }
  }
  const rest = bytes.length - i
  if (rest === 1) {
    const n = bytes[i]! << 16
    chunk += `${BASE64[n >> 18]!}${BASE64[(n >> 12) & 63]!}==`
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8)
    chunk += `${BASE64[n >> 18]!}${BASE64[(n >> 12) & 63]!}${BASE64[(n >> 6) & 63]!}=`
  }
  return out + chunk
}

/**
 * Bytes from base64, read as leniently as Node's `Buffer.from(text, "base64")`: characters
 * outside the alphabet are skipped, padding is optional, reading stops at the first `=`. A
 * transfer that decodes this way is still verified by its hash.
 *
 * @example
 * fromBase64("+/8=") // Uint8Array [251, 255]
 */
export const fromBase64 = (text: string): Uint8Array => {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4) + 3)
  let length = 0
  let bits = 0
  let count = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 61) break
    const value = code < 128 ? BASE64_VALUES[code]! : -1
    if (value < 0) continue
    bits = (bits << 6) | value
    count += 6
    if (count >= 8) {
      count -= 8
      out[length++] = (bits >> count) & 0xff
    }
  }
  return out.slice(0, length)
}

/**
 * Bytes as a string of one character per byte (ISO 8859-1), like Node's `latin1` encoding.
 * (`TextDecoder("latin1")` is Windows-1252, which differs in 0x80 to 0x9f.)
 *
 * @example
 * latin1String(Uint8Array.of(0x41, 0xe9)) // "Aé"
 */
export const latin1String = (bytes: Uint8Array): string => {
  let out = ""
  for (let at = 0; at < bytes.length; at += 8192)
    out += String.fromCharCode.apply(null, bytes.subarray(at, at + 8192) as unknown as number[])
  return out
}

/**
 * Where `needle` first occurs in `haystack` at or after `from`, or -1.
 *
 * @example
 * indexOfBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(2, 3)) // 1
 */
export const indexOfBytes = (haystack: Uint8Array, needle: Uint8Array, from = 0): number => {
  if (needle.length === 0) return Math.min(from, haystack.length)
  const first = needle[0]!
  const last = haystack.length - needle.length
  outer: for (
    let i = haystack.indexOf(first, from);
    i !== -1 && i <= last;
    i = haystack.indexOf(first, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

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

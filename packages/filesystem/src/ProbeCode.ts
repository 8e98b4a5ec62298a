/**
 * The per-board file-transfer probe: what the link and the board's stdout carry, the board's
 * errno numbers, its free heap, and what dead uploads left (helper in `python/probe.py`).
 * @internal
 */
import { type BoardDialect, nameOf, py } from "./BoardDialect.js"
import { PROBE, PROBE_TEMPORARIES, REGISTRY_ENTRIES } from "./python/embedded.js"

export const ERRNO_NAMES = [
  "ENOENT",
  "EEXIST",
  "ENOTDIR",
  "EISDIR",
  "ENOSPC",
  "ENOTEMPTY",
  "EACCES",
  "EROFS",
  "EINVAL",
  "EIO",
  "EBUSY",
] as const

/**
 * The per-board file-transfer probe (`python/probe.py`): does an 8-bit bytes literal arrive
 * intact (`raw`), the board's errno numbers, its free memory after a collection, and (with
 * `temporaries`) the temporary files in the root with the board's registry of uploads (`tmp`,
 * `reg`). `rawLiteral` is the bytes 0..255 in the `raw` encoding: the call's first argument.
 */
export const probeCode = (
  rawLiteral: Uint8Array,
  temporaries: Pick<BoardDialect, "flat"> | undefined,
): Uint8Array => {
  const enc = new TextEncoder()
  const helpers = [PROBE, ...(temporaries === undefined ? [] : [REGISTRY_ENTRIES, PROBE_TEMPORARIES])]
  const head = enc.encode(`${helpers.map((h) => h.code).join("")}try:${nameOf(PROBE)}(`)
  const listing = temporaries === undefined ? null : temporaries.flat ? [] : ["/"]
  const tail = enc.encode(
    `,${py([...ERRNO_NAMES])},${py(listing)})\nfinally:del ${helpers.flatMap((h) => h.defines).join(",")}\n`,
  )
  const out = new Uint8Array(head.length + rawLiteral.length + tail.length)
  out.set(head)
  out.set(rawLiteral, head.length)
  out.set(tail, head.length + rawLiteral.length)
  return out
}

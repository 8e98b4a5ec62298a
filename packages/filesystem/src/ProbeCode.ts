/**
 * The per-board file-transfer probe: what the link and the board's stdout carry, the board's
 * errno numbers, its free heap, and what dead uploads left (helper in `python/probe.py`).
 * @internal
 */
import { concatBytes } from "@belay/transport/internal"
import { type BoardDialect, nameOf, py } from "./BoardDialect.js"
import { PROBE, PROBE_TEMPORARIES, REGISTRY_ENTRIES } from "./python/embedded.js"
import { guardCode } from "./UploadCode.js"

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
 * `reg`). `rawLiteral` is the bytes 0..255 in the `raw` encoding, or `None` over a text-only link
 * (then the board sends no raw bytes and prints none).
 *
 * `"guarded"` (the default): the literal is assigned to `_bpr` by a first, plain statement (raw
 * bytes cannot travel inside the guard's string), and everything else is guarded (see
 * `guardCode`): it runs only if it arrived whole, and takes the literal back out of `_bpr`. A
 * damage to the first statement fails it before the guarded part (nothing ran) or leaves the
 * probe without its literal (`raw` false: the conservative answer). Unguarded, a damaged byte in
 * the helpers could still run, and answer wrong inside a correct frame (the registry of uploads
 * read empty: another host's live upload taken for dead and its files removed).
 * `"plain"`: the whole probe as it is, the literal its call's first argument: for a board whose
 * heap cannot compile the guarded form.
 */
export const probeCode = (
  rawLiteral: Uint8Array,
  temporaries: Pick<BoardDialect, "flat"> | undefined,
  form: "guarded" | "plain" = "guarded",
): Uint8Array => {
  const enc = new TextEncoder()
  const helpers = [PROBE, ...(temporaries === undefined ? [] : [REGISTRY_ENTRIES, PROBE_TEMPORARIES])]
  const listing = temporaries === undefined ? null : temporaries.flat ? [] : ["/"]
  const rest = `,${py([...ERRNO_NAMES])},${py(listing)})\nfinally:del ${helpers.flatMap((h) => h.defines).join(",")}\n`
  const definitions = helpers.map((h) => h.code).join("")
  if (form === "plain") {
    return concatBytes([enc.encode(`${definitions}try:${nameOf(PROBE)}(`), rawLiteral, enc.encode(rest)])
  }
  const guarded = guardCode(`${definitions}try:${nameOf(PROBE)}(globals().pop('${RAW_GLOBAL}',None)${rest}`)
  return concatBytes([enc.encode(`${RAW_GLOBAL}=`), rawLiteral, enc.encode(`\n${guarded}`)])
}

/** The global holding the probe's raw literal between its two parts (see {@link probeCode}). */
const RAW_GLOBAL = "_bpr"

/**
 * Requests of uploads (open, chunks, finish, commit, inspect, abort) and of the cleanup of the
 * temporary files uploads leave: the board's registry of uploads in flight (`_bf`) and the names
 * of temporary files. The transfer loops in this file need the running hash inline, so this
 * Python is still written here, short (the micro:bit parses it in a few KB of heap). About 450
 * lines: the registry, the compact hash and the temporary-file scans are shared by every part;
 * it splits (and moves to `python/`) with the restructuring of the transfers.
 * @internal
 */

import { checkedTopLevelRequest } from "@belay/transport/internal"
import { type BoardDialect, hashCode, hashPiece, indent, OS_IMPORT, py } from "./BoardDialect.js"
import { hashFunction, sizeFunction } from "./CompactHash.js"
import { framedConstant, framedLiteral, framedReply } from "./ReplyFrame.js"

/** Expression: is `e` (an OSError) "no such file"? */
const isNotFound = (d: BoardDialect, e = "e") => `(${e}.args and ${e}.args[0] in ${d.notFound})`

/** Statement block (indent 0) removing `p` if it exists. */
const removeQuietly = (pathExpr: string) => `try:\n os.remove(${pathExpr})\nexcept OSError:\n pass`

/** Run a function defined above, reply its value (framed), delete the helpers whatever happens. */
const runAndDelete = (call: string, names: ReadonlyArray<string>) =>
  `try:\n _bo(${call})\nfinally:\n del ${names.join(",")}\n`

/** Run a call (it prints what it has to), then delete the helpers whatever happens. */
export const runThenDelete = (call: string, names: ReadonlyArray<string>) =>
  `try:\n ${call}\nfinally:\n del ${names.join(",")}\n`

/** Child path expression inside a listing function: `p` joined with `n`. */
const childOf = "(p if p!='/' else '')+'/'+n"

/** How an upload lands under its real name. */
export type CommitMode = "rename" | "copy" | "direct"

/**
 * An upload's entry in the board's registry of uploads (see `TemporaryFiles`): the global dict
 * `_bf`, under the upload's stem, holds `[open file or None, host, pid]` from the exchange that
 * creates the temporary file to the one that renames or removes it. The key is a string too long
 * for MicroPython to intern (interned names are never freed: a global or a short key per upload
 * would cost the board heap for good). The dict goes when its last entry does.
 *
 * @example
 * uploadEntry(".belay-k3x9ab-7") // "_bf['.belay-k3x9ab-7']"
 */
export const uploadEntry = (stem: string): string => `_bf[${py(stem)}]`

const OPEN_HANDLES = "if '_bf' not in globals():_bf={}"
const DROP_HANDLES = "if '_bf' in globals() and not _bf:del _bf"

/** Statements (indent 0) forgetting an upload's registry entry, if it is there. */
const forgetEntry = (entry: string) => `try:\n del ${entry}\nexcept Exception:\n pass\n${DROP_HANDLES}`

/** Expression: the registry's entries as `[[stem, host, pid], ...]` (`g` is the dict or `{}`). */
const REGISTRY_LIST = "[[k]+v[1:] for k,v in g.items() if type(v) is list]"

/** Expression: the names in directory `native` that look like temporary files. */
const temporaryNames = (d: Pick<BoardDialect, "flat">, native: string) =>
  `[n for n in ${d.flat ? "os.listdir()" : `os.listdir(${py(native)})`} if n[:7]=='.belay-']`

/** The names one upload uses on the board. */
export interface UploadNames {
  /** Its entry in the board's registry: {@link uploadEntry}, e.g. `_bf['.belay-k3x9ab-7']`. */
  readonly entry: string
  /** The entry's key, a Python literal: `'.belay-k3x9ab-7'`. */
  readonly key: string
  /** Who owns it, as the registry records it: `host,pid` (two ints). */
  readonly owner: string
  /** Where the bytes are written: the temporary file, or the real one in `direct` mode. */
  readonly temp: string
  readonly real: string
  /** The space-reservation file (`copy` mode). */
  readonly reserve: string
}

/**
 * The first exchange's head: register the upload and open its file, and (append) copy the
 * existing file into it, hashing what was copied. Prints `('m', free, prefixSize, prefixDigest)`;
 * with `report` (the native path of the target's directory), then
 * `('t', [temporary names there], [[stem, host, pid], ...])` for the cleanup of dead uploads.
 */
export const uploadOpenCode = (
  d: BoardDialect,
  names: UploadNames,
  options: { readonly base64: boolean; readonly append: boolean; readonly report?: string | undefined },
): string => {
  const h = hashCode(d.hash)
  const lines = [
    "import gc",
    OS_IMPORT.trimEnd(),
    options.base64 ? "import binascii" : "",
    "gc.collect()",
    OPEN_HANDLES,
    `${names.entry}=[open(${py(names.temp)},'wb'),${names.owner}]`,
  ]
  if (options.append) {
    lines.push(
      "def _bcp(t):",
      h.imports ? ` ${h.imports}` : "",
      ` ${h.init};n=0`,
      " try:",
      `  s=open(${py(names.real)},'rb')`,
      " except OSError as e:",
      `  if ${isNotFound(d)}:return (0,${h.digest})`,
      "  raise",
      " while 1:",
      `  d=s.read(${hashPiece(d)})`,
      "  if not d:break",
      "  t.write(d);n+=len(d)",
      indent(h.update, 2),
      " s.close()",
      ` return (n,${h.digest})`,
      `try:\n _bo(('m',gc.mem_free())+_bcp(${names.entry}[0]))\nfinally:\n del _bcp`,
    )
  } else {
    lines.push("_bo(('m',gc.mem_free(),0,None))")
  }
  if (options.report !== undefined) {
    lines.push(`g=_bf\n_bo(('t',${temporaryNames(d, options.report)},${REGISTRY_LIST}))\ndel g`)
  }
  return framedReply(`${lines.filter((l) => l !== "").join("\n")}\n`, false)
}

/** Message of the exception raised when a chunk arrived short or long (bytes lost on the link). */
export const DAMAGED_CHUNK = "belay-chunk-damaged"

/**
 * Code that runs only if it arrived whole: a checked request of `@belay/transport` (a bytes literal
 * run by `exec` only when its length and byte sum check out), in its top-level form (the file code
 * needs the stack of a small board) and after a collection of the heap, so that the parser of the
 * inner code has room. A damaged program could otherwise still compile and act on a damaged path.
 */
export const guardCode = (code: string): string => checkedTopLevelRequest(code, { collectFirst: true })

/**
 * One chunk of `size` data bytes: the expression's bytes go between the two strings. The length
 * is checked before anything is written, so a chunk that lost bytes on the way is refused whole
 * (and sent again) instead of landing in the file.
 */
export const uploadChunkCode = (names: UploadNames, size: number): readonly [string, string] => [
  "_bd=",
  `\nif len(_bd)!=${size}:\n del _bd\n raise ValueError('${DAMAGED_CHUNK}')\n${names.entry}[0].write(_bd)\ndel _bd\n${framedConstant("('w',)")}\n`,
]

/** What a finished upload must hash to: sizes and digests as Python literals. */
export interface ExpectedContent {
  /** Bytes before the new data (append), hashed separately. */
  readonly prefixSize: number
  /** Python literal of the prefix digest (`None`: not an append, the digest of nothing). */
  readonly prefixDigest: string
  readonly size: number
  /** Python literal of the new data's digest. */
  readonly digest: string
}

/** The `(size, prefixDigest, digest)` tuple `_bh` returns for the expected content. */
const expectedTuple = (d: BoardDialect, e: ExpectedContent) => {
  const empty = d.hash === "adler32" ? "'00000001'" : `hashlib.${d.hash}().digest()`
  return `(${e.size},${e.prefixDigest === "None" ? empty : e.prefixDigest},${e.digest})`
}

/**
 * The last exchange's tail on a board with `os.rename` (or in `direct` mode): close, hash what the
 * board holds, compare with what was sent, and rename only when they match. Prints `('ok',)`, or
 * `('bad', size, prefixDigest, digest)` after removing the temporary file. The registry entry goes
 * first: whatever this exchange does, it ends the temporary file.
 */
export const uploadFinishCode = (
  d: BoardDialect,
  names: UploadNames,
  mode: "rename" | "direct",
  expected: ExpectedContent,
): string =>
  framedReply(
    [
      `${names.entry}[0].close()`,
      `del ${names.entry}`,
      DROP_HANDLES,
      hashCode(d.hash).imports,
      hashFunction(d).trimEnd(),
      "def _bz(t):",
      ` E=${expectedTuple(d, expected)}`,
      ` r=_bh(t,${expected.prefixSize})`,
      " if r!=E:",
      mode === "direct" ? "" : "  os.remove(t)",
      "  return ('bad',)+r",
      mode === "rename" ? ` os.rename(t,${py(names.real)})` : "",
      " return ('ok',)",
      runAndDelete(`_bz(${py(names.temp)})`, ["_bz", "_bh"]),
    ]
      .filter((l) => l !== "")
      .join("\n"),
    false,
  )

/**
 * The last exchange's tail on a board without `os.rename`: close the temporary file and print
 * `_bh` of it, for the host to compare. Small, because the micro:bit parses little at a time. The
 * registry entry stays (without its file object) until the commit ends the temporary file.
 */
export const uploadVerifyCode = (d: BoardDialect, names: UploadNames, prefixSize: number): string =>
  framedReply(
    [
      `${names.entry}[0].close()`,
      `${names.entry}[0]=None`,
      hashFunction(d).trimEnd(),
      runAndDelete(`_bh(${py(names.temp)},${prefixSize})`, ["_bh"]),
    ].join("\n"),
    false,
  )

/**
 * Commit a verified temporary file on a board without rename. First prove there is room for the
 * copy: write a reservation file as large as the growth plus a margin, then delete it, so the copy
 * cannot run out of space half way. Then open both files and copy. When anything before the copy
 * fails (no room for the reservation; a name the filesystem refuses), the reservation and the
 * temporary file are removed and the error raised: the real file is untouched, nothing is left.
 * Nothing is printed (the host checks the copy with {@link finalizeCopyCode}). Each name appears
 * once, and the code is kept short: the micro:bit parses it in a few KB of heap.
 */
export const copyCommitCode = (d: BoardDialect, names: UploadNames, totalSize: number): string =>
  [
    OS_IMPORT + sizeFunction(d).trimEnd(),
    "def _bcm(t,v,a):",
    " try:",
    "  o=_bsz(a)",
    " except OSError:",
    "  o=0",
    ` k=${totalSize}-o+512;g=s=None`,
    " try:",
    "  g=open(v,'wb');z=bytes(128)",
    "  while k>0:",
    "   g.write(z);k-=128",
    "  g.close();g=None;os.remove(v)",
    "  s=open(t,'rb');g=open(a,'wb')",
    " except Exception:",
    "  for f in (g,s):",
    "   try:",
    "    f.close()",
    "   except Exception:",
    "    pass",
    "  for p in (v,t):",
    "   try:",
    "    os.remove(p)",
    "   except OSError:",
    "    pass",
    "  raise",
    " while 1:",
    `  d=s.read(${d.piece})`,
    "  if not d:break",
    "  g.write(d)",
    " g.close();s.close()",
    runThenDelete(`_bcm(${py(names.temp)},${py(names.reserve)},${py(names.real)})`, ["_bcm", "_bsz"]),
  ].join("\n")

/** Which file holds an upload's content, as the board replies after looking (see {@link uploadInspectCode}). */
export const HOLDS = ["none", "real", "temp"] as const

/** Python tuple of the three constant replies `('none',)`, `('real',)`, `('temp',)`, each framed. */
const holdsReplies = `(${HOLDS.map((h) => framedLiteral(`('${h}',)`)).join(",")})`

/**
 * After a copy commit: hash the real file; when it holds the content, remove the temporary file
 * and forget the upload. Replies `('real',)` when it does, `('none',)` otherwise: constants in
 * their frames, compared on the board, so that the exchange needs no reply code (the micro:bit
 * parses it with little to spare).
 */
export const finalizeCopyCode = (d: BoardDialect, names: UploadNames, expected: ExpectedContent): string =>
  [
    OS_IMPORT + hashCode(d.hash).imports,
    hashFunction(d).trimEnd(),
    "def _bz(t,a):",
    ` if _bh(a,${expected.prefixSize})!=${expectedTuple(d, expected)}:return 0`,
    ` os.remove(t);globals().get('_bf',{}).pop(${names.key},None)`,
    " return 1",
    `try:\n print(${holdsReplies}[_bz(${py(names.temp)},${py(names.real)})])\nfinally:\n del _bz,_bh`,
    DROP_HANDLES,
    "",
  ]
    .filter((l, i, all) => l !== "" || i === all.length - 1)
    .join("\n")

/**
 * Where an interrupted upload stands (after a reset or an interruption while finishing): close
 * its file if it is still open (its registry entry stays: the temporary file may still be
 * committed), and reply which file holds the content, real first: `('real',)`, `('temp',)` or
 * `('none',)` (constants in their frames, compared on the board).
 */
export const uploadInspectCode = (d: BoardDialect, names: UploadNames, expected: ExpectedContent): string =>
  [
    OS_IMPORT + hashCode(d.hash).imports,
    hashFunction(d).trimEnd(),
    "def _bi(k,a,t):",
    " e=globals().get('_bf',{}).get(k)",
    " if e and e[0]:e[0].close();e[0]=None",
    " for i in (1,2):",
    "  try:",
    `   if _bh((a,t)[i-1],${expected.prefixSize})==${expectedTuple(d, expected)}:return i`,
    "  except OSError:",
    "   pass",
    " return 0",
    `try:\n print(${holdsReplies}[_bi(${names.key},${py(names.real)},${py(names.temp)})])\nfinally:\n del _bi,_bh`,
    "",
  ]
    .filter((l, i, all) => l !== "" || i === all.length - 1)
    .join("\n")

/** `os.rename` of a verified temporary file over the real name; the upload is then forgotten. */
export const renameCommitCode = (names: UploadNames): string =>
  `${OS_IMPORT}os.rename(${py(names.temp)},${py(names.real)})\n${forgetEntry(names.entry)}\n`

/**
 * Drop an unfinished upload: close its file, remove its temporary and reservation files, forget
 * it. Idempotent: running it again (its reply lost, say) changes nothing.
 */
export const uploadAbortCode = (names: UploadNames, mode: CommitMode): string =>
  [
    `try:\n ${names.entry}[0].close()\nexcept Exception:\n pass`,
    mode === "direct" ? "" : OS_IMPORT.trimEnd(),
    mode === "direct" ? "" : removeQuietly(py(names.temp)),
    mode === "copy" ? removeQuietly(py(names.reserve)) : "",
    forgetEntry(names.entry),
  ]
    .filter((l) => l !== "")
    .join("\n")
    .concat("\n")

/**
 * Statements (indent 1, inside the probe's function, with `r` its result dict and `os` imported)
 * adding the root's temporary names (`tmp`) and the registry (`reg`).
 */
export const probeTemporaryFilesCode = (d: Pick<BoardDialect, "flat">): string =>
  indent(
    [
      "try:",
      " g=globals().get('_bf') or {}",
      ` r['reg']=${REGISTRY_LIST}`,
      ` r['tmp']=${temporaryNames(d, "/")}`,
      "except Exception:",
      " pass",
    ].join("\n"),
    1,
  )

/**
 * Reply `('f', nativePath)` for each temporary file in `native` (with `recursive`, the whole tree
 * below it; a flat board has only its root), then `('r', [[stem, host, pid], ...])`: the registry.
 */
export const scanTemporaryFilesCode = (d: BoardDialect, native: string, recursive = true): string => {
  const walk = d.flat
    ? ["def _bs(p):", ` for n in ${temporaryNames(d, "")}:`, "  _bo(('f',n))"]
    : d.os.has("ilistdir")
      ? [
          "def _bs(p):",
          " for e in os.ilistdir(p):",
          "  n=e[0]",
          `  q=${childOf}`,
          `  if e[1]==0x4000:${recursive ? "_bs(q)" : "pass"}`,
          "  elif n[:7]=='.belay-':_bo(('f',q))",
        ]
      : [
          "def _bs(p):",
          " for n in os.listdir(p):",
          `  q=${childOf}`,
          `  if os.stat(q)[0]&0x4000:${recursive ? "_bs(q)" : "pass"}`,
          "  elif n[:7]=='.belay-':_bo(('f',q))",
        ]
  return framedReply(
    [
      OS_IMPORT.trimEnd(),
      ...walk,
      "def _bq():",
      " g=globals().get('_bf') or {}",
      ` _bo(('r',${REGISTRY_LIST}))`,
      runThenDelete(`_bs(${py(native || "/")});_bq()`, ["_bs", "_bq"]),
    ].join("\n"),
  )
}

/**
 * Forget the registry entries `stems` (closing their files) and remove the files `natives`,
 * replying each path it removed.
 */
export const removeTemporaryFilesCode = (
  natives: ReadonlyArray<string>,
  stems: ReadonlyArray<string>,
): string =>
  framedReply(
    [
      OS_IMPORT.trimEnd(),
      "def _bx(L,K):",
      " g=globals().get('_bf') or {}",
      " for k in K:",
      "  e=g.pop(k,None)",
      "  try:",
      "   if e and e[0]:e[0].close()",
      "  except Exception:",
      "   pass",
      " for p in L:",
      "  try:",
      "   os.remove(p);_bo(p)",
      "  except OSError:",
      "   pass",
      runThenDelete(`_bx(${py(natives)},${py(stems)})`, ["_bx"]),
      DROP_HANDLES,
    ].join("\n"),
  )

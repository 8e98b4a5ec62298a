/**
 * Requests of uploads (open, chunks, finish, commit, inspect, abort) and of the cleanup of the
 * temporary files uploads leave. The helpers are in `python/` (minified at build time, see
 * `scripts/embed-python.mjs`) and get their values as call arguments; what stays written here is
 * the glue around the calls: the board's registry of uploads in flight (`_bf`, a global dict
 * updated by top-level statements: as a helper, the `global` statement and a call would add bytes
 * to the exchanges a micro:bit can barely parse), the imports, the chunk (its data travel inline),
 * and the compact hash and size functions (see `CompactHash`).
 * @internal
 */

import { checkedTopLevelRequest } from "@belay/transport/internal"
import {
  type BoardDialect,
  callAndDelete,
  callOf,
  hashPiece,
  nameOf,
  OS,
  OS_IMPORT,
  PythonLiteral,
  py,
  SCRATCH,
} from "./BoardDialect.js"
import { digestHex, fromHex } from "./Checksum.js"
import { hashHelper, sizeHelper } from "./CompactHash.js"
import {
  ABORT_UPLOAD,
  COPY_COMMIT,
  COPY_PREFIX_ADLER32,
  COPY_PREFIX_HASHLIB,
  FINALIZE_COPY,
  FINISH_UPLOAD,
  INSPECT_UPLOAD,
  REGISTRY_ENTRIES,
  REMOVE_TEMPORARIES,
  REPLY_ALONE,
  SCAN_TEMPORARIES,
  SCAN_TEMPORARIES_FLAT,
} from "./python/embedded.js"
import { frameCheck, framedCall, framedConstant } from "./ReplyFrame.js"

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

/** Statement (indent 0) deleting the registry once it is empty. */
const DROP_HANDLES = "if '_bf' in globals() and not _bf:del _bf"

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

/** The registry's key of an upload, as a call argument. */
const keyOf = (names: UploadNames) => new PythonLiteral(names.key)

/**
 * The first exchange's head: register the upload and open its file, and (append) copy the
 * existing file into it, hashing what was copied (`python/copy_prefix_*.py`). Replies
 * `('m', free, prefixSize, prefixDigest)` in a frame of its own; with `report` (the native path of
 * the target's directory), then `('t', [temporary names there], [[stem, host, pid], ...])` for the
 * cleanup of dead uploads.
 */
export const uploadOpenCode = (
  d: BoardDialect,
  names: UploadNames,
  options: { readonly base64: boolean; readonly append: boolean; readonly report?: string | undefined },
): string => {
  const copyPrefix = d.hash === "adler32" ? COPY_PREFIX_ADLER32 : COPY_PREFIX_HASHLIB
  const report = options.report
  const helpers = [
    REPLY_ALONE,
    ...(options.append ? [copyPrefix] : []),
    ...(report !== undefined ? [REGISTRY_ENTRIES] : []),
  ]
  const notFound = new PythonLiteral(d.notFound)
  const prefix = options.append
    ? `+${callOf(nameOf(copyPrefix), new PythonLiteral(SCRATCH), names.real, notFound, hashPiece(d), ...(d.hash === "adler32" ? [] : [d.hash]))}`
    : ""
  const listing = report === undefined ? "" : `os.listdir(${d.flat ? "" : py(report)})`
  return [
    report === undefined ? "" : OS_IMPORT,
    `import gc${options.base64 ? ",binascii" : ""};gc.collect()\n`,
    // The file is `SCRATCH` for this exchange only (`f` may be the person's): shorter than its
    // registry entry, named twice.
    `_bf=globals().get('_bf')or{};${SCRATCH}=open(${py(names.temp)},'wb');${names.entry}=[${SCRATCH},${names.owner}]\n`,
    callAndDelete(
      helpers,
      [
        `${nameOf(REPLY_ALONE)}(('m',gc.mem_free()${prefix ? `)${prefix}` : ",0,None)"})`,
        ...(report === undefined
          ? []
          : [
              `${nameOf(REPLY_ALONE)}(('t',[n for n in ${listing} if n[:7]=='.belay-'],${nameOf(REGISTRY_ENTRIES)}()))`,
            ]),
      ].join(";"),
      [SCRATCH],
    ),
  ].join("")
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
  `\nif len(_bd)!=${size}:del _bd;raise ValueError('${DAMAGED_CHUNK}')\n${names.entry}[0].write(_bd);del _bd\n${framedConstant("('w',)")}\n`,
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

/** The `(size, prefixDigest, digest)` tuple `_bh` returns for the expected content, as an argument. */
const expectedTuple = (d: BoardDialect, e: ExpectedContent) => {
  const emptyHex = digestHex(d.hash, new Uint8Array())
  const empty = d.hash === "adler32" ? py(emptyHex) : py(fromHex(emptyHex))
  return new PythonLiteral(`(${e.size},${e.prefixDigest === "None" ? empty : e.prefixDigest},${e.digest})`)
}

/**
 * The last exchange's tail on a board with `os.rename` (or in `direct` mode): close, hash what the
 * board holds, compare with what was sent, and rename only when they match
 * (`python/finish_upload.py`). Replies `('ok',)`, or `('bad', size, prefixDigest, digest)` after
 * removing the temporary file. The registry entry goes first: whatever this exchange does, it
 * ends the temporary file.
 */
export const uploadFinishCode = (
  d: BoardDialect,
  names: UploadNames,
  mode: "rename" | "direct",
  expected: ExpectedContent,
): string =>
  [
    OS_IMPORT,
    `${names.entry}[0].close();del ${names.entry}\n${DROP_HANDLES}\n`,
    callAndDelete(
      [hashHelper(d), REPLY_ALONE, FINISH_UPLOAD],
      `${nameOf(REPLY_ALONE)}(${callOf(
        nameOf(FINISH_UPLOAD),
        names.temp,
        expected.prefixSize,
        expectedTuple(d, expected),
        mode === "rename" ? names.real : null,
      )})`,
    ),
  ].join("")

/**
 * The last exchange's tail on a board without `os.rename`: close the temporary file and reply
 * `_bh` of it, for the host to compare. Small, because the micro:bit parses little at a time. The
 * registry entry stays (without its file object) until the commit ends the temporary file.
 */
export const uploadVerifyCode = (d: BoardDialect, names: UploadNames, prefixSize: number): string =>
  [
    // The entry is `e` for this exchange only: shorter than the registry entry, named twice.
    `e=${names.entry}\n`,
    callAndDelete(
      [hashHelper(d), REPLY_ALONE],
      `e[0].close();e[0]=None;${nameOf(REPLY_ALONE)}(${callOf("_bh", names.temp, prefixSize)})`,
      ["e"],
    ),
  ].join("")

/**
 * Commit a verified temporary file on a board without rename (`python/copy_commit.py`): prove
 * there is room for the copy with a reservation file, then copy; when anything before the copy
 * fails, the reservation and the temporary file are removed and the error raised: the real file
 * is untouched, nothing is left. Nothing is printed (the host checks the copy with
 * {@link finalizeCopyCode}).
 */
export const copyCommitCode = (d: BoardDialect, names: UploadNames, totalSize: number): string =>
  OS_IMPORT +
  callAndDelete(
    [sizeHelper(d), COPY_COMMIT],
    callOf(nameOf(COPY_COMMIT), names.temp, names.reserve, names.real, totalSize, d.piece),
  )

/** Which file holds an upload's content, as the board replies after looking (see {@link uploadInspectCode}). */
export const HOLDS = ["none", "real", "temp"] as const

/**
 * Python tuple of the constant replies `('none',)`, `('real',)`, `('temp',)`, each framed, as
 * many as `n` (double-quoted: no quote inside needs escaping, here or in the guard around it).
 */
const holdsReplies = (n: number) =>
  `(${HOLDS.slice(0, n)
    .map((h) => {
      const text = `('${h}',)`
      const [count, sum] = frameCheck([new TextEncoder().encode(text)])
      return `"${text}\\n#${count}:${sum}"`
    })
    .join(",")})`

/**
 * After a copy commit: hash the real file; when it holds the content, remove the temporary file
 * and forget the upload (`python/finalize_copy.py`). Replies `('real',)` when it does, `('none',)`
 * otherwise: constants in their frames, picked on the board, so that the exchange needs no reply
 * code (the micro:bit parses it with little to spare).
 */
export const finalizeCopyCode = (d: BoardDialect, names: UploadNames, expected: ExpectedContent): string =>
  [
    OS_IMPORT,
    callAndDelete(
      [hashHelper(d), FINALIZE_COPY],
      `print(${holdsReplies(2)}[${callOf(
        nameOf(FINALIZE_COPY),
        names.temp,
        names.real,
        expected.prefixSize,
        expectedTuple(d, expected),
        keyOf(names),
      )}])`,
    ),
    `${DROP_HANDLES}\n`,
  ].join("")

/**
 * Where an interrupted upload stands (after a reset or an interruption while finishing): close
 * its file if it is still open (its registry entry stays: the temporary file may still be
 * committed), and reply which file holds the content, real first (`python/inspect_upload.py`):
 * `('real',)`, `('temp',)` or `('none',)` (constants in their frames, picked on the board).
 */
export const uploadInspectCode = (d: BoardDialect, names: UploadNames, expected: ExpectedContent): string =>
  OS_IMPORT +
  callAndDelete(
    [hashHelper(d), INSPECT_UPLOAD],
    `print(${holdsReplies(3)}[${callOf(
      nameOf(INSPECT_UPLOAD),
      keyOf(names),
      names.real,
      names.temp,
      expected.prefixSize,
      expectedTuple(d, expected),
    )}])`,
  )

/** `os.rename` of a verified temporary file over the real name; the upload is then forgotten. */
export const renameCommitCode = (names: UploadNames): string =>
  `${OS_IMPORT}${callOf("os.rename", names.temp, names.real)}\nglobals().get('_bf',{}).pop(${names.key},None)\n${DROP_HANDLES}\n`

/**
 * Drop an unfinished upload: forget it (and the registry when it was the last), close its file,
 * remove its temporary and reservation files (`python/abort_upload.py`). Idempotent: running it
 * again (its reply lost, say) changes nothing.
 */
export const uploadAbortCode = (names: UploadNames, mode: CommitMode): string =>
  [
    mode === "direct" ? "" : OS_IMPORT,
    callAndDelete(
      [ABORT_UPLOAD],
      callOf(
        nameOf(ABORT_UPLOAD),
        keyOf(names),
        mode === "direct" ? [] : mode === "copy" ? [names.temp, names.reserve] : [names.temp],
      ),
    ),
  ].join("")

/**
 * Reply `('f', nativePath)` for each temporary file in `native` (with `recursive`, the whole tree
 * below it; a flat board has only its root), then `('r', [[stem, host, pid], ...])`: the registry
 * (`python/scan_temporaries*.py`, `python/registry_entries.py`).
 */
export const scanTemporaryFilesCode = (d: BoardDialect, native: string, recursive = true): string => {
  const scan = d.flat ? SCAN_TEMPORARIES_FLAT : SCAN_TEMPORARIES
  return framedCall(
    [OS, scan, REGISTRY_ENTRIES],
    `${callOf(nameOf(scan), native || "/", recursive ? 1 : 0)};_bo(('r',${nameOf(REGISTRY_ENTRIES)}()))`,
  )
}

/**
 * Forget the registry entries `stems` (closing their files) and remove the files `natives`,
 * replying each path it removed (`python/remove_temporaries.py`).
 */
export const removeTemporaryFilesCode = (
  natives: ReadonlyArray<string>,
  stems: ReadonlyArray<string>,
): string =>
  `${framedCall(
    [OS, REMOVE_TEMPORARIES],
    callOf(nameOf(REMOVE_TEMPORARIES), natives, stems),
  )}${DROP_HANDLES}\n`

/**
 * Requests for the file operations other than transfers: list, stat, hash, compare, disk usage,
 * mkdir, remove, rmdir, rename, the working directory. Each is board helpers from `python/` (minified at build time, see
 * `scripts/embed-python.mjs`) and one call of them whose arguments are Python literals, in a
 * self-checking reply frame; the helpers are deleted at the end of the exchange.
 * @internal
 */
import { concatBytes } from "@belay/transport/internal"
import {
  type BoardDialect,
  callOf,
  nameOf,
  OS,
  OS_IMPORT,
  PythonLiteral,
  py,
  SCRATCH,
} from "./BoardDialect.js"
import { hashHelper, sizeHelper } from "./CompactHash.js"
import {
  COMPARE_MANY,
  COPY_RENAME,
  DISK_USAGE,
  FRAME,
  HASH_MANY,
  LIST_FLAT,
  LIST_TREE,
  MAKE_DIRECTORIES,
  REMOVE_PATH,
  STAT_PATH,
} from "./python/embedded.js"
import { FRAME_TRAILER, framedCall, framedReply, REPLY_OS_ERROR } from "./ReplyFrame.js"

/**
 * Reply one `(path, isDir, size)` per entry under `native` (recursively when asked). On a flat
 * board the paths replied are `/name`.
 */
export const listCode = (d: BoardDialect, native: string, recursive: boolean): string =>
  d.flat
    ? framedCall([OS, sizeHelper(d), LIST_FLAT], callOf(nameOf(LIST_FLAT)))
    : framedCall([OS, sizeHelper(d), LIST_TREE], callOf(nameOf(LIST_TREE), native, recursive ? 1 : 0))

/** Reply `(isDir, size)` for one path; without `os.stat` (a micro:bit), a file's size. */
export const statCode = (d: BoardDialect, native: string): string =>
  native === "" || native === "/"
    ? framedReply("_bo((1,0))")
    : d.os.has("stat")
      ? framedCall([OS, STAT_PATH], callOf(nameOf(STAT_PATH), native))
      : framedCall([OS, sizeHelper(d)], `_bo((0,${callOf("_bsz", native)}))`)

/**
 * Hash files on the board, one `(path, size, digest)` line each; a failing path replies
 * `(path, None, errno)`.
 */
export const hashManyCode = (d: BoardDialect, natives: ReadonlyArray<string>): string =>
  framedCall([OS, hashHelper(d, true), HASH_MANY], callOf(nameOf(HASH_MANY), natives))

/**
 * Compare files with expected digests on the board: reply the index of each file whose digest
 * differs (or that cannot be read). `items` are `(path, digest literal)`; a digest literal may be
 * a raw bytes literal (not valid UTF-8), hence bytes.
 */
export const compareManyCode = (
  d: BoardDialect,
  items: ReadonlyArray<readonly [string, Uint8Array | string]>,
): Uint8Array => {
  const enc = new TextEncoder()
  const helpers = [OS, hashHelper(d, true), COMPARE_MANY]
  const head = enc.encode(
    `${FRAME.code}${helpers.map((h) => h.code).join("")}try:\n try:\n  ${nameOf(COMPARE_MANY)}([`,
  )
  const parts: Uint8Array[] = [head]
  items.forEach(([path, digest], i) => {
    parts.push(
      enc.encode(`${i > 0 ? "," : ""}(${py(path)},`),
      typeof digest === "string" ? enc.encode(digest) : digest,
      enc.encode(")"),
    )
  })
  const names = [...helpers.flatMap((h) => h.defines), ...FRAME.defines]
  parts.push(
    enc.encode(
      `])\n except OSError as ${SCRATCH}:\n  ${REPLY_OS_ERROR}\n ${FRAME_TRAILER}\nfinally:\n del ${names.join(",")}\n`,
    ),
  )
  return concatBytes(parts)
}

/** Reply `(f_bsize, f_frsize, f_blocks, f_bfree, f_bavail)`. */
export const statvfsCode = (native: string): string =>
  framedCall([OS, DISK_USAGE], callOf(nameOf(DISK_USAGE), native))

/** Make each directory in `paths` (outermost first); with `parents`, existing directories are fine. */
export const mkdirCode = (d: BoardDialect, paths: ReadonlyArray<string>, parents: boolean): string =>
  parents
    ? framedCall(
        [OS, MAKE_DIRECTORIES],
        callOf(nameOf(MAKE_DIRECTORIES), paths, new PythonLiteral(d.exists), d.eexist, d.enotdir),
      )
    : framedReply(`${OS_IMPORT}${callOf("os.mkdir", paths.at(-1))}\n`)

/** Remove a file, an empty directory, or (recursive) a whole tree. */
export const removeCode = (d: BoardDialect, native: string, recursive: boolean): string =>
  d.flat
    ? framedReply(`${OS_IMPORT}${callOf("os.remove", native)}\n`)
    : framedCall([OS, REMOVE_PATH], callOf(nameOf(REMOVE_PATH), native, recursive ? 1 : 0))

/** `os.rename` where the board has it. */
export const renameCode = (from: string, to: string): string =>
  framedReply(`${OS_IMPORT}${callOf("os.rename", from, to)}\n`)

/**
 * Rename on a board without `os.rename`: copy on the board, check the copy has the same size and
 * hash, then remove the original. The original is opened first, so a missing source never
 * clobbers the target.
 */
export const copyRenameCode = (d: BoardDialect, from: string, to: string): string =>
  framedCall([OS, hashHelper(d, true), COPY_RENAME], callOf(nameOf(COPY_RENAME), from, to, d.piece))

/** `os.rmdir`: an empty directory only (a file is `ENOTDIR`, a full directory `ENOTEMPTY`). */
export const rmdirCode = (d: BoardDialect, native: string): string =>
  framedReply(
    `${OS_IMPORT}if not os.stat(${py(native)})[0]&0x4000:raise OSError(${d.enotdir})\n${callOf("os.rmdir", native)}\n`,
  )

/** Reply the board's working directory (`os.getcwd()`). */
export const getcwdCode = (): string => framedReply(`${OS_IMPORT}_bo(os.getcwd())\n`)

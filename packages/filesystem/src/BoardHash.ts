/**
 * Hashing on the board: many files per exchange, or the board comparing with expected digests.
 * @internal
 */
import { PythonError, type PythonValue } from "@belay/transport"
import { Effect } from "effect"
import { compareManyCode, hashManyCode, py } from "./BoardCode.js"
import {
  asNumber,
  type FsRuntime,
  mapBoardErrors,
  mapOSError,
  runFramed,
  unexpected,
} from "./BoardExchange.js"
import { codeBudget } from "./BoardProfile.js"
import { type FileHash, fromHex, toHex } from "./Checksum.js"
import type { BoardFileError, FileSystemError } from "./errors.js"

/** A digest value from a board reply, as hex. */
export const digestFromReply = (value: PythonValue | undefined): string | undefined =>
  value instanceof Uint8Array ? toHex(value) : typeof value === "string" ? value.toLowerCase() : undefined

/**
 * A board-side hash of one path, or why there is none.
 *
 * @since 0.1.0
 */
export type BoardHashResult =
  | { readonly path: string; readonly hash: FileHash }
  | { readonly path: string; readonly error: BoardFileError | PythonError }

/**
 * Hash many files on the board in as few exchanges as its memory allows (paths batched by code
 * size). Files that cannot be hashed come back with their error, in order.
 */
export const hashMany = (
  rt: FsRuntime,
  items: ReadonlyArray<{ readonly path: string; readonly native: string }>,
): Effect.Effect<ReadonlyArray<BoardHashResult>, FileSystemError> =>
  Effect.gen(function* () {
    const protocol = yield* rt.device.protocolCapabilities
    const budget = codeBudget(rt.profile, protocol, rt.sizing)
    const overhead = hashManyCode(rt.dialect, []).length
    const results: BoardHashResult[] = []
    let at = 0
    while (at < items.length) {
      const batch: Array<{ path: string; native: string }> = []
      let size = overhead
      while (at < items.length) {
        const item = items[at]!
        const cost = py(item.native).length + 1
        if (batch.length > 0 && size + cost > budget) break
        batch.push(item)
        size += cost
        at++
      }
      const lines = yield* runFramed(
        rt,
        hashManyCode(
          rt.dialect,
          batch.map((b) => b.native),
        ),
        { operation: "hash", path: batch[0]!.path, readOnly: true, timeoutMs: 120_000 },
      ).pipe(
        Effect.catchIf(
          (e): e is PythonError => e instanceof PythonError,
          (e) => Effect.fail(mapOSError(e, "hash", batch[0]!.path, rt.probe)),
        ),
      )
      if (lines.length !== batch.length) {
        return yield* unexpected("hash", batch[0]!.path, `${batch.length} answers expected`, lines.length)
      }
      lines.forEach((line, i) => {
        const item = batch[i]!
        if (!Array.isArray(line)) {
          results.push({ path: item.path, error: unexpected("hash", item.path, "not a tuple", line) })
          return
        }
        const size = asNumber(line[1])
        const digest = digestFromReply(line[2])
        if (size === undefined || digest === undefined) {
          const errno = line[2]
          const error = new PythonError({
            exceptionType: "OSError",
            pythonMessage: typeof errno === "number" || typeof errno === "string" ? String(errno) : "",
            traceback: "",
            stdout: "",
          })
          results.push({ path: item.path, error: mapOSError(error, "hash", item.path, rt.probe) })
          return
        }
        results.push({ path: item.path, hash: { path: item.path, algorithm: rt.dialect.hash, digest, size } })
      })
    }
    return results
  })

/**
 * Which files on the board hold the given content: the board hashes each file and compares with
 * the expected digest itself, printing only the files that differ (one exchange per batch, sized
 * to the board's memory). `true` where the file matches.
 */
export const compareMany = (
  rt: FsRuntime,
  items: ReadonlyArray<{ readonly path: string; readonly native: string; readonly digest: string }>,
): Effect.Effect<ReadonlyArray<boolean>, FileSystemError> =>
  Effect.gen(function* () {
    const protocol = yield* rt.device.protocolCapabilities
    const budget = codeBudget(rt.profile, protocol, rt.sizing)
    // The guard around every batch (see `guardCode`): about 200 bytes.
    const overhead = compareManyCode(rt.dialect, []).length + 200
    // Digests as text literals, never raw bytes: the batch then travels guarded (it runs only if
    // it arrived whole). Unguarded, one changed byte could turn the board's `!=` into `==` and
    // report every changed file unchanged, or point a digest at another path.
    const literal = (hex: string): string => (rt.dialect.hash === "adler32" ? py(hex) : py(fromHex(hex)))
    const results: boolean[] = []
    let at = 0
    while (at < items.length) {
      const batch: Array<readonly [string, string]> = []
      let size = overhead
      const first = at
      while (at < items.length) {
        const item = items[at]!
        const entry = [item.native, literal(item.digest)] as const
        const cost = py(item.native).length + entry[1].length + 4
        if (batch.length > 0 && size + cost > budget) break
        batch.push(entry)
        size += cost
        at++
      }
      const sent = new TextDecoder().decode(compareManyCode(rt.dialect, batch))
      const lines = yield* runFramed(rt, sent, {
        operation: "hash",
        path: items[first]!.path,
        readOnly: true,
        timeoutMs: 120_000,
      }).pipe(mapBoardErrors("hash", items[first]!.path, rt.probe))
      const differing = new Set<number>()
      for (const line of lines) {
        const index = asNumber(line)
        if (index === undefined || !Number.isInteger(index) || index < 0 || index >= batch.length) {
          return yield* unexpected("hash", items[first]!.path, "not an index", line)
        }
        differing.add(index)
      }
      for (let i = 0; i < batch.length; i++) results.push(!differing.has(i))
    }
    return results
  })

/**
 * Room for a write, checked before anything is written: on a board without `os.rename` an atomic
 * write lands by an on-board copy of its verified temporary file (see `UploadLanding`), so it needs
 * about twice the file's size free; a write in place needs only its growth over the old file. The
 * free space comes from `os.statvfs` where the board has it; the micro:bit has no call that says
 * (its `os` has only `listdir`, `remove`, `size`, `uname`), so there a reservation file of the
 * bytes needed is written and removed (`python/room_for_write.py`): it fits, or it says how much
 * did.
 * @internal
 */
import { Effect } from "effect"
import { type CommitMode, OS_IMPORT, type UploadNames } from "./BoardCode.js"
import { callAndDelete, callOf, nameOf } from "./BoardDialect.js"
import { asNumber, type FsRuntime, mapBoardErrors, parseFramed, run, unexpected } from "./BoardExchange.js"
import { boardParent } from "./BoardPath.js"
import { sizeHelper } from "./CompactHash.js"
import { type FileSystemError, NotEnoughSpaceError } from "./errors.js"
import { REPLY_ALONE, ROOM_FOR_WRITE } from "./python/embedded.js"
import { inFlightDuring, uploadStem } from "./TemporaryFiles.js"
import { type UploadRequest, uploadNames } from "./UploadExchanges.js"
import { exchangeTimeout } from "./UploadPlan.js"

/**
 * Bytes the commit's reservation takes beyond the growth of the file (`python/copy_commit.py`):
 * the room a copy needs for the filesystem's own blocks (four of the micro:bit's 128-byte chunks).
 */
export const COPY_RESERVE_MARGIN = 512

/**
 * What a write needs free, as `base + max(0, grow - old)` (`old`: the size of the file it
 * replaces, known on the board). A copy commit: the temporary file (`size`), then the commit's
 * reservation (`size - old + COPY_RESERVE_MARGIN`); in place: the growth (`size - old`). A rename
 * commit or an append is not checked (undefined): the old file stays until the rename, and an
 * append's need depends on its prefix.
 *
 * @example
 * roomNeed("copy", "write", 4000) // { base: 4000, grow: 4512 }
 */
export const roomNeed = (
  mode: CommitMode,
  operation: UploadRequest["operation"],
  size: number,
): { readonly base: number; readonly grow: number } | undefined => {
  if (operation !== "write") return undefined
  if (mode === "copy") return { base: size, grow: size + COPY_RESERVE_MARGIN }
  if (mode === "direct") return { base: 0, grow: size }
  return undefined
}

/** What the board replied: the old file's size, the bytes needed and the bytes free (or reserved). */
export interface Room {
  readonly old: number
  readonly need: number
  readonly free: number
}

/**
 * The error for a write without room, or undefined when there is room.
 *
 * @example
 * roomError({ operation: "write", path: "/a.bin", data, atomic: true }, { old: 0, need: 8512, free: 6000 })
 * // NotEnoughSpaceError: "... it needs 8512 bytes free ... and 6000 are ..."
 */
export const roomError = (
  req: Pick<UploadRequest, "operation" | "path" | "data" | "atomic">,
  room: Room,
): NotEnoughSpaceError | undefined =>
  room.free >= room.need
    ? undefined
    : new NotEnoughSpaceError({
        operation: req.operation,
        path: req.path,
        size: req.data.length,
        existing: room.old,
        needed: room.need,
        free: room.free,
        atomic: req.atomic,
      })

/** ENOSPC where the board's errno module does not say (Linux's number; the micro:bit raises it too). */
const ENOSPC = 28

/** The exchange asking for room (`python/room_for_write.py`); replies `(old, need, free)`. */
export const roomForWriteCode = (
  rt: Pick<FsRuntime, "dialect" | "capabilities" | "probe">,
  names: Pick<UploadNames, "real" | "reserve">,
  need: { readonly base: number; readonly grow: number },
): string => {
  // statvfs of the target's directory (native); none: measured by a reservation file.
  const at = !rt.capabilities.statvfs ? null : (rt.dialect.flat ? "" : boardParent(names.real)) || "/"
  const nospace = [...new Set([rt.probe.errno.ENOSPC ?? ENOSPC, ENOSPC])]
  return (
    OS_IMPORT +
    callAndDelete(
      [sizeHelper(rt.dialect), REPLY_ALONE, ROOM_FOR_WRITE],
      `${nameOf(REPLY_ALONE)}(${callOf(nameOf(ROOM_FOR_WRITE), names.real, names.reserve, need.base, need.grow, at, nospace)})`,
    )
  )
}

/**
 * Refuse, before anything is written, a write the board has no room for (see {@link roomNeed}):
 * the file under its real name stays as it was. Boards that can say neither (no `os.statvfs`, with
 * directories) are not asked. The reservation file is named like an upload's (in flight while the
 * check runs), so a check cut short leaves only a file the next cleanup removes.
 */
export const checkRoom = (
  rt: FsRuntime,
  req: UploadRequest,
  mode: CommitMode,
): Effect.Effect<void, FileSystemError> =>
  Effect.suspend(() => {
    const need = roomNeed(mode, req.operation, req.data.length)
    if (need === undefined || (!rt.capabilities.statvfs && !rt.dialect.flat)) return Effect.void
    const stem = uploadStem(rt.profile.token, ++rt.profile.seq)
    const names = uploadNames(rt, stem, req.native, mode)
    return inFlightDuring(
      stem,
      Effect.gen(function* () {
        const out = yield* run(
          rt,
          roomForWriteCode(rt, names, need),
          exchangeTimeout(0, need.base + need.grow),
        ).pipe(mapBoardErrors(req.operation, req.path, rt.probe))
        const reply = (yield* parseFramed(out, req.operation, req.path)).at(-1)
        const [old, needed, free] = Array.isArray(reply) ? reply.map(asNumber) : []
        if (old === undefined || needed === undefined || free === undefined) {
          return yield* unexpected(req.operation, req.path, "not (old, need, free)", out)
        }
        const error = roomError(req, { old, need: needed, free })
        if (error !== undefined) return yield* error
      }),
    )
  })

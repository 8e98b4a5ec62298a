/**
 * The data exchanges of an upload: each one opening, carrying a chunk and closing as the planner
 * sized it, and moving the upload's {@link UploadState}; the policy decides what a failure means.
 * `UploadLanding` commits what they sent.
 * @internal
 */
import { type ProtocolError, PythonError, type PythonValue } from "@belay/transport"
import {
  COLLECT_GARBAGE,
  concatBytes,
  isCompileMemoryError,
  latin1String,
  monotonicMs,
} from "@belay/transport/internal"
import { Effect, Ref } from "effect"
import {
  type CommitMode,
  DAMAGED_CHUNK,
  guardCode,
  py,
  type UploadNames,
  uploadChunkCode,
  uploadEntry,
  uploadFinishCode,
  uploadOpenCode,
  uploadVerifyCode,
} from "./BoardCode.js"
import {
  asNumber,
  type FsRuntime,
  isDamagedInTransit,
  mapOSError,
  parseFramed,
  run,
  unexpected,
} from "./BoardExchange.js"
import { digestFromReply } from "./BoardHash.js"
import { boardParent, joinBoardPath } from "./BoardPath.js"
import { recordRate } from "./BoardProfile.js"
import { BoardMemoryError, type FileSystemError } from "./errors.js"
import { OWNER } from "./TemporaryFiles.js"
import type { TransferProgress } from "./TransferProgress.js"
import { literals } from "./UploadLanding.js"
import {
  afterMemoryError,
  closingOf,
  codeBudget,
  exchangeTimeout,
  type LinkProtocol,
  planExchange,
} from "./UploadPlan.js"
import { DamagedExchange, ExchangeTooLarge, type Expected, UploadState } from "./UploadPolicy.js"

/** One upload to run: what, where, and how it lands. */
export interface UploadRequest {
  readonly operation: "write" | "append"
  readonly path: string
  readonly native: string
  readonly data: Uint8Array
  readonly atomic: boolean
  readonly onProgress?: ((progress: TransferProgress) => void) | undefined
}

/** One attempt of an upload: its request, names, hash, and where it stands (the session's cleanup reads it). */
export interface UploadContext {
  readonly rt: FsRuntime
  readonly req: UploadRequest
  readonly mode: CommitMode
  readonly names: UploadNames
  /** The data's digest, as hex. */
  readonly digest: string
  readonly state: Ref.Ref<UploadState>
}

/** The names of one upload: its registry entry, and its temporary names in the target's directory. */
export const uploadNames = (
  rt: Pick<FsRuntime, "dialect">,
  stem: string,
  native: string,
  mode: CommitMode,
): UploadNames => {
  const dirNative = rt.dialect.flat ? "" : boardParent(native)
  const place = (name: string) => (rt.dialect.flat ? name : joinBoardPath(dirNative, name))
  return {
    entry: uploadEntry(stem),
    key: py(stem),
    owner: `${OWNER.host},${OWNER.pid}`,
    temp: mode === "direct" ? native : place(`${stem}.tmp`),
    real: native,
    reserve: place(`${stem}r.tmp`),
  }
}

/** What the data exchanges have sent so far (for the write's result). */
export interface Tally {
  wire: number
  exchanges: number
}

/** What one data exchange came to. */
export type Sent =
  | { readonly _tag: "More" }
  /** The exchange closed the upload: the board's last line says how it went. */
  | {
      readonly _tag: "Closed"
      readonly expected: Expected
      readonly outcome: PythonValue | undefined
      readonly reply: string
    }
  /** The exchange that closes the upload failed on the way (reset, timeout, lost link): the board may have finished it. */
  | { readonly _tag: "Interrupted"; readonly expected: Expected; readonly error: ProtocolError }

const latin1 = latin1String

/** The per-attempt facts a data exchange needs besides the state. */
export interface ExchangeSetup {
  readonly protocol: LinkProtocol
  /** Length of the code around a chunk's data. */
  readonly chunkWrapBytes: number
  /** The empty content's digest (an upload's prefix before the opening reports it). */
  readonly emptyHex: string
  /** Directory listed in the opening exchange (see `TemporaryFiles`), or undefined. */
  readonly report: string | undefined
  /** Note what the opening listed of the directory's temporary files. */
  readonly noteReport: (line: PythonValue) => void
}

/** What the board printed before a damaged part refused to run, taken into the state. */
const afterPartialReply = (
  ctx: UploadContext,
  setup: ExchangeSetup,
  before: UploadState,
  lines: ReadonlyArray<PythonValue>,
  chunkBytes: number,
): UploadState => {
  let state = before
  for (const line of lines) {
    if (!Array.isArray(line)) continue
    if (line[0] === "m" && state._tag === "Opening") {
      state = openingReply(ctx.rt, line, setup.emptyHex)
    } else if (line[0] === "t") {
      setup.noteReport(line)
    } else if (line[0] === "w" && chunkBytes > 0 && state._tag === "Sending") {
      state = UploadState.Sending({ ...state, offset: state.offset + chunkBytes })
    }
  }
  return state
}

/**
 * One data exchange from an `Opening` or `Sending` state: planned from the board's budget, sent, and
 * its reply taken into the state. A damaged exchange fails with {@link DamagedExchange}, one the
 * board could not compile with {@link ExchangeTooLarge} (the policy sends them again).
 */
export const sendExchange = (
  ctx: UploadContext,
  setup: ExchangeSetup,
  tally: Tally,
): Effect.Effect<Sent, DamagedExchange | ExchangeTooLarge | FileSystemError> =>
  Effect.gen(function* () {
    const { rt, req, mode, names } = ctx
    const before = yield* Ref.get(ctx.state)
    if (before._tag !== "Opening" && before._tag !== "Sending") {
      return yield* Effect.die(new Error(`an upload exchange from the ${before._tag} state`))
    }
    const opened = before._tag === "Sending"
    const offset = opened ? before.offset : 0
    const prefixSize = opened ? before.prefixSize : 0
    const prefixHex = opened ? before.prefixHex : setup.emptyHex
    // The protocol parts (they name the files) are guarded; the data is length-checked.
    const head = opened
      ? ""
      : guardCode(
          uploadOpenCode(rt.dialect, names, {
            base64: rt.encoding === "base64",
            append: req.operation === "append",
            report: setup.report,
          }),
        )
    const closable = opened || req.operation === "write"
    const expected: Expected = { prefixSize, prefixHex, size: req.data.length, digestHex: ctx.digest }
    const close = !closable
      ? ""
      : guardCode(
          closingOf(mode) === "verify"
            ? uploadVerifyCode(rt.dialect, names, prefixSize)
            : uploadFinishCode(rt.dialect, names, mode as "rename" | "direct", literals(rt, expected)),
        )
    const budget = codeBudget(rt.profile, setup.protocol, rt.sizing)
    const plan = planExchange(
      { operation: req.operation, encoding: rt.encoding, data: req.data },
      { opened, offset },
      budget,
      { openBytes: head.length, closeBytes: close.length, chunkWrapBytes: setup.chunkWrapBytes },
    )
    const { chunk } = plan
    const chunkCode = chunk ? uploadChunkCode(names, chunk.consumed) : undefined
    const code = concatBytes([
      head,
      ...(chunk && chunkCode ? [chunkCode[0], chunk.expression, chunkCode[1]] : []),
      plan.close ? close : "",
    ])
    if (plan.close) yield* Ref.set(ctx.state, UploadState.Finishing({ expected }))
    const started = monotonicMs()
    const sent = run(rt, code, exchangeTimeout(code.length, plan.close ? prefixSize + req.data.length : 0), {
      composed: true,
    }).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          tally.exchanges++
          tally.wire += code.length
        }),
      ),
      // The exchange that closes the upload failed on the way: the board may have finished it.
      Effect.catchIf(
        (e): e is ProtocolError => !(e instanceof PythonError),
        (error) =>
          plan.close ? Effect.succeed<Sent>({ _tag: "Interrupted", expected, error }) : Effect.fail(error),
      ),
    )
    const replied = yield* Effect.catchIf(
      sent,
      (e): e is PythonError => e instanceof PythonError,
      (e) =>
        Effect.gen(function* () {
          // The board raised: the closing did not complete.
          yield* Ref.set(ctx.state, before)
          if (e.exceptionType === "MemoryError") {
            const learned = afterMemoryError(rt.profile.failedCodeBytes, code.length, {
              compiling: isCompileMemoryError(e),
              chunk: chunk !== undefined,
            })
            rt.profile.failedCodeBytes = learned.failedCodeBytes
            if (!learned.shrink) {
              return yield* new BoardMemoryError({
                operation: req.operation,
                path: req.path,
                chunkBytes: chunk?.consumed ?? 0,
                reason: e.pythonMessage,
              })
            }
            // Nothing ran. Smaller exchanges from now on, on a collected heap.
            yield* Effect.logDebug("Board out of memory parsing a chunk; smaller chunks").pipe(
              Effect.annotateLogs({ path: req.path, codeBytes: code.length }),
            )
            yield* Effect.ignore(rt.device.execBytes(COLLECT_GARBAGE))
            return yield* new ExchangeTooLarge({ error: e, chunkBytes: chunk?.consumed ?? 0 })
          }
          if (e.pythonMessage.includes(DAMAGED_CHUNK) || isDamagedInTransit(e, latin1(code))) {
            // Bytes were lost on the link and a part of the exchange refused to run. What ran
            // before it says so in what the board printed: the opening (`('m', ...)`) and the
            // chunk (`('w',)`).
            // Nothing printed: none of it ran (a damaged byte that broke the code's syntax stops
            // it compiling), so there is no frame to read and the state stays as it was.
            const lines = e.stdout.length === 0 ? [] : yield* parseFramed(e.stdout, req.operation, req.path)
            const state = afterPartialReply(ctx, setup, before, lines, chunk?.consumed ?? 0)
            yield* Ref.set(ctx.state, state)
            yield* Effect.logDebug("Part of an upload exchange arrived damaged; sending the rest again").pipe(
              Effect.annotateLogs({
                path: req.path,
                offset: state._tag === "Sending" ? state.offset : 0,
                error: e.message,
              }),
            )
            return yield* new DamagedExchange({ error: e })
          }
          return yield* Effect.fail(mapOSError(e, req.operation, req.path, rt.probe, req.data.length))
        }),
    )
    if (typeof replied !== "string") return replied
    const reply = replied
    recordRate(rt.profile, code.length, monotonicMs() - started)
    const lines = yield* parseFramed(reply, req.operation, req.path)
    let after: UploadState = before
    if (!opened) {
      const opening = lines[0]
      if (!Array.isArray(opening) || opening[0] !== "m") {
        return yield* unexpected(req.operation, req.path, "no opening reply", reply)
      }
      after = openingReply(rt, opening, setup.emptyHex)
      for (const line of lines) setup.noteReport(line)
    }
    if (chunk !== undefined && after._tag === "Sending") {
      after = UploadState.Sending({ ...after, offset: after.offset + chunk.consumed })
      req.onProgress?.({
        operation: req.operation,
        path: req.path,
        bytesDone: after.offset,
        bytesTotal: req.data.length,
      })
    }
    if (!plan.close) {
      yield* Ref.set(ctx.state, after)
      return { _tag: "More" } as const
    }
    return { _tag: "Closed", expected, outcome: lines.at(-1), reply } as const
  })

/** The opening's `('m', free, prefixSize, prefixDigest)`: note the free memory; the upload is open. */
const openingReply = (rt: FsRuntime, opening: ReadonlyArray<PythonValue>, emptyHex: string): UploadState => {
  const free = asNumber(opening[1])
  if (free !== undefined && free > 0) rt.profile.freeMemory = free
  return UploadState.Sending({
    offset: 0,
    prefixSize: asNumber(opening[2]) ?? 0,
    prefixHex: digestFromReply(opening[3]) ?? emptyHex,
  })
}

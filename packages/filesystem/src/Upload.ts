/**
 * Uploads: chunked to the board, verified end to end, landed atomically. `UploadPlan` sizes the
 * exchanges, `UploadExchanges` sends them, `UploadPolicy` says how each failure is recovered from;
 * this module runs an upload's attempts, in flight and with their cleanup on the session.
 * @internal
 */
import { BoardResetError, RequestDamagedError } from "@belay/transport"
import { Cause, Effect, Exit, Metric, Ref } from "effect"
import {
  type CommitMode,
  copyCommitCode,
  type ExpectedContent,
  finalizeCopyCode,
  guardCode,
  renameCommitCode,
  uploadAbortCode,
  uploadChunkCode,
  uploadFinishCode,
  uploadInspectCode,
  uploadOpenCode,
  uploadVerifyCode,
} from "./BoardCode.js"
import { type FsRuntime, run } from "./BoardExchange.js"
import { boardParent, joinBoardPath } from "./BoardPath.js"
import { fixedExchangeLimit } from "./BoardProfile.js"
import { digestHex, type FileHash } from "./Checksum.js"
import type { UploadEncoding } from "./Encoding.js"
import { BoardLimitError, BoardMemoryError, type FileSystemError, PartialWriteError } from "./errors.js"
import { FileSystemMetrics } from "./FileSystemMetrics.js"
import {
  inFlightDuring,
  noteTemporaryFiles,
  parseRegistry,
  queueFailedCleanup,
  uploadStem,
} from "./TemporaryFiles.js"
import {
  type ExchangeSetup,
  type Sent,
  sendExchange,
  type Tally,
  type UploadContext,
  type UploadRequest,
  uploadNames,
} from "./UploadExchanges.js"
import { abortCode, closedReply, commit, digestLiteral, recover } from "./UploadLanding.js"
import { commitModeOf } from "./UploadPlan.js"
import {
  attemptRecovery,
  cleanupOf,
  copyStarted,
  DAMAGED_RESENDS,
  exchangeRecovery,
  retryCleanup,
  UploadState,
} from "./UploadPolicy.js"
import { checkRoom } from "./UploadRoom.js"
import { transferFor, transferUpload } from "./UploadTransfer.js"

export type { UploadRequest } from "./UploadExchanges.js"
export { uploadNames } from "./UploadExchanges.js"
export { isTransientFailure } from "./UploadPolicy.js"

/**
 * What a write or append did.
 *
 * @since 0.1.0
 */
export interface WriteResult {
  readonly path: string
  /** Size of the file now. */
  readonly size: number
  /** Data bytes this call stored. */
  readonly bytesWritten: number
  /** Bytes of code sent to the board for it (data, encoding and protocol code). */
  readonly wireBytes: number
  readonly exchanges: number
  /** 1 unless a verification failed and the upload was repeated. */
  readonly attempts: number
  /** How the data went: in raw REPL exchanges in this encoding, or `file-transfer` (the link's own, e.g. WebREPL's put). */
  readonly encoding: UploadEncoding | "file-transfer"
  /** How the content landed: `rename` (atomic), `copy` (on-board copy of a verified temporary file), `direct` (not atomic). */
  readonly commit: CommitMode
  /** The whole file's hash, as the board computed it (writes only). */
  readonly hash?: FileHash
}

/** The size of the file appended to, as far as the fixed exchanges' length goes: up to 16 MB. */
const LARGEST_APPEND_PREFIX = 2 ** 24

/**
 * The longest exchange an upload of `req` sends besides its data, as sent (guarded): its opening,
 * its finish, its commit and its cleanup's. A long path is in every one of them.
 */
export const fixedExchangeBytes = (rt: FsRuntime, req: UploadRequest, mode: CommitMode): number => {
  const names = uploadNames(rt, uploadStem(rt.profile.token, rt.profile.seq + 1), req.native, mode)
  // The longest digest literals (every byte escaped).
  const digest = digestLiteral(rt, digestHex(rt.dialect.hash, new Uint8Array()).replace(/./g, "f"))
  const expected: ExpectedContent = {
    prefixSize: req.operation === "append" ? LARGEST_APPEND_PREFIX : 0,
    prefixDigest: digest,
    size: req.data.length,
    digest,
  }
  const codes = [
    uploadOpenCode(rt.dialect, names, {
      base64: rt.encoding === "base64",
      append: req.operation === "append",
      report: !rt.profile.roomy ? undefined : rt.dialect.flat ? "" : boardParent(req.native),
    }),
    mode === "copy"
      ? uploadVerifyCode(rt.dialect, names, expected.prefixSize)
      : uploadFinishCode(rt.dialect, names, mode, expected),
    uploadInspectCode(rt.dialect, names, expected),
    uploadAbortCode(names, mode),
    ...(mode === "copy"
      ? [
          copyCommitCode(rt.dialect, names, expected.prefixSize + expected.size),
          finalizeCopyCode(rt.dialect, names, expected),
        ]
      : mode === "rename"
        ? [renameCommitCode(names)]
        : []),
  ]
  return Math.max(...codes.map((code) => guardCode(code).length))
}

/**
 * Refuse, before anything is sent, an upload whose fixed exchanges (see {@link fixedExchangeBytes})
 * would not fit in the board's memory: it could write its temporary file and then fail to commit.
 */
export const checkUploadFits = (rt: FsRuntime, req: UploadRequest): Effect.Effect<void, BoardLimitError> =>
  Effect.suspend(() => {
    const mode = commitModeOf(req.atomic, rt.dialect.os.has("rename"))
    const bytes = fixedExchangeBytes(rt, req, mode)
    const limit = fixedExchangeLimit(rt.profile)
    if (bytes <= limit) return Effect.void
    return Effect.fail(
      new BoardLimitError({
        operation: req.operation,
        path: req.path,
        limit: "exchange-size",
        reason: `its path makes the code that commits it ${bytes} bytes long; with ${rt.profile.freeMemory} bytes of free memory the board takes at most ${limit} (use a shorter path)`,
      }),
    )
  })

/**
 * Upload `data` to a temporary file next to the target (or the target itself when not atomic),
 * in exchanges sized to the board, verify what the board holds against what was sent, and only
 * then commit it under the real name. A failure at any point leaves the real name untouched
 * (except in `direct` mode) and removes the temporary file; a reset during the commit is rolled
 * forward when the complete temporary file survived it. A whole attempt is repeated after a
 * verification failure or a MemoryError (see `attemptRecovery`). A write on a board without
 * rename, or in place, first checks that the board has room for it (see `checkRoom`); one in place
 * that fails after it began is a `PartialWriteError`.
 */
export const upload = (rt: FsRuntime, req: UploadRequest): Effect.Effect<WriteResult, FileSystemError> =>
  Effect.suspend(() => {
    const mode = commitModeOf(req.atomic, rt.dialect.os.has("rename"))
    const digest = digestHex(rt.dialect.hash, req.data)
    let attempts = 0
    const roomCheck = checkRoom(rt, req, mode)
    const attempted = Effect.suspend(() => uploadAttempt(rt, req, mode, digest, ++attempts)).pipe(
      Effect.retry(attemptRecovery(rt.verifyRetries, req.path)),
    )
    return Effect.andThen(roomCheck, mode === "direct" ? damagedInPlace(req, attempted) : attempted).pipe(
      Effect.tap(() => Metric.update(FileSystemMetrics.bytesUploaded, req.data.length)),
    )
  })

/** Failures of a write in place after it began: the real file is damaged or incomplete. */
const DAMAGING = new Set(["TransferVerificationError", "NoSpaceError", "BoardFileSystemError"])

/** A write in place that failed after it began says that the real file is damaged, and how to retry. */
const damagedInPlace = <A>(
  req: UploadRequest,
  effect: Effect.Effect<A, FileSystemError>,
): Effect.Effect<A, FileSystemError> =>
  Effect.catchIf(
    effect,
    (error) => DAMAGING.has(error._tag),
    (error) =>
      Effect.fail(
        new PartialWriteError({
          operation: req.operation,
          path: req.path,
          size: req.data.length,
          reason: error.message,
        }),
      ),
  )

/** The session's cleanup of an upload left in the state `ctx.state` holds. */
const cleanupUpload = (ctx: UploadContext): Effect.Effect<void, FileSystemError> =>
  Effect.gen(function* () {
    const abort = retryCleanup(run(ctx.rt, abortCode(ctx)))
    const action = cleanupOf(yield* Ref.get(ctx.state))
    if (action._tag === "Nothing") return
    if (action._tag === "Abort") return yield* Effect.asVoid(abort)
    // The board may hold the whole content: finish the commit. Could not: unless a copy began to
    // overwrite the real file (the verified temporary file is then its only whole copy, kept),
    // nothing under the real name depends on the temporary file: drop it.
    yield* retryCleanup(recover(ctx, action.expected)).pipe(
      Effect.catch((error) =>
        Effect.flatMap(Ref.get(ctx.state), (state) =>
          copyStarted(state) ? Effect.fail(error) : Effect.asVoid(abort),
        ),
      ),
    )
  })

const uploadAttempt = (
  rt: FsRuntime,
  req: UploadRequest,
  mode: CommitMode,
  digest: string,
  attempt: number,
): Effect.Effect<WriteResult, FileSystemError> =>
  Effect.suspend(() => {
    const stem = uploadStem(rt.profile.token, ++rt.profile.seq)
    const names = uploadNames(rt, stem, req.native, mode)
    // In flight from before its first exchange to after its last (or its cleanup's): another
    // session's cleanup of dead temporary files leaves it alone (see TemporaryFiles).
    return inFlightDuring(
      stem,
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const ctx: UploadContext = {
            rt,
            req,
            mode,
            names,
            digest,
            state: yield* Ref.make<UploadState>(UploadState.Opening()),
          }
          // Registered with the session before anything is sent: whatever stops this upload, the
          // temporary file goes (or, when the complete content is on the board, the commit is
          // finished). An exchange of the cleanup lost or damaged on the way is sent again.
          const handle = yield* rt.session.resources.track("BoardTempFile", cleanupUpload(ctx), {
            resourceId: `${names.temp}`,
            estimatedCost: req.data.length,
          })
          const exit = yield* Effect.exit(restore(uploadBody(ctx)))
          if (Exit.isSuccess(exit)) {
            yield* Ref.set(ctx.state, UploadState.Done())
            yield* handle.forget
            return { ...exit.value, attempts: attempt }
          }
          // Clean up now rather than at session end. A failing cleanup is logged and its files
          // queued: the connection removes them after this operation, or before its next one
          // (unless a copy began: the temporary file is then the only whole copy). The cause stands.
          yield* handle.release.pipe(
            Effect.catchCause((cause) =>
              Effect.andThen(
                Effect.flatMap(Ref.get(ctx.state), (state) =>
                  Effect.sync(() => {
                    if (mode === "direct" || copyStarted(state)) return
                    const board = (native: string) => (rt.dialect.flat ? `/${native}` : native)
                    queueFailedCleanup(rt.profile, stem, [
                      { path: board(names.temp), native: names.temp },
                      ...(mode === "copy" ? [{ path: board(names.reserve), native: names.reserve }] : []),
                    ])
                  }),
                ),
                Effect.logWarning("Could not clean up after an upload; its files go next").pipe(
                  Effect.annotateLogs({ path: req.path, temp: names.temp, cause: Cause.pretty(cause) }),
                ),
              ),
            ),
          )
          return yield* Effect.failCause(exit.cause)
        }),
      ),
    )
  })

/** What the opening lists of a directory's temporary files, and how the upload notes it. */
const reportSetup = (ctx: UploadContext): Pick<ExchangeSetup, "report" | "noteReport"> => {
  const { rt, req } = ctx
  // The first upload into a directory on this connection (unless the probe looked at it: the
  // root, on a board with room) lists its temporary files in the opening exchange: the dead ones
  // go afterwards.
  const dir = boardParent(req.path)
  const report =
    rt.profile.scannedDirectories.has(dir) || !rt.profile.roomy
      ? undefined
      : rt.dialect.flat
        ? ""
        : boardParent(req.native)
  const noteReport = (line: unknown) => {
    if (!Array.isArray(line) || line[0] !== "t" || !Array.isArray(line[1])) return
    rt.profile.scannedDirectories.add(dir)
    const found = line[1].flatMap((n) => (typeof n === "string" ? [joinBoardPath(dir, n)] : []))
    noteTemporaryFiles(rt.profile, found, parseRegistry(line[2]), (path) =>
      rt.dialect.flat ? path.slice(1) : path,
    )
  }
  return { report, noteReport }
}

/** Send the data (exchange by exchange, each recovered by the policy), then land it. */
const uploadBody = (ctx: UploadContext): Effect.Effect<Omit<WriteResult, "attempts">, FileSystemError> =>
  Effect.gen(function* () {
    const { rt, req } = ctx
    const transfer = transferFor(ctx)
    if (transfer !== undefined) {
      const sent = yield* transferUpload(ctx, transfer)
      if (sent !== undefined) return { ...finished(ctx, 0, sent)(), encoding: "file-transfer" as const }
    }
    const startGeneration = yield* rt.device.generation
    const setup: ExchangeSetup = {
      protocol: yield* rt.device.protocolCapabilities,
      chunkWrapBytes: uploadChunkCode(ctx.names, 1 << 30).join("").length,
      emptyHex: digestHex(rt.dialect.hash, new Uint8Array()),
      ...reportSetup(ctx),
    }
    const tally: Tally = { wire: 0, exchanges: 0 }
    const exchange = Effect.gen(function* () {
      if (tally.exchanges > 0 && (yield* rt.device.generation) !== startGeneration) {
        return yield* new BoardResetError({ phase: "stdout", banner: "(the board reset between exchanges)" })
      }
      return yield* sendExchange(ctx, setup, tally)
    }).pipe(
      Effect.retry(exchangeRecovery(rt.sizing)),
      Effect.catchTags({
        // Damaged on the way every time it was sent: the link's failure, typed as one (the board's
        // SyntaxError or refusal of a mangled request is not the caller's error).
        DamagedExchange: (e) =>
          Effect.fail(
            new RequestDamagedError({
              reason: `an exchange of the upload of ${req.path}: ${e.error.message}`,
              attempts: DAMAGED_RESENDS + 1,
            }),
          ),
        ExchangeTooLarge: (e) =>
          Effect.fail(
            new BoardMemoryError({
              operation: req.operation,
              path: req.path,
              chunkBytes: e.chunkBytes,
              reason: e.error.pythonMessage,
            }),
          ),
      }),
    )
    const sendRest = (): Effect.Effect<Exclude<Sent, { _tag: "More" }>, FileSystemError> =>
      Effect.flatMap(exchange, (sent) => (sent._tag === "More" ? sendRest() : Effect.succeed(sent)))
    const last = yield* sendRest()
    const done = finished(ctx, last.expected.prefixSize, tally)
    if (last._tag === "Interrupted") {
      // The exchange that closes the upload failed on the way: finish what can be finished.
      const recovered = yield* Effect.exit(recover(ctx, last.expected))
      if (Exit.isFailure(recovered) || recovered.value !== "ok") return yield* Effect.fail(last.error)
      yield* Effect.logWarning("Finishing the upload was interrupted; completed it on the board").pipe(
        Effect.annotateLogs({ path: req.path, error: last.error.message }),
      )
      return done()
    }
    if ((yield* closedReply(ctx, last)) === "verified") {
      // A copy that came out wrong, or a commit cut short (reset, timeout, no room for the copy, a
      // damaged reply), is settled from the board's state: roll forward from a complete temporary
      // file, or drop what is left. Failing that, the session's cleanup does it.
      const committed = yield* Effect.exit(commit(ctx, last.expected))
      if (Exit.isFailure(committed)) {
        const recovered = yield* Effect.exit(recover(ctx, last.expected))
        if (Exit.isFailure(recovered) || recovered.value !== "ok")
          return yield* Effect.failCause(committed.cause)
      }
      yield* Ref.set(ctx.state, UploadState.Done())
    }
    return done()
  })

const finished =
  (ctx: UploadContext, prefixSize: number, tally: Tally) => (): Omit<WriteResult, "attempts"> => ({
    path: ctx.req.path,
    size: prefixSize + ctx.req.data.length,
    bytesWritten: ctx.req.data.length,
    wireBytes: tally.wire,
    exchanges: tally.exchanges,
    encoding: ctx.rt.encoding,
    commit: ctx.mode,
    ...(ctx.req.operation === "write" && {
      hash: {
        path: ctx.req.path,
        algorithm: ctx.rt.dialect.hash,
        digest: ctx.digest,
        size: ctx.req.data.length,
      },
    }),
  })

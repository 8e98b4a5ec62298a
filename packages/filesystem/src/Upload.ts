/**
 * Uploads: chunked to the board, verified end to end, landed atomically.
 * @internal
 */
import { BoardResetError, type ProtocolError, PythonError, type PythonValue } from "@belay/transport"
import { isCompileMemoryError } from "@belay/transport/internal"
import { Cause, Effect, Exit, Metric } from "effect"
import {
  type CommitMode,
  copyCommitCode,
  DAMAGED_CHUNK,
  type ExpectedContent,
  finalizeCopyCode,
  guardCode,
  HOLDS,
  py,
  renameCommitCode,
  type UploadNames,
  uploadAbortCode,
  uploadChunkCode,
  uploadEntry,
  uploadFinishCode,
  uploadInspectCode,
  uploadOpenCode,
  uploadVerifyCode,
} from "./BoardCode.js"
import {
  asNumber,
  type FsRuntime,
  isDamagedInTransit,
  mapBoardErrors,
  mapOSError,
  parseFramed,
  REPLY_ATTEMPTS,
  run,
  unexpected,
} from "./BoardExchange.js"
import { digestFromReply } from "./BoardHash.js"
import { boardParent, joinBoardPath } from "./BoardPath.js"
import { codeBudget, fixedExchangeLimit, MIN_EXCHANGE_BYTES, recordRate } from "./BoardProfile.js"
import { digestHex, type FileHash, fromHex } from "./Checksum.js"
import { type EncodedChunk, encodeChunk, type UploadEncoding } from "./Encoding.js"
import {
  BoardLimitError,
  BoardMemoryError,
  type FileSystemError,
  TransferVerificationError,
  type UnexpectedBoardReplyError,
} from "./errors.js"
import { FileSystemMetrics } from "./FileSystemMetrics.js"
import {
  inFlightDuring,
  noteTemporaryFiles,
  OWNER,
  parseRegistry,
  queueFailedCleanup,
  uploadStem,
} from "./TemporaryFiles.js"
import type { TransferProgress } from "./TransferProgress.js"

/** What a write or append did. */
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
  readonly encoding: UploadEncoding
  /** How the content landed: `rename` (atomic), `copy` (on-board copy of a verified temporary file), `direct` (not atomic). */
  readonly commit: CommitMode
  /** The whole file's hash, as the board computed it (writes only). */
  readonly hash?: FileHash
}

export interface UploadRequest {
  readonly operation: "write" | "append"
  readonly path: string
  readonly native: string
  readonly data: Uint8Array
  readonly atomic: boolean
  readonly onProgress?: ((progress: TransferProgress) => void) | undefined
}

const enc = new TextEncoder()
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")

const concat = (parts: ReadonlyArray<Uint8Array | string>): Uint8Array => {
  const bytes = parts.map((p) => (typeof p === "string" ? enc.encode(p) : p))
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0))
  let at = 0
  for (const b of bytes) {
    out.set(b, at)
    at += b.length
  }
  return out
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

/**
 * The longest exchange an upload of `req` sends besides its data, as sent (guarded): its opening,
 * its finish, its commit and its cleanup's. A long path is in every one of them.
 */
export const fixedExchangeBytes = (rt: FsRuntime, req: UploadRequest, mode: CommitMode): number => {
  const names = uploadNames(rt, uploadStem(rt.profile.token, rt.profile.seq + 1), req.native, mode)
  // The longest digest literals (every byte escaped); the size of the file appended to is not
  // known yet: up to 16 MB.
  const digest = digestLiteral(rt, digestHex(rt.dialect.hash, new Uint8Array()).replace(/./g, "f"))
  const expected: ExpectedContent = {
    prefixSize: req.operation === "append" ? 2 ** 24 : 0,
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
    const mode: CommitMode = !req.atomic ? "direct" : rt.dialect.os.has("rename") ? "rename" : "copy"
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

/** Digest literal as the board's `_bh` returns it: bytes for hashlib, a hex str for adler32. */
const digestLiteral = (rt: FsRuntime, hex: string) =>
  rt.dialect.hash === "adler32" ? py(hex) : py(fromHex(hex))

const exchangeTimeout = (codeBytes: number, hashedBytes: number) => 30_000 + codeBytes * 2 + hashedBytes / 4

/** A retryable failure of one attempt: verification mismatch or a MemoryError while running. */
type AttemptError = FileSystemError

const isRetryable = (error: AttemptError): boolean =>
  error._tag === "TransferVerificationError" || error._tag === "BoardMemoryError"

/**
 * Upload `data` to a temporary file next to the target (or the target itself when not atomic),
 * in exchanges sized to the board, verify what the board holds against what was sent, and only
 * then commit it under the real name. A failure at any point leaves the real name untouched
 * (except in `direct` mode) and removes the temporary file; a reset during the commit is rolled
 * forward when the complete temporary file survived it.
 */
export const upload = (rt: FsRuntime, req: UploadRequest): Effect.Effect<WriteResult, AttemptError> =>
  Effect.gen(function* () {
    const mode: CommitMode = !req.atomic ? "direct" : rt.dialect.os.has("rename") ? "rename" : "copy"
    const digest = digestHex(rt.dialect.hash, req.data)
    let attempts = 0
    for (;;) {
      attempts++
      const exit = yield* Effect.exit(uploadAttempt(rt, req, mode, digest, attempts))
      if (Exit.isSuccess(exit)) {
        yield* Metric.update(FileSystemMetrics.bytesUploaded, req.data.length)
        return exit.value
      }
      const failure = Cause.findErrorOption(exit.cause)
      if (failure._tag === "Some" && isRetryable(failure.value) && attempts <= rt.verifyRetries) {
        yield* Effect.logWarning("Upload attempt failed; retrying").pipe(
          Effect.annotateLogs({ path: req.path, attempt: attempts, error: failure.value.message }),
        )
        continue
      }
      return yield* exit
    }
  })

/** What the board must hold when an upload is done, as hex (host side). */
interface Expected {
  readonly prefixSize: number
  readonly prefixHex: string
  readonly size: number
  readonly digestHex: string
}

/** The same, as Python literals for board code. */
const literals = (rt: FsRuntime, e: Expected): ExpectedContent => ({
  prefixSize: e.prefixSize,
  prefixDigest: digestLiteral(rt, e.prefixHex),
  size: e.size,
  digest: digestLiteral(rt, e.digestHex),
})

/** Does a `_bh` reply `(size, prefixDigest, digest)` show the expected content? */
const holds = (value: PythonValue | undefined, e: Expected): boolean =>
  Array.isArray(value) &&
  asNumber(value[0]) === e.size &&
  digestFromReply(value[1]) === e.prefixHex &&
  digestFromReply(value[2]) === e.digestHex

/** Which file holds the content, from the constant reply of an inspect or finalize exchange. */
const holder = (
  values: ReadonlyArray<PythonValue>,
  req: UploadRequest,
): Effect.Effect<(typeof HOLDS)[number], UnexpectedBoardReplyError> => {
  const value = values.at(-1)
  const name = Array.isArray(value) ? value[0] : undefined
  const found = HOLDS.find((h) => h === name)
  return found === undefined
    ? Effect.fail(unexpected(req.operation, req.path, "not which file holds the content", String(name)))
    : Effect.succeed(found)
}

const describeReply = (value: PythonValue | undefined): string =>
  Array.isArray(value) ? `${asNumber(value[0])} bytes, ${digestFromReply(value[2])}` : "nothing"

interface UploadState {
  phase: "sending" | "finishing" | "done"
  expected: Expected | undefined
  /** A copy commit was sent: the real file may be partly overwritten (`copy` mode). */
  copyStarted: boolean
}

/** Land a verified temporary file under the real name: rename, or reserve + copy + check. */
const commit = (
  rt: FsRuntime,
  req: UploadRequest,
  mode: CommitMode,
  names: UploadNames,
  expected: Expected,
  state: UploadState,
): Effect.Effect<void, FileSystemError> =>
  Effect.gen(function* () {
    const mapError = mapBoardErrors(req.operation, req.path, rt.probe, expected.prefixSize + expected.size)
    if (mode === "rename") {
      yield* run(rt, renameCommitCode(names)).pipe(mapError)
      return
    }
    if (mode !== "copy") return
    const total = expected.prefixSize + expected.size
    state.copyStarted = true
    yield* run(rt, copyCommitCode(rt.dialect, names, total), exchangeTimeout(0, 2 * total)).pipe(mapError)
    const out = yield* run(
      rt,
      finalizeCopyCode(rt.dialect, names, literals(rt, expected)),
      exchangeTimeout(0, total),
    ).pipe(mapError)
    if ((yield* holder(yield* parseFramed(out, req.operation, req.path), req)) !== "real") {
      return yield* new TransferVerificationError({
        operation: req.operation,
        path: req.path,
        algorithm: rt.dialect.hash,
        expected: `${expected.size} bytes, ${expected.digestHex}`,
        actual: "a copy that differs",
        attempts: 1,
      })
    }
  })

/**
 * Where an interrupted upload stands, and finish it: the real file already holds the new content
 * (drop the temporary file), or the temporary file holds it complete (commit it: roll forward),
 * or neither (drop the temporary file: nothing was committed).
 */
const recover = (
  rt: FsRuntime,
  req: UploadRequest,
  mode: CommitMode,
  names: UploadNames,
  expected: Expected,
  upload: UploadState,
): Effect.Effect<"ok" | "lost", FileSystemError> =>
  Effect.gen(function* () {
    const total = expected.prefixSize + expected.size
    // Inspecting changes nothing but closing the handle (idempotent): a damaged reply is asked for
    // again, a bounded number of times, rather than leaving the temporary file to chance.
    let attempt = 0
    const inspect: Effect.Effect<ReadonlyArray<PythonValue>, FileSystemError> = Effect.flatMap(
      run(rt, uploadInspectCode(rt.dialect, names, literals(rt, expected)), exchangeTimeout(0, 2 * total)),
      (out) => parseFramed(out, req.operation, req.path),
    ).pipe(
      Effect.catchIf(
        (e) => e._tag === "UnexpectedBoardReplyError" && ++attempt < REPLY_ATTEMPTS,
        () => inspect,
      ),
    )
    const holds = yield* holder(yield* inspect, req)
    const abort = run(rt, uploadAbortCode(names, mode))
    if (holds === "real") {
      yield* abort
      return "ok" as const
    }
    if (mode !== "direct" && holds === "temp") {
      yield* commit(rt, req, mode, names, expected, upload)
      return "ok" as const
    }
    yield* abort
    return "lost" as const
  })

/**
 * @internal Failures after which a cleanup exchange is worth sending again: the link is up but an
 * exchange was lost or damaged on the way, the board reset under it (its files stay), or a stray
 * Ctrl-C (an interrupt of an earlier exchange, repeated on the line) interrupted it. Cleanup
 * exchanges are idempotent (`recover` looks at the board afresh each time).
 */
export const isTransientFailure = (error: { readonly _tag: string }): boolean =>
  error._tag === "ProtocolTimeoutError" ||
  error._tag === "UnexpectedBytesError" ||
  error._tag === "UnexpectedBoardReplyError" ||
  error._tag === "RequestDamagedError" ||
  error._tag === "OutputDamagedError" ||
  error._tag === "BoardResetError" ||
  (error instanceof PythonError && error.exceptionType === "KeyboardInterrupt")

/** Sends of a cleanup exchange (abort, or recover) that failed on the way. */
const CLEANUP_ATTEMPTS = 4

const uploadAttempt = (
  rt: FsRuntime,
  req: UploadRequest,
  mode: CommitMode,
  digest: string,
  attempt: number,
): Effect.Effect<WriteResult, AttemptError> =>
  Effect.suspend(() => {
    const stem = uploadStem(rt.profile.token, ++rt.profile.seq)
    const names = uploadNames(rt, stem, req.native, mode)
    // In flight from before its first exchange to after its last (or its cleanup's): another
    // session's cleanup of dead temporary files leaves it alone (see TemporaryFiles).
    return inFlightDuring(
      stem,
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const state: UploadState = { phase: "sending", expected: undefined, copyStarted: false }
          const abort = run(rt, uploadAbortCode(names, mode)).pipe(
            Effect.retry({ times: CLEANUP_ATTEMPTS - 1, while: isTransientFailure }),
          )
          // Registered with the session before anything is sent: whatever stops this upload, the
          // temporary file goes (or, when the complete content is on the board, the commit is
          // finished). An exchange of the cleanup lost or damaged on the way is sent again.
          const cleanup = Effect.suspend(() => {
            if (state.phase === "done") return Effect.void
            if (state.phase === "finishing" && state.expected !== undefined) {
              const finish = recover(rt, req, mode, names, state.expected, state).pipe(
                Effect.retry({ times: CLEANUP_ATTEMPTS - 1, while: isTransientFailure }),
              )
              // Could not finish it. Unless a copy began to overwrite the real file (the verified
              // temporary file is then its only whole copy, kept), nothing under the real name
              // depends on the temporary file: drop it.
              return Effect.catch(Effect.asVoid(finish), (error) =>
                state.copyStarted ? Effect.fail(error) : Effect.asVoid(abort),
              )
            }
            return Effect.asVoid(abort)
          })
          const handle = yield* rt.session.resources.track("BoardTempFile", cleanup, {
            resourceId: `${names.temp}`,
            estimatedCost: req.data.length,
          })
          const exit = yield* Effect.exit(restore(uploadBody(rt, req, mode, digest, names, state)))
          if (Exit.isSuccess(exit)) {
            state.phase = "done"
            yield* handle.forget
            return { ...exit.value, attempts: attempt }
          }
          // Clean up now rather than at session end. A failing cleanup is logged and its files
          // queued: the connection removes them after this operation, or before its next one
          // (unless a copy began: the temporary file is then the only whole copy). The cause stands.
          yield* handle.release.pipe(
            Effect.catchCause((cause) =>
              Effect.andThen(
                Effect.sync(() => {
                  if (mode === "direct" || state.copyStarted) return
                  const board = (native: string) => (rt.dialect.flat ? `/${native}` : native)
                  queueFailedCleanup(rt.profile, stem, [
                    { path: board(names.temp), native: names.temp },
                    ...(mode === "copy" ? [{ path: board(names.reserve), native: names.reserve }] : []),
                  ])
                }),
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

const uploadBody = (
  rt: FsRuntime,
  req: UploadRequest,
  mode: CommitMode,
  digest: string,
  names: UploadNames,
  state: UploadState,
): Effect.Effect<Omit<WriteResult, "attempts">, AttemptError> =>
  Effect.gen(function* () {
    const { data } = req
    const protocol = yield* rt.device.protocolCapabilities
    const startGeneration = yield* rt.device.generation
    const wrap = uploadChunkCode(names, 1 << 30).join("").length
    const emptyHex = digestHex(rt.dialect.hash, new Uint8Array())
    let damaged = 0
    let offset = 0
    let opened = false
    let prefixSize = 0
    let prefixHex = emptyHex
    let wire = 0
    let exchanges = 0
    const mapError = (error: PythonError) =>
      mapOSError(error, req.operation, req.path, rt.probe, req.data.length)
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
    const noteReport = (line: PythonValue) => {
      if (!Array.isArray(line) || line[0] !== "t" || !Array.isArray(line[1])) return
      rt.profile.scannedDirectories.add(dir)
      const found = line[1].flatMap((n) => (typeof n === "string" ? [joinBoardPath(dir, n)] : []))
      noteTemporaryFiles(rt.profile, found, parseRegistry(line[2]), (path) =>
        rt.dialect.flat ? path.slice(1) : path,
      )
    }
    const verificationError = (actual: string) =>
      new TransferVerificationError({
        operation: req.operation,
        path: req.path,
        algorithm: rt.dialect.hash,
        expected: `${data.length} bytes, ${digest}`,
        actual,
        attempts: 1,
      })

    for (;;) {
      if (exchanges > 0 && (yield* rt.device.generation) !== startGeneration) {
        return yield* new BoardResetError({ phase: "stdout", banner: "(the board reset between exchanges)" })
      }
      const budget = codeBudget(rt.profile, protocol, rt.sizing)
      // The protocol parts (they name the files) are guarded; the data is length-checked.
      const guard = (code: string) => (code !== "" ? guardCode(code) : code)
      const head = opened
        ? ""
        : guard(
            uploadOpenCode(rt.dialect, names, {
              base64: rt.encoding === "base64",
              append: req.operation === "append",
              report,
            }),
          )
      const finishable = opened || req.operation === "write"
      const expected: Expected | undefined = finishable
        ? { prefixSize, prefixHex, size: data.length, digestHex: digest }
        : undefined
      const finish = guard(
        expected === undefined
          ? ""
          : mode === "copy"
            ? uploadVerifyCode(rt.dialect, names, prefixSize)
            : uploadFinishCode(rt.dialect, names, mode, literals(rt, expected)),
      )
      const remaining = data.length - offset
      let chunk: EncodedChunk | undefined
      let withFinish = false
      if (remaining === 0) {
        withFinish = finishable
      } else {
        const roomWithFinish = budget - head.length - finish.length - wrap
        if (finishable && roomWithFinish >= 16) {
          const candidate = encodeChunk(rt.encoding, data, offset, roomWithFinish)
          if (candidate.consumed === remaining) {
            chunk = candidate
            withFinish = true
          }
        }
        if (chunk === undefined) {
          const room = budget - head.length - wrap
          if (room >= 16 || opened) chunk = encodeChunk(rt.encoding, data, offset, Math.max(16, room))
        }
      }
      const chunkCode = chunk ? uploadChunkCode(names, chunk.consumed) : undefined
      const code = concat([
        head,
        ...(chunk && chunkCode ? [chunkCode[0], chunk.expression, chunkCode[1]] : []),
        withFinish ? finish : "",
      ])
      if (withFinish) {
        state.phase = "finishing"
        state.expected = expected
      }
      const started = performance.now()
      const result = yield* Effect.exit(
        run(rt, code, exchangeTimeout(code.length, withFinish ? prefixSize + data.length : 0), {
          composed: true,
        }),
      )
      exchanges++
      wire += code.length
      if (Exit.isFailure(result)) {
        const error = Cause.findErrorOption(result.cause)
        if (error._tag === "None") return yield* Effect.failCause(result.cause)
        const e = error.value
        if (e instanceof PythonError) state.phase = "sending"
        if (e instanceof PythonError && e.exceptionType === "MemoryError") {
          rt.profile.failedCodeBytes = Math.min(rt.profile.failedCodeBytes, code.length)
          if (isCompileMemoryError(e) && code.length > 2 * MIN_EXCHANGE_BYTES && chunk !== undefined) {
            // Nothing ran. Smaller exchanges from now on, on a collected heap.
            yield* Effect.logDebug("Board out of memory parsing a chunk; smaller chunks").pipe(
              Effect.annotateLogs({ path: req.path, codeBytes: code.length }),
            )
            yield* Effect.ignore(rt.device.execBytes("import gc\ngc.collect()"))
            continue
          }
          return yield* new BoardMemoryError({
            operation: req.operation,
            path: req.path,
            chunkBytes: chunk?.consumed ?? 0,
            reason: e.pythonMessage,
          })
        }
        if (
          e instanceof PythonError &&
          (e.pythonMessage.includes(DAMAGED_CHUNK) || isDamagedInTransit(e, latin1(code))) &&
          ++damaged < 8
        ) {
          // Bytes were lost on the link and a part of the exchange refused to run. What ran before
          // it says so in what the board printed: the head (`('m', ...)`) and the chunk (`('w',)`).
          for (const line of yield* parseFramed(e.stdout, req.operation, req.path)) {
            if (!Array.isArray(line)) continue
            if (line[0] === "m" && !opened) {
              ;[prefixSize, prefixHex] = openingReply(rt, line, emptyHex)
              opened = true
            } else if (line[0] === "t") {
              noteReport(line)
            } else if (line[0] === "w" && chunk !== undefined) {
              offset += chunk.consumed
            }
          }
          yield* Effect.logDebug("Part of an upload exchange arrived damaged; sending the rest again").pipe(
            Effect.annotateLogs({ path: req.path, offset, error: e.message }),
          )
          continue
        }
        if (e instanceof PythonError) return yield* mapError(e)
        if (withFinish && expected !== undefined) {
          // The exchange that finishes failed (reset, timeout, lost link): finish what can be finished.
          const recovered = yield* Effect.exit(recover(rt, req, mode, names, expected, state))
          if (Exit.isSuccess(recovered)) {
            state.phase = "done"
            if (recovered.value === "ok") {
              yield* Effect.logWarning(
                "Finishing the upload was interrupted; completed it on the board",
              ).pipe(Effect.annotateLogs({ path: req.path, error: e.message }))
              return finished(rt, req, mode, prefixSize, digest, wire, exchanges)
            }
          }
        }
        return yield* Effect.fail(e as ProtocolError)
      }
      recordRate(rt.profile, code.length, performance.now() - started)
      const lines = yield* parseFramed(result.value, req.operation, req.path)
      if (!opened) {
        const opening = lines[0]
        if (!Array.isArray(opening) || opening[0] !== "m") {
          return yield* unexpected(req.operation, req.path, "no opening reply", result.value)
        }
        ;[prefixSize, prefixHex] = openingReply(rt, opening, emptyHex)
        opened = true
        for (const line of lines) noteReport(line)
      }
      offset += chunk?.consumed ?? 0
      if (chunk !== undefined && req.onProgress) {
        req.onProgress({
          operation: req.operation,
          path: req.path,
          bytesDone: offset,
          bytesTotal: data.length,
        })
      }
      if (!withFinish || expected === undefined) continue
      const outcome = lines.at(-1)
      if (mode === "copy") {
        // The board printed the temporary file's hash; the host compares, then commits.
        if (!holds(outcome, expected)) {
          state.phase = "sending"
          return yield* verificationError(describeReply(outcome))
        }
        // A copy that came out wrong, or a commit cut short (reset, timeout), is finished from the
        // verified temporary file; if that cannot be done now, the session's cleanup tries again.
        const committed = yield* Effect.exit(commit(rt, req, mode, names, expected, state))
        if (Exit.isFailure(committed)) {
          // Whatever stopped the commit (no room for the copy: the board removed the temporary
          // file; a damaged reply; a reset), the board's state decides: roll forward from a complete
          // temporary file, or drop what is left. Failing that, the session's cleanup does it.
          const recovered = yield* Effect.exit(recover(rt, req, mode, names, expected, state))
          if (Exit.isFailure(recovered)) return yield* Effect.failCause(committed.cause)
          state.phase = "done"
          if (recovered.value !== "ok") return yield* Effect.failCause(committed.cause)
        }
        state.phase = "done"
        return finished(rt, req, mode, prefixSize, digest, wire, exchanges)
      }
      if (Array.isArray(outcome) && outcome[0] === "ok") {
        state.phase = "done"
        return finished(rt, req, mode, prefixSize, digest, wire, exchanges)
      }
      if (Array.isArray(outcome) && outcome[0] === "bad") {
        state.phase = "done"
        return yield* verificationError(describeReply(outcome.slice(1)))
      }
      return yield* unexpected(req.operation, req.path, "no commit reply", result.value)
    }
  })

/** The first exchange's `('m', free, prefixSize, prefixDigest)`: note the free memory, return the prefix. */
const openingReply = (
  rt: FsRuntime,
  opening: ReadonlyArray<PythonValue>,
  emptyHex: string,
): [number, string] => {
  const free = asNumber(opening[1])
  if (free !== undefined && free > 0) rt.profile.freeMemory = free
  return [asNumber(opening[2]) ?? 0, digestFromReply(opening[3]) ?? emptyHex]
}

const finished = (
  rt: FsRuntime,
  req: UploadRequest,
  mode: CommitMode,
  prefixSize: number,
  digest: string,
  wire: number,
  exchanges: number,
): Omit<WriteResult, "attempts"> => ({
  path: req.path,
  size: prefixSize + req.data.length,
  bytesWritten: req.data.length,
  wireBytes: wire,
  exchanges,
  encoding: rt.encoding,
  commit: mode,
  ...(req.operation === "write" && {
    hash: { path: req.path, algorithm: rt.dialect.hash, digest, size: req.data.length },
  }),
})

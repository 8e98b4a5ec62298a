/**
 * Downloads: one streamed exchange per file, constant memory on the board, verified end to end.
 * @internal
 */
import { PythonError, type PythonValue, parsePythonLiteral } from "@belay/transport"
import { concatBytes, fromBase64, monotonicMs } from "@belay/transport/internal"
import { Effect, Metric, Result, Schedule } from "effect"
import { downloadCode, downloadRawCode } from "./BoardCode.js"
import {
  asNumber,
  type FsRuntime,
  isDamagedInTransit,
  mapOSError,
  replyTimeoutMs,
  runBytes,
  runStreamed,
  unexpected,
} from "./BoardExchange.js"
import { digestFromReply } from "./BoardHash.js"
import { recordRate } from "./BoardProfile.js"
import { createHasher, digestHex } from "./Checksum.js"
import { unescapeRawOutput } from "./Encoding.js"
import { type FileSystemError, TransferVerificationError, type UnexpectedBoardReplyError } from "./errors.js"
import { FileSystemMetrics } from "./FileSystemMetrics.js"
import type { TransferProgress } from "./TransferProgress.js"

export interface DownloadRequest {
  readonly path: string
  readonly native: string
  /** Size from a stat, for the exchange's time bound. */
  readonly size: number
  readonly onProgress?: ((progress: TransferProgress) => void) | undefined
}

/** One piece of a download line: `b'...'` (repr) or `!<base64>`. */
const decodePiece = (line: string): Uint8Array | undefined => {
  if (line.startsWith("!")) return fromBase64(line.slice(1))
  const parsed = parsePythonLiteral(line)
  return Result.isSuccess(parsed) && parsed.success instanceof Uint8Array ? parsed.success : undefined
}

/** The board cannot read a file the raw way (its files cannot seek, or it cannot print raw bytes). */
const cannotReadRaw = (error: FileSystemError): boolean =>
  error instanceof PythonError && error.exceptionType === "AttributeError"

/** A read worth another attempt: its content did not check out, or its code arrived damaged (nothing ran). */
const isRereadable = (error: FileSystemError): boolean =>
  error._tag === "TransferVerificationError" || isDamagedInTransit(error)

/**
 * Read a file: the raw way (segments of raw bytes) where the board prints raw output, else the text
 * way (one exchange of printed pieces). Either is verified end to end, and read again after a
 * mismatch, `verifyRetries` more times.
 */
export const download = (rt: FsRuntime, req: DownloadRequest): Effect.Effect<Uint8Array, FileSystemError> =>
  (rt.probe.rawOutput
    ? downloadRaw(rt, req).pipe(Effect.catchIf(cannotReadRaw, () => downloadText(rt, req)))
    : downloadText(rt, req)
  ).pipe(Effect.tap((data) => Metric.update(FileSystemMetrics.bytesDownloaded, data.length)))

/**
 * Read a file in one exchange: the board prints it piece by piece (constant memory on the board),
 * hashing as it goes; the host checks size and hash against what arrived.
 */
const downloadText = (rt: FsRuntime, req: DownloadRequest): Effect.Effect<Uint8Array, FileSystemError> =>
  Effect.suspend(() => {
    let attempts = 0
    return Effect.suspend(() => downloadAttempt(rt, req, ++attempts)).pipe(
      Effect.retry({ schedule: Schedule.recurs(rt.verifyRetries), while: isRereadable }),
    )
  })

const downloadAttempt = (
  rt: FsRuntime,
  req: DownloadRequest,
  attempt: number,
): Effect.Effect<Uint8Array, FileSystemError> =>
  Effect.gen(function* () {
    const code = downloadCode(
      rt.dialect,
      req.native,
      rt.capabilities.binascii && rt.probe.nativeBase64,
      rt.dialect.piece,
    )
    let parts: Uint8Array[] = []
    let received = 0
    let pending = ""
    let end: PythonValue[] | undefined
    let bad: UnexpectedBoardReplyError | undefined
    let hasher = createHasher(rt.dialect.hash)
    const onLine = (raw: string) => {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw
      if (line === "" || bad !== undefined) return
      if (line.startsWith("(")) {
        const parsed = parsePythonLiteral(line)
        if (Result.isSuccess(parsed) && Array.isArray(parsed.success)) end = parsed.success
        else bad = unexpected("read", req.path, "unreadable end of download", line)
        return
      }
      const piece = decodePiece(line)
      if (piece === undefined) {
        bad = unexpected("read", req.path, "unreadable piece", line)
        return
      }
      parts.push(piece)
      hasher.update(piece)
      received += piece.length
      req.onProgress?.({ operation: "read", path: req.path, bytesDone: received, bytesTotal: req.size })
    }
    const onText = (text: string) => {
      pending += text
      let at = pending.indexOf("\n")
      while (at >= 0) {
        onLine(pending.slice(0, at))
        pending = pending.slice(at + 1)
        at = pending.indexOf("\n")
      }
    }
    // A send that arrived damaged ran nothing and printed nothing; start afresh all the same.
    const onSend = () => {
      parts = []
      received = 0
      pending = ""
      end = undefined
      bad = undefined
      hasher = createHasher(rt.dialect.hash)
    }
    // Repr or base64 text: at most four characters a byte. The request is guarded like every
    // other (a helper that lost a byte on the way never runs); the output is checked below.
    yield* runStreamed(rt, code, replyTimeoutMs(rt, req.size * 4), onText, onSend).pipe(
      Effect.catchIf(
        (e): e is PythonError => e instanceof PythonError,
        (e) => Effect.fail(mapOSError(e, "read", req.path, rt.probe)),
      ),
    )
    if (pending.length > 0) onLine(pending)
    if (bad !== undefined) return yield* bad
    if (end === undefined || end[0] !== "end")
      return yield* unexpected("read", req.path, "no end of download", pending)
    const size = asNumber(end[1])
    const boardDigest = digestFromReply(end[2])
    const hostDigest = hasher.digest()
    if (size !== received || boardDigest !== hostDigest) {
      return yield* new TransferVerificationError({
        operation: "read",
        path: req.path,
        algorithm: rt.dialect.hash,
        expected: `${size} bytes, ${boardDigest}`,
        actual: `${received} bytes, ${hostDigest}`,
        attempts: attempt,
      })
    }
    return concatBytes(parts)
  })

/** Bytes per raw download segment when the link's rate is unknown. */
const DEFAULT_SEGMENT_BYTES = 65_536
/** Bounds of a raw segment: below, round trips dominate; above, a lost segment costs too much to read again. */
const MIN_SEGMENT_BYTES = 4096
const MAX_SEGMENT_BYTES = 262_144

/** Bytes per raw download exchange: about `exchangeMs` of link time, within the bounds above. */
const segmentSize = (rt: FsRuntime): number => {
  const rate =
    rt.profile.rate ??
    (rt.sizing.linkBytesPerSecond === undefined ? undefined : rt.sizing.linkBytesPerSecond / 1000)
  return rate === undefined
    ? DEFAULT_SEGMENT_BYTES
    : Math.max(MIN_SEGMENT_BYTES, Math.min(MAX_SEGMENT_BYTES, Math.floor(rate * rt.sizing.exchangeMs)))
}

/** One raw segment, `attempt` of its reads: the bytes, when their size and hash check out. */
const readSegment = (
  rt: FsRuntime,
  req: DownloadRequest,
  offset: number,
  length: number,
  attempt: number,
): Effect.Effect<Uint8Array, FileSystemError> =>
  Effect.gen(function* () {
    const started = monotonicMs()
    const out = yield* runBytes(
      rt,
      downloadRawCode(rt.dialect, req.native, offset, length, rt.dialect.piece),
      // Escaped: at most two bytes a byte.
      replyTimeoutMs(rt, length * 2),
    ).pipe(
      Effect.catchIf(
        (e): e is PythonError => e instanceof PythonError,
        (e) => Effect.fail(mapOSError(e, "read", req.path, rt.probe)),
      ),
    )
    recordRate(rt.profile, out.length, monotonicMs() - started)
    const framed = unescapeRawOutput(out)
    const end =
      framed === undefined ? undefined : parseEnd(new TextDecoder().decode(out.subarray(framed.rest)))
    const boardDigest = end === undefined ? undefined : digestFromReply(end[2])
    const hostDigest = framed === undefined ? undefined : digestHex(rt.dialect.hash, framed.data)
    if (
      framed !== undefined &&
      end !== undefined &&
      asNumber(end[1]) === framed.data.length &&
      boardDigest === hostDigest
    ) {
      return framed.data
    }
    return yield* new TransferVerificationError({
      operation: "read",
      path: req.path,
      algorithm: rt.dialect.hash,
      expected: `${end === undefined ? "?" : asNumber(end[1])} bytes, ${boardDigest}`,
      actual: `${framed?.data.length ?? "unframed"} bytes, ${hostDigest}`,
      attempts: attempt,
    })
  })

/**
 * Read a file as raw bytes, in segments of about `exchangeMs` of link time (progress after each):
 * the board prints each segment escaped (two byte values), hashing what it read; the host checks
 * every segment's size and hash, and reads a segment that did not check out again.
 */
const downloadRaw = (rt: FsRuntime, req: DownloadRequest): Effect.Effect<Uint8Array, FileSystemError> =>
  Effect.suspend(() => {
    const parts: Uint8Array[] = []
    const segment = segmentSize(rt)
    const segmentAt = (offset: number, length: number) => {
      let attempts = 0
      return Effect.suspend(() => readSegment(rt, req, offset, length, ++attempts)).pipe(
        Effect.retry({
          schedule: Schedule.recurs(rt.verifyRetries),
          while: (e) => e._tag === "TransferVerificationError",
        }),
      )
    }
    // Segment after segment; a short one is the end of the file (it shrank since the stat).
    const readFrom = (offset: number): Effect.Effect<number, FileSystemError> => {
      const length = Math.min(segment, req.size - offset)
      return Effect.flatMap(segmentAt(offset, length), (data) => {
        parts.push(data)
        const next = offset + data.length
        req.onProgress?.({ operation: "read", path: req.path, bytesDone: next, bytesTotal: req.size })
        return data.length < length || next >= req.size ? Effect.succeed(next) : readFrom(next)
      })
    }
    return Effect.map(readFrom(0), () => concatBytes(parts))
  })

const parseEnd = (text: string): ReadonlyArray<PythonValue> | undefined => {
  const line = text.trim().split(/\r?\n/).at(-1) ?? ""
  const parsed = parsePythonLiteral(line)
  return Result.isSuccess(parsed) && Array.isArray(parsed.success) && parsed.success[0] === "end"
    ? parsed.success
    : undefined
}

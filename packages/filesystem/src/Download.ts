/**
 * Downloads: one streamed exchange per file, constant memory on the board, verified end to end.
 * @internal
 */
import { PythonError, type PythonValue, parsePythonLiteral } from "@belay/transport"
import { Cause, Duration, Effect, Exit, Metric, Result, Stream } from "effect"
import { downloadCode, downloadRawCode } from "./BoardCode.js"
import {
  asNumber,
  type FsRuntime,
  isDamagedInTransit,
  mapOSError,
  replyTimeoutMs,
  runBytes,
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
  if (line.startsWith("!")) return new Uint8Array(Buffer.from(line.slice(1), "base64"))
  const parsed = parsePythonLiteral(line)
  return Result.isSuccess(parsed) && parsed.success instanceof Uint8Array ? parsed.success : undefined
}

/**
 * Read a file in one exchange: the board prints it piece by piece (constant memory on the board),
 * hashing as it goes; the host checks size and hash against what arrived.
 */
export const download = (rt: FsRuntime, req: DownloadRequest): Effect.Effect<Uint8Array, FileSystemError> =>
  Effect.gen(function* () {
    if (rt.probe.rawOutput) {
      const raw = yield* Effect.exit(downloadRaw(rt, req))
      if (Exit.isSuccess(raw)) {
        yield* Metric.update(FileSystemMetrics.bytesDownloaded, raw.value.length)
        return raw.value
      }
      // A board whose files cannot seek (or print raw after all) reads the text way instead.
      const failure = Cause.findErrorOption(raw.cause)
      if (
        !(
          failure._tag === "Some" &&
          failure.value instanceof PythonError &&
          failure.value.exceptionType === "AttributeError"
        )
      ) {
        return yield* Effect.failCause(raw.cause)
      }
    }
    let attempts = 0
    for (;;) {
      attempts++
      const exit = yield* Effect.exit(downloadAttempt(rt, req, attempts))
      if (Exit.isSuccess(exit)) {
        yield* Metric.update(FileSystemMetrics.bytesDownloaded, exit.value.length)
        return exit.value
      }
      const failure = Cause.findErrorOption(exit.cause)
      if (
        failure._tag === "Some" &&
        (failure.value._tag === "TransferVerificationError" || isDamagedInTransit(failure.value)) &&
        attempts <= rt.verifyRetries
      ) {
        continue
      }
      return yield* exit
    }
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
    const parts: Uint8Array[] = []
    let received = 0
    let pending = ""
    let end: PythonValue[] | undefined
    let bad: UnexpectedBoardReplyError | undefined
    const hasher = createHasher(rt.dialect.hash)
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
    // Repr or base64 text: at most four characters a byte.
    const timeout = Duration.millis(replyTimeoutMs(rt, req.size * 4))
    yield* Stream.runForEach(rt.device.execStream(code, { timeout, integrity: "unchecked" }), (text) =>
      Effect.sync(() => {
        pending += text
        let at = pending.indexOf("\n")
        while (at >= 0) {
          onLine(pending.slice(0, at))
          pending = pending.slice(at + 1)
          at = pending.indexOf("\n")
        }
      }),
    ).pipe(
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
    const out = new Uint8Array(received)
    let at = 0
    for (const part of parts) {
      out.set(part, at)
      at += part.length
    }
    return out
  })

/** Bytes per raw download exchange: about `exchangeMs` of link time, 4 KB to 256 KB. */
const segmentSize = (rt: FsRuntime): number => {
  const rate =
    rt.profile.rate ??
    (rt.sizing.linkBytesPerSecond === undefined ? undefined : rt.sizing.linkBytesPerSecond / 1000)
  return rate === undefined
    ? 65536
    : Math.max(4096, Math.min(262144, Math.floor(rate * rt.sizing.exchangeMs)))
}

/**
 * Read a file as raw bytes, in segments of about `exchangeMs` of link time (progress after each):
 * the board prints each segment escaped (two byte values), hashing what it read; the host checks
 * every segment's size and hash.
 */
const downloadRaw = (rt: FsRuntime, req: DownloadRequest): Effect.Effect<Uint8Array, FileSystemError> =>
  Effect.gen(function* () {
    const parts: Uint8Array[] = []
    let offset = 0
    const segment = segmentSize(rt)
    for (;;) {
      const length = Math.min(segment, req.size - offset)
      let attempts = 0
      let data: Uint8Array
      for (;;) {
        attempts++
        const started = performance.now()
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
        recordRate(rt.profile, out.length, performance.now() - started)
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
          data = framed.data
          break
        }
        if (attempts > rt.verifyRetries) {
          return yield* new TransferVerificationError({
            operation: "read",
            path: req.path,
            algorithm: rt.dialect.hash,
            expected: `${end === undefined ? "?" : asNumber(end[1])} bytes, ${boardDigest}`,
            actual: `${framed?.data.length ?? "unframed"} bytes, ${hostDigest}`,
            attempts,
          })
        }
      }
      parts.push(data)
      offset += data.length
      req.onProgress?.({ operation: "read", path: req.path, bytesDone: offset, bytesTotal: req.size })
      // A short segment is the end of the file (it shrank since the stat).
      if (data.length < length || offset >= req.size) break
    }
    const out = new Uint8Array(offset)
    let at = 0
    for (const part of parts) {
      out.set(part, at)
      at += part.length
    }
    return out
  })

const parseEnd = (text: string): ReadonlyArray<PythonValue> | undefined => {
  const line = text.trim().split(/\r?\n/).at(-1) ?? ""
  const parsed = parsePythonLiteral(line)
  return Result.isSuccess(parsed) && Array.isArray(parsed.success) && parsed.success[0] === "end"
    ? parsed.success
    : undefined
}

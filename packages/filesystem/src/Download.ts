/**
 * Downloads: one streamed exchange per file, constant memory on the board, verified end to end.
 * @internal
 */
import { PythonError, type PythonValue, parsePythonLiteral } from "@belay/transport"
import { Cause, Duration, Effect, Exit, Metric, Result, Stream } from "effect"
import { downloadCode } from "./BoardCode.js"
import { digestFromReply } from "./BoardHash.js"
import { createHasher } from "./Checksum.js"
import { type FileSystemError, TransferVerificationError, type UnexpectedBoardReplyError } from "./errors.js"
import { FileSystemMetrics } from "./FileSystemMetrics.js"
import { asNumber, type FsRuntime, isDamagedInTransit, mapOSError, unexpected } from "./Runtime.js"
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
    const code = downloadCode(rt.dialect, req.native, rt.capabilities.binascii, rt.dialect.piece)
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
    const timeout = Duration.millis(30_000 + req.size * 4)
    yield* Stream.runForEach(rt.device.execStream(code, { timeout }), (text) =>
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

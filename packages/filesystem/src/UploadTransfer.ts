/**
 * An upload's data through the link's own file transfer (WebREPL's put) instead of raw REPL
 * exchanges: the whole file goes to the temporary name in one operation, then lands as every
 * upload does: the board hashes the temporary file, and only when its length and hash are the
 * data's is it renamed over the real name (`recover`, which also drops it otherwise).
 *
 * Taken for whole-file writes that land by rename and are larger than one exchange's worth, to a
 * name the transfer can carry; anything else, or a transfer that answers unexpectedly, goes
 * through the raw REPL as before. Reads stay on the raw REPL: the firmware's get answers one
 * 256-byte chunk per request, a round trip each, where the raw REPL streams the file (on
 * 127.0.0.1 both read 1 MB in about 0.6 s; on a network with latency the get falls behind).
 * @internal
 */
import { type BoardFileTransfer, BoardFileTransferKey } from "@belay/transport"
import { Effect } from "effect"
import { digestHex } from "./Checksum.js"
import type { FileSystemError } from "./errors.js"
import type { UploadContext } from "./UploadExchanges.js"
import { recover, verificationError } from "./UploadLanding.js"

/**
 * Below this, the raw REPL is as fast: the transfer costs its own round trips (header, two
 * statuses) before the check and the rename that both paths pay.
 */
export const TRANSFER_MIN_BYTES = 16 * 1024

/** The bytes of a WebREPL put's request header, counted in what went over the link. */
const TRANSFER_HEADER_BYTES = 82

/** The link's file transfer, when this upload can take it. */
export const transferFor = (ctx: UploadContext): BoardFileTransfer | undefined => {
  const transfer = ctx.rt.device.connectionState.getOrUndefined(BoardFileTransferKey)
  const { req, mode, names } = ctx
  if (transfer === undefined || req.operation !== "write" || mode !== "rename") return undefined
  if (req.data.length < TRANSFER_MIN_BYTES || !transfer.fits(names.temp)) return undefined
  return transfer
}

/**
 * Put the data under the temporary name, then check and commit it. `undefined` when the transfer
 * answered in a way it should not (then the raw REPL does the upload); a lost link fails.
 */
export const transferUpload = (
  ctx: UploadContext,
  transfer: BoardFileTransfer,
): Effect.Effect<{ readonly wire: number; readonly exchanges: number } | undefined, FileSystemError> =>
  Effect.gen(function* () {
    const { rt, req, names } = ctx
    yield* Effect.logDebug(`uploading through the ${transfer.description}`).pipe(
      Effect.annotateLogs({ path: req.path, temp: names.temp, bytes: req.data.length }),
    )
    const put = yield* transfer.put(names.temp, req.data).pipe(
      Effect.as(true),
      Effect.catchTag("WebReplFileError", (error) =>
        Effect.as(
          // The board may be left inside the operation: no more transfers on this connection.
          Effect.andThen(
            Effect.sync(() => rt.device.connectionState.delete(BoardFileTransferKey)),
            Effect.logWarning(`${transfer.description} failed; uploading through the raw REPL`).pipe(
              Effect.annotateLogs({ path: req.path, error: error.message }),
            ),
          ),
          false,
        ),
      ),
    )
    if (!put) return undefined
    req.onProgress?.({
      operation: req.operation,
      path: req.path,
      bytesDone: req.data.length,
      bytesTotal: req.data.length,
    })
    const expected = {
      prefixSize: 0,
      prefixHex: digestHex(rt.dialect.hash, new Uint8Array()),
      size: req.data.length,
      digestHex: ctx.digest,
    }
    if ((yield* recover(ctx, expected)) !== "ok")
      return yield* Effect.fail(
        verificationError(ctx, `the temporary file ${transfer.description} wrote did not hold the data`),
      )
    return { wire: TRANSFER_HEADER_BYTES + req.data.length, exchanges: 1 }
  })

/**
 * Landing an upload: judge the reply of the exchange that closed it, commit a verified temporary
 * file under the real name (rename, or an on-board copy and its check), and recover an upload that
 * was interrupted by looking at what the board holds (roll forward, or drop the temporary file).
 * @internal
 */
import type { PythonValue } from "@belay/transport"
import { Effect, Ref } from "effect"
import {
  copyCommitCode,
  type ExpectedContent,
  finalizeCopyCode,
  HOLDS,
  py,
  renameCommitCode,
  uploadAbortCode,
  uploadInspectCode,
} from "./BoardCode.js"
import { asNumber, type FsRuntime, mapBoardErrors, parseFramed, run, unexpected } from "./BoardExchange.js"
import { digestFromReply } from "./BoardHash.js"
import { fromHex } from "./Checksum.js"
import { type FileSystemError, TransferVerificationError, type UnexpectedBoardReplyError } from "./errors.js"
import type { Sent, UploadContext, UploadRequest } from "./UploadExchanges.js"
import { exchangeTimeout } from "./UploadPlan.js"
import { type Expected, retryInspect, rollForward, UploadState } from "./UploadPolicy.js"

/** Digest literal as the board's hash helper returns it: bytes for hashlib, a hex str for adler32. */
export const digestLiteral = (rt: FsRuntime, hex: string) =>
  rt.dialect.hash === "adler32" ? py(hex) : py(fromHex(hex))

/** The expected content as Python literals for board code. */
export const literals = (rt: FsRuntime, e: Expected): ExpectedContent => ({
  prefixSize: e.prefixSize,
  prefixDigest: digestLiteral(rt, e.prefixHex),
  size: e.size,
  digest: digestLiteral(rt, e.digestHex),
})

/** Does a hash reply `(size, prefixDigest, digest)` show the expected content? */
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

/** The content did not check out: what arrived is `actual`. */
export const verificationError = (ctx: UploadContext, actual: string) =>
  new TransferVerificationError({
    operation: ctx.req.operation,
    path: ctx.req.path,
    algorithm: ctx.rt.dialect.hash,
    expected: `${ctx.req.data.length} bytes, ${ctx.digest}`,
    actual,
    attempts: 1,
  })

/** Remove the upload's temporary files (and registry entry): nothing was committed. */
export const abortCode = (ctx: Pick<UploadContext, "names" | "mode">) => uploadAbortCode(ctx.names, ctx.mode)

/** Land a verified temporary file under the real name: rename, or reserve + copy + check. */
export const commit = (ctx: UploadContext, expected: Expected): Effect.Effect<void, FileSystemError> =>
  Effect.gen(function* () {
    const { rt, req, mode, names } = ctx
    const total = expected.prefixSize + expected.size
    const mapError = mapBoardErrors(req.operation, req.path, rt.probe, total)
    if (mode === "rename") {
      yield* run(rt, renameCommitCode(names)).pipe(mapError)
      return
    }
    if (mode !== "copy") return
    yield* Ref.set(ctx.state, UploadState.Committing({ expected }))
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
 * or neither (drop the temporary file: nothing was committed). Ends in `Done` when it decided.
 */
export const recover = (
  ctx: UploadContext,
  expected: Expected,
): Effect.Effect<"ok" | "lost", FileSystemError> =>
  Effect.gen(function* () {
    const { rt, req, mode, names } = ctx
    yield* Ref.update(ctx.state, (state) => rollForward(state, expected))
    const total = expected.prefixSize + expected.size
    // Inspecting changes nothing but closing the handle: a damaged reply is asked for again.
    const inspect = Effect.flatMap(
      run(rt, uploadInspectCode(rt.dialect, names, literals(rt, expected)), exchangeTimeout(0, 2 * total)),
      (out) => parseFramed(out, req.operation, req.path),
    ).pipe(retryInspect)
    const found = yield* holder(yield* inspect, req)
    const abort = run(rt, abortCode(ctx))
    let outcome: "ok" | "lost" = "lost"
    if (found === "real") {
      yield* abort
      outcome = "ok"
    } else if (mode !== "direct" && found === "temp") {
      yield* commit(ctx, expected)
      outcome = "ok"
    } else {
      yield* abort
    }
    yield* Ref.set(ctx.state, UploadState.Done())
    return outcome
  })

/** A closed upload's reply, judged: committed (`Done`), or the content did not check out. */
export const closedReply = (
  ctx: UploadContext,
  sent: Extract<Sent, { _tag: "Closed" }>,
): Effect.Effect<"verified" | "committed", FileSystemError> =>
  Effect.gen(function* () {
    const { outcome } = sent
    if (ctx.mode === "copy") {
      // The board printed the temporary file's hash; the host compares, then commits.
      if (holds(outcome, sent.expected)) return "verified" as const
      const { prefixSize, prefixHex } = sent.expected
      yield* Ref.set(ctx.state, UploadState.Sending({ offset: ctx.req.data.length, prefixSize, prefixHex }))
      return yield* verificationError(ctx, describeReply(outcome))
    }
    if (Array.isArray(outcome) && outcome[0] === "ok") {
      yield* Ref.set(ctx.state, UploadState.Done())
      return "committed" as const
    }
    if (Array.isArray(outcome) && outcome[0] === "bad") {
      yield* Ref.set(ctx.state, UploadState.Done())
      return yield* verificationError(ctx, describeReply(outcome.slice(1)))
    }
    return yield* unexpected(ctx.req.operation, ctx.req.path, "no commit reply", sent.reply)
  })

import { Data, Effect, Exit, Schedule } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { UploadEncoding } from "../src/Encoding.js"
import {
  afterMemoryError,
  type BoardBudget,
  canClose,
  codeBudget,
  type ExchangeParts,
  MIN_CHUNK_ROOM,
  MIN_EXCHANGE_BYTES,
  memoryShrinks,
  type Progress,
  planExchange,
  SHRINKABLE_ABOVE,
} from "../src/UploadPlan.js"
import {
  cleanupOf,
  copyStarted,
  type Expected,
  perErrorClass,
  rollForward,
  UploadState,
} from "../src/UploadPolicy.js"

const encodings = fc.constantFrom<UploadEncoding>("raw", "base64", "repr")
const operations = fc.constantFrom<"write" | "append">("write", "append")
const boards = fc.record({
  freeMemory: fc.integer({ min: 0, max: 2_000_000 }),
  failedCodeBytes: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.integer({ min: 1, max: 100_000 })),
  rate: fc.option(fc.double({ min: 0.1, max: 5000, noNaN: true }), { nil: undefined }),
})
const protocols = fc.record({
  rawPaste: fc.option(fc.boolean(), { nil: undefined }),
  rawPasteWindow: fc.option(fc.integer({ min: 1, max: 4096 }), { nil: undefined }),
})
const sizings = fc.record({
  maxChunkBytes: fc.integer({ min: 1, max: 1 << 20 }),
  exchangeMs: fc.integer({ min: 1, max: 10_000 }),
  linkBytesPerSecond: fc.option(fc.integer({ min: 100, max: 10_000_000 }), { nil: undefined }),
})
const partsOf = fc.record({
  openBytes: fc.integer({ min: 0, max: 1500 }),
  closeBytes: fc.integer({ min: 0, max: 1500 }),
  chunkWrapBytes: fc.integer({ min: 0, max: 200 }),
})

const codeBytes = (plan: ReturnType<typeof planExchange>, parts: ExchangeParts) =>
  (plan.open ? parts.openBytes : 0) +
  (plan.chunk === undefined ? 0 : parts.chunkWrapBytes + plan.chunk.expression.length) +
  (plan.close ? parts.closeBytes : 0)

/** Run the planner over a whole upload whose every exchange goes through. */
const simulate = (
  request: { operation: "write" | "append"; encoding: UploadEncoding; data: Uint8Array },
  budget: number,
  parts: ExchangeParts,
) => {
  const plans: Array<ReturnType<typeof planExchange>> = []
  let progress: Progress = { opened: false, offset: 0 }
  // Every exchange either opens or moves the offset: at most one per byte, plus the opening and a closing.
  for (let n = 0; n < request.data.length + 3; n++) {
    const plan = planExchange(request, progress, budget, parts)
    plans.push(plan)
    progress = { opened: true, offset: progress.offset + (plan.chunk?.consumed ?? 0) }
    if (plan.close) return { plans, progress }
  }
  return { plans, progress }
}

describe("the upload planner", () => {
  it("keeps every budget within the board's memory, its failures and the smallest useful exchange", () =>
    fc.assert(
      fc.property(boards, protocols, sizings, (board: BoardBudget, protocol, sizing) => {
        const budget = codeBudget(board, protocol, sizing)
        expect(budget).toBeGreaterThanOrEqual(MIN_EXCHANGE_BYTES)
        expect(budget).toBeLessThanOrEqual(Math.max(MIN_EXCHANGE_BYTES, sizing.maxChunkBytes))
        if (Number.isFinite(board.failedCodeBytes))
          expect(budget).toBeLessThanOrEqual(
            Math.max(MIN_EXCHANGE_BYTES, Math.floor(board.failedCodeBytes / 2)),
          )
      }),
    ))

  it("opens first, sends every byte once and in order, and closes in the last exchange only", () =>
    fc.assert(
      fc.property(
        operations,
        encodings,
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: MIN_EXCHANGE_BYTES, max: 20_000 }),
        partsOf,
        (operation, encoding, data, budget, parts) => {
          const { plans, progress } = simulate({ operation, encoding, data }, budget, parts)
          expect(plans[0]?.open).toBe(true)
          expect(plans.slice(1).every((p) => !p.open)).toBe(true)
          expect(plans.at(-1)?.close).toBe(true)
          expect(plans.slice(0, -1).every((p) => !p.close)).toBe(true)
          expect(progress.offset).toBe(data.length)
          // An append's closing names the prefix the opening reports: never in the opening exchange.
          if (operation === "append") expect(plans[0]?.close && plans.length === 1).toBe(false)
        },
      ),
    ))

  it("moves the upload on in every exchange after the opening, and fits the budget when it has room", () =>
    fc.assert(
      fc.property(
        operations,
        encodings,
        fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        fc.nat(),
        fc.boolean(),
        fc.integer({ min: MIN_EXCHANGE_BYTES, max: 20_000 }),
        partsOf,
        (operation, encoding, data, at, opened, budget, parts) => {
          const progress = { opened, offset: opened ? at % data.length : 0 }
          const plan = planExchange({ operation, encoding, data }, progress, budget, parts)
          if (opened) expect(plan.chunk?.consumed ?? 0).toBeGreaterThan(0)
          if (plan.close) {
            expect(canClose(operation, progress)).toBe(true)
            expect(progress.offset + (plan.chunk?.consumed ?? 0)).toBe(data.length)
          }
          // With room for the largest encoded byte and base64's wrapping, the exchange fits.
          const room = budget - (opened ? 0 : parts.openBytes) - parts.chunkWrapBytes
          if (room >= MIN_CHUNK_ROOM + 32) expect(codeBytes(plan, parts)).toBeLessThanOrEqual(budget)
        },
      ),
    ))

  it("keeps the closing for a later exchange when the encoding's smallest unit leaves no room for it", () => {
    // Found by the property above (seed 1430857819): base64's smallest chunk is 28 bytes of code.
    const parts = { openBytes: 0, closeBytes: 54, chunkWrapBytes: 111 }
    const request = { operation: "write" as const, encoding: "base64" as const, data: Uint8Array.from([0]) }
    const plan = planExchange(request, { opened: false, offset: 0 }, 192, parts)
    expect(plan.close).toBe(false)
    expect(codeBytes(plan, parts)).toBeLessThanOrEqual(192)
    expect(simulate(request, 192, parts).progress.offset).toBe(1)
  })

  it("shrinks after a MemoryError only when nothing ran and a smaller exchange can help", () =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1 << 20 }),
        fc.integer({ min: 1, max: 1 << 20 }),
        fc.boolean(),
        fc.boolean(),
        (failed, code, compiling, chunk) => {
          const learned = afterMemoryError(failed, code, { compiling, chunk })
          expect(learned.failedCodeBytes).toBe(Math.min(failed, code))
          expect(learned.shrink).toBe(compiling && chunk && code > SHRINKABLE_ABOVE)
        },
      ),
    ))

  it("stops shrinking within memoryShrinks steps, whatever the board and the upload", () =>
    fc.assert(
      fc.property(
        boards,
        protocols,
        sizings,
        encodings,
        fc.uint8Array({ minLength: 1, maxLength: 20_000 }),
        partsOf,
        (board, protocol, sizing, encoding, data, parts) => {
          let failedCodeBytes = board.failedCodeBytes
          const shrinks: boolean[] = []
          // One more step than the bound: the last must not shrink.
          for (let step = 0; step <= memoryShrinks(sizing) && shrinks.at(-1) !== false; step++) {
            const budget = codeBudget({ ...board, failedCodeBytes }, protocol, sizing)
            const plan = planExchange(
              { operation: "write", encoding, data },
              { opened: true, offset: 0 },
              budget,
              parts,
            )
            const learned = afterMemoryError(failedCodeBytes, codeBytes(plan, parts), {
              compiling: true,
              chunk: plan.chunk !== undefined,
            })
            failedCodeBytes = learned.failedCodeBytes
            shrinks.push(learned.shrink)
          }
          expect(shrinks.at(-1)).toBe(false)
        },
      ),
    ))
})

const expected: Expected = { prefixSize: 0, prefixHex: "00", size: 1, digestHex: "01" }

describe("the upload state", () => {
  it("cleans up by what the board may hold: nothing, an abort, or a roll-forward kept when a copy began", () => {
    expect(cleanupOf(UploadState.Done())._tag).toBe("Nothing")
    expect(cleanupOf(UploadState.Opening())._tag).toBe("Abort")
    expect(cleanupOf(UploadState.Sending({ offset: 3, prefixSize: 0, prefixHex: "00" }))._tag).toBe("Abort")
    expect(cleanupOf(UploadState.Finishing({ expected }))).toEqual({ _tag: "Recover", expected })
    expect(copyStarted(UploadState.Finishing({ expected }))).toBe(false)
    expect(copyStarted(UploadState.Committing({ expected }))).toBe(true)
    expect(copyStarted(rollForward(UploadState.Committing({ expected }), expected))).toBe(true)
    expect(copyStarted(rollForward(UploadState.Finishing({ expected }), expected))).toBe(false)
  })
})

class Damaged extends Data.TaggedError("Damaged")<{ readonly n: number }> {}
class TooLarge extends Data.TaggedError("TooLarge")<{ readonly n: number }> {}
class Lost extends Data.TaggedError("Lost")<{ readonly n: number }> {}
type Failure = Damaged | TooLarge | Lost

/** Retry a sequence of failures (then success) under a schedule per class; how many runs, and how it ended. */
const runFailures = (failures: ReadonlyArray<Failure>, damaged: number, tooLarge: number) =>
  Effect.gen(function* () {
    let runs = 0
    const exit = yield* Effect.exit(
      Effect.suspend(() => {
        const failure = failures[runs++]
        return failure === undefined ? Effect.succeed("sent") : Effect.fail(failure)
      }).pipe(
        Effect.retry(
          perErrorClass((e: Failure) => (e._tag === "Lost" ? undefined : e._tag), {
            Damaged: Schedule.recurs(damaged),
            TooLarge: Schedule.recurs(tooLarge),
          }),
        ),
      ),
    )
    return { runs, exit }
  })

describe("a schedule per error class", () => {
  it("counts each class on its own, and stops at a class without a schedule or out of its budget", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom("Damaged", "TooLarge", "Lost"), { maxLength: 12 }),
        fc.nat(4),
        fc.nat(4),
        async (tags, damaged, tooLarge) => {
          const failures = tags.map((tag, n) =>
            tag === "Damaged"
              ? new Damaged({ n })
              : tag === "TooLarge"
                ? new TooLarge({ n })
                : new Lost({ n }),
          )
          const { runs, exit } = await Effect.runPromise(runFailures(failures, damaged, tooLarge))
          // The model: walk the failures, counting per class, until one is not retried.
          const used = { Damaged: 0, TooLarge: 0 }
          const budget = { Damaged: damaged, TooLarge: tooLarge }
          let stop: number | undefined
          for (const [i, f] of failures.entries()) {
            if (f._tag === "Lost" || used[f._tag]++ >= budget[f._tag]) {
              stop = i
              break
            }
          }
          if (stop === undefined) {
            expect(Exit.isSuccess(exit)).toBe(true)
            expect(runs).toBe(failures.length + 1)
          } else {
            expect(runs).toBe(stop + 1)
            expect(exit).toEqual(Exit.fail(failures[stop]))
          }
        },
      ),
    ))
})

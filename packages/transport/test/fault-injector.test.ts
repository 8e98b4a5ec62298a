import { Cause, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  type ByteLink,
  makeDeviceCommunication,
  makeReceiveQueue,
  type RawReplOptions,
} from "../src/index.js"
import {
  type FaultInjector,
  type FaultInjectorOptions,
  type InjectedFault,
  makeFakeBoard,
  makeFaultInjector,
} from "../src/testing/index.js"
import { run } from "./helpers.js"

const enc = new TextEncoder()
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")

/** A board that sends back every byte it gets, one received chunk per write. */
const makeEchoLink = Effect.gen(function* () {
  const rx = yield* makeReceiveQueue("echo")
  const got: Uint8Array[] = []
  const link: ByteLink = {
    description: "echo",
    write: (bytes) =>
      Effect.sync(() => {
        got.push(bytes.slice())
        rx.push(bytes.slice())
      }),
    received: rx.stream,
    isOpen: Effect.sync(() => rx.closedReason() === undefined),
  }
  return { link, rx, got: () => text(Buffer.concat(got)) }
})

/** Collect what a view receives, and how its stream ended. */
const collect = (link: ByteLink) =>
  Effect.gen(function* () {
    const chunks: Uint8Array[] = []
    const fiber = yield* Stream.runForEach(link.received, (chunk) =>
      Effect.sync(() => chunks.push(chunk)),
    ).pipe(Effect.exit, Effect.forkScoped)
    return { chunks, all: () => text(Buffer.concat(chunks)), fiber }
  })

/** Let the other fibers run until `done` holds (bounded in scheduler turns, not in time). */
const settle = (done: () => boolean = () => false) =>
  Effect.gen(function* () {
    for (let i = 0; i < 200 && !done(); i++) yield* Effect.yieldNow
    return done()
  })

const withEcho = <A, E>(
  options: FaultInjectorOptions,
  body: (
    injector: FaultInjector,
    view: ByteLink,
    echo: Effect.Success<typeof makeEchoLink>,
    received: Effect.Success<ReturnType<typeof collect>>,
  ) => Effect.Effect<A, E, Scope.Scope>,
) =>
  Effect.gen(function* () {
    const echo = yield* makeEchoLink
    const injector = yield* makeFaultInjector(echo.link, options)
    const view = yield* injector.connect
    const received = yield* collect(view)
    return yield* body(injector, view, echo, received)
  })

const fast: RawReplOptions = {
  replyTimeoutMs: 80,
  enterRawTimeoutMs: 500,
  interruptTimeoutMs: 300,
  drainQuietMs: 2,
  plainRawChunkDelayMs: 0,
}
const EXEC_TIMEOUT_MS = 1500
/** No exec may take longer than its own bound plus the interrupt recovery after it; this is far above both. */
const HANG_MS = 8000

const TYPED_ERRORS = new Set([
  "ProtocolTimeoutError",
  "UnexpectedBytesError",
  "PythonError",
  "BoardResetError",
  "BoardStuckError",
  "LinkLostError",
  "LinkClosedError",
])

/** Run an exec bounded; its outcome: "success", the error's tag, "hang" or "untyped". */
const outcomeOf = (effect: Effect.Effect<string, { readonly _tag: string }>) =>
  Effect.timeoutOrElse(Effect.exit(effect), {
    duration: HANG_MS,
    orElse: () => Effect.succeed("hang" as const),
  }).pipe(
    Effect.map((exit) => {
      if (exit === "hang") return exit
      if (Exit.isSuccess(exit)) return "success"
      const failure = exit.cause.reasons.find(Cause.isFailReason)
      return failure !== undefined && exit.cause.reasons.length === 1 ? failure.error._tag : "untyped"
    }),
  )

const tally = (log: ReadonlyArray<InjectedFault>) => {
  const byKind: Record<string, number> = {}
  for (const fault of log) byKind[fault.kind] = (byKind[fault.kind] ?? 0) + 1
  return byKind
}

describe("fault injector on a loopback link", () => {
  it("gives the same faults for the same seed and traffic, other faults for another seed", async () => {
    const traffic = (seed: number) =>
      run(
        withEcho(
          {
            seed,
            toBoard: { drop: 0.2, duplicate: 0.2, corrupt: 0.2, split: 0.3, delay: 0.1, stall: 0.05 },
            fromBoard: { drop: 0.2, duplicate: 0.2, corrupt: 0.2, split: 0.3, delay: 0.1, stall: 0.05 },
            delayMs: [1, 2],
            stallMs: [1, 3],
          },
          (injector, view, _echo, received) =>
            Effect.gen(function* () {
              for (let i = 0; i < 150; i++) yield* view.write(enc.encode(`chunk ${i} ${"x".repeat(i % 17)}`))
              yield* injector.setEnabled(false)
              yield* view.write(enc.encode("END"))
              yield* settle(() => received.all().endsWith("END"))
              const log = yield* injector.log
              return {
                toBoard: log.filter((f) => f.direction === "toBoard"),
                fromBoard: log.filter((f) => f.direction === "fromBoard"),
                received: received.all(),
                counts: yield* injector.counts,
              }
            }),
        ),
      )
    const a = await traffic(1234)
    const b = await traffic(1234)
    const c = await traffic(4321)
    expect(a.toBoard.length).toBeGreaterThan(50)
    expect(a.fromBoard.length).toBeGreaterThan(50)
    expect(b.toBoard).toEqual(a.toBoard)
    expect(b.fromBoard).toEqual(a.fromBoard)
    expect(b.received).toBe(a.received)
    expect(b.counts).toEqual(a.counts)
    expect(c.toBoard).not.toEqual(a.toBoard)
  })

  it("drop removes one byte of the chunk", async () => {
    const result = await run(
      withEcho({ seed: 1, toBoard: { drop: 1 } }, (injector, view, echo) =>
        Effect.gen(function* () {
          yield* view.write(enc.encode("0123456789"))
          return { got: echo.got(), log: yield* injector.log }
        }),
      ),
    )
    const at = result.log[0]!.atByte!
    expect(result.log).toEqual([{ kind: "drop", direction: "toBoard", phase: "code", atByte: at }])
    expect(result.got).toBe("0123456789".slice(0, at) + "0123456789".slice(at + 1))
  })

  it("duplicate repeats one byte or a short run", async () => {
    const result = await run(
      withEcho({ seed: 2, fromBoard: { duplicate: 1 } }, (injector, view, _echo, received) =>
        Effect.gen(function* () {
          yield* view.write(enc.encode("0123456789"))
          yield* settle(() => received.all().length > 10)
          return { got: received.all(), log: yield* injector.log }
        }),
      ),
    )
    const original = "0123456789"
    const at = result.log[0]!.atByte!
    const run_ = result.got.length - original.length
    expect(result.log.map((f) => [f.kind, f.direction])).toEqual([["duplicate", "fromBoard"]])
    expect(run_).toBeGreaterThanOrEqual(1)
    expect(run_).toBeLessThanOrEqual(3)
    expect(result.got).toBe(
      original.slice(0, at + run_) + original.slice(at, at + run_) + original.slice(at + run_),
    )
  })

  it("corrupt flips bits of exactly one byte", async () => {
    const result = await run(
      withEcho({ seed: 3, toBoard: { corrupt: 1 } }, (injector, view, echo) =>
        Effect.gen(function* () {
          yield* view.write(enc.encode("0123456789"))
          return { got: echo.got(), log: yield* injector.log }
        }),
      ),
    )
    const differing = [...result.got].flatMap((ch, i) => (ch === "0123456789"[i] ? [] : [i]))
    expect(result.got.length).toBe(10)
    expect(differing).toEqual([result.log[0]!.atByte])
  })

  it("split delivers the chunk in 2 to 4 pieces, nothing lost", async () => {
    const result = await run(
      withEcho({ seed: 4, fromBoard: { split: 1 } }, (injector, view, _echo, received) =>
        Effect.gen(function* () {
          const sent = "a fairly long chunk of bytes that the board sent in one piece"
          yield* view.write(enc.encode(sent))
          yield* settle(() => received.all() === sent)
          return { sent, received, log: yield* injector.log }
        }),
      ),
    )
    expect(result.received.all()).toBe(result.sent)
    expect(result.received.chunks.length).toBeGreaterThanOrEqual(2)
    expect(result.received.chunks.length).toBeLessThanOrEqual(4)
    expect(result.log.map((f) => f.kind)).toEqual(["split"])
  })

  it("delay holds the chunk back for delayMs, in order", async () => {
    const result = await run(
      withEcho({ seed: 5, fromBoard: { delay: 1 }, delayMs: [50, 50] }, (injector, view, _echo, received) =>
        Effect.gen(function* () {
          yield* view.write(enc.encode("first "))
          yield* view.write(enc.encode("second"))
          const early = yield* settle(() => received.all().length > 0)
          yield* TestClock.adjust(49)
          const stillEarly = yield* settle(() => received.all().length > 0)
          yield* TestClock.adjust(1)
          yield* settle(() => received.all() === "first second")
          return { early, stillEarly, got: received.all(), log: yield* injector.log }
        }),
      ).pipe(Effect.provide(TestClock.layer())),
    )
    expect(result.early).toBe(false)
    expect(result.stillEarly).toBe(false)
    expect(result.got).toBe("first second")
    expect(result.log.map((f) => [f.kind, f.durationMs])).toEqual([
      ["delay", 50],
      ["delay", 50],
    ])
  })

  it("stall stops a direction for stallMs from the faulted byte, writes included, order kept", async () => {
    const result = await run(
      withEcho(
        { seed: 6, stallMs: [200, 200], schedule: [{ direction: "toBoard", atByte: 2, fault: "stall" }] },
        (injector, view, echo) =>
          Effect.gen(function* () {
            const first = yield* view.write(enc.encode("abcdef")).pipe(Effect.forkScoped)
            const second = yield* view.write(enc.encode("gh")).pipe(Effect.forkScoped)
            yield* settle()
            const duringStall = echo.got()
            yield* TestClock.adjust(200)
            yield* Fiber.join(first)
            yield* Fiber.join(second)
            return { duringStall, after: echo.got(), log: yield* injector.log }
          }),
      ).pipe(Effect.provide(TestClock.layer())),
    )
    expect(result.duringStall).toBe("ab")
    expect(result.after).toBe("abcdefgh")
    expect(result.log).toEqual([
      { kind: "stall", direction: "toBoard", phase: "code", atByte: 2, durationMs: 200 },
    ])
  })

  it("disconnect fails the view with LinkLostError; a new connect gives service back", async () => {
    const result = await run(
      withEcho(
        { seed: 7, schedule: [{ direction: "toBoard", atByte: 5, fault: "disconnect" }] },
        (injector, view, echo, received) =>
          Effect.gen(function* () {
            const writeFailure = yield* Effect.flip(view.write(enc.encode("0123456789")))
            const receivedEnd = yield* Fiber.join(received.fiber)
            const open = yield* view.isOpen
            const laterWrite = yield* Effect.flip(view.write(enc.encode("x")))
            const atBoard = echo.got()
            // Sent by the board while nothing is connected: lost, like on a real cable.
            echo.rx.push(enc.encode("lost"))
            yield* settle()
            const again = yield* injector.connect
            const receivedAgain = yield* collect(again)
            yield* again.write(enc.encode("back"))
            yield* settle(() => receivedAgain.all() === "back")
            return { writeFailure, receivedEnd, open, laterWrite, atBoard, again: receivedAgain.all() }
          }),
      ),
    )
    expect(result.writeFailure._tag).toBe("LinkLostError")
    expect(Exit.isFailure(result.receivedEnd) && Cause.squash(result.receivedEnd.cause)).toMatchObject({
      _tag: "LinkLostError",
    })
    expect(result.open).toBe(false)
    expect(result.laterWrite._tag).toBe("LinkLostError")
    expect(result.atBoard).toBe("01234")
    expect(result.again).toBe("back")
  })

  it("connecting again ends the previous view", async () => {
    const result = await run(
      withEcho({ seed: 8 }, (injector, view, _echo, received) =>
        Effect.gen(function* () {
          yield* injector.connect
          return {
            end: yield* Fiber.join(received.fiber),
            write: yield* Effect.flip(view.write(enc.encode("x"))),
          }
        }),
      ),
    )
    expect(Exit.isSuccess(result.end)).toBe(true)
    expect(result.write._tag).toBe("LinkClosedError")
  })

  it("scheduled faults hit the exact byte in each direction", async () => {
    const result = await run(
      withEcho(
        {
          seed: 9,
          schedule: [
            { direction: "toBoard", atByte: 3, fault: "drop" },
            { direction: "fromBoard", atByte: 7, fault: "corrupt" },
            { direction: "toBoard", atByte: 11, fault: "duplicate" },
          ],
        },
        (injector, view, echo, received) =>
          Effect.gen(function* () {
            yield* view.write(enc.encode("abcde")) // toBoard 0..4, 'd' dropped: fromBoard 0..3
            yield* view.write(enc.encode("fghij")) // toBoard 5..9, fromBoard 4..8: 'i' corrupted
            yield* view.write(enc.encode("klmno")) // toBoard 10..14: 'l' doubled
            yield* settle(() => received.all().length === 15)
            return { atBoard: echo.got(), got: received.all(), log: yield* injector.log }
          }),
      ),
    )
    expect(result.atBoard).toBe("abcefghijkllmno")
    expect(result.got.slice(0, 7)).toBe("abcefgh")
    expect(result.got[7]).not.toBe("i")
    expect(result.got.slice(8)).toBe("jkllmno")
    expect(result.log.map((f) => [f.kind, f.direction, f.atByte])).toEqual([
      ["drop", "toBoard", 3],
      ["corrupt", "fromBoard", 7],
      ["duplicate", "toBoard", 11],
    ])
  })

  it("counts bytes in both directions and turns injection off and on", async () => {
    const result = await run(
      withEcho({ seed: 10, toBoard: { drop: 1 } }, (injector, view, echo, received) =>
        Effect.gen(function* () {
          yield* injector.setEnabled(false)
          yield* view.write(enc.encode("intact"))
          yield* injector.setEnabled(true)
          yield* view.write(enc.encode("faulty"))
          yield* settle(() => received.all().length === 11)
          return { got: echo.got(), counts: yield* injector.counts }
        }),
      ),
    )
    expect(result.got.startsWith("intact")).toBe(true)
    expect(result.got.length).toBe(11)
    expect(result.counts).toEqual({ byKind: { drop: 1 }, total: 1, bytesToBoard: 12, bytesFromBoard: 11 })
  })

  it("closing the injector's scope interrupts stalled deliveries and releases blocked writers", async () => {
    const result = await run(
      Effect.gen(function* () {
        const echo = yield* makeEchoLink
        const scope = yield* Scope.make()
        const injector = yield* makeFaultInjector(echo.link, {
          seed: 11,
          stallMs: [600_000, 600_000],
          schedule: [
            { direction: "fromBoard", atByte: 0, fault: "stall" },
            { direction: "toBoard", atByte: 3, fault: "stall" },
          ],
        }).pipe(Scope.provide(scope))
        const view = yield* injector.connect.pipe(Scope.provide(scope))
        const received = yield* collect(view)
        yield* view.write(enc.encode("abc"))
        const blocked = yield* view.write(enc.encode("def")).pipe(Effect.flip, Effect.forkScoped)
        yield* settle()
        yield* Scope.close(scope, Exit.void)
        return {
          writer: yield* Fiber.join(blocked),
          end: yield* Fiber.join(received.fiber),
          got: received.all(),
          innerOpen: yield* echo.link.isOpen,
        }
      }),
    )
    expect(result.writer._tag).toBe("LinkClosedError")
    expect(Exit.isSuccess(result.end)).toBe(true)
    expect(result.got).toBe("")
    expect(result.innerOpen).toBe(true)
  })
})

describe("fault injector in front of the fake board", () => {
  const onFakeBoard = <A, E>(
    options: FaultInjectorOptions,
    body: (
      injector: FaultInjector,
      comm: Effect.Success<ReturnType<typeof makeDeviceCommunication>>,
    ) => Effect.Effect<A, E, Scope.Scope>,
    rawPaste: "accept" | "refuse" = "accept",
  ) =>
    Effect.gen(function* () {
      const board = yield* makeFakeBoard({ rawPaste, run: (code) => ({ stdout: `ran ${code}\r\n` }) })
      const injector = yield* makeFaultInjector(board.link, options)
      const comm = yield* makeDeviceCommunication(yield* injector.connect, {
        integrity: "unchecked",
        ...fast,
      })
      return yield* body(injector, comm)
    })

  it("with only split at a high rate, 200 execs all succeed", { timeout: 60_000 }, async () => {
    const result = await run(
      onFakeBoard({ seed: 12, toBoard: { split: 0.9 }, fromBoard: { split: 0.9 } }, (injector, comm) =>
        Effect.gen(function* () {
          const wrong: string[] = []
          for (let i = 0; i < 200; i++) {
            const out = yield* comm.exec(`print(${i})`, { timeout: EXEC_TIMEOUT_MS })
            if (out !== `ran print(${i})\r\n`) wrong.push(out)
          }
          return { wrong, counts: yield* injector.counts }
        }),
      ),
    )
    expect(result.wrong).toEqual([])
    expect(result.counts.byKind.split).toBeGreaterThan(300)
  })

  it("with corrupt, drop and duplicate, every exec ends in success or a typed error", {
    timeout: 120_000,
  }, async () => {
    const rates = { corrupt: 0.03, drop: 0.03, duplicate: 0.03 }
    const result = await run(
      onFakeBoard({ seed: 13, toBoard: rates, fromBoard: rates }, (injector, comm) =>
        Effect.gen(function* () {
          const outcomes: Record<string, number> = {}
          for (let i = 0; i < 150; i++) {
            const outcome = yield* outcomeOf(comm.exec(`print(${i})`, { timeout: EXEC_TIMEOUT_MS }))
            outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
          }
          return { outcomes, counts: yield* injector.counts }
        }),
      ),
    )
    for (const outcome of Object.keys(result.outcomes))
      expect(outcome === "success" || TYPED_ERRORS.has(outcome), outcome).toBe(true)
    expect(result.outcomes.success).toBeGreaterThan(0)
    expect(result.counts.total).toBeGreaterThan(10)
  })

  it.each([
    ["accept", ["enter-raw", "raw-paste-negotiate", "code", "running", "output"]],
    ["refuse", ["enter-raw", "raw-paste-negotiate", "code", "running", "output"]],
  ] as const)("follows the exchange phases (raw-paste %s)", async (rawPaste, first) => {
    const performed: string[] = []
    const result = await run(
      onFakeBoard(
        {
          seed: 14,
          resets: { rate: 1, kinds: ["hard"], perform: (kind) => Effect.sync(() => performed.push(kind)) },
        },
        (injector, comm) =>
          Effect.gen(function* () {
            yield* comm.exec("a = 1")
            yield* comm.exec("b = 2")
            yield* settle(() => performed.length === 9)
            return yield* injector.log
          }),
        rawPaste,
      ),
    )
    // The second exchange asks again after one refusal too (one "no" is not believed).
    const again = ["raw-paste-negotiate", "code", "running", "output"]
    expect(result.map((f) => f.phase)).toEqual([...first, ...again])
    expect(result.every((f) => f.kind === "reset-hard")).toBe(true)
    expect(performed).toEqual(result.map(() => "hard"))
  })

  it("fires resets only at the requested phase, once per phase entry", async () => {
    const performed: string[] = []
    const result = await run(
      onFakeBoard(
        {
          seed: 15,
          resets: {
            rate: 1,
            phases: ["running"],
            kinds: ["soft"],
            perform: (kind) => Effect.sync(() => performed.push(kind)),
          },
        },
        (injector, comm) =>
          Effect.gen(function* () {
            for (let i = 0; i < 10; i++) yield* comm.exec(`print(${i})`)
            yield* settle(() => performed.length === 10)
            return { log: yield* injector.log, counts: yield* injector.counts }
          }),
      ),
    )
    expect(performed).toEqual(Array(10).fill("soft"))
    expect(result.log.every((f) => f.kind === "reset-soft" && f.phase === "running")).toBe(true)
    expect(result.counts.byKind).toEqual({ "reset-soft": 10 })
  })

  it("property: no exec hangs past its bound, and the counts equal the log", {
    timeout: 300_000,
  }, async () => {
    const rate = (max: number) => fc.double({ min: 0, max, noNaN: true })
    const rates = fc.record({
      drop: rate(0.05),
      duplicate: rate(0.05),
      corrupt: rate(0.05),
      split: rate(0.5),
      delay: rate(0.2),
      stall: rate(0.02),
      disconnect: rate(0.02),
    })
    await fc.assert(
      fc.asyncProperty(fc.integer(), rates, rates, async (seed, toBoard, fromBoard) => {
        const result = await run(
          Effect.gen(function* () {
            const board = yield* makeFakeBoard({ run: (code) => ({ stdout: `ran ${code}\r\n` }) })
            const injector = yield* makeFaultInjector(board.link, {
              seed,
              toBoard,
              fromBoard,
              delayMs: [1, 5],
              stallMs: [5, 40],
            })
            let link = yield* injector.connect
            let comm = yield* makeDeviceCommunication(link, { integrity: "unchecked", ...fast })
            const outcomes: string[] = []
            for (let i = 0; i < 12; i++) {
              if (!(yield* link.isOpen)) {
                link = yield* injector.connect
                comm = yield* makeDeviceCommunication(link, { integrity: "unchecked", ...fast })
              }
              outcomes.push(yield* outcomeOf(comm.exec(`print(${i})`, { timeout: EXEC_TIMEOUT_MS })))
            }
            return { outcomes, counts: yield* injector.counts, log: yield* injector.log }
          }),
        )
        expect(result.outcomes.filter((o) => o !== "success" && !TYPED_ERRORS.has(o))).toEqual([])
        expect(result.counts.byKind).toEqual(tally(result.log))
        expect(result.counts.total).toBe(result.log.length)
      }),
      { numRuns: 12 },
    )
  })
})

import { Effect, Schema, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import { executorContext, py, ThreadTask } from "../src/index.js"
import { connect, FakeMicroPython } from "./fakeMicroPython.js"

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect))

const sampler = ThreadTask.make({
  name: "sampler",
  source: py`
    def sampler(stopping, period_ms):
        import time
        while not stopping():
            time.sleep_ms(period_ms)
  `,
  args: [Schema.Number],
  stopTimeout: "200 millis",
})
const crashing = ThreadTask.make({
  name: "crashing",
  source: "def crashing(stopping):\n    raise ValueError('sensor gone')",
})
const stubborn = ThreadTask.make({
  name: "stubborn",
  source: "def stubborn(stopping):\n    while True:\n        pass",
  stopTimeout: "50 millis",
})

const board = () => new FakeMicroPython({}, {}, { sampler: "stops", crashing: "fails", stubborn: "ignores" })

describe("board threads on the fake board", () => {
  it("refuses a board without _thread before sending anything", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(board(), { threads: false })
        const error = yield* manager.executeInSession((session) => Effect.flip(sampler.start(session, 10)))
        return { error, programs: programs() }
      }),
    )
    expect(result.error._tag).toBe("CapabilityMissingError")
    expect(result.error.message).toContain("_thread")
    expect(result.programs).toEqual([])
  })

  it("starts a thread registered with the session, and stops it when the session ends", async () => {
    const model = board()
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(model)
        const session = yield* manager.createSession()
        const first = yield* sampler.start(session, 10)
        const second = yield* sampler.start(session, 20)
        const during = { backgroundThreads: executorContext(session).activeThreads().length }
        const running = yield* first.status
        const sentBeforeEnd = programs().length
        yield* session.end
        return {
          first,
          second,
          during,
          running,
          programs: programs(),
          sentBeforeEnd,
          left: model.threads.size,
        }
      }),
    )
    expect(result.first.threadId).not.toBe(result.second.threadId)
    expect(result.during.backgroundThreads).toBe(2)
    expect(result.running._tag).toBe("Running")
    // The first start sends the thread runtime, the function and the start together.
    expect(result.programs[0]).toContain("def _belay_ts(")
    expect(result.programs[0]).toContain("def sampler(")
    expect(result.programs[0]).toContain("_belay_ts(")
    // The second sends only the start.
    expect(result.programs[1]).toMatch(/^_belay_ts\('.*',sampler,\(20,\),\{\}\)\n_belay_o/)
    // Session end: both threads asked to stop (newest first), and they did.
    const stops = result.programs.slice(result.sentBeforeEnd)
    expect(stops).toHaveLength(2)
    expect(stops[0]).toContain(`_belay_tx('${result.second.threadId}',1,20)`)
    expect(stops[1]).toContain(`_belay_tx('${result.first.threadId}',1,20)`)
    expect(result.left).toBe(0)
  })

  it("reports a thread's exception when the session ends", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board())
        const session = yield* manager.createSession()
        const thread = yield* crashing.start(session)
        const error = yield* Effect.flip(session.end)
        return { error, thread }
      }),
    )
    expect(result.error._tag).toBe("ResourceCleanupError")
    const failure = result.error.failures[0]!
    expect(failure.resourceId).toBe(result.thread.threadId)
    const cause = failure.error as {
      _tag: string
      exceptionType: string
      pythonMessage: string
      traceback: string
    }
    expect(cause._tag).toBe("ThreadFailedError")
    expect(cause.exceptionType).toBe("ValueError")
    expect(cause.pythonMessage).toBe("sensor gone")
    expect(cause.traceback).toContain("Traceback")
  })

  it("join reports the exception, and the thread is then no longer the session's", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board())
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            const thread = yield* crashing.start(session)
            const error = yield* Effect.flip(thread.join({ timeout: "5 seconds" }))
            const status = yield* thread.status
            return { error, status, threads: executorContext(session).activeThreads().length }
          }),
        )
      }),
    )
    expect(result.error._tag).toBe("ThreadFailedError")
    expect(result.status._tag).toBe("Failed")
    expect(result.threads).toBe(0)
  })

  it("a thread that ignores its stop flag is reported, bounded", async () => {
    const error = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board())
        const session = yield* manager.createSession()
        yield* stubborn.start(session)
        return yield* Effect.flip(session.end)
      }),
    )
    expect(error.failures[0]?.error).toMatchObject({ _tag: "ThreadStopTimeoutError", waitedMs: 50 })
  })

  it("a board reset ends the session's threads without trying to stop them", async () => {
    const model = board()
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs, device } = yield* connect(model)
        const session = yield* manager.createSession()
        yield* sampler.start(session, 10)
        yield* device.softReset
        model.reset()
        // The manager hears of the reset through the transport's reset stream.
        while (executorContext(session).activeThreads().length > 0) yield* Effect.sleep("2 millis")
        const before = programs().length
        yield* session.end
        return { after: programs().slice(before) }
      }),
    )
    expect(result.after).toEqual([])
  })
})

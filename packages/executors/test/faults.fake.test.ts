import { Effect, Schema, type Scope, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { executorContext, GeneratorTask, py, Task, ThreadTask } from "../src/index.js"
import { connect, FakeMicroPython } from "./fakeMicroPython.js"

// Link faults after the board ran the call: what it printed reaches the host damaged.

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect))

const greet = Task.make({
  name: "greet",
  source: "def greet(n):\n    return 'héllo %d' % n",
  args: [Schema.Number],
  result: Schema.String,
})
const squares = GeneratorTask.make({
  name: "squares",
  source: py`
    def squares(n):
        for i in range(n):
            yield i * i
  `,
  args: [Schema.Number],
  item: Schema.Number,
})
const sampler = ThreadTask.make({
  name: "sampler",
  source: "def sampler(stopping):\n    while not stopping():\n        pass",
  stopTimeout: "200 millis",
})

const model = () =>
  new FakeMicroPython(
    { greet: (n) => ({ value: `héllo ${n as number}` }) },
    { squares: (n) => ({ items: Array.from({ length: n as number }, (_, i) => i * i) }) },
    { sampler: "stops" },
  )

/** Remove every frame marker after the first `skip` of them: those frames look like prints. */
const hideMarkers =
  (skip: number) =>
  (stdout: string): string => {
    let seen = 0
    return stdout.replace(/\x1e/g, (mark) => (seen++ < skip ? mark : ""))
  }

describe("damaged replies on the fake board", () => {
  it("a duplicated byte in a result is a FramingError, not a longer value; the next call works", async () => {
    const board = model()
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board)
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            yield* greet.call(session, 1)
            board.damageNext.push((s) => s.replace("298343329", "298343329329"))
            const damaged = yield* Effect.flip(greet.call(session, 298343329))
            const after = yield* greet.call(session, 2)
            return { damaged, after }
          }),
        )
      }),
    )
    expect(result.damaged._tag).toBe("FramingError")
    expect(result.damaged.message).toContain("does not match its check")
    expect(result.after).toBe("héllo 2")
  })

  it("a generator item whose frame went unrecognized fails the stream instead of dropping the item", async () => {
    const board = model()
    const error = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board)
        return yield* manager.executeInSession((session) => {
          board.damageNext.push((s) => s.replace("\x1e", ""))
          return Effect.flip(Stream.runCollect(squares.stream(session, 3)))
        })
      }),
    )
    expect(error._tag).toBe("FramingError")
    expect(error.message).toContain("result frame 1 arrived where 0 was due")
  })

  it("a generator whose end frame is lost, or whose frames are all unrecognized, fails instead of ending", async () => {
    const board = model()
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board)
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            board.damageNext.push(hideMarkers(3))
            const noEnd = yield* Effect.flip(Stream.runCollect(squares.stream(session, 3)))
            board.damageNext.push(hideMarkers(0))
            const nothing = yield* Effect.flip(Stream.runCollect(squares.stream(session, 3)))
            const whole = yield* Stream.runCollect(squares.stream(session, 3))
            const empty = yield* Stream.runCollect(squares.stream(session, 0))
            return { noEnd, nothing, whole, empty }
          }),
        )
      }),
    )
    expect(result.noEnd._tag).toBe("FramingError")
    expect(result.noEnd.message).toContain("end frame did not arrive")
    expect(result.nothing._tag).toBe("FramingError")
    expect(result.whole).toEqual([0, 1, 4])
    expect(result.empty).toEqual([])
  })

  it("a task call answered with no frame, or with two, is a FramingError", async () => {
    const board = model()
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board)
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            yield* greet.call(session, 1)
            board.damageNext.push(hideMarkers(0))
            const none = yield* Effect.flip(greet.call(session, 2))
            board.damageNext.push((s) => s + s.replace(/\x1e(\w{10})0:/, "\x1e$11:"))
            const two = yield* Effect.flip(greet.call(session, 3))
            return { none, two }
          }),
        )
      }),
    )
    expect(result.none._tag).toBe("FramingError")
    expect(result.none.message).toContain("no result frame")
    expect(result.two._tag).toBe("FramingError")
    expect(result.two.message).toContain("2 result frames")
  })

  it("a thread whose start reply was damaged is still stopped and removed when the session ends", async () => {
    const board = model()
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board)
        const session = yield* manager.createSession()
        board.damageNext.push((s) => s.replace(/:1\r\n$/, ":7\r\n"))
        const start = yield* Effect.flip(sampler.start(session))
        const onBoard = board.threads.size
        const tracked = executorContext(session).activeThreads().length
        yield* session.end
        return { start, onBoard, tracked, left: board.threads.size }
      }),
    )
    expect(result.start._tag).toBe("FramingError")
    expect(result.onBoard).toBe(1)
    expect(result.tracked).toBe(1)
    expect(result.left).toBe(0)
  })

  it("the session's stop of a thread the board does not know (it never started) reports no error", async () => {
    const board = model()
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board)
        const session = yield* manager.createSession()
        board.damageNext.push(hideMarkers(0))
        const start = yield* Effect.flip(sampler.start(session))
        // As if the start never reached the board.
        board.threads.clear()
        const ended = yield* Effect.result(session.end)
        return { start, ended, tracked: executorContext(session).activeThreads().length }
      }),
    )
    expect(result.start._tag).toBe("FramingError")
    expect(result.ended._tag).toBe("Success")
    expect(result.tracked).toBe(0)
  })
})

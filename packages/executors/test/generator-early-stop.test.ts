/**
 * A generator stream stopped early stops the generator on the board (Ctrl-C, its `finally` runs)
 * and leaves the board ready for the next call: this package's own test of it, on the virtual
 * board (issue 18: before, only the extensions fault campaign caught some of these mutations).
 * Each case checks, after the early stop: the generator's `finally` ran, its counter no longer
 * moves (nothing runs on after the stream ended), and the next call answers right.
 *
 * Mutations tried (each applied by hand, this file run, then reverted):
 * - src/Task.ts `GeneratorTask.streamWith` without `_belay_g.close()` in the body's `finally`:
 *   caught by "stopped by Stream.take while items flow" (the generator's `finally` never runs);
 * - src/Task.ts `Effect.forkScoped` replaced by `Effect.forkDetach` (the exchange outlives the
 *   stream, the board is never interrupted): caught by all three cases (the next call waits
 *   behind the still-running generator).
 * Not tried here: mutations of transport's interrupt on early stop (executors runs against
 * transport's build, which a mutation would have to be built into).
 */
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Fiber, Schema, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BoardModule, GeneratorTask, py, Task } from "../src/index.js"
import { type OpenBoard, openWith } from "./boards.js"

const T = 30_000

const gen = BoardModule.make({
  name: "early_mod",
  source: "early_log = []\nearly_count = [0]",
  members: {
    // Items as fast as the board makes them.
    fast: GeneratorTask.make({
      name: "early_fast",
      source: py`
        def early_fast(tag):
            early_log.append('start ' + tag)
            try:
                while True:
                    early_count[0] += 1
                    yield early_count[0]
            finally:
                early_log.append('stop ' + tag)
      `,
      args: [Schema.String],
      item: Schema.Number,
    }),
    // One item, then a long quiet wait on the board: no output arrives when the stream stops.
    quiet: GeneratorTask.make({
      name: "early_quiet",
      source: py`
        def early_quiet(tag):
            import time
            early_log.append('start ' + tag)
            try:
                yield 1
                while True:
                    early_count[0] += 1
                    time.sleep_ms(5)
            finally:
                early_log.append('stop ' + tag)
      `,
      args: [Schema.String],
      item: Schema.Number,
    }),
    state: Task.make({
      name: "early_state",
      source:
        "def early_state():\n    log = list(early_log)\n    early_log.clear()\n    return [log, early_count[0]]",
    }),
    add: Task.make({
      name: "early_add",
      source: "def early_add(a, b):\n    return a + b",
      args: [Schema.Number, Schema.Number],
      result: Schema.Number,
    }),
  },
})

describe("a generator stopped early, on the virtual board", () => {
  let board: OpenBoard
  beforeAll(async () => {
    board = await openWith(
      Effect.gen(function* () {
        const link = yield* openVirtualBoard()
        return { device: yield* makeDeviceCommunication(link) }
      }),
    )
  }, T)
  afterAll(async () => {
    await board?.close()
  }, T)

  /** Stop the stream, then: what the board logged, whether its counter moved since, the next call. */
  const check = <A, E>(stop: (session: Parameters<typeof gen.members.add.call>[0]) => Effect.Effect<A, E>) =>
    board.run(
      // The next call is bounded: a board still running the generator does not answer it.
      board.manager.executeInNewSession((session) =>
        Effect.gen(function* () {
          const items = yield* stop(session)
          const [log, count] = (yield* gen.members.state.call(session).pipe(Effect.timeout("5 seconds"))) as [
            string[],
            number,
          ]
          yield* Effect.sleep("50 millis")
          const [, later] = (yield* gen.members.state.call(session).pipe(Effect.timeout("5 seconds"))) as [
            string[],
            number,
          ]
          const sum = yield* gen.members.add.call(session, 2, 3).pipe(Effect.timeout("5 seconds"))
          return { items, log, moved: later - count, sum }
        }),
      ),
    )

  it(
    "stopped by Stream.take while items flow",
    async () => {
      for (const k of [1, 2, 5]) {
        const result = await check((session) =>
          Effect.map(Stream.runCollect(Stream.take(gen.members.fast.stream(session, `t${k}`), k)), (c) =>
            Array.from(c),
          ),
        )
        expect(result.items).toHaveLength(k)
        expect(result.log).toEqual([`start t${k}`, `stop t${k}`])
        expect(result.moved).toBe(0)
        expect(result.sum).toBe(5)
      }
    },
    T,
  )

  it(
    "stopped by Stream.take while the board is quiet",
    async () => {
      const result = await check((session) =>
        Effect.map(Stream.runCollect(Stream.take(gen.members.quiet.stream(session, "q"), 1)), (c) =>
          Array.from(c),
        ),
      )
      expect(result.items).toEqual([1])
      expect(result.log).toEqual(["start q", "stop q"])
      expect(result.moved).toBe(0)
      expect(result.sum).toBe(5)
    },
    T,
  )

  it(
    "stopped by interrupting the fiber that reads it",
    async () => {
      const result = await check((session) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.forkChild(Stream.runDrain(gen.members.quiet.stream(session, "i")))
          yield* Effect.sleep("100 millis")
          yield* Fiber.interrupt(fiber)
          return []
        }),
      )
      expect(result.log).toEqual(["start i", "stop i"])
      expect(result.moved).toBe(0)
      expect(result.sum).toBe(5)
    },
    T,
  )
})

/**
 * The behaviour every real board must show (QEMU micro:bit, virtual board): one suite, run by
 * each board's test file against one board opened for the file.
 */

import type { DeviceSession } from "@belay/core"
import { checkedRuntimeRequest } from "@belay/transport/internal"
import { Effect, Schema, Stream } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import {
  BoardModule,
  executorContext,
  GeneratorTask,
  py,
  pythonFile,
  Setup,
  Task,
  Teardown,
  ThreadTask,
} from "../src/index.js"
import type { OpenBoard } from "./boards.js"

export interface BoardFeatures {
  /** The board's floats: `double` (64-bit) or `single` (32-bit, the micro:bit). */
  readonly floats: "double" | "single"
  readonly threads: boolean
  /** Runs of the property test. */
  readonly propertyRuns: number
  /** Largest generated containers and strings (small boards have little heap). */
  readonly maxLength: number
  /** Soft reset before each test: a 9 KB heap does not hold every test's functions at once. */
  readonly resetBetweenTests: boolean
}

const T = 60_000

/** Python ints come back as numbers when safe, as bigints otherwise. */
const normalize = (value: unknown): unknown => {
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value
  }
  if (Array.isArray(value)) return value.map(normalize)
  if (value instanceof Uint8Array) return value
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: normalize(v),
        enumerable: true,
        writable: true,
        configurable: true,
      })
    }
    return out
  }
  return value
}

export const describeBoard = (name: string, open: () => Promise<OpenBoard>, features: BoardFeatures) =>
  describe(`executors on ${name}`, () => {
    let board: OpenBoard
    beforeAll(async () => {
      board = await open()
    }, T)
    afterAll(async () => {
      await board?.close()
    }, T)
    if (features.resetBetweenTests) {
      beforeEach(async () => {
        await board.run(board.device.softReset)
      }, T)
    }
    const inSession = <A, E>(body: (session: DeviceSession) => Effect.Effect<A, E>) =>
      board.run(board.manager.executeInNewSession(body))

    it(
      "returns typed results of every JSON-like type and bytes",
      async () => {
        const everything = Task.make({
          name: "everything",
          source: py`
            def everything(scale):
                return {'text': 'h\u00e9llo\n"q\'\\', 'int': 42 * scale, 'neg': -7, 'big': 2 ** 70, 'float': 1.5,
                        'yes': True, 'no': False, 'none': None, 'list': [1, [2, 3]], 'tuple': (4, 'five'),
                        'bytes': b'\x00\xff\x7fA', 'nested': {'a': {'b': [None]}}, 'empty': {}}
          `,
          args: [Schema.Number],
          result: Schema.Struct({
            text: Schema.String,
            int: Schema.Number,
            neg: Schema.Number,
            big: Schema.BigInt,
            float: Schema.Number,
            yes: Schema.Boolean,
            no: Schema.Boolean,
            none: Schema.Null,
            list: Schema.Tuple([Schema.Number, Schema.Array(Schema.Number)]),
            tuple: Schema.Tuple([Schema.Number, Schema.String]),
            bytes: Schema.Uint8Array,
            nested: Schema.Struct({ a: Schema.Struct({ b: Schema.Array(Schema.Null) }) }),
            empty: Schema.Record(Schema.String, Schema.Unknown),
          }),
        })
        const value = await inSession((session) => everything.call(session, 2))
        expect(value).toEqual({
          text: "héllo\n\"q'\\",
          int: 84,
          neg: -7,
          big: 2n ** 70n,
          float: 1.5,
          yes: true,
          no: false,
          none: null,
          list: [1, [2, 3]],
          tuple: [4, "five"],
          bytes: new Uint8Array([0, 255, 127, 65]),
          nested: { a: { b: [null] } },
          empty: {},
        })
      },
      T,
    )

    it(
      "reports a Python exception with type, message and traceback, and a schema mismatch by field",
      async () => {
        const fails = Task.make({
          name: "fails",
          source: py`
            def fails(x):
                print('about to fail')
                raise ValueError('bad ' + str(x))
          `,
          args: [Schema.Number],
        })
        const reading = Task.make({
          name: "reading",
          source: "def reading():\n    return {'temp': 'hot', 'ok': True}",
          result: Schema.Struct({ temp: Schema.Number, ok: Schema.Boolean }),
        })
        const [error, decode, again] = await inSession((session) =>
          Effect.all([
            Effect.flip(fails.call(session, 3)),
            Effect.flip(reading.call(session)),
            // The definition ran before the call raised: the next call sends only the call.
            Effect.gen(function* () {
              const before = (yield* session.device.metrics).bytesOut
              yield* Effect.flip(fails.call(session, 4))
              return (yield* session.device.metrics).bytesOut - before
            }),
          ]),
        )
        expect(again).toBeLessThan(fails.source.text.length)
        expect(error._tag).toBe("PythonError")
        if (error._tag === "PythonError") {
          expect(error.exceptionType).toBe("ValueError")
          expect(error.pythonMessage).toBe("bad 3")
          expect(error.traceback).toContain("fails")
          expect(error.stdout).toContain("about to fail")
          expect(error.stdout).not.toContain("\x1e")
        }
        expect(decode._tag).toBe("ResultDecodeError")
        if (decode._tag === "ResultDecodeError") expect(decode.path).toBe("$.temp")
      },
      T,
    )

    it(
      "sends any argument value unchanged: strings, bytes, numbers, containers (property)",
      async () => {
        const echo = Task.make({ name: "echo", source: "def echo(x):\n    return x", args: [Schema.Unknown] })
        const n = features.maxLength
        const text = fc.oneof(
          fc.string({ unit: "binary", maxLength: n }),
          fc.constantFrom(
            "'",
            '"',
            "\\",
            "\n",
            "\r\n",
            "\x00",
            "\x03",
            "\x04",
            "'''",
            '"""',
            "\\x00",
            "')\nimport os#",
            "\u2028",
            "😀",
          ),
        )
        const float =
          features.floats === "double" ? fc.double() : fc.integer({ min: -4000, max: 4000 }).map((i) => i / 4)
        const leaf = fc.oneof(
          text,
          fc.integer(),
          fc.bigInt({ min: -(1n << 80n), max: 1n << 80n }),
          float,
          fc.boolean(),
          fc.constant(null),
          fc.uint8Array({ maxLength: n }),
        )
        const { value } = fc.letrec((tie) => ({
          value: fc.oneof(
            { depthSize: "small", maxDepth: 2 },
            leaf,
            fc.array(tie("value"), { maxLength: 3 }),
            fc.dictionary(text, tie("value"), { maxKeys: 3 }),
          ),
        }))
        await inSession((session) =>
          Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(value, async (v) => {
                const back = await Effect.runPromise(echo.call(session, v))
                expect(back).toEqual(normalize(v))
              }),
              { numRuns: features.propertyRuns },
            ),
          ),
        )
      },
      5 * T,
    )

    it(
      "calls functions from a .py file, grouped in a module, and delivers their prints apart",
      async () => {
        const file = pythonFile(new URL("./python/stats.py", import.meta.url))
        const stats = BoardModule.make({
          name: "stats",
          members: {
            mean: Task.make({
              name: "mean",
              source: file,
              args: [Schema.Array(Schema.Number)],
              result: Schema.Number,
            }),
            spread: Task.make({
              name: "spread",
              source: file,
              args: [Schema.Array(Schema.Number)],
              result: Schema.Number,
            }),
          },
        })
        const chatty = Task.make({
          name: "chatty",
          source: py`
            def chatty(n):
                for i in range(n):
                    print('line', i)
                return n
          `,
          args: [Schema.Number],
          result: Schema.Number,
        })
        const printed: string[] = []
        const result = await inSession((session) =>
          Effect.all([
            stats.members.mean.call(session, [1, 2, 3, 4]),
            stats.members.spread.call(session, [1, 2, 3, 4]),
            chatty.callWith(session, { onOutput: (text) => Effect.sync(() => void printed.push(text)) }, 3),
          ]),
        )
        expect(result).toEqual([2.5, 3, 3])
        expect(printed.join("").replace(/\r/g, "")).toBe("line 0\nline 1\nline 2\n")
      },
      T,
    )

    it(
      "passes keyword arguments from a struct schema",
      async () => {
        const kw = Task.make({
          name: "kw",
          source: "def kw(a, b=2, c=3):\n    return [a, b, c]",
          args: Schema.Struct({ a: Schema.String, c: Schema.Number }),
          result: Schema.Array(Schema.Unknown),
        })
        expect(await inSession((session) => kw.call(session, { a: "x'y", c: 5 }))).toEqual(["x'y", 2, 5])
      },
      T,
    )

    it(
      "streams a generator's values and stops it on the board when the stream stops early",
      async () => {
        const ticks = BoardModule.make({
          name: "ticks_mod",
          source: "ticks_log = []",
          members: {
            squares: GeneratorTask.make({
              name: "squares",
              source: "def squares(n):\n    for i in range(n):\n        yield i * i",
              args: [Schema.Number],
              item: Schema.Number,
            }),
            ticks: GeneratorTask.make({
              name: "ticks",
              source: py`
                def ticks(start):
                    ticks_log.append('started')
                    try:
                        i = start
                        while True:
                            yield i
                            i += 1
                    finally:
                        ticks_log.append('stopped')
              `,
              args: [Schema.Number],
              item: Schema.Number,
            }),
            log: Task.make({ name: "ticks_log_read", source: "def ticks_log_read():\n    return ticks_log" }),
          },
        })
        const result = await inSession((session) =>
          Effect.gen(function* () {
            const squares = yield* Stream.runCollect(ticks.members.squares.stream(session, 5))
            const first = yield* Stream.runCollect(Stream.take(ticks.members.ticks.stream(session, 10), 3))
            const log = yield* ticks.members.log.call(session)
            return { squares, first, log }
          }),
        )
        expect(result.squares).toEqual([0, 1, 4, 9, 16])
        expect(result.first).toEqual([10, 11, 12])
        expect(result.log).toEqual(["started", "stopped"])
      },
      T,
    )

    it(
      "sends only the call on the second call of a session, and deploys again after a soft reset",
      async () => {
        const source = py`
          def cached_add(a, b):
              # a comment to make the definition clearly longer than the call
              total = a + b
              return total
        `
        const cachedAdd = Task.make({
          name: "cached_add",
          source,
          args: [Schema.Number, Schema.Number],
          result: Schema.Number,
        })
        const bytes = await inSession((session) =>
          Effect.gen(function* () {
            const out = () => Effect.map(session.device.metrics, (m) => m.bytesOut)
            const m0 = yield* out()
            expect(yield* cachedAdd.call(session, 1, 2)).toBe(3)
            const m1 = yield* out()
            expect(yield* cachedAdd.call(session, 3, 4)).toBe(7)
            const m2 = yield* out()
            yield* session.device.softReset
            const m3 = yield* out()
            expect(yield* cachedAdd.call(session, 5, 6)).toBe(11)
            const m4 = yield* out()
            expect(yield* cachedAdd.call(session, 7, 8)).toBe(15)
            const m5 = yield* out()
            return { first: m1 - m0, second: m2 - m1, afterReset: m4 - m3, afterThat: m5 - m4 }
          }),
        )
        // The call in its end-to-end check (the short form, once the runtime is deployed).
        const callLength = checkedRuntimeRequest("_belay_o('\\x1eabcdefghij',cached_add(3,4))").length
        expect(bytes.first).toBeGreaterThan(source.text.length)
        expect(bytes.second).toBeLessThanOrEqual(callLength + 4)
        expect(bytes.afterReset).toBeGreaterThan(source.text.length)
        expect(bytes.afterThat).toBeLessThanOrEqual(callLength + 4)
      },
      T,
    )

    it(
      "a later session on the same board reuses the deployed function after checking the registry",
      async () => {
        const reused = Task.make({
          name: "reused",
          source: py`
            reused_defs = globals().get('reused_defs', 0) + 1
            def reused(x):
                return [x * 2, reused_defs]
          `,
          args: [Schema.Number],
        })
        const first = (await inSession((session) => reused.call(session, 1))) as number[]
        const second = (await inSession((session) => reused.call(session, 21))) as number[]
        expect(first[0]).toBe(2)
        expect(second[0]).toBe(42)
        // Not defined again: the second session found it in the board's registry.
        expect(second[1]).toBe(first[1])
      },
      T,
    )

    it(
      "interrupts a call past its timeout and keeps working",
      async () => {
        const spin = Task.make({
          name: "spin",
          source: "def spin():\n    while True:\n        pass",
          timeout: "500 millis",
        })
        const one = Task.make({ name: "one", source: "def one():\n    return 1" })
        const [error, after] = await inSession((session) =>
          Effect.all([Effect.flip(spin.call(session)), one.call(session)]),
        )
        expect(error._tag).toBe("TaskTimeoutError")
        expect(after).toBe(1)
      },
      T,
    )

    it(
      "runs setup once per session and teardown when the session ends, even after a failure",
      async () => {
        const prepare = Setup.make({ name: "prepare", source: "prepared = globals().get('prepared', 0) + 1" })
        const mark = Teardown.make({ name: "mark", source: "torn = globals().get('torn', 0) + 1" })
        const state = Task.make({
          name: "state",
          source: "def state():\n    return [globals().get('prepared', 0), globals().get('torn', 0)]",
        })
        const fails = Task.make({ name: "fails_now", source: "def fails_now():\n    raise OSError(5)" })
        const before = (await inSession((session) => state.call(session))) as number[]
        const failed = await board.run(
          Effect.flip(
            board.manager.executeInNewSession((session) =>
              Effect.gen(function* () {
                yield* mark.register(session)
                yield* prepare.run(session)
                yield* prepare.run(session)
                yield* mark.register(session)
                return yield* fails.call(session)
              }),
            ),
          ),
        )
        const after = (await inSession((session) => state.call(session))) as number[]
        expect(failed._tag).toBe("PythonError")
        expect(after[0]! - before[0]!).toBe(1)
        expect(after[1]! - before[1]!).toBe(1)
      },
      T,
    )

    it(
      "groups tasks in a module sharing setup and teardown",
      async () => {
        const counter = BoardModule.make({
          name: "counter",
          setup: "counter_value = [0]",
          teardown: "counter_closed = counter_value[0]",
          members: {
            inc: Task.make({
              name: "counter_inc",
              source: "def counter_inc(by):\n    counter_value[0] += by\n    return counter_value[0]",
              args: [Schema.Number],
              result: Schema.Number,
            }),
            get: Task.make({
              name: "counter_get",
              source: "def counter_get():\n    return counter_value[0]",
              result: Schema.Number,
            }),
          },
        })
        const closed = Task.make({
          name: "counter_closed_read",
          source: "def counter_closed_read():\n    return globals().get('counter_closed')",
        })
        const values = await inSession((session) =>
          Effect.all([
            counter.members.inc.call(session, 2),
            counter.members.inc.call(session, 3),
            counter.members.get.call(session),
          ]),
        )
        expect(values).toEqual([2, 5, 5])
        expect(await inSession((session) => closed.call(session))).toBe(5)
      },
      T,
    )

    if (features.threads) {
      it(
        "runs a board thread, stops it when the session ends, and reports its exception",
        async () => {
          const worker = ThreadTask.make({
            name: "worker",
            source: py`
              worker_count = [0]
              def worker(stopping, step):
                  import time
                  while not stopping():
                      worker_count[0] += step
                      time.sleep_ms(5)
            `,
            args: [Schema.Number],
          })
          const failing = ThreadTask.make({
            name: "failing_worker",
            source: "def failing_worker(stopping):\n    raise ValueError('sensor gone')",
          })
          const stats = await inSession((session) =>
            Effect.gen(function* () {
              const thread = yield* worker.start(session, 1)
              const running = yield* thread.status
              return { running, threads: executorContext(session).activeThreads().length }
            }),
          )
          expect(stats.running._tag).toBe("Running")
          expect(stats.threads).toBe(1)
          const failure = await board.run(
            Effect.flip(
              board.manager.executeInNewSession((session) =>
                Effect.gen(function* () {
                  const thread = yield* failing.start(session)
                  return yield* thread.join({ timeout: "10 seconds" })
                }),
              ),
            ),
          )
          expect(failure._tag).toBe("ThreadFailedError")
          if (failure._tag === "ThreadFailedError") {
            expect(failure.exceptionType).toBe("ValueError")
            expect(failure.pythonMessage).toBe("sensor gone")
          }
        },
        T,
      )
    } else {
      it(
        "refuses a board thread with a capability error before sending anything",
        async () => {
          const worker = ThreadTask.make({ name: "worker", source: "def worker(stopping):\n    pass" })
          const result = await inSession((session) =>
            Effect.gen(function* () {
              const before = (yield* session.device.metrics).bytesOut
              const error = yield* Effect.flip(worker.start(session))
              return { error, sent: (yield* session.device.metrics).bytesOut - before }
            }),
          )
          expect(result.error._tag).toBe("CapabilityMissingError")
          expect(result.sent).toBe(0)
        },
        T,
      )
    }
  })

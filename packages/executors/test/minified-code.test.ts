/**
 * Tasks, setups and modules send their code minified (fewer bytes) and it does what it did as
 * written: the same results and prints, and when it raises, the same traceback, naming the lines
 * as written. On the virtual board (MicroPython 1.27).
 */
import { MinifyPython, makeDeviceCommunication, PythonError } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildExchange, frameUnit, makeUnit } from "../src/Deployment.js"
import { py, Setup, Task } from "../src/index.js"
import { type OpenBoard, openWith } from "./boards.js"

const stats = Task.make({
  name: "mini_stats",
  source: py`
    # Statistics of a list of numbers.

    def mini_stats(values, label):
        """The smallest, the largest and the mean of values.

        A docstring long enough to be worth removing: it travels on every first call, and a
        small board's parser holds the whole exchange in its heap while it compiles it.
        """
        # the bounds
        lo = min(values)
        hi = max(values)    # inclusive
        print('label:', label, "# not a comment")
        return {'label': label, 'lo': lo, 'hi': hi, 'mean': sum(values) / len(values)}
  `,
  args: [Schema.Array(Schema.Number), Schema.String],
  result: Schema.Struct({ label: Schema.String, lo: Schema.Number, hi: Schema.Number, mean: Schema.Number }),
})

const failing = Task.make({
  name: "mini_fail",
  source: py`
    def mini_fail(x):
        """Raises on a continuation line."""
        # a comment, then a statement over two lines
        y = (x +
             1 / 0)
        return y
  `,
  args: [Schema.Number],
})

const setup = Setup.make({
  name: "mini_setup",
  source: py`
    # What the tasks share.
    mini_scale = 3  # a constant
  `,
})

let board: OpenBoard
beforeAll(async () => {
  board = await openWith(
    Effect.gen(function* () {
      const link = yield* openVirtualBoard()
      return { device: yield* makeDeviceCommunication(link) }
    }),
  )
}, 60_000)
afterAll(() => board.close())

/** Run `body` in a new session on a freshly reset board, minified or not; with the bytes it sent. */
const fresh = <A, E>(minify: boolean, body: Parameters<OpenBoard["manager"]["executeInNewSession"]>[0]) =>
  board.run(
    Effect.gen(function* () {
      yield* board.device.softReset
      const before = (yield* board.device.metrics).bytesOut
      const value = yield* Effect.exit(board.manager.executeInNewSession(body))
      return { value, bytes: (yield* board.device.metrics).bytesOut - before }
    }).pipe(Effect.provideService(MinifyPython, minify)),
  ) as Promise<{ value: import("effect").Exit.Exit<A, E>; bytes: number }>

describe("minified task code on the virtual board", () => {
  it("gives the same result and prints, and sends fewer bytes", async () => {
    const printed: Record<string, string> = {}
    const call = (minify: boolean) =>
      fresh(minify, (session) =>
        Effect.gen(function* () {
          yield* setup.run(session)
          const scale = yield* session.device.eval("mini_scale")
          const result = yield* stats.callWith(
            session,
            {
              onOutput: (text) =>
                Effect.sync(() => (printed[String(minify)] = (printed[String(minify)] ?? "") + text)),
            },
            [3, 1, 4, 1.5],
            "it's",
          )
          return { scale, result }
        }),
      )
    const plain = await call(false)
    const small = await call(true)
    expect(plain.value).toEqual(small.value)
    expect(plain.value._tag).toBe("Success")
    expect(printed.true).toBe(printed.false)
    expect(printed.true).toContain("label: it's # not a comment")
    expect(small.bytes).toBeLessThan(plain.bytes)
  }, 60_000)

  it("a task that raises gives the same traceback minified, naming the line as written", async () => {
    const fail = (minify: boolean) => fresh(minify, (session) => failing.call(session, 1))
    const plain = await fail(false)
    const small = await fail(true)
    const errorOf = (exit: typeof plain.value) => {
      if (exit._tag !== "Failure") throw new Error("expected a failure")
      const error = exit.cause.reasons.find((r) => r._tag === "Fail")
      return (error as { error: unknown }).error as PythonError
    }
    const plainError = errorOf(plain.value)
    expect(plainError).toBeInstanceOf(PythonError)
    expect(plainError.exceptionType).toBe("ZeroDivisionError")
    expect(errorOf(small.value).traceback).toBe(plainError.traceback)
    // The line of `1 / 0` in the exchange that deploys and calls, as written and minified.
    const lineOf = (minify: boolean, text: string) => {
      const units = [frameUnit, makeUnit("mini_fail", failing.source)]
      const { code } = buildExchange(units, ["deploy", "deploy"], ["mini_fail(1)"], "nonce", minify)
      return code.split("\n").findIndex((l) => l.includes(text)) + 1
    }
    expect(lineOf(true, "1/0")).toBe(lineOf(false, "1 / 0"))
    expect(plainError.traceback).toContain(`line ${lineOf(false, "1 / 0")}, in mini_fail`)
    expect(small.bytes).toBeLessThan(plain.bytes)
  }, 60_000)
})

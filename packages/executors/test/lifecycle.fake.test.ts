import { Effect, Schema, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import { BoardModule, py, Setup, Task, Teardown } from "../src/index.js"
import { connect, FakeMicroPython } from "./fakeMicroPython.js"

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect))

const model = () =>
  new FakeMicroPython(
    {
      read: () => ({ value: 21.5 }),
      write: (v) => ({ value: v }),
      fail: () => ({ raise: ["OSError", "5"] }),
    },
    {},
    {},
    (code) =>
      code.includes("raise")
        ? {
            traceback:
              'Traceback (most recent call last):\r\n  File "<stdin>", line 2, in <module>\r\nOSError: 19\r\n',
          }
        : {},
  )

const pins = Setup.make({ name: "pins", source: "from machine import Pin\nled = Pin(2, Pin.OUT)" })
const off = Teardown.make({ name: "off", source: "led.off()" })
const read = Task.make({ name: "read", source: "def read():\n    return 21.5", result: Schema.Number })
const fail = Task.make({ name: "fail", source: "def fail():\n    raise OSError(5)" })

describe("setup and teardown on the fake board", () => {
  it("runs setup once per session, before the tasks, and again after a board reset", async () => {
    const board = model()
    await run(
      Effect.gen(function* () {
        const { manager, device } = yield* connect(board)
        yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            yield* pins.run(session)
            yield* Effect.all([pins.run(session), pins.run(session)], { concurrency: "unbounded" })
            yield* read.call(session)
            yield* device.softReset
            board.reset()
            yield* pins.run(session)
            yield* pins.run(session)
          }),
        )
        yield* manager.executeInNewSession((session) => pins.run(session))
      }),
    )
    expect(board.plain.filter((c) => c.includes("led=Pin"))).toHaveLength(3)
  })

  it("runs teardown when the session ends after a failure, once", async () => {
    const board = model()
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(board)
        const exit = yield* Effect.exit(
          manager.executeInSession((session) =>
            Effect.gen(function* () {
              yield* off.register(session)
              yield* off.register(session)
              yield* pins.run(session)
              return yield* fail.call(session)
            }),
          ),
        )
        return { exit, programs: programs() }
      }),
    )
    expect(result.exit._tag).toBe("Failure")
    expect(result.programs.at(-1)).toBe("led.off()")
    expect(result.programs.filter((p) => p === "led.off()")).toHaveLength(1)
  })

  it("reports a failing teardown as a cleanup failure of the session", async () => {
    const broken = Teardown.make({ name: "broken", source: "raise OSError(19)" })
    const error = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(model())
        const session = yield* manager.createSession()
        yield* broken.register(session)
        return yield* Effect.flip(session.end)
      }),
    )
    expect(error.failures[0]?.resourceType).toBe("Teardown")
    expect(error.failures[0]?.error).toMatchObject({ _tag: "PythonError", exceptionType: "OSError" })
  })

  it("refuses setup and teardown in an ended session", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(model())
        const session = yield* manager.createSession()
        yield* session.end
        return [yield* Effect.flip(pins.run(session)), yield* Effect.flip(off.register(session))]
      }),
    )
    expect(result.map((e) => e._tag)).toEqual(["SessionError", "SessionError"])
  })
})

describe("modules on the fake board", () => {
  const sensor = BoardModule.make({
    name: "sensor",
    source: "SCALE = 2",
    setup: "from machine import Pin\nled = Pin(2, Pin.OUT)",
    teardown: "led.off()",
    members: {
      read: Task.make({
        name: "read",
        source: "def read():\n    return 21.5 * SCALE / 2",
        result: Schema.Number,
      }),
      write: Task.make({
        name: "write",
        source: py`
        def write(v):
            return v
      `,
        args: [Schema.String],
      }),
    },
  })

  it("deploys the members together once, after the setup, and tears down at session end", async () => {
    const board = model()
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(board)
        const values = yield* manager.executeInSession((session) =>
          Effect.all([
            sensor.members.read.call(session),
            sensor.members.write.call(session, "x"),
            sensor.members.read.call(session),
          ]),
        )
        return { values, programs: programs() }
      }),
    )
    expect(result.values).toEqual([21.5, "x", 21.5])
    expect(result.programs).toHaveLength(5)
    expect(result.programs[0]).toContain("led=Pin")
    expect(result.programs[1]).toContain("SCALE=2")
    expect(result.programs[1]).toContain("def read(")
    expect(result.programs[1]).toContain("def write(")
    expect(result.programs[1]).toContain("_belay_r['sensor']=")
    expect(result.programs[2]).toMatch(/^_belay_o\('\\x1e\w+',write\('x'\)\)$/)
    expect(result.programs[3]).toMatch(/^_belay_o\('\\x1e\w+',read\(\)\)$/)
    expect(result.programs[4]).toBe("led.off()")
  })

  it("refuses two members with one Python name", () => {
    expect(() =>
      BoardModule.make({
        name: "twice",
        members: { a: read, b: Task.make({ name: "read", source: "def read():\n    return 2" }) },
      }),
    ).toThrow(/two members/)
  })
})

describe("robustness on the fake board", () => {
  it("sends a call again when it reached the board damaged (bytes lost on the link)", async () => {
    const board = model()
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(board)
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            yield* read.call(session)
            board.garbleNext = 1
            const value = yield* read.call(session)
            board.garbleNext = 3
            const error = yield* Effect.flip(read.call(session))
            return { value, error, programs: programs() }
          }),
        )
      }),
    )
    expect(result.value).toBe(21.5)
    // A damaged request runs nothing and is sent again, twice at most.
    expect(result.error._tag).toBe("RequestDamagedError")
    expect(result.programs).toHaveLength(1 + 2 + 3)
  })
})

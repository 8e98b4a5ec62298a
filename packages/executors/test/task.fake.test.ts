import { MinifyPython } from "@belay/transport"
import { checkedRuntimeRequest } from "@belay/transport/internal"
import { Effect, Fiber, Schema, type Scope, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { executorContext, GeneratorTask, py, Task } from "../src/index.js"
import { connect, FakeMicroPython } from "./fakeMicroPython.js"

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect))

const addSource = py`
  def add(a, b):
      return a + b
`
const add = Task.make({
  name: "add",
  source: addSource,
  args: [Schema.Number, Schema.Number],
  result: Schema.Number,
})

const model = () =>
  new FakeMicroPython({
    add: (a, b) => ({ value: (a as number) + (b as number) }),
    noisy: () => ({ value: { ok: true }, prints: "hello\r\n\x1e fake frame\r\n\x1e123zz 'x'\r\n" }),
    boom: () => ({ raise: ["ValueError", "bad value"], prints: "before\r\n" }),
    wrong: () => ({ value: { temp: "hot", ok: true } }),
    slow: () => ({ hang: true }),
  })

describe("task calls on the fake board", () => {
  it("sends definition and call in one exchange, then only the call", async () => {
    const board = model()
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs, device } = yield* connect(board)
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            const first = yield* add.call(session, 1, 2)
            const afterFirst = programs().length
            const bytesBefore = (yield* device.metrics).bytesOut
            const second = yield* add.call(session, 40, 2)
            const bytesSecond = (yield* device.metrics).bytesOut - bytesBefore
            return {
              first,
              second,
              afterFirst,
              programs: programs(),
              bytesSecond,
              deployed: executorContext(session).deployedMethods(),
            }
          }),
        )
      }),
    )
    expect(result.first).toBe(3)
    expect(result.second).toBe(42)
    expect(result.afterFirst).toBe(1)
    expect(result.programs).toHaveLength(2)
    expect(result.programs[0]).toContain("def add(a,b):")
    expect(result.programs[0]).toContain("_belay_r['add']=")
    expect(board.definitions.get("add")).toBe(1)
    expect(result.programs[1]).toMatch(/^_belay_o\('\\x1e\w+',add\(40,2\)\)$/)
    // The second exchange carries the call in its end-to-end check and the raw-REPL framing
    // bytes, nothing more.
    expect(result.bytesSecond).toBeLessThanOrEqual(checkedRuntimeRequest(result.programs[1]!).length + 4)
    expect(result.bytesSecond).toBeLessThan(result.programs[0]!.length)
    expect(result.deployed.map((m) => m.signature)).toEqual(["_belay_frame", "add"])
  })

  it("sends definitions minified, or as written with MinifyPython off, under one registry hash", async () => {
    const documented = Task.make({
      name: "add",
      source: py`
        def add(a, b):
            # The sum,
            # in either order.
            return a + b
      `,
      args: [Schema.Number, Schema.Number],
      result: Schema.Number,
    })
    const board = model()
    const asWritten = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.provideService(effect, MinifyPython, false)
    const programs = await run(
      Effect.gen(function* () {
        const first = yield* connect(board)
        yield* first.manager.executeInSession((session) => documented.call(session, 1, 2))
        // A later session that sends code as written finds the same code on the board.
        yield* asWritten(first.manager.executeInSession((session) => documented.call(session, 1, 2)))
        // A new host process that sends code as written defines it under the same check.
        const second = yield* connect(board)
        yield* asWritten(second.manager.executeInSession((session) => documented.call(session, 1, 2)))
        return [...first.programs(), ...second.programs()]
      }),
    )
    expect(programs).toHaveLength(3)
    // A new host process: the definition under a registry check (indented one space).
    expect(programs[0]).toContain(" def add(a,b):\n\n\n  return a+b\n")
    expect(programs[0]).not.toContain("The sum")
    expect(programs[1]).not.toContain("def add")
    expect(programs[2]).toContain(
      " def add(a, b):\n     # The sum,\n     # in either order.\n     return a + b\n",
    )
    const hashes = programs.map(
      (p) => /_belay_r(?:\['add'\]|\.get\('add'\))[!=]=?'([0-9a-f]{16})'/.exec(p)?.[1],
    )
    expect(new Set(hashes).size).toBe(1)
    expect(board.definitions.get("add")).toBe(1)
  })

  it("puts each call's nonce in a string literal too long for MicroPython to intern", async () => {
    // The parser interns string literals of up to 10 characters, for good: a short per-call
    // literal would leak board memory on every call.
    const programs = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(model())
        yield* manager.executeInNewSession((session) => add.call(session, 1, 2))
        // A later session guards the call: the registry reply carries the nonce too.
        yield* manager.executeInNewSession((session) => add.call(session, 1, 2))
        return programs()
      }),
    )
    const literals = programs.flatMap((code) => [...code.matchAll(/'\\x(1[ef])([^']*)'/g)])
    expect(new Set(literals.map((m) => m[1]))).toEqual(new Set(["1e", "1f"]))
    // The marker character and the nonce.
    for (const literal of literals) expect(1 + literal[2]!.length).toBeGreaterThan(10)
  })

  it("redeploys a changed definition under the same name", async () => {
    const board = model()
    const add2 = Task.make({
      name: "add",
      source: py`
        def add(a, b):
            return b + a
      `,
      args: [Schema.Number, Schema.Number],
      result: Schema.Number,
    })
    const programs = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(board)
        yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            yield* add.call(session, 1, 2)
            yield* add2.call(session, 1, 2)
            yield* add2.call(session, 1, 2)
            yield* add.call(session, 1, 2)
          }),
        )
        return programs()
      }),
    )
    expect(programs.map((p) => p.includes("def add"))).toEqual([true, true, false, true])
    expect(programs[1]).toContain("return b+a")
  })

  it("redeploys after a soft reset", async () => {
    const board = model()
    const programs = await run(
      Effect.gen(function* () {
        const { manager, programs, device } = yield* connect(board)
        yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            yield* add.call(session, 1, 2)
            yield* add.call(session, 1, 2)
            yield* device.softReset
            board.reset()
            yield* add.call(session, 1, 2)
            yield* add.call(session, 1, 2)
          }),
        )
        return programs()
      }),
    )
    expect(programs.map((p) => p.includes("def add"))).toEqual([true, false, true, false])
  })

  it("a new session reuses the board's functions after checking the registry in the same exchange", async () => {
    const board = model()
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(board)
        yield* manager.executeInNewSession((session) => add.call(session, 1, 2))
        const before = programs().length
        const value = yield* manager.executeInNewSession((session) => add.call(session, 2, 3))
        return { value, sent: programs().slice(before) }
      }),
    )
    expect(result.value).toBe(5)
    expect(result.sent).toHaveLength(1)
    expect(result.sent[0]).not.toContain("def add")
    expect(result.sent[0]).toMatch(
      /^_belay_r=globals\(\)\.get\('_belay_r',\{\}\)\nif _belay_r\.get\('_belay_frame'\)=='[0-9a-f]{16}' and _belay_r\.get\('add'\)=='[0-9a-f]{16}':\n _belay_o/,
    )
  })

  it("a new host process reuses what the board holds, and deploys what it does not", async () => {
    const board = model()
    await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board)
        yield* manager.executeInSession((session) => add.call(session, 1, 2))
      }),
    )
    const mul = Task.make({
      name: "mul",
      source: "def mul(a, b):\n    return a * b",
      args: [Schema.Number, Schema.Number],
    })
    board.functions.mul = (a, b) => ({ value: (a as number) * (b as number) })
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(board)
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            const sum = yield* add.call(session, 2, 3)
            const afterAdd = programs()
            const product = yield* mul.call(session, 2, 3)
            return { sum, product, afterAdd, all: programs() }
          }),
        )
      }),
    )
    expect(result.sum).toBe(5)
    expect(result.product).toBe(6)
    // One exchange for add, checking the registry: the board had it, so it was not defined again.
    expect(result.afterAdd).toHaveLength(1)
    expect(result.afterAdd[0]).toMatch(
      /^_belay_r=globals\(\)\.get\('_belay_r',\{\}\)\nif _belay_r\.get\('_belay_frame'\)!=[\s\S]*\nif _belay_r\.get\('add'\)!=/,
    )
    expect(board.definitions.get("add")).toBe(1)
    // mul was not on the board: defined in the one exchange of its first call.
    expect(result.all).toHaveLength(2)
    expect(result.all[1]).toContain("def mul")
    expect(board.definitions.get("mul")).toBe(1)
  })

  it("a new host process guards the call of code it cannot define conditionally, then calls it bare", async () => {
    const board = model()
    const documented = Task.make({
      name: "add",
      source: 'def add(a, b):\n    note = """Triple-quoted strings change if indented."""\n    return a + b',
      args: [Schema.Number, Schema.Number],
    })
    await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board)
        yield* manager.executeInSession((session) => documented.call(session, 1, 2))
      }),
    )
    const programs = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(board)
        yield* manager.executeInSession((session) =>
          Effect.all([documented.call(session, 1, 2), documented.call(session, 3, 4)]),
        )
        return programs()
      }),
    )
    expect(programs).toHaveLength(2)
    // The frame runtime is defined conditionally; the documented function only guarded.
    expect(programs[0]).toMatch(
      /^_belay_r=globals\(\)\.get\('_belay_r',\{\}\)\nif _belay_r\.get\('_belay_frame'\)!=[\s\S]*\nif _belay_r\.get\('add'\)=='/,
    )
    expect(programs[0]).not.toContain("def add")
    expect(programs[1]).toMatch(/^_belay_o\('\\x1e\w+',add\(3,4\)\)$/)
    expect(board.definitions.get("add")).toBe(1)
  })

  it("a new host process on a reset board defines and calls in one exchange", async () => {
    const board = model()
    await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board)
        yield* manager.executeInSession((session) => add.call(session, 1, 2))
      }),
    )
    board.reset()
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(board)
        const value = yield* manager.executeInSession((session) => add.call(session, 2, 3))
        return { value, programs: programs() }
      }),
    )
    expect(result.value).toBe(5)
    expect(result.programs).toHaveLength(1)
    expect(result.programs[0]).toContain("def add")
    expect(board.definitions.get("add")).toBe(2)
  })

  it("deploys again when the board lost the code without a reset the transport saw", async () => {
    const board = model()
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(board)
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            yield* add.call(session, 1, 2)
            board.reset() // e.g. a watchdog reset while idle
            const value = yield* add.call(session, 5, 5)
            return { value, programs: programs() }
          }),
        )
      }),
    )
    expect(result.value).toBe(10)
    // definition + call; then the bare call (NameError at the call site: nothing ran), and definition + call again
    expect(result.programs.map((p) => p.includes("def add"))).toEqual([true, false, true])
  })

  it("keeps prints apart from the result, even prints that look like frames", async () => {
    const noisy = Task.make({
      name: "noisy",
      source: "def noisy():\n    pass",
      result: Schema.Struct({ ok: Schema.Boolean }),
    })
    const board = model()
    const output: string[] = []
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board)
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            const streamed = yield* noisy.callWith(session, {
              onOutput: (text) => Effect.sync(() => void output.push(text)),
            })
            const logged = yield* noisy.call(session)
            return { streamed, logged }
          }),
        )
      }),
    )
    expect(result.streamed).toEqual({ ok: true })
    expect(result.logged).toEqual({ ok: true })
    expect(output.join("")).toBe("hello\r\n\x1e fake frame\r\n\x1e123zz 'x'\r\n")
  })

  it("a Python exception is a typed error with type, message and traceback", async () => {
    const boom = Task.make({ name: "boom", source: "def boom():\n    raise ValueError('bad value')" })
    const error = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(model())
        return yield* manager.executeInSession((session) => Effect.flip(boom.call(session)))
      }),
    )
    expect(error._tag).toBe("PythonError")
    if (error._tag !== "PythonError") return
    expect(error.exceptionType).toBe("ValueError")
    expect(error.pythonMessage).toBe("bad value")
    expect(error.traceback).toContain("Traceback")
    expect(error.stdout).toBe("before\r\n")
  })

  it("code deployed by a call that raised stays deployed: the next call sends only the call", async () => {
    const boom = Task.make({ name: "boom", source: "def boom():\n    raise ValueError('bad value')" })
    const programs = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(model())
        yield* manager.executeInSession((session) =>
          Effect.all([Effect.flip(boom.call(session)), Effect.flip(boom.call(session))]),
        )
        return programs()
      }),
    )
    expect(programs).toHaveLength(2)
    expect(programs[0]).toContain("def boom")
    expect(programs[1]).toMatch(/^_belay_o\('\\x1e\w+',boom\(\)\)$/)
  })

  it("a result that does not match the schema is a decode error naming the field", async () => {
    const wrong = Task.make({
      name: "wrong",
      source: "def wrong():\n    pass",
      result: Schema.Struct({ temp: Schema.Number, ok: Schema.Boolean }),
    })
    const error = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(model())
        return yield* manager.executeInSession((session) => Effect.flip(wrong.call(session)))
      }),
    )
    expect(error._tag).toBe("ResultDecodeError")
    if (error._tag !== "ResultDecodeError") return
    expect(error.path).toBe("$.temp")
    expect(error.reason).toContain("number")
    expect(error.received).toContain("hot")
  })

  it("refuses arguments the schema or Python cannot take, sending nothing", async () => {
    const takesObject = Task.make({ name: "add", source: addSource, args: [Schema.Unknown] })
    const result = await run(
      Effect.gen(function* () {
        const { manager, programs } = yield* connect(model())
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            const bySchema = yield* Effect.flip(add.call(session, 1, "2" as unknown as number))
            const byPython = yield* Effect.flip(takesObject.call(session, { f: () => 1 }))
            return { bySchema, byPython, programs: programs() }
          }),
        )
      }),
    )
    expect(result.bySchema._tag).toBe("ArgumentEncodeError")
    expect(result.bySchema._tag === "ArgumentEncodeError" && result.bySchema.path).toBe("$[1]")
    expect(result.byPython._tag === "ArgumentEncodeError" && result.byPython.path).toBe("$[0].f")
    expect(result.programs).toEqual([])
  })

  it("a call past its timeout is interrupted on the board and fails with a typed error", async () => {
    const slow = Task.make({
      name: "slow",
      source: "def slow():\n    while True: pass",
      timeout: "100 millis",
    })
    const result = await run(
      Effect.gen(function* () {
        const { manager, board } = yield* connect(model())
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            const error = yield* Effect.flip(slow.call(session))
            const after = yield* add.call(session, 1, 1)
            return { error, after, interrupts: board.interrupts() }
          }),
        )
      }),
    )
    expect(result.error._tag).toBe("TaskTimeoutError")
    expect(result.interrupts).toBe(1)
    expect(result.after).toBe(2)
  })

  it("code interrupted on the board (KeyboardInterrupt) is a typed error", async () => {
    const slow = Task.make({ name: "slow", source: "def slow():\n    while True: pass" })
    const error = await run(
      Effect.gen(function* () {
        const { manager, board } = yield* connect(model())
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            const fiber = yield* Effect.forkChild(Effect.flip(slow.call(session)))
            while (!board.programs.some((p) => p.includes("slow()"))) yield* Effect.sleep("5 millis")
            // Ctrl-C from elsewhere on the link (a person at the board's console).
            yield* board.link.write(Uint8Array.of(3))
            return yield* Fiber.join(fiber)
          }),
        )
      }),
    )
    expect(error._tag).toBe("TaskInterruptedError")
  })

  it("interrupting a call sends Ctrl-C to the board", async () => {
    const slow = Task.make({ name: "slow", source: "def slow():\n    while True: pass" })
    const result = await run(
      Effect.gen(function* () {
        const { manager, board } = yield* connect(model())
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            const fiber = yield* Effect.forkChild(slow.call(session))
            // Wait until the call is on the board.
            while (!board.programs.some((p) => p.includes("slow()"))) yield* Effect.sleep("5 millis")
            yield* Fiber.interrupt(fiber)
            const after = yield* add.call(session, 2, 2)
            return { after, interrupts: board.interrupts() }
          }),
        )
      }),
    )
    expect(result.interrupts).toBe(1)
    expect(result.after).toBe(4)
  })
})

describe("generator streams on the fake board", () => {
  const count = GeneratorTask.make({
    name: "count",
    source: py`
      def count(n):
          for i in range(n):
              yield i
    `,
    args: [Schema.Number],
    item: Schema.Number,
  })

  it("streams every item, and stopping early interrupts the board", async () => {
    const board = new FakeMicroPython(
      { add: (a, b) => ({ value: (a as number) + (b as number) }) },
      {
        count: (n) =>
          (n as number) < 0
            ? { items: [0, 1, 2, 3, 4], hang: true }
            : { items: Array.from({ length: n as number }, (_, i) => i) },
      },
    )
    const result = await run(
      Effect.gen(function* () {
        const { manager, board: fake } = yield* connect(board)
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            const all = yield* Stream.runCollect(count.stream(session, 4))
            const firstThree = yield* Stream.runCollect(Stream.take(count.stream(session, -1), 3))
            const after = yield* add.call(session, 1, 1)
            return { all, firstThree, after, interrupts: fake.interrupts(), calls: board.calls }
          }),
        )
      }),
    )
    expect(result.all).toEqual([0, 1, 2, 3])
    expect(result.firstThree).toEqual([0, 1, 2])
    expect(result.interrupts).toBe(1)
    expect(result.after).toBe(2)
    expect(result.calls.filter((c) => c.startsWith("_belay_g=count("))).toHaveLength(2)
  })
})

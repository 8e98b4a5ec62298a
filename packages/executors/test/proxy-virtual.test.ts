/**
 * Proxy objects end to end on the virtual board (MicroPython 1.27, WebAssembly): attributes,
 * methods, indexing, iteration, sub-proxies, schemas, handles as arguments, release (explicit,
 * by the host's garbage collector, at the session's end), and stale handles (another session,
 * after a soft reset, a registry the board lost). Every test reads the board's registry itself.
 */
import type { DeviceSession } from "@belay/core"
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Exit, Schema, Stream } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BoardProxy, executorContext, py, Task } from "../src/index.js"
import { type OpenBoard, openWith } from "./boards.js"

/** A small class on the board to point proxies at (defined once, outside any session). */
const BOARD_CLASSES = py`
  class ProxyLed:
      def __init__(self, pin):
          self.pin = pin
          self.level = 0
          self.history = []
          self.config = {'mode': 'out', 'pull': None}
      def on(self):
          self.level = 1
          self.history.append(1)
      def off(self):
          self.level = 0
          self.history.append(0)
      def value(self, v=None):
          if v is None:
              return self.level
          self.level = v
          self.history.append(v)
      def blink(self, times, period_ms=10):
          return [times, period_ms]
      def twin(self):
          return ProxyLed(self.pin + 100)
      def same_pin(self, other):
          return other.pin == self.pin
      def fail(self):
          raise ValueError('led broke')
`

const registrySize = "print(len(globals().get('_belay_p', {})))"

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

const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.constantFrom("'", "\\", "\n", "\x00", "')\nimport os#", "_belay_stale", "😀"),
)
const leaf = fc.oneof(
  text,
  fc.integer(),
  fc.bigInt({ min: -(1n << 80n), max: 1n << 80n }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 12 }),
)
const { plainValue } = fc.letrec((tie) => ({
  plainValue: fc.oneof(
    { depthSize: "small", maxDepth: 3 },
    leaf,
    fc.array(tie("plainValue"), { maxLength: 3 }),
    fc.dictionary(text, tie("plainValue"), { maxKeys: 3 }),
  ),
}))

describe("proxy objects on the virtual board", () => {
  let board: OpenBoard
  beforeAll(async () => {
    board = await openWith(
      Effect.gen(function* () {
        const device = yield* makeDeviceCommunication(yield* openVirtualBoard())
        yield* device.exec(BOARD_CLASSES.text)
        return { device }
      }),
    )
  }, 60_000)
  afterAll(async () => {
    await board?.close()
  })

  const inSession = <A, E>(body: (session: DeviceSession) => Effect.Effect<A, E>) =>
    board.run(board.manager.executeInNewSession(body))
  /** The registry's size, read outside any session. */
  const onBoard = async () => Number((await board.run(board.device.exec(registrySize))).trim())

  it("reads and writes attributes, calls methods, and leaves the registry empty", async () => {
    const seen = await inSession((session) =>
      Effect.gen(function* () {
        const led = yield* BoardProxy.make(session, py`ProxyLed(${25})`)
        const made = { type: led.typeName, registry: (yield* session.device.exec(registrySize)).trim() }
        const pin = yield* led.get("pin")
        yield* led.call("on")
        const on = yield* led.call("value")
        yield* led.call("value", 0)
        const off = yield* led.get("level", Schema.Number)
        yield* led.set("level", 7)
        const set = yield* led.callWith("value", { result: Schema.Number })
        const blink = yield* led.callWith("blink", { args: [3], kwargs: { period_ms: 250 } })
        const history = yield* led.get("history", Schema.Array(Schema.Number))
        return { made, pin, on, off, set, blink, history, stats: executorContext(session).proxies() }
      }),
    )
    expect(seen).toEqual({
      made: { type: "ProxyLed", registry: "1" },
      pin: 25,
      on: 1,
      off: 0,
      set: 7,
      blink: [3, 250],
      history: [1, 0],
      stats: { live: 1, created: 1, released: 0, pendingRelease: 0 },
    })
    expect(await onBoard()).toBe(0)
  })

  it("gives non-literal values back as sub-proxies, and indexes and iterates", async () => {
    const seen = await inSession((session) =>
      Effect.gen(function* () {
        const led = yield* BoardProxy.make(session, "ProxyLed(4)")
        const twin = yield* led.call("twin")
        if (!(twin instanceof BoardProxy)) return yield* Effect.die("twin is not a proxy")
        const twinPin = yield* twin.get("pin")
        // Plain containers come back whole; `ref` keeps one on the board to change it in place.
        const config = yield* led.get("config")
        const history = yield* led.ref("history")
        yield* history.call("append", 5)
        yield* history.call("append", 6)
        const first = yield* history.index(0, Schema.Number)
        yield* history.setIndex(1, 60)
        const items = yield* Stream.runCollect(history.iterate({ item: Schema.Number }))
        const table = yield* led.ref("config")
        yield* table.setIndex("mode", "in")
        const mode = yield* table.index("mode")
        const keys = yield* Stream.runCollect(
          (yield* BoardProxy.make(session, "sorted(ProxyLed(1).config)")).iterate(),
        )
        // Items that are not literals come back as proxies, a batch at a time.
        const leds = yield* BoardProxy.make(session, "[ProxyLed(i) for i in range(5)]")
        const pins: unknown[] = []
        for (const item of yield* Stream.runCollect(leds.iterate({ batchSize: 2 }))) {
          pins.push(item instanceof BoardProxy ? yield* item.get("pin") : item)
        }
        const whole = yield* history.value()
        // A list holding itself has no literal: it stays on the board (not a hang, not a crash).
        const cycle = yield* BoardProxy.make(session, "[]")
        yield* cycle.call("append", cycle)
        const inner = yield* cycle.index(0)
        if (!(inner instanceof BoardProxy)) return yield* Effect.die("the cycle came back plain")
        const registry = (yield* session.device.exec(registrySize)).trim()
        return { twinPin, config, first, items, mode, keys, pins, whole, registry }
      }),
    )
    expect(seen).toEqual({
      twinPin: 104,
      config: { mode: "out", pull: null },
      first: 5,
      items: [5, 60],
      mode: "in",
      keys: ["mode", "pull"],
      pins: [0, 1, 2, 3, 4],
      whole: [5, 60],
      // led, twin, history, config table, the sorted list, the list of leds and its five items,
      // the cycle and its inner view.
      registry: "13",
    })
    expect(await onBoard()).toBe(0)
  })

  it("reaches attributes by paths: dotted names and steps with indexes", async () => {
    const seen = await inSession((session) =>
      Effect.gen(function* () {
        const led = yield* BoardProxy.make(session, "ProxyLed(2)")
        yield* led.set("twin_led", yield* led.call("twin"))
        const dotted = yield* led.get("twin_led.pin")
        yield* led.call("twin_led.on")
        const level = yield* led.get(["twin_led", "level"], Schema.Number)
        yield* led.set("history", [[1, 2], [3]])
        yield* led.set(["history", 1, 0], 30)
        const steps = yield* led.get(["history", 1, 0])
        const refused = yield* Effect.flip(led.get(["history", "not a name"]))
        const empty = yield* Effect.flip(led.get([]))
        return { dotted, level, steps, refused: refused._tag, empty: empty._tag }
      }),
    )
    expect(seen).toEqual({
      dotted: 102,
      level: 1,
      steps: 30,
      refused: "ArgumentEncodeError",
      empty: "ArgumentEncodeError",
    })
    expect(await onBoard()).toBe(0)
  })

  it("sends any plain value through an attribute and back unchanged, and keeps what is not plain (property)", async () => {
    await inSession((session) =>
      Effect.gen(function* () {
        const holder = yield* BoardProxy.make(session, "ProxyLed(0)")
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(plainValue, async (v) => {
              const back = await Effect.runPromise(
                Effect.andThen(holder.set("level", v), holder.get("level")),
              )
              expect(back).toEqual(normalize(v))
              // The same value beside a board object is not a literal: it stays on the board.
              const mixed = await Effect.runPromise(
                Effect.andThen(holder.set("config", [v, holder]), holder.get("config")),
              )
              expect(mixed).toBeInstanceOf(BoardProxy)
              await Effect.runPromise((mixed as BoardProxy).release)
            }),
            { numRuns: 150 },
          ),
        )
      }),
    )
    expect(await onBoard()).toBe(0)
  }, 120_000)

  it("interrupts an access past its bound and drops what it may have kept", async () => {
    const seen = await inSession((session) =>
      Effect.gen(function* () {
        yield* session.device.exec("def proxy_spin():\n    while True:\n        pass")
        const timedOut = yield* Effect.flip(
          BoardProxy.make(session, "proxy_spin()", { timeout: "50 millis" }),
        )
        const led = yield* BoardProxy.make(session, "ProxyLed(3)")
        const slow = yield* Effect.flip(
          led
            .callWith("blink", { args: [1], timeout: "50 millis" })
            .pipe(Effect.andThen(BoardProxy.make(session, "proxy_spin()", { timeout: "50 millis" }))),
        )
        const pin = yield* led.get("pin")
        return { timedOut: timedOut._tag, slow: slow._tag, pin, stats: executorContext(session).proxies() }
      }),
    )
    expect(seen).toEqual({
      timedOut: "TaskTimeoutError",
      slow: "TaskTimeoutError",
      pin: 3,
      stats: { live: 1, created: 1, released: 0, pendingRelease: 0 },
    })
    expect(await onBoard()).toBe(0)
  })

  it("passes handles as arguments to proxy calls and tasks (they stand for the board object)", async () => {
    const pinOf = Task.make({
      name: "proxy_pin_of",
      source: py`
        def proxy_pin_of(led, extra):
            return [led.pin, extra]
      `,
      args: [BoardProxy.schema, Schema.Number],
      result: Schema.Tuple([Schema.Number, Schema.Number]),
    })
    const seen = await inSession((session) =>
      Effect.gen(function* () {
        const a = yield* BoardProxy.make(session, "ProxyLed(7)")
        const b = yield* BoardProxy.make(session, "ProxyLed(7)")
        const c = yield* BoardProxy.make(session, "ProxyLed(8)")
        const same = yield* a.call("same_pin", b)
        const other = yield* a.call("same_pin", c)
        const fromTask = yield* pinOf.call(session, c, 1)
        // A nested handle, and a handle set as an attribute.
        yield* a.set("partner", c)
        const partner = yield* a.get("partner")
        const partnerPin = partner instanceof BoardProxy ? yield* partner.get("pin") : partner
        const list = yield* BoardProxy.make(session, "[]")
        yield* list.call("append", { led: a })
        const nested = yield* Effect.flatMap(list.index(0), (d) =>
          d instanceof BoardProxy ? Effect.succeed("proxy") : Effect.succeed(d),
        )
        return { same, other, fromTask, partnerPin, nested }
      }),
    )
    // A dict holding a board object is not a literal: it comes back as a proxy.
    expect(seen).toEqual({ same: true, other: false, fromTask: [8, 1], partnerPin: 8, nested: "proxy" })
    expect(await onBoard()).toBe(0)
  })

  it("keeps a task's result as a proxy", async () => {
    const makeLed = Task.make({
      name: "proxy_make_led",
      source: py`
        def proxy_make_led(pin):
            return ProxyLed(pin)
      `,
      args: [Schema.Number],
    })
    const pin = await inSession((session) =>
      Effect.flatMap(makeLed.callProxy(session, 12), (led) => led.get("pin", Schema.Number)),
    )
    expect(pin).toBe(12)
    expect(await onBoard()).toBe(0)
  })

  it("maps board exceptions and bad input to typed errors", async () => {
    const errors = await inSession((session) =>
      Effect.gen(function* () {
        const led = yield* BoardProxy.make(session, "ProxyLed(1)")
        const tag = <A, E extends { _tag: string }>(effect: Effect.Effect<A, E>) =>
          Effect.match(effect, { onFailure: (e) => e._tag, onSuccess: () => "success" })
        return {
          raise: yield* Effect.match(led.call("fail"), {
            onFailure: (e) => (e._tag === "PythonError" ? `${e.exceptionType}: ${e.pythonMessage}` : e._tag),
            onSuccess: () => "success",
          }),
          missingAttribute: yield* tag(led.get("nothing_here")),
          badName: yield* tag(led.get("not a name")),
          badArgument: yield* tag(led.call("value", () => 1)),
          notLiteral: yield* tag(led.value()),
          wrongSchema: yield* tag(led.get("pin", Schema.String)),
          nameError: yield* tag(BoardProxy.make(session, "no_such_name_here")),
          syntax: yield* tag(BoardProxy.make(session, "1 +")),
          // The session goes on after each of them.
          pin: yield* led.get("pin"),
        }
      }),
    )
    expect(errors).toEqual({
      raise: "ValueError: led broke",
      missingAttribute: "PythonError",
      badName: "ArgumentEncodeError",
      badArgument: "ArgumentEncodeError",
      notLiteral: "ResultDecodeError",
      wrongSchema: "ResultDecodeError",
      nameError: "PythonError",
      syntax: "PythonError",
      pin: 1,
    })
    expect(await onBoard()).toBe(0)
  })

  it("releases explicitly, and refuses a released handle", async () => {
    const seen = await inSession((session) =>
      Effect.gen(function* () {
        const a = yield* BoardProxy.make(session, "ProxyLed(1)")
        const b = yield* BoardProxy.make(session, "ProxyLed(2)")
        const before = (yield* session.device.exec(registrySize)).trim()
        yield* a.release
        yield* a.release // twice: nothing more
        const after = (yield* session.device.exec(registrySize)).trim()
        const refused = yield* Effect.flip(a.get("pin"))
        const stats = executorContext(session).proxies()
        return { before, after, refused: refused._tag, released: a.isReleased, b: yield* b.get("pin"), stats }
      }),
    )
    expect(seen).toEqual({
      before: "2",
      after: "1",
      refused: "StaleProxyError",
      released: true,
      b: 2,
      stats: { live: 1, created: 2, released: 1, pendingRelease: 0 },
    })
    expect(await onBoard()).toBe(0)
  })

  it("releases handles the host garbage-collected, batched on the next exchange", async () => {
    const gc = (globalThis as { gc?: () => void }).gc
    expect(gc, "run with --expose-gc (the package's vitest config does)").toBeTypeOf("function")
    const seen = await inSession((session) =>
      Effect.gen(function* () {
        const keep = yield* BoardProxy.make(session, "ProxyLed(0)")
        // Made and dropped in a nested scope: nothing on the host refers to them afterwards.
        const makeSome = () =>
          Effect.forEach([1, 2, 3, 4, 5], (i) => Effect.asVoid(BoardProxy.make(session, py`ProxyLed(${i})`)))
        yield* makeSome()
        const made = (yield* session.device.exec(registrySize)).trim()
        let stats = executorContext(session).proxies()
        for (let round = 0; round < 20 && stats.pendingRelease < 5; round++) {
          gc!()
          // Finalization callbacks run in a later task.
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
          stats = executorContext(session).proxies()
        }
        const collected = stats
        // The next proxy exchange carries the drops.
        const pin = yield* keep.get("pin")
        const after = (yield* session.device.exec(registrySize)).trim()
        return { made, collected, pin, after, stats: executorContext(session).proxies() }
      }),
    )
    expect(seen).toEqual({
      made: "6",
      collected: { live: 1, created: 6, released: 5, pendingRelease: 5 },
      pin: 0,
      after: "1",
      stats: { live: 1, created: 6, released: 5, pendingRelease: 0 },
    })
    expect(await onBoard()).toBe(0)
  })

  it("drops every object of a session when it ends, however it ends", async () => {
    const failed = await board.run(
      Effect.exit(
        board.manager.executeInNewSession((session) =>
          Effect.gen(function* () {
            for (let i = 0; i < 60; i++) yield* BoardProxy.make(session, py`ProxyLed(${i})`)
            return yield* Effect.fail("the operation failed" as const)
          }),
        ),
      ),
    )
    expect(Exit.isFailure(failed)).toBe(true)
    expect(await onBoard()).toBe(0)
    // A session's stats while it lives, and after it ended.
    let session: DeviceSession | undefined
    const during = await inSession((s) =>
      Effect.gen(function* () {
        session = s
        yield* BoardProxy.make(s, "ProxyLed(1)")
        return {
          stats: executorContext(s).proxies(),
          resources: s.resources.getResourceStats().resourcesByType,
        }
      }),
    )
    expect(during).toEqual({
      stats: { live: 1, created: 1, released: 0, pendingRelease: 0 },
      resources: { ProxyRegistry: 1 },
    })
    expect(executorContext(session!).proxies()).toEqual({
      live: 0,
      created: 0,
      released: 0,
      pendingRelease: 0,
    })
    expect(await onBoard()).toBe(0)
  })

  it("refuses a handle from another session, or after its session ended", async () => {
    const session = await board.run(board.manager.createSession())
    const led = await board.run(BoardProxy.make(session, "ProxyLed(3)"))
    const refused = await inSession((other) =>
      Effect.gen(function* () {
        // Its own accesses run in its own session, from anywhere.
        const direct = yield* led.get("pin")
        const mine = yield* BoardProxy.make(other, "ProxyLed(9)")
        const asArgument = yield* Effect.flip(mine.call("same_pin", led))
        const echo = Task.make({
          name: "proxy_echo",
          source: "def proxy_echo(x):\n    return 1",
          args: [Schema.Unknown],
        })
        const inTask = yield* Effect.flip(echo.call(other, led))
        const reasons = [asArgument, inTask].map((e) => (e._tag === "StaleProxyError" ? e.reason : e._tag))
        return { direct, reasons, other: other.sessionId }
      }),
    )
    expect(refused.direct).toBe(3)
    expect(refused.reasons).toEqual(
      Array(2).fill(`it belongs to session ${session.sessionId}, not ${refused.other}`),
    )
    expect(await board.run(led.get("pin"))).toBe(3)
    await board.run(session.end)
    const ended = await board.run(Effect.flip(led.get("pin")))
    expect(ended).toMatchObject({ _tag: "StaleProxyError", reason: "its session has ended" })
    expect(await onBoard()).toBe(0)
  })

  it("refuses a handle after a soft reset, and after the board lost its registry unseen", async () => {
    const seen = await inSession((session) =>
      Effect.gen(function* () {
        const led = yield* BoardProxy.make(session, "ProxyLed(5)")
        const other = yield* BoardProxy.make(session, "ProxyLed(6)")
        // The board loses its registry without the host knowing (as if it reset on its own).
        yield* session.device.exec("_belay_p.clear()")
        const unseen = yield* Effect.flip(led.get("pin"))
        const statsAfterUnseen = executorContext(session).proxies()
        yield* session.device.softReset
        yield* session.device.exec(BOARD_CLASSES.text)
        const afterReset = yield* Effect.flip(other.call("on"))
        // The session goes on with new handles.
        const fresh = yield* BoardProxy.make(session, "ProxyLed(11)")
        return {
          unseen: unseen._tag === "StaleProxyError" ? unseen.reason : unseen._tag,
          statsAfterUnseen,
          afterReset: afterReset._tag === "StaleProxyError" ? afterReset.reason : afterReset._tag,
          fresh: yield* fresh.get("pin"),
          stats: executorContext(session).proxies(),
        }
      }),
    )
    expect(seen).toEqual({
      unseen: "the board does not hold it any more (it reset, or the object was released)",
      // The fresh id the failed access might have used is dropped at the next exchange.
      statsAfterUnseen: { live: 1, created: 2, released: 1, pendingRelease: 1 },
      afterReset: "the board reset since it was made",
      fresh: 11,
      stats: { live: 1, created: 3, released: 2, pendingRelease: 0 },
    })
    expect(await onBoard()).toBe(0)
  })
})

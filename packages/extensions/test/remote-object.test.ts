/**
 * Board objects through the Promise facade, on the virtual board: calls and reads that read as
 * they would on the board, `$` members, iteration with `for await`, remote objects as task
 * arguments, typed failures as `BelayError`, and the board's registry empty after each session.
 */
import { BoardProxy, py, Task } from "@belay/executors"
import { Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Belay, BelayError, connect } from "../src/index.js"

const LED = py`
  class FacadeLed:
      def __init__(self, pin):
          self.pin = pin
          self.level = 0
          self.config = {'mode': 'out'}
          self.parts = [FacadePart(1), FacadePart(2)]
      def on(self):
          self.level = 1
      def value(self, v=None):
          if v is None:
              return self.level
          self.level = v
      def scaled(self, k, offset=0):
          return self.level * k + offset
      def fail(self):
          raise OSError(5)
  class FacadePart:
      def __init__(self, n):
          self.n = n
`

const registry = "len(globals().get('_belay_p', {}))"

describe("remote objects through the Promise facade", () => {
  let belay: Belay
  beforeAll(async () => {
    belay = await connect("virtual")
    await belay.exec(LED.text)
  }, 60_000)
  afterAll(async () => {
    await belay?.close()
  })

  it("reads naturally: await led.on(), await led.value(), await led.value(1), await led.pin", async () => {
    const seen = await belay.session(async (s) => {
      const led = await s.proxy(py`FacadeLed(${25})`)
      await led.on()
      const on = await led.value()
      await led.value(0)
      const off = await led.value()
      const pin = await led.pin
      const config = await led.config
      const part = await led.parts[1].n
      const scaled = await led.$call("scaled", { args: [3], kwargs: { offset: 4 } })
      await led.$set("level", 2)
      const level = await led.$get("level", Schema.Number)
      const sub = await led.parts[0]
      const subN = typeof sub === "function" ? await sub.n : undefined
      const ns: unknown[] = []
      for await (const p of await led.$ref("parts")) ns.push(typeof p === "function" ? await p.n : p)
      return {
        type: led.$type,
        on,
        off,
        pin,
        config,
        part,
        scaled,
        level,
        subN,
        ns,
        resources: s.resources().proxies,
        registry: await s.eval(registry),
      }
    })
    expect(seen).toEqual({
      type: "FacadeLed",
      on: 1,
      off: 0,
      pin: 25,
      config: { mode: "out" },
      part: 2,
      scaled: 4,
      level: 2,
      subN: 1,
      ns: [1, 2],
      // led, the sub-part, the parts list and its two items.
      resources: { live: 5, created: 5, released: 0, pendingRelease: 0 },
      registry: "5",
    })
    expect(await belay.eval(registry)).toBe("0")
  })

  it("iterates with for await, stops early, and passes remote objects as arguments", async () => {
    const pinOf = belay.task(
      Task.make({
        name: "facade_pin_of",
        source: py`
          def facade_pin_of(led):
              return led.pin
        `,
        args: [Schema.Unknown],
        result: Schema.Number,
      }),
    )
    const seen = await belay.session(async (s) => {
      const numbers = await s.proxy("range(100)")
      const firstFive: unknown[] = []
      for await (const n of numbers) {
        if (firstFive.length === 5) break
        firstFive.push(n)
      }
      const all: unknown[] = []
      for await (const n of numbers.$iterate({ batchSize: 7, item: Schema.Number })) all.push(n)
      const led = await s.proxy("FacadeLed(9)")
      const fn = await s.proxy("lambda led, k: led.pin * k")
      return {
        firstFive,
        count: all.length,
        last: all.at(-1),
        product: await fn(led, 2),
        handle: led.$handle,
      }
    })
    expect(seen.firstFive).toEqual([0, 1, 2, 3, 4])
    expect(seen).toMatchObject({ count: 100, last: 99, product: 18 })
    expect(seen.handle).toBeInstanceOf(BoardProxy)
    // A remote object of another session is refused as an argument, with its typed error.
    const refused = await pinOf(seen.handle).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(BelayError)
    expect((refused as BelayError).tag).toBe("StaleProxyError")
    expect(await belay.eval(registry)).toBe("0")
    // In the board's current session, a remote object stands for its board object.
    const led = await belay.proxy("FacadeLed(31)")
    expect(await pinOf(led as never)).toBe(31)
    await led.$release()
    expect(led.$released).toBe(true)
  })

  it("rejects with BelayError carrying the typed error, and refuses assignment", async () => {
    await belay.session(async (s) => {
      const led = await s.proxy("FacadeLed(1)")
      const failed = await led.fail().catch((e: unknown) => e)
      expect(failed).toBeInstanceOf(BelayError)
      expect((failed as BelayError).tag).toBe("PythonError")
      const missing = await led.nothing.catch((e: unknown) => e)
      expect((missing as BelayError).tag).toBe("PythonError")
      expect(() => {
        ;(led as unknown as Record<string, unknown>).level = 3
      }).toThrow(/\$set/)
      await led.$release()
      const stale = await led.value().catch((e: unknown) => e)
      expect((stale as BelayError).tag).toBe("StaleProxyError")
      // Not a thenable itself: it can be returned from async functions.
      expect((led as unknown as { then?: unknown }).then).toBeUndefined()
    })
    expect(await belay.eval(registry)).toBe("0")
  })
})

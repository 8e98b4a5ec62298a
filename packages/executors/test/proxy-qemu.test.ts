/**
 * Proxy objects on real MicroPython 1.9.2 firmware (the QEMU micro:bit, about 6 KB of free
 * heap): the runtime fits, accesses work, stale handles are refused, nothing stays in the
 * registry, and what the registry and one proxy cost in heap is measured and printed.
 */
import type { DeviceSession } from "@belay/core"
import { Effect, Schema, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BoardProxy, executorContext, Task } from "../src/index.js"
import { type OpenBoard, openQemuBoard } from "./boards.js"

const T = 120_000
const FREE = "import gc;gc.collect();print(gc.mem_free())"
const registrySize = "print(len(globals().get('_belay_p',{})))"

describe("proxy objects on the QEMU micro:bit", () => {
  let board: OpenBoard
  beforeAll(async () => {
    board = await openQemuBoard()
    await board.run(board.device.softReset)
  }, T)
  afterAll(async () => {
    await board?.close()
  }, T)

  const inSession = <A, E>(body: (session: DeviceSession) => Effect.Effect<A, E>) =>
    board.run(board.manager.executeInNewSession(body))
  const free = (session: DeviceSession) => Effect.map(session.device.exec(FREE), (out) => Number(out.trim()))

  it(
    "makes, reads, calls, indexes, iterates and releases; measures the registry's heap",
    async () => {
      const one = Task.make({ name: "one", source: "def one():\n    return 1" })
      const seen = await inSession((session) =>
        Effect.gen(function* () {
          // The frame runtime and the deployment registry first, so that what follows is the proxies' own.
          yield* one.call(session)
          const before = yield* free(session)
          // A proxy to an object that exists already: the runtime, the registry and one entry.
          const gcModule = yield* BoardProxy.make(session, "gc")
          const withFirst = yield* free(session)
          const more: BoardProxy[] = []
          for (let i = 0; i < 8; i++) more.push(yield* BoardProxy.make(session, "gc"))
          const withNine = yield* free(session)
          // Released at once (one exchange each): the micro:bit's heap is small.
          yield* Effect.forEach(more, (p) => p.release, { discard: true })
          const list = yield* BoardProxy.make(session, "[3, 1, 2]")
          yield* list.call("sort")
          const first = yield* list.index(0, Schema.Number)
          yield* list.setIndex(2, 30)
          const beforeIteration = yield* free(session)
          const items = yield* Stream.runCollect(list.iterate({ batchSize: 2, item: Schema.Number }))
          const withIteration = yield* free(session)
          const length = yield* list.callWith("count", { args: [30], result: Schema.Number })
          const memFree = yield* gcModule.call("mem_free")
          const registry = (yield* session.device.exec(registrySize)).trim()
          return {
            runtimeAndFirst: before - withFirst,
            perProxy: (withFirst - withNine) / 8,
            iterationRuntime: beforeIteration - withIteration,
            first,
            items,
            length,
            memFreeIsNumber: typeof memFree === "number",
            registry,
            stats: executorContext(session).proxies(),
          }
        }),
      )
      console.log(
        `micro:bit heap: proxy runtime, registry and one proxy ${seen.runtimeAndFirst} bytes; each further proxy ${seen.perProxy} bytes (registry entry, averaged over 8); the iteration runtime ${seen.iterationRuntime} bytes`,
      )
      expect(seen).toMatchObject({
        first: 1,
        items: [1, 2, 30],
        length: 1,
        memFreeIsNumber: true,
        registry: "2",
        stats: { live: 2, created: 10, released: 8, pendingRelease: 0 },
      })
      // Bounds, not figures: the runtime must leave most of the 6 KB free heap to the user.
      expect(seen.runtimeAndFirst).toBeGreaterThan(0)
      expect(seen.runtimeAndFirst).toBeLessThan(2500)
      expect(seen.perProxy).toBeLessThan(64)
      expect(seen.iterationRuntime).toBeLessThan(800)
      expect((await board.run(board.device.exec(registrySize))).trim()).toBe("0")
    },
    T,
  )

  it(
    "refuses a handle after a soft reset and after an unseen loss of the registry",
    async () => {
      const seen = await inSession((session) =>
        Effect.gen(function* () {
          const a = yield* BoardProxy.make(session, "[1]")
          const b = yield* BoardProxy.make(session, "[2]")
          yield* session.device.exec("_belay_p.clear()")
          const unseen = yield* Effect.flip(a.index(0))
          yield* session.device.softReset
          const afterReset = yield* Effect.flip(b.index(0))
          const c = yield* BoardProxy.make(session, "[3]")
          return { unseen: unseen._tag, afterReset: afterReset._tag, c: yield* c.index(0) }
        }),
      )
      expect(seen).toEqual({ unseen: "StaleProxyError", afterReset: "StaleProxyError", c: 3 })
      expect((await board.run(board.device.exec(registrySize))).trim()).toBe("0")
    },
    T,
  )
})

import { makeDeviceSessionManager } from "@belay/core"
import { makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { startQemuMicrobit } from "@belay/virtual-device"
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { py, Task } from "../src/index.js"
import { qemuPacing } from "./boards.js"

// A new host process finds the board not reset: it reuses the functions on the board after
// checking the board's registry in the same exchange as the call. Two connections to one
// QEMU micro:bit, one after the other, stand for two host processes.

const counted = Task.make({
  name: "counted",
  source: py`
    counted_defs = globals().get('counted_defs', 0) + 1
    def counted(x):
        return [x + 1, counted_defs]
  `,
  args: [Schema.Number],
  result: Schema.Tuple([Schema.Number, Schema.Number]),
})
const documented = Task.make({
  name: "documented",
  source: py`
    documented_defs = globals().get('documented_defs', 0) + 1
    def documented(x):
        """A docstring: this source cannot be indented safely, so the call is guarded instead."""
        return [x * 3, documented_defs]
  `,
  args: [Schema.Number],
  result: Schema.Tuple([Schema.Number, Schema.Number]),
})

describe("a new host process on the QEMU micro:bit", () => {
  it("reuses the board's functions when the board did not reset, and deploys after a reset", async () => {
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const qemu = yield* startQemuMicrobit()
          const connect = Effect.gen(function* () {
            const link = yield* openSerialLink({ path: qemu.ptyPath })
            const device = yield* makeDeviceCommunication(link, qemuPacing)
            const manager = yield* makeDeviceSessionManager(device)
            return { device, manager }
          })
          const first = yield* Effect.scoped(
            Effect.gen(function* () {
              const { manager } = yield* connect
              return yield* manager.executeInSession((session) =>
                Effect.all([counted.call(session, 1), documented.call(session, 1)]),
              )
            }),
          )
          return yield* Effect.scoped(
            Effect.gen(function* () {
              const { manager, device } = yield* connect
              return yield* manager.executeInSession((session) =>
                Effect.gen(function* () {
                  const bytes = () => Effect.map(device.metrics, (m) => m.bytesOut)
                  const b0 = yield* bytes()
                  const second = yield* Effect.all([counted.call(session, 2), documented.call(session, 2)])
                  const b1 = yield* bytes()
                  const documentedAgain = yield* documented.call(session, 3)
                  const b2 = yield* bytes()
                  yield* device.softReset
                  const afterReset = yield* Effect.all([
                    counted.call(session, 4),
                    documented.call(session, 4),
                  ])
                  return {
                    first,
                    second,
                    afterReset,
                    documentedAgain,
                    secondBytes: b1 - b0,
                    cachedBytes: b2 - b1,
                  }
                }),
              )
            }),
          )
        }),
      ),
    )
    const [[c1, cDefs], [d1, dDefs]] = result.first
    expect([c1, d1]).toEqual([2, 3])
    // Same definition count: the new process did not define them again.
    expect(result.second).toEqual([
      [3, cDefs],
      [6, dDefs],
    ])
    expect(result.documentedAgain).toEqual([9, dDefs])
    // After a reset the board had nothing: both defined again.
    expect(result.afterReset).toEqual([
      [5, 1],
      [12, 1],
    ])
    expect(result.cachedBytes).toBeLessThan(85)
    expect(result.secondBytes).toBeGreaterThan(result.cachedBytes)
  }, 60_000)
})

import { Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import { makeDeviceCommunication, StateKey, StateStore } from "../src/index.js"
import { makeFakeBoard } from "../src/testing/index.js"

const Count = StateKey<number>("test/count")

describe("StateStore", () => {
  it("holds typed values by key name, makes them once with getOrCreate, and empties on clear", () => {
    const store = new StateStore()
    let made = 0
    const make = () => {
      made++
      return 1
    }
    expect(store.getOrCreate(Count, make)).toBe(1)
    expect(store.getOrCreate(StateKey<number>("test/count"), make)).toBe(1)
    expect(made).toBe(1)
    expect(store.update(Count, (n) => Option.getOrElse(n, () => 0) + 1)).toBe(2)
    expect(store.keys()).toEqual(["test/count"])
    store.clear()
    expect(store.size).toBe(0)
    expect(Option.isNone(store.get(Count))).toBe(true)
  })

  it("a connection's store is shared by views that spread the device; a new connection starts empty", async () => {
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const first = yield* makeDeviceCommunication(
            (yield* makeFakeBoard({ run: () => ({ stdout: "" }) })).link,
          )
          const view = { ...first, exec: first.exec }
          view.connectionState.set(Count, 7)
          const again = yield* makeDeviceCommunication(
            (yield* makeFakeBoard({ run: () => ({ stdout: "" }) })).link,
          )
          return {
            seenByDevice: first.connectionState.getOrUndefined(Count),
            seenByReconnect: again.connectionState.getOrUndefined(Count),
          }
        }),
      ),
    )
    expect(result).toEqual({ seenByDevice: 7, seenByReconnect: undefined })
  })
})

/**
 * The stack in two parts: `BelayBoardLive` (the link and the protocol engine, no session manager)
 * and `BelaySessionLive` (the session manager over a board given from elsewhere), which is what
 * `BelayLive` composes. Code that builds both over the same board layer value shares one
 * connection (the CLI's `exec` needs the board alone, a chain's other commands the whole stack).
 */
import { DeviceSessionManager } from "@belay/core"
import { DeviceCommunication } from "@belay/transport"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { BelayBoardLive, BelayLive, BelaySessionLive } from "../src/index.js"

describe("the stack's parts", () => {
  it("the board alone runs code, with no session manager in it", async () => {
    const out = await Effect.runPromise(
      Effect.flatMap(DeviceCommunication, (d) => d.exec("print(6 * 7)")).pipe(
        Effect.provide(BelayBoardLive({ device: "virtual" })),
      ),
    )
    expect(out.trim()).toBe("42")
  })

  it("the session manager over a shared board layer uses that board's one connection", async () => {
    const board = BelayBoardLive({ device: "virtual" })
    const stack = BelaySessionLive().pipe(Layer.provideMerge(board))
    const same = await Effect.runPromise(
      Effect.gen(function* () {
        // State left through the board alone is seen by a session: one connection, one board (a
        // second build would have started a second in-process virtual board, without it).
        yield* Effect.flatMap(DeviceCommunication, (d) => d.exec("shared = 41")).pipe(Effect.provide(board))
        const manager = yield* DeviceSessionManager
        return yield* manager.executeInNewSession((s) => s.device.eval("shared + 1"))
      }).pipe(Effect.provide(stack)),
    )
    expect(same).toBe("42")
  })

  it("BelayLive is the two together", async () => {
    const v = await Effect.runPromise(
      Effect.flatMap(DeviceSessionManager, (m) =>
        m.executeInNewSession((s) => s.device.eval("2 ** 10")),
      ).pipe(Effect.provide(BelayLive({ device: "virtual" }))),
    )
    expect(v).toBe("1024")
  })
})

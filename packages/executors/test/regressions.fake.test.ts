/**
 * Regressions that got past the rest of this package's suite (issue 18, "Tests that catch
 * regressions"), on the fake board.
 *
 * Mutations tried (each applied by hand, this file run, then reverted):
 * - src/Setup.ts `hasRun` ignores the code hash (`done.generation === generation` without
 *   `&& done.hash === this.source.hash`): caught by "a setup redefined under the same name with
 *   new source runs the new source in the same session".
 */
import { Effect, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import { Setup } from "../src/index.js"
import { connect, FakeMicroPython } from "./fakeMicroPython.js"

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect))

describe("regressions on the fake board", () => {
  it("a setup redefined under the same name with new source runs the new source in the same session", async () => {
    const board = new FakeMicroPython({})
    const first = Setup.make({ name: "pins", source: "led = 1" })
    const second = Setup.make({ name: "pins", source: "led = 2" })
    const ran = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(board)
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            yield* first.run(session)
            const before = yield* second.hasRun(session)
            yield* second.run(session)
            yield* second.run(session)
            return { before, after: yield* second.hasRun(session), firstAgain: yield* first.hasRun(session) }
          }),
        )
      }),
    )
    expect(board.plain.filter((c) => c.includes("led=1"))).toHaveLength(1)
    // The new source runs once: it is not the code that already ran.
    expect(board.plain.filter((c) => c.includes("led=2"))).toHaveLength(1)
    expect(ran).toEqual({ before: false, after: true, firstAgain: false })
  })
})

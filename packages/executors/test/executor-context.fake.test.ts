import { Effect, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import { executorContext } from "../src/index.js"
import { connect, FakeMicroPython } from "./fakeMicroPython.js"

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect))

describe("the executor context of a session", () => {
  it("a soft reset ends the session's deployed methods and threads without running their stops", async () => {
    const stops: string[] = []
    const result = await run(
      Effect.gen(function* () {
        const { manager, device } = yield* connect(new FakeMicroPython())
        const session = yield* manager.createSession()
        const context = executorContext(session)
        yield* context.registerMethodDeployment("f(x)", Uint8Array.of(1, 2))
        yield* context.registerBackgroundThread(
          "t-1",
          "blink",
          Effect.sync(() => stops.push("t-1")),
        )
        const before = {
          deployed: context.isMethodDeployed("f(x)", Uint8Array.of(1, 2)),
          threads: context.activeThreads().map((t) => t.threadId),
          methods: context.deployedMethods().map((m) => [m.signature, [...m.codeHash]]),
          resources: session.resources.getResourceStats().resourcesByType,
        }
        yield* device.softReset
        yield* Effect.sleep("1 millis").pipe(
          Effect.repeat({ until: () => session.boardResets > 0 }),
          Effect.timeout("2 seconds"),
        )
        const after = {
          deployed: context.isMethodDeployed("f(x)", Uint8Array.of(1, 2)),
          threads: context.activeThreads().length,
          methods: context.deployedMethods().length,
          resources: session.resources.getResourceStats().totalResources,
        }
        yield* session.end
        return { before, after }
      }),
    )
    expect(result.before).toEqual({
      deployed: true,
      threads: ["t-1"],
      methods: [["f(x)", [1, 2]]],
      resources: { BackgroundThread: 1 },
    })
    expect(result.after).toEqual({ deployed: false, threads: 0, methods: 0, resources: 0 })
    expect(stops).toEqual([])
  })

  it("the session's end stops its threads and drops its records; a late registration is refused", async () => {
    const stops: string[] = []
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* connect(new FakeMicroPython())
        const session = yield* manager.createSession()
        const context = executorContext(session)
        yield* context.registerMethodDeployment("g()", Uint8Array.of(7))
        yield* context.registerBackgroundThread(
          "t-2",
          "sample",
          Effect.sync(() => stops.push("t-2")),
        )
        yield* session.end
        const late = yield* Effect.flip(
          context.registerBackgroundThread(
            "t-3",
            "late",
            Effect.sync(() => stops.push("t-3")),
          ),
        )
        const lateMethod = yield* Effect.flip(context.registerMethodDeployment("h()", Uint8Array.of(8)))
        return {
          late: late._tag,
          lateMethod: lateMethod._tag,
          threads: context.activeThreads().length,
          deployed: context.isMethodDeployed("g()", Uint8Array.of(7)),
        }
      }),
    )
    expect(result).toEqual({ late: "SessionError", lateMethod: "SessionError", threads: 0, deployed: false })
    // The late thread's stop ran at once: nothing outlives its session.
    expect(stops).toEqual(["t-2", "t-3"])
  })
})

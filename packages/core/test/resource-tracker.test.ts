import { PythonError, UnexpectedBytesError } from "@belay/transport"
import { Duration, Effect, Exit, Scope } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ResourceTracker } from "../src/index.js"
import { closeTracker } from "../src/internal.js"
import { boardWithManager, run } from "./fixtures.js"

const tracker = (timeoutMs = 1000) => new ResourceTracker("s-test", Duration.millis(timeoutMs), true, false)

const res = (id: string, cleanup: Effect.Effect<void, unknown>, type = "Test", cost = 1) => ({
  resourceId: id,
  resourceType: type,
  estimatedCost: cost,
  createdAt: new Date(),
  cleanup,
})

describe("ResourceTracker cleanup", () => {
  it("tries a cleanup again when a reply was damaged, and not when the board raised", async () => {
    let damagedTries = 0
    let raisingTries = 0
    const t = tracker()
    const error = await Effect.runPromise(
      Effect.gen(function* () {
        // Fails twice with a garbled reply, then works: within the bound of three tries.
        yield* t.registerResource(
          res(
            "flaky",
            Effect.suspend(() =>
              ++damagedTries < 3
                ? Effect.fail(new UnexpectedBytesError({ phase: "prompt", expected: ">", received: "3e 3e" }))
                : Effect.void,
            ),
          ),
        )
        yield* t.registerResource(
          res(
            "raising",
            Effect.suspend(() => {
              raisingTries++
              return Effect.fail(
                new PythonError({
                  exceptionType: "NameError",
                  pythonMessage: "x",
                  traceback: "",
                  stdout: "",
                }),
              )
            }),
          ),
        )
        return yield* Effect.flip(t.cleanupResources)
      }),
    )
    expect(damagedTries).toBe(3)
    expect(raisingTries).toBe(1)
    expect(error.failures.map((f) => f.resourceId)).toEqual(["raising"])
  })

  it("runs every cleanup newest first even when some fail, and reports the failures together", async () => {
    const ran: string[] = []
    const t = tracker()
    const error = await Effect.runPromise(
      Effect.gen(function* () {
        yield* t.registerResource(
          res(
            "a",
            Effect.sync(() => ran.push("a")),
          ),
        )
        yield* t.registerResource(
          res(
            "b",
            Effect.andThen(
              Effect.sync(() => ran.push("b")),
              Effect.fail("b broke"),
            ),
          ),
        )
        yield* t.registerResource(
          res(
            "c",
            Effect.sync(() => ran.push("c")),
          ),
        )
        yield* t.registerResource(
          res(
            "d",
            Effect.andThen(
              Effect.sync(() => ran.push("d")),
              Effect.die("d defect"),
            ),
          ),
        )
        return yield* Effect.flip(t.cleanupResources)
      }),
    )
    expect(ran).toEqual(["d", "c", "b", "a"])
    expect(error._tag).toBe("ResourceCleanupError")
    expect(error.failures.map((f) => [f.resourceId, f.reason])).toEqual([
      ["d", "defect"],
      ["b", "failed"],
    ])
    expect(error.failures[1]?.error).toBe("b broke")
    expect(t.getResourceStats().totalResources).toBe(0)
  })

  it("cuts a hanging cleanup at the timeout, reports it, and goes on", async () => {
    const ran: string[] = []
    const t = tracker(30)
    const error = await Effect.runPromise(
      Effect.gen(function* () {
        yield* t.registerResource(
          res(
            "first",
            Effect.sync(() => ran.push("first")),
          ),
        )
        yield* t.registerResource(res("hangs", Effect.never))
        return yield* Effect.flip(t.cleanupResources)
      }),
    )
    expect(error.failures).toHaveLength(1)
    expect(error.failures[0]?.resourceId).toBe("hangs")
    expect(error.failures[0]?.reason).toBe("timeout")
    expect(ran).toEqual(["first"])
  })

  it("runs each cleanup exactly once across release, cleanup and close", async () => {
    let count = 0
    const t = tracker()
    await Effect.runPromise(
      Effect.gen(function* () {
        const handle = yield* t.registerResource(
          res(
            "once",
            Effect.sync(() => count++),
          ),
        )
        yield* Effect.all([handle.release, handle.release, t.cleanupResources, t[closeTracker](Exit.void)], {
          concurrency: "unbounded",
        })
        yield* t.cleanupResources
      }),
    )
    expect(count).toBe(1)
  })

  it("forget drops a resource without running its cleanup", async () => {
    let count = 0
    const t = tracker()
    await Effect.runPromise(
      Effect.gen(function* () {
        const handle = yield* t.registerResource(
          res(
            "gone",
            Effect.sync(() => count++),
          ),
        )
        yield* handle.forget
        yield* t[closeTracker](Exit.void)
      }),
    )
    expect(count).toBe(0)
  })
})

describe("resources on the session's scope", () => {
  it("runs resource cleanups and the session's own finalizers together, newest first", async () => {
    const ran: string[] = []
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const session = yield* manager.createSession()
        const note = (name: string) => Effect.sync(() => ran.push(name))
        yield* session.resources.track("A", note("resource a"))
        yield* Scope.addFinalizer(session.scope, note("finalizer b"))
        const early = yield* session.resources.track("C", note("resource c"))
        yield* session.resources.track("D", note("resource d"), { lostOnReset: true })
        yield* Scope.addFinalizer(session.scope, note("finalizer e"))
        // Released early: it leaves the scope, and the end does not run it again.
        yield* early.release
        const during = session.resources.getResourceStats()
        yield* session.end
        return { during, after: session.resources.getResourceStats(), live: early.isLive }
      }),
    )
    expect(ran).toEqual(["resource c", "finalizer e", "resource d", "finalizer b", "resource a"])
    expect(result.during.resourcesByType).toEqual({ A: 1, D: 1 })
    expect(result.after.totalResources).toBe(0)
    expect(result.live).toBe(false)
  })

  it("leaves nothing on the session's scope for resources released or forgotten early", async () => {
    const finalizersOf = (scope: Scope.Scope) =>
      scope.state._tag !== "Open"
        ? 0
        : scope.state.finalizer !== undefined
          ? 1
          : (scope.state.finalizers?.size ?? 0)
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const session = yield* manager.createSession()
        let cleaned = 0
        for (let i = 0; i < 200; i++) {
          const handle = yield* session.resources.track(
            "Temp",
            Effect.sync(() => cleaned++),
          )
          if (i % 2 === 0) yield* handle.release
          else yield* handle.forget
          // Something else on the scope between registrations: each resource gets a segment of its own.
          if (i % 3 === 0) yield* Scope.addFinalizer(session.scope, Effect.void)
        }
        const left = finalizersOf(session.scope)
        yield* session.end
        return { cleaned, left, live: session.resources.liveResources }
      }),
    )
    expect(result.cleaned).toBe(100)
    // Only the 67 finalizers added by hand stay.
    expect(result.left).toBe(67)
    expect(result.live).toBe(0)
  })
})

// ---- property test: random programs over many sessions ----

type Step =
  | { op: "create" }
  | { op: "register"; session: number; failCleanup: boolean; type: string }
  | { op: "end"; session: number }
  | { op: "fail"; session: number }
  | { op: "interrupt"; session: number }
  | { op: "timeout"; session: number }
  | { op: "release"; session: number; index: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ op: "create" as const }) },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("register" as const),
      session: fc.nat(7),
      failCleanup: fc.boolean(),
      type: fc.constantFrom("Timer", "Pin", "File"),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("end" as const), session: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("fail" as const), session: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("interrupt" as const), session: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("timeout" as const), session: fc.nat(7) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("release" as const), session: fc.nat(7), index: fc.nat(20) }),
  },
)

describe("session cleanup under random programs (property)", () => {
  it("runs every registered cleanup exactly once, newest first per session, never after the session is gone; stats agree", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), async (steps) => {
        const runs = new Map<string, number>() // resource id -> cleanup count
        const order = new Map<string, string[]>() // session id -> cleanup order
        const registered = new Map<string, string[]>() // session id -> registration order
        const endedAt = new Map<string, number>() // session id -> tick at which it had ended
        let tick = 0
        const lateRuns: string[] = []
        const early = new Set<string>() // cleanups run by an early release
        await run(
          Effect.gen(function* () {
            const { manager } = yield* boardWithManager(undefined, { maxConcurrentSessions: 100 })
            const sessions: Array<{
              id: string
              scope: Scope.Closeable
              handles: Array<{ id: string; release: Effect.Effect<void, unknown> }>
            }> = []
            let n = 0
            for (const s of steps) {
              tick++
              if (s.op === "create") {
                const scope = yield* Scope.make()
                const session = yield* Scope.provide(manager.session(), scope)
                sessions.push({ id: session.sessionId, scope, handles: [] })
                registered.set(session.sessionId, [])
                order.set(session.sessionId, [])
                continue
              }
              const target = sessions[s.session % Math.max(1, sessions.length)]
              if (!target) continue
              const live = yield* Effect.exit(manager.getSession(target.id))
              if (s.op === "register") {
                const id = `r${n++}`
                const sessionId = target.id
                const cleanup = Effect.suspend(() => {
                  runs.set(id, (runs.get(id) ?? 0) + 1)
                  order.get(sessionId)?.push(id)
                  if (endedAt.has(sessionId)) lateRuns.push(id)
                  return s.failCleanup ? Effect.fail(`cleanup ${id} failed`) : Effect.void
                })
                if (Exit.isSuccess(live)) {
                  const handle = yield* live.value.resources.registerResource({
                    resourceId: id,
                    resourceType: s.type,
                    estimatedCost: 1,
                    createdAt: new Date(),
                    cleanup,
                  })
                  target.handles.push({ id, release: handle.release })
                  registered.get(sessionId)?.push(id)
                }
                continue
              }
              if (s.op === "release") {
                const handle = target.handles[s.index % Math.max(1, target.handles.length)]
                if (handle) {
                  const before = runs.get(handle.id) ?? 0
                  yield* Effect.ignore(handle.release)
                  if ((runs.get(handle.id) ?? 0) > before) early.add(handle.id)
                }
                continue
              }
              if (!Exit.isSuccess(live)) continue
              const session = live.value
              const body =
                s.op === "fail"
                  ? Effect.fail("boom")
                  : s.op === "interrupt"
                    ? Effect.interrupt
                    : s.op === "timeout"
                      ? Effect.timeout(Effect.never, "1 millis")
                      : Effect.void
              const exit = yield* Effect.exit(body)
              if (s.op === "end") yield* Effect.ignore(manager.endSession(session.sessionId))
              else yield* Scope.close(target.scope, exit)
              endedAt.set(session.sessionId, tick)
              // Stats agree with what is live.
              const stats = yield* manager.sessionStats
              const liveSessions = yield* manager.liveSessions
              if (stats.activeSessionCount !== liveSessions.length)
                throw new Error("stats disagree with live sessions")
            }
            const stats = yield* manager.sessionStats
            const liveSessions = yield* manager.liveSessions
            if (stats.activeSessionCount !== liveSessions.length) throw new Error("stats disagree at the end")
            for (const s of liveSessions) {
              const live = s.resources.getResourceStats().totalResources
              const ids = registered.get(s.sessionId) ?? []
              const pending = ids.filter((id) => !runs.has(id)).length
              if (live !== pending) throw new Error(`tracker says ${live} live, ${pending} expected`)
            }
          }),
        )
        // After the manager's scope closed, every registered cleanup ran exactly once.
        for (const ids of registered.values()) for (const id of ids) expect(runs.get(id)).toBe(1)
        // Within a session, the cleanups not released early ran at its end, newest first.
        for (const [sessionId, ids] of registered) {
          const atEnd = (order.get(sessionId) ?? []).filter((id) => !early.has(id))
          expect(atEnd).toEqual(ids.filter((id) => !early.has(id)).reverse())
        }
        expect(lateRuns).toEqual([])
      }),
      { numRuns: 60 },
    )
  })
})

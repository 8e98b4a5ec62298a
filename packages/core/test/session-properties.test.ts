/**
 * Concurrency property of sessions (issue 18): random interleavings of `executeInSession`,
 * `executeInNewSession`, `createSession`, `endSession`, `session.use`, exchanges through
 * `session.device`, idle timeouts, operation timeouts and interruptions never end a session
 * under a running operation, never leak one, and clean each resource up exactly once.
 *
 * Mutations tried (each made by hand in a copy of `src`, then `session-semantics.test.ts` and this
 * file run; every one was caught, by the tests named):
 *
 * 1. The code before issue 18 (a temporary session joined and ended under the joiner; the idle
 *    sweeper ending busy sessions; `endSession` not waiting): this property (shrinks to one
 *    operation longer than the timeout, or an `endSession` under an operation), and 18 of the 21
 *    tests of session-semantics.test.ts (the other three guard the new mechanism: an operation
 *    ending its own session, nested calls, `dispose`).
 * 2. `release` not giving the hold back (`holders` never drops): this property and 12 semantics
 *    tests (sessions never end).
 * 3. The sweeper ignoring `isBusy`: "an executeInSession operation longer than the timeout…",
 *    "a session used directly…", "session.use and a streamed exchange…".
 * 4. `endWith` not waiting for holders: this property and "endSession waits for the operations…".
 * 5. `endWith` counting the caller's own holds as others' (no `ownHolds`): "an operation that
 *    ends its own session does not wait for itself" (times out).
 * 6. `BoardLeases.lease` running the exchange without holds: "a session used directly…".
 * 7. The creator of a temporary session ending it when it leaves, though others joined it:
 *    "a second concurrent call joins…", "getOrCreateSession makes a temporary session the
 *    manager's…" (not this property: the end still waits for the joiner, so nothing is ended
 *    under an operation; the session just stops being joinable early).
 * 8. `withCleanup` ignoring the cleanup in "fail" mode: "executeInSession fails with the
 *    ResourceCleanupError…", "when the operation failed too…", "the last of several users…".
 * 9. Thread stops counted among resources again: "the 'session ended' log carries the resource
 *    count…".
 * 10. `retrySchedule` with a 1 s base: "retry backoff is 2 s, then 4 s…", "executeWithRetry waits…".
 * 11. A nested `executeInSession` ending the enclosing call's own session: "inside an operation,
 *     executeInSession runs in the operation's session".
 *
 * To rerun one: make the change in `src`, then `npx vitest run test/session-*.test.ts`.
 */
import { Duration, Effect, Exit, Fiber, Schedule } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { DeviceSession } from "../src/index.js"
import { boardWithManager, run } from "./fixtures.js"

type Stop = "none" | "timeout" | "interrupt"

type Action =
  | { readonly kind: "execute"; readonly ms: number; readonly stop: Stop; readonly after: number }
  | { readonly kind: "new"; readonly ms: number; readonly stop: Stop; readonly after: number }
  | { readonly kind: "create" }
  | { readonly kind: "end"; readonly pick: number }
  | { readonly kind: "use"; readonly pick: number; readonly ms: number }
  | { readonly kind: "exchange"; readonly pick: number }
  | { readonly kind: "wait"; readonly ms: number }

const stop = fc.constantFrom<Stop>("none", "none", "timeout", "interrupt")
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({
    kind: fc.constant("execute" as const),
    ms: fc.integer({ min: 0, max: 60 }),
    stop,
    after: fc.integer({ min: 0, max: 40 }),
  }),
  fc.record({
    kind: fc.constant("new" as const),
    ms: fc.integer({ min: 0, max: 40 }),
    stop,
    after: fc.integer({ min: 0, max: 40 }),
  }),
  fc.record({ kind: fc.constant("create" as const) }),
  fc.record({ kind: fc.constant("end" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("use" as const), pick: fc.nat(), ms: fc.integer({ min: 0, max: 60 }) }),
  fc.record({ kind: fc.constant("exchange" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 30 }) }),
)

describe("sessions under concurrency (property)", () => {
  it("never end under a running operation, never leak, clean each resource once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(action, { minLength: 1, maxLength: 24 }),
        fc.integer({ min: 10, max: 50 }),
        async (actions, timeoutMs) => {
          const violations: string[] = []
          const cleaned = new Map<string, number>()
          const registered: string[] = []
          const created = new Set<string>()
          const outcome = await run(
            Effect.gen(function* () {
              const { manager } = yield* boardWithManager(() => ({ stdout: "" }), {
                defaultSessionTimeout: Duration.millis(timeoutMs),
                maxConcurrentSessions: 1000,
              })
              // Operations running inside each session right now.
              const running = new Map<string, number>()
              const known: DeviceSession[] = []
              let seq = 0

              /** The body of an operation: registers a resource that checks nobody runs in its session when cleaned. */
              const body = (session: DeviceSession, ms: number) =>
                Effect.acquireUseRelease(
                  Effect.sync(() =>
                    running.set(session.sessionId, (running.get(session.sessionId) ?? 0) + 1),
                  ),
                  () =>
                    Effect.gen(function* () {
                      if (!known.includes(session)) known.push(session)
                      if (session.resources.isClosed) {
                        violations.push(`operation started in ended session ${session.sessionId}`)
                        return
                      }
                      const id = `r${++seq}`
                      registered.push(id)
                      yield* session.resources.registerResource({
                        resourceId: id,
                        resourceType: "Probe",
                        estimatedCost: 1,
                        createdAt: new Date(),
                        cleanup: Effect.sync(() => {
                          cleaned.set(id, (cleaned.get(id) ?? 0) + 1)
                          const inside = running.get(session.sessionId) ?? 0
                          if (inside > 0) {
                            violations.push(`${id} cleaned up under ${inside} running operation(s)`)
                          }
                        }),
                      })
                      yield* Effect.sleep(Duration.millis(ms))
                      if (session.resources.isClosed) {
                        violations.push(`session ${session.sessionId} ended under its operation`)
                      }
                    }),
                  () =>
                    Effect.sync(() =>
                      running.set(session.sessionId, (running.get(session.sessionId) ?? 1) - 1),
                    ),
                )

              const stopped = <A, E>(effect: Effect.Effect<A, E>, how: Stop, after: number) =>
                how === "timeout"
                  ? Effect.asVoid(Effect.exit(Effect.timeout(effect, Duration.millis(after))))
                  : how === "interrupt"
                    ? Effect.gen(function* () {
                        const fiber = yield* Effect.forkChild(effect)
                        yield* Effect.sleep(Duration.millis(after))
                        yield* Fiber.interrupt(fiber)
                      })
                    : Effect.asVoid(Effect.exit(effect))

              const pick = (n: number) => (known.length === 0 ? undefined : known[n % known.length])

              const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
              for (const a of actions) {
                switch (a.kind) {
                  case "execute":
                    fibers.push(
                      yield* Effect.forkChild(
                        stopped(
                          manager.executeInSession((s) => body(s, a.ms), { cleanupFailures: "log" }),
                          a.stop,
                          a.after,
                        ),
                      ),
                    )
                    break
                  case "new":
                    fibers.push(
                      yield* Effect.forkChild(
                        stopped(
                          manager.executeInNewSession((s) => body(s, a.ms), { cleanupFailures: "log" }),
                          a.stop,
                          a.after,
                        ),
                      ),
                    )
                    break
                  case "create": {
                    const s = yield* Effect.exit(manager.createSession())
                    if (Exit.isSuccess(s)) {
                      created.add(s.value.sessionId)
                      known.push(s.value)
                    }
                    break
                  }
                  case "end": {
                    const s = pick(a.pick)
                    if (s) fibers.push(yield* Effect.forkChild(Effect.exit(manager.endSession(s.sessionId))))
                    break
                  }
                  case "use": {
                    const s = pick(a.pick)
                    if (s) fibers.push(yield* Effect.forkChild(Effect.exit(s.use(body(s, a.ms)))))
                    break
                  }
                  case "exchange": {
                    const s = pick(a.pick)
                    if (s) fibers.push(yield* Effect.forkChild(Effect.exit(s.device.exec("pass"))))
                    break
                  }
                  case "wait":
                    yield* Effect.sleep(Duration.millis(a.ms))
                    break
                }
              }
              const settled = yield* Effect.exit(
                Effect.timeout(
                  Effect.forEach(fibers, (f) => Fiber.await(f), { discard: true }),
                  "5 seconds",
                ),
              )
              if (Exit.isFailure(settled)) violations.push("operations did not settle")
              // Ends started by the last holder's leaving run in the background: let them finish.
              yield* Effect.repeat(
                Effect.gen(function* () {
                  return (
                    (yield* manager.sessionStats).activeSessionCount === (yield* manager.liveSessions).length
                  )
                }),
                { until: (done) => done, schedule: Schedule.spaced("5 millis"), times: 200 },
              )
              // Every call's own session ended with its last user: only sessions made by
              // createSession may still be live.
              const live = yield* manager.liveSessions
              const stray = live.filter((s) => !created.has(s.sessionId)).map((s) => s.sessionId)
              const stats = yield* manager.sessionStats
              // ... and those end when asked (or idle out).
              for (const s of live) yield* Effect.exit(manager.endSession(s.sessionId))
              const after = yield* manager.sessionStats
              return { stray, stats, live: live.length, after }
            }),
          )
          expect(violations).toEqual([])
          expect(outcome.stray).toEqual([])
          expect(outcome.stats.activeSessionCount).toBe(outcome.live)
          expect(outcome.after.activeSessionCount).toBe(0)
          for (const id of registered) expect([id, cleaned.get(id)]).toEqual([id, 1])
        },
      ),
      { numRuns: 40 },
    )
  }, 120_000)
})

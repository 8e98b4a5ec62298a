/**
 * The semantics of issue 18: `executeInSession` runs in a session it owns or in one that
 * outlives it; a session is never ended while an operation holds it; the timeout measures
 * idleness; cleanup failures reach the caller of the door that ended the session; one manager
 * serves several boards; the error model for retries.
 *
 * Each `it` here failed on the code before issue 18 (checked by running this file against a copy
 * of that code; see the list of mutations at the end of `session-properties.test.ts`).
 */
import { makeDeviceCommunication } from "@belay/transport"
import { makeFakeBoard } from "@belay/transport/testing"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Logger, References, Schedule } from "effect"
import { describe, expect, it } from "vitest"
import {
  asSessionErrors,
  type DeviceSession,
  executeWithRetry,
  makeMultiBoardSessionManager,
  retrySchedule,
  SessionError,
  toSessionError,
} from "../src/index.js"
import { LEASED_MEMBERS } from "../src/SessionLeases.js"
import { boardWithManager, fastProtocol, PROBE_ANSWER, run } from "./fixtures.js"

const failing = (id: string, log: string[] = []) => ({
  resourceId: id,
  resourceType: "Test",
  estimatedCost: 1,
  createdAt: new Date(),
  cleanup: Effect.andThen(
    Effect.sync(() => log.push(id)),
    Effect.fail(`${id} would not clean up`),
  ),
})

const resource = (id: string, log: string[], cleanup: Effect.Effect<void, unknown> = Effect.void) => ({
  resourceId: id,
  resourceType: "Test",
  estimatedCost: 1,
  createdAt: new Date(),
  cleanup: Effect.andThen(
    Effect.sync(() => log.push(id)),
    cleanup,
  ),
})

/** Code the fake board runs until it is interrupted: an exchange as long as its timeout. */
const hanging = (code: string) => (code.includes("long_running") ? { hang: true as const } : {})

describe("executeInSession: a session it owns, or one that outlives it", () => {
  it("a second concurrent call joins the first's temporary session, which ends only when the last one leaves", async () => {
    const log: string[] = []
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const firstIn = yield* Deferred.make<void>()
        const firstGo = yield* Deferred.make<void>()
        const secondIn = yield* Deferred.make<void>()
        const secondGo = yield* Deferred.make<void>()
        const first = yield* Effect.forkChild(
          manager.executeInSession((session) =>
            Effect.gen(function* () {
              yield* session.resources.registerResource(resource("early", log))
              yield* Deferred.succeed(firstIn, undefined)
              yield* Deferred.await(firstGo)
              return session.sessionId
            }),
          ),
        )
        yield* Deferred.await(firstIn)
        const second = yield* Effect.forkChild(
          manager.executeInSession((session) =>
            Effect.gen(function* () {
              yield* Deferred.succeed(secondIn, undefined)
              yield* Deferred.await(secondGo)
              // The first call has left: its session must still be ours.
              const active = session.isActive
              yield* session.resources.registerResource(resource("late", log))
              return { id: session.sessionId, active }
            }),
          ),
        )
        yield* Deferred.await(secondIn)
        yield* Deferred.succeed(firstGo, undefined)
        const firstId = yield* Fiber.join(first)
        const between = { stats: yield* manager.sessionStats, cleaned: [...log] }
        yield* Deferred.succeed(secondGo, undefined)
        const late = yield* Fiber.join(second)
        return { first: firstId, late, between, after: yield* manager.sessionStats }
      }),
    )
    expect(result.late.id).toBe(result.first)
    expect(result.late.active).toBe(true)
    expect(result.between.stats.activeSessionCount).toBe(1)
    expect(result.between.cleaned).toEqual([])
    expect(result.after.activeSessionCount).toBe(0)
    expect(log).toEqual(["late", "early"])
  })

  it("endSession waits for the operations holding the session, then ends it", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const session = yield* manager.createSession()
        const inside = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const events: string[] = []
        yield* session.resources.registerResource(resource("r", events))
        const op = yield* Effect.forkChild(
          manager.executeInSession((s) =>
            Effect.gen(function* () {
              yield* Deferred.succeed(inside, undefined)
              yield* Deferred.await(release)
              events.push(`op done, closed=${s.resources.isClosed}`)
            }),
          ),
        )
        yield* Deferred.await(inside)
        const ending = yield* Effect.forkChild(manager.endSession(session.sessionId))
        yield* Effect.sleep("30 millis")
        const whileHeld = { active: session.isActive, ended: session.endReason, log: [...events] }
        // No new operation joins a session that is ending: it gets a new one.
        const other = yield* manager.executeInSession((s) => Effect.succeed(s.sessionId))
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(op)
        yield* Fiber.join(ending)
        return { whileHeld, other, id: session.sessionId, events }
      }),
    )
    expect(result.whileHeld.active).toBe(false)
    expect(result.whileHeld.log).toEqual([])
    expect(result.other).not.toBe(result.id)
    expect(result.events).toEqual(["op done, closed=false", "r"])
  })

  it("an operation that ends its own session does not wait for itself", async () => {
    const log: string[] = []
    const outcome = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            yield* session.resources.registerResource(resource("own", log))
            yield* session.end
            return session.resources.isClosed
          }),
        )
      }).pipe(Effect.timeout("2 seconds")),
    )
    expect(outcome).toBe(true)
    expect(log).toEqual(["own"])
  })

  it("inside an operation, executeInSession runs in the operation's session", async () => {
    const ids = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        return yield* manager.executeInNewSession((outer) =>
          Effect.map(
            manager.executeInSession((inner) => Effect.succeed(inner.sessionId)),
            // The nested call leaves the session to its owner.
            (inner) => [outer.sessionId, inner, outer.isActive],
          ),
        )
      }),
    )
    expect(ids[1]).toBe(ids[0])
    expect(ids[2]).toBe(true)
  })

  it("executeInNewSession's session is its own: a concurrent executeInSession does not join it", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const started = yield* Deferred.make<string>()
        const done = yield* Deferred.make<void>()
        const own = yield* Effect.forkChild(
          manager.executeInNewSession((s) =>
            Effect.andThen(Deferred.succeed(started, s.sessionId), Deferred.await(done)),
          ),
        )
        const ownId = yield* Deferred.await(started)
        const other = yield* manager.executeInSession((s) => Effect.succeed(s.sessionId))
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(own)
        return { ownId, other, stats: yield* manager.sessionStats }
      }),
    )
    expect(result.other).not.toBe(result.ownId)
    expect(result.stats.activeSessionCount).toBe(0)
  })

  it("getOrCreateSession makes a temporary session the manager's: it outlives the call that made it", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const handed = yield* Deferred.make<DeviceSession>()
        yield* manager.executeInSession(() =>
          Effect.flatMap(manager.getOrCreateSession(), (s) => Deferred.succeed(handed, s)),
        )
        const session = yield* Deferred.await(handed)
        return { active: session.isActive, stats: yield* manager.sessionStats }
      }),
    )
    expect(result.active).toBe(true)
    expect(result.stats.activeSessionCount).toBe(1)
  })
})

describe("the session timeout measures idleness", () => {
  it("an executeInSession operation longer than the timeout keeps its session; it idles out after", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager(undefined, { defaultSessionTimeout: Duration.millis(40) })
        const session = yield* manager.createSession()
        const during = yield* manager.executeInSession((s) =>
          Effect.gen(function* () {
            yield* Effect.sleep("200 millis")
            return { active: s.isActive, closed: s.resources.isClosed }
          }),
        )
        const justAfter = session.isActive
        yield* session.ended
        return { during, justAfter, reason: session.endReason }
      }),
    )
    expect(result.during).toEqual({ active: true, closed: false })
    expect(result.justAfter).toBe(true)
    expect(result.reason).toBe("idle")
  })

  it("a session used directly: an exchange through session.device keeps it busy, however long", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager(hanging, { defaultSessionTimeout: Duration.millis(40) })
        const session = yield* manager.createSession()
        const busy: boolean[] = []
        const watcher = yield* Effect.forkChild(
          Effect.repeat(
            Effect.sync(() => busy.push(session.isBusy)),
            Schedule.spaced("20 millis"),
          ),
        )
        // 250 ms on the board (the exchange times out and interrupts the code): 6 timeouts long.
        const exchange = yield* Effect.exit(session.device.exec("long_running()", { timeout: 250 }))
        yield* Fiber.interrupt(watcher)
        const afterExchange = { active: session.isActive, closed: session.resources.isClosed }
        yield* session.ended
        return { exchange, afterExchange, busy, reason: session.endReason }
      }),
    )
    expect(Exit.isFailure(result.exchange)).toBe(true)
    expect(result.afterExchange).toEqual({ active: true, closed: false })
    expect(result.busy.filter(Boolean).length).toBeGreaterThan(3)
    expect(result.reason).toBe("idle")
  })

  it("session.use and a streamed exchange hold the session too", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager(hanging, { defaultSessionTimeout: Duration.millis(40) })
        const session = yield* manager.createSession()
        const used = yield* session.use(
          Effect.andThen(
            Effect.sleep("150 millis"),
            Effect.sync(() => session.isActive),
          ),
        )
        const { Stream } = yield* Effect.promise(() => import("effect"))
        yield* Effect.exit(Stream.runDrain(session.device.execStream("long_running()", { timeout: 150 })))
        const afterStream = session.isActive
        yield* session.ended
        return { used, afterStream }
      }),
    )
    expect(result).toEqual({ used: true, afterStream: true })
  })

  it("the session device view holds sessions for every member that starts an exchange", async () => {
    const keys = await run(
      Effect.gen(function* () {
        const { manager, device } = yield* boardWithManager()
        const session = yield* manager.createSession()
        const view = session.device as unknown as Record<string, unknown>
        const raw = device as unknown as Record<string, unknown>
        // Every member of the board is on the view; those that differ are the leased ones.
        const missing = Object.keys(raw).filter((k) => !(k in view))
        const wrapped = Object.keys(raw).filter((k) => view[k] !== raw[k])
        return { missing, wrapped, same: manager.device === session.device }
      }),
    )
    expect(keys.missing).toEqual([])
    expect([...keys.wrapped].sort()).toEqual([...LEASED_MEMBERS].sort())
    expect(keys.same).toBe(true)
  })
})

describe("cleanup failures reach the caller of the door that ended the session", () => {
  it("executeInSession fails with the ResourceCleanupError, carrying the operation's value", async () => {
    const error = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        return yield* Effect.flip(
          manager.executeInSession((session) =>
            Effect.as(session.resources.registerResource(failing("timer")), 42),
          ),
        )
      }),
    )
    expect(error._tag).toBe("ResourceCleanupError")
    if (error._tag === "ResourceCleanupError") {
      expect(error.failures.map((f) => f.resourceId)).toEqual(["timer"])
      expect(error.operationResult).toEqual({ value: 42 })
      expect(error.message).toContain("timer would not clean up")
    }
  })

  it("by option, carries it with the value, or only logs it", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const carried = yield* manager.executeInNewSession(
          (session) => Effect.as(session.resources.registerResource(failing("a")), "value"),
          { cleanupFailures: "carry" },
        )
        const logged = yield* manager.executeInSession(
          (session) => Effect.as(session.resources.registerResource(failing("b")), "value"),
          { cleanupFailures: "log" },
        )
        const clean = yield* manager.executeInSession(() => Effect.succeed(1), { cleanupFailures: "carry" })
        return { carried, logged, clean }
      }),
    )
    expect(result.carried.value).toBe("value")
    expect(result.carried.cleanupError?.failures.map((f) => f.resourceId)).toEqual(["a"])
    expect(result.logged).toBe("value")
    expect(result.clean).toEqual({ value: 1, cleanupError: undefined })
  })

  it("when the operation failed too, its error comes first and the cleanup failure is in the cause", async () => {
    const exit = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        return yield* Effect.exit(
          manager.executeInNewSession((session) =>
            Effect.andThen(session.resources.registerResource(failing("c")), Effect.fail("operation broke")),
          ),
        )
      }),
    )
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit)) {
      const errors = exit.cause.reasons.filter(Cause.isFailReason).map((r) => r.error)
      expect(errors[0]).toBe("operation broke")
      expect((errors[1] as { _tag: string })._tag).toBe("ResourceCleanupError")
    }
  })

  it("the last of several users of a temporary session is the one that ends it and gets its failures", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const joined = yield* Deferred.make<void>()
        const leave = yield* Deferred.make<void>()
        const last = yield* Effect.forkChild(
          Effect.exit(
            manager.executeInSession(() =>
              Effect.andThen(Deferred.succeed(joined, undefined), Deferred.await(leave)),
            ),
          ),
        )
        const first = yield* Effect.exit(
          manager.executeInSession((session) =>
            Effect.gen(function* () {
              yield* session.resources.registerResource(failing("shared"))
              yield* Effect.yieldNow
            }),
          ),
        )
        yield* Deferred.await(joined)
        yield* Deferred.succeed(leave, undefined)
        return { first, last: yield* Fiber.join(last) }
      }),
    )
    // `first` may have left before `last` joined (then `last` got a session of its own and
    // `first` ended its own), or after: exactly one of them reports the failure.
    const failed = [result.first, result.last].filter(Exit.isFailure)
    expect(failed).toHaveLength(1)
  })
})

describe("one manager, several boards", () => {
  const twoBoards = Effect.gen(function* () {
    const boards = []
    for (const name of ["a", "b"]) {
      const fake = yield* makeFakeBoard({
        run: (code) => (code.includes("_belay_probe") ? { stdout: PROBE_ANSWER } : { stdout: `${name}\r\n` }),
      })
      boards.push(yield* makeDeviceCommunication(fake.link, fastProtocol))
    }
    return boards as [(typeof boards)[0], (typeof boards)[0]]
  })

  it("keeps current sessions, capabilities and state per board, and counts sessions over all", async () => {
    const result = await run(
      Effect.gen(function* () {
        const [a, b] = yield* twoBoards
        const manager = yield* makeMultiBoardSessionManager({ maxConcurrentSessions: 3 })
        const sa = yield* manager.createSession(a)
        const sb = yield* manager.getOrCreateSession(b)
        const onA = yield* manager.executeInSession(a, (s) =>
          Effect.map(s.device.exec("print('x')"), (out) => ({ id: s.sessionId, out })),
        )
        const onB = yield* manager
          .forBoard(b)
          .executeInSession((s) =>
            Effect.map(s.device.exec("print('x')"), (out) => ({ id: s.sessionId, out })),
          )
        const current = [yield* manager.currentSessionId(a), yield* manager.currentSessionId(b)]
        yield* manager.createSession(a)
        const limited = yield* Effect.flip(manager.createSession(b))
        const perBoard = [yield* manager.forBoard(a).sessionStats, yield* manager.forBoard(b).sessionStats]
        const all = yield* manager.sessionStats
        yield* manager.removeBoard(a)
        return {
          ids: [sa.sessionId, sb.sessionId],
          onA,
          onB,
          current,
          limited,
          perBoard,
          all,
          boards: (yield* manager.boards).length,
          afterRemove: yield* manager.sessionStats,
          caps: (yield* manager.capabilities(b))?.platform,
          sameView: manager.forBoard(b) === manager.forBoard(sb.device),
        }
      }),
    )
    expect(result.onA).toEqual({ id: result.ids[0], out: "a\r\n" })
    expect(result.onB).toEqual({ id: result.ids[1], out: "b\r\n" })
    expect(result.current).toEqual(result.ids)
    expect(result.limited._tag).toBe("SessionLimitError")
    expect(result.perBoard.map((s) => s.activeSessionCount)).toEqual([2, 1])
    expect(result.all).toEqual({ activeSessionCount: 3, totalSessionCount: 3, maxSessionCount: 3 })
    expect(result.boards).toBe(1)
    expect(result.afterRemove.activeSessionCount).toBe(1)
    expect(result.caps).toBe("fake")
    expect(result.sameView).toBe(true)
  })
})

describe("the error model for retries, and reporting", () => {
  it("transport and Python errors seen as SessionError with recoverable", async () => {
    const { ProtocolTimeoutError, PythonError } = await import("@belay/transport")
    const timeout = new ProtocolTimeoutError({ phase: "reply", timeoutMs: 5, received: "" } as never)
    const python = new PythonError({
      exceptionType: "ValueError",
      pythonMessage: "x",
      traceback: "",
      stdout: "",
    })
    expect(toSessionError(timeout, "s1")).toMatchObject({
      _tag: "SessionError",
      recoverable: true,
      sessionId: "s1",
    })
    expect(toSessionError(python).recoverable).toBe(false)
    expect(toSessionError(python).cause).toBe(python)
    const mapped = await Effect.runPromise(Effect.flip(asSessionErrors(Effect.fail(timeout))))
    expect(mapped._tag).toBe("SessionError")
    const untouched = await Effect.runPromise(Effect.flip(asSessionErrors(Effect.fail("other" as const))))
    expect(untouched).toBe("other")
  })

  it("retry backoff is 2 s, then 4 s, as a Schedule", async () => {
    const delays = await Effect.runPromise(
      Effect.gen(function* () {
        const step = yield* Schedule.toStep(retrySchedule())
        const out: number[] = []
        for (let i = 0; i < 3; i++) {
          const [, delay] = yield* step(Date.now(), undefined)
          out.push(Duration.toMillis(delay))
        }
        return out
      }),
    )
    expect(delays.slice(0, 2)).toEqual([2000, 4000])
  })

  it("executeWithRetry waits the default delays (2 s before the second attempt)", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const at: number[] = []
        const value = yield* executeWithRetry(manager, (session) =>
          Effect.suspend(() => {
            at.push(Date.now())
            return at.length < 2
              ? Effect.fail(
                  new SessionError({ sessionId: session.sessionId, reason: "flaky", recoverable: true }),
                )
              : Effect.succeed("ok")
          }),
        )
        return { value, gap: at[1]! - at[0]! }
      }),
    )
    expect(result.value).toBe("ok")
    expect(result.gap).toBeGreaterThanOrEqual(1900)
  }, 10_000)

  it("the 'session ended' log carries the resource count, and a thread with a stop is counted once", async () => {
    const lines: Array<{ message: unknown; annotations: Record<string, unknown> }> = []
    const logger = Logger.make((options) => {
      lines.push({
        message: options.message,
        annotations: { ...options.fiber.getRef(References.CurrentLogAnnotations) },
      })
    })
    const stats = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            yield* session.resources.registerResource(resource("r1", []))
            yield* session.resources.registerResource(resource("r2", []))
            yield* session.resources.track("BackgroundThread", Effect.void, { resourceId: "t-1" })
            return session.resources.getResourceStats()
          }),
        )
      }).pipe(Effect.provideService(References.CurrentLoggers, new Set([logger]))),
    )
    expect(stats.totalResources).toBe(3)
    expect(stats.resourcesByType).toEqual({ Test: 2, BackgroundThread: 1 })
    const ended = lines.find((l) => JSON.stringify(l.message).includes("Session ended"))
    expect(JSON.stringify(ended?.message)).toContain("cleaned up 3 resource(s)")
    expect(ended?.annotations).toMatchObject({ reason: "operation-finished", cleanupFailures: 0 })
  })

  it("fallback capabilities are visible in manager.capabilities", async () => {
    const caps = await run(
      Effect.gen(function* () {
        const fake = yield* makeFakeBoard({ run: () => ({ stdout: "garbage\r\n" }) })
        const device = yield* makeDeviceCommunication(fake.link, fastProtocol)
        const { makeDeviceSessionManager } = yield* Effect.promise(() => import("../src/index.js"))
        const manager = yield* makeDeviceSessionManager(device, { fallbackCapabilities: true })
        yield* manager.createSession()
        return yield* manager.capabilities
      }),
    )
    expect(caps?.fallback).toBe(true)
  })

  it("dispose ends sessions at once, even under a running operation", async () => {
    const log: string[] = []
    const reason = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const inside = yield* Deferred.make<DeviceSession>()
        yield* Effect.forkChild(
          manager.executeInSession((s) =>
            Effect.andThen(
              Effect.andThen(s.resources.registerResource(resource("d", log)), Deferred.succeed(inside, s)),
              Effect.never,
            ),
          ),
        )
        const session = yield* Deferred.await(inside)
        yield* manager.dispose
        return session.endReason
      }).pipe(Effect.timeout("2 seconds")),
    )
    expect(reason).toBe("shutdown")
    expect(log).toEqual(["d"])
  })
})

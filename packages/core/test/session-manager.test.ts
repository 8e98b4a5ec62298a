import { Deferred, Duration, Effect, Exit, Fiber, Option } from "effect"
import { describe, expect, it } from "vitest"
import { executeWithRetry, SessionError, SessionStateKey } from "../src/index.js"
import { boardWithManager, PROBE_ANSWER, run } from "./fixtures.js"

const resource = (id: string, log: string[], cleanup: Effect.Effect<void, unknown> = Effect.void) => ({
  resourceId: id,
  resourceType: "Test",
  estimatedCost: 10,
  createdAt: new Date(),
  cleanup: Effect.andThen(
    Effect.sync(() => log.push(id)),
    cleanup,
  ),
})

describe("session manager scenarios", () => {
  it("createSession with a valid board returns an active session with an id", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const session = yield* manager.createSession()
        return { id: session.sessionId, active: session.isActive, current: yield* manager.currentSessionId }
      }),
    )
    expect(result.id).toMatch(/\w+/)
    expect(result.active).toBe(true)
    expect(result.current).toBe(result.id)
  })

  it("executeInSession provides the session context", async () => {
    const captured = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        return yield* manager.executeInSession((session) => Effect.succeed(session.sessionId))
      }),
    )
    expect(captured).toBeTruthy()
  })

  it("tracks resources during the session and cleans them up after", async () => {
    const log: string[] = []
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const during = yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            yield* session.resources.registerResource(resource("test1", log))
            yield* session.resources.registerResource(resource("test2", log))
            return session.resources.getResourceStats()
          }),
        )
        return { during, after: yield* manager.sessionStats }
      }),
    )
    expect(result.during.totalResources).toBe(2)
    expect(result.during.totalResourceCost).toBe(20)
    expect(result.during.resourcesByType).toEqual({ Test: 2 })
    expect(result.after.activeSessionCount).toBe(0)
    expect(result.after.totalSessionCount).toBe(1)
    expect(log).toEqual(["test2", "test1"])
  })
})

describe("manager state machine", () => {
  it("goes Inactive -> Active -> Shutdown -> Disposed and refuses sessions after", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const states = [yield* manager.state]
        const early = yield* Effect.flip(manager.shutdown)
        yield* manager.createSession()
        states.push(yield* manager.state)
        yield* manager.shutdown
        states.push(yield* manager.state)
        const refused = yield* Effect.flip(manager.createSession())
        const again = yield* Effect.flip(manager.shutdown)
        return { states, early, refused, again, stats: yield* manager.sessionStats }
      }),
    )
    expect(result.states).toEqual(["Inactive", "Active", "Disposed"])
    expect(result.early._tag).toBe("SessionManagerStateError")
    expect(result.refused._tag).toBe("SessionManagerStateError")
    expect(result.again._tag).toBe("SessionManagerStateError")
    expect(result.stats.activeSessionCount).toBe(0)
  })

  it("emergency disposal from any state ends every session", async () => {
    const log: string[] = []
    const state = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const a = yield* manager.createSession()
        const b = yield* manager.createSession()
        yield* a.resources.registerResource(resource("a", log))
        yield* b.resources.registerResource(resource("b", log))
        yield* manager.dispose
        return { state: yield* manager.state, a: a.isActive, b: b.isActive }
      }),
    )
    expect(state).toEqual({ state: "Disposed", a: false, b: false })
    expect(log.sort()).toEqual(["a", "b"])
  })

  it("closing the manager's scope ends every session", async () => {
    const log: string[] = []
    await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const s = yield* manager.createSession()
        yield* s.resources.registerResource(resource("kept until scope end", log))
      }),
    )
    expect(log).toEqual(["kept until scope end"])
  })
})

describe("sessions", () => {
  it("reuses the live session in executeInSession, and getOrCreateSession returns it", async () => {
    const ids = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const s = yield* manager.getOrCreateSession()
        const a = yield* manager.executeInSession((x) => Effect.succeed(x.sessionId))
        const b = yield* manager.getOrCreateSession()
        return [s.sessionId, a, b.sessionId, (yield* manager.sessionStats).totalSessionCount]
      }),
    )
    expect(new Set(ids.slice(0, 3)).size).toBe(1)
    expect(ids[3]).toBe(1)
  })

  it("keeps typed state per session", async () => {
    const Count = SessionStateKey<number>("count")
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const a = yield* manager.createSession()
        const b = yield* manager.createSession()
        a.state.update(Count, (n) => Option.getOrElse(n, () => 0) + 1)
        a.state.update(Count, (n) => Option.getOrElse(n, () => 0) + 1)
        return { a: a.state.get(Count), b: b.state.get(Count) }
      }),
    )
    expect(result.a).toEqual(Option.some(2))
    expect(Option.isNone(result.b)).toBe(true)
  })

  it("ends a failed operation's session and still runs cleanup that needs the board", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager, userPrograms } = yield* boardWithManager(() => ({ stdout: "" }))
        const exit = yield* Effect.exit(
          manager.executeInSession((session) =>
            Effect.gen(function* () {
              yield* session.acquire(
                session.device.exec("t = start_timer()"),
                () => session.device.exec("t.deinit()"),
                {
                  resourceType: "DeviceTimer",
                },
              )
              return yield* Effect.fail("operation failed")
            }),
          ),
        )
        return { exit, programs: userPrograms(), stats: yield* manager.sessionStats }
      }),
    )
    expect(Exit.isFailure(result.exit)).toBe(true)
    expect(result.programs).toEqual(["t = start_timer()", "t.deinit()"])
    expect(result.stats.activeSessionCount).toBe(0)
  })

  it("cleans up when the operation is interrupted", async () => {
    const log: string[] = []
    await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const registered = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(
          manager.executeInSession((session) =>
            session.resources
              .registerResource(resource("r", log))
              .pipe(Effect.andThen(Deferred.succeed(registered, undefined)), Effect.andThen(Effect.never)),
          ),
        )
        yield* Deferred.await(registered)
        yield* Fiber.interrupt(fiber)
      }),
    )
    expect(log).toEqual(["r"])
  })

  it("a scoped session ends with its scope", async () => {
    const log: string[] = []
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const id = yield* Effect.scoped(
          Effect.gen(function* () {
            const s = yield* manager.session()
            yield* s.resources.registerResource(resource("scoped", log))
            return s.sessionId
          }),
        )
        return { id, stats: yield* manager.sessionStats, missing: yield* Effect.flip(manager.endSession(id)) }
      }),
    )
    expect(log).toEqual(["scoped"])
    expect(result.stats.activeSessionCount).toBe(0)
    expect(result.missing._tag).toBe("SessionNotFoundError")
  })

  it("refuses registrations after the session ended, undoing them at once", async () => {
    const log: string[] = []
    const error = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const s = yield* manager.createSession()
        yield* manager.endSession(s.sessionId)
        return yield* Effect.flip(s.resources.registerResource(resource("late", log)))
      }),
    )
    expect(error._tag).toBe("SessionError")
    expect(log).toEqual(["late"])
  })

  it("expires idle sessions", async () => {
    const log: string[] = []
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager(undefined, { defaultSessionTimeout: Duration.millis(40) })
        const s = yield* manager.createSession()
        yield* s.resources.registerResource(resource("idle", log))
        yield* s.ended
        return { reason: s.endReason, stats: yield* manager.sessionStats }
      }),
    )
    expect(result.reason).toBe("idle")
    expect(result.stats.activeSessionCount).toBe(0)
    expect(log).toEqual(["idle"])
  })
})

describe("concurrency limit", () => {
  it("fails at the limit by default", async () => {
    const error = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager(undefined, { maxConcurrentSessions: 2 })
        yield* manager.createSession()
        yield* manager.createSession()
        return yield* Effect.flip(manager.createSession())
      }),
    )
    expect(error._tag).toBe("SessionLimitError")
  })

  it("waits for a slot when told to", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager(undefined, {
          maxConcurrentSessions: 1,
          onSessionLimit: "wait",
        })
        const first = yield* manager.createSession()
        const waiting = yield* Effect.forkChild(manager.createSession())
        yield* Effect.sleep("20 millis")
        const before = yield* manager.sessionStats
        yield* first.end
        const second = yield* Fiber.join(waiting)
        return { before, second: second.sessionId !== first.sessionId, after: yield* manager.sessionStats }
      }),
    )
    expect(result.before.activeSessionCount).toBe(1)
    expect(result.second).toBe(true)
    expect(result.after.maxSessionCount).toBe(1)
  })
})

describe("capabilities", () => {
  it("are detected in one exchange on the first session and cached for the next", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager, device } = yield* boardWithManager()
        const first = yield* manager.createSession()
        const afterFirst = (yield* device.metrics).exchanges
        yield* manager.createSession()
        const afterSecond = (yield* device.metrics).exchanges
        return { caps: first.deviceContext.capabilities, afterFirst, afterSecond }
      }),
    )
    expect(result.afterFirst).toBe(1)
    expect(result.afterSecond).toBe(1)
    expect(result.caps.threads).toBe(true)
    expect(result.caps.hashAlgorithms).toEqual(["sha256"])
    expect(result.caps.rawPaste).toBe(true)
    expect(result.caps.freeMemory).toBe(123456)
    expect(result.caps.uniqueId).toBe("e66038b713")
  })

  it("a probe failure is a DeviceCapabilityError, or minimal capabilities when asked", async () => {
    const result = await run(
      Effect.gen(function* () {
        const board = yield* boardWithManager()
        // A board whose probe answer is garbage.
        const { makeFakeBoard } = yield* Effect.promise(() => import("@belay/transport/testing"))
        const { makeDeviceCommunication } = yield* Effect.promise(() => import("@belay/transport"))
        const { makeDeviceSessionManager } = yield* Effect.promise(() => import("../src/index.js"))
        const fake = yield* makeFakeBoard({ run: () => ({ stdout: "garbage\r\n" }) })
        const device = yield* makeDeviceCommunication(fake.link)
        const manager = yield* makeDeviceSessionManager(device)
        const error = yield* Effect.flip(manager.createSession())
        const fallback = yield* manager.createSession({ fallbackCapabilities: true })
        void board
        return { error, fallback: fallback.deviceContext.capabilities }
      }),
    )
    expect(result.error._tag).toBe("DeviceCapabilityError")
    expect(result.fallback.fallback).toBe(true)
    expect(result.fallback.threads).toBe(false)
  })

  it("a probe answer damaged on the way is asked again, never believed", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { makeFakeBoard } = yield* Effect.promise(() => import("@belay/transport/testing"))
        const { makeDeviceCommunication } = yield* Effect.promise(() => import("@belay/transport"))
        const { makeDeviceSessionManager } = yield* Effect.promise(() => import("../src/index.js"))
        // One byte of the answer changed on the line: still a readable dict, with `rename` gone.
        const damaged = PROBE_ANSWER.replace("'rename'", "'renbme'")
        let probes = 0
        const fake = yield* makeFakeBoard({
          run: () => {
            probes++
            return { stdout: probes === 1 ? damaged : PROBE_ANSWER }
          },
        })
        const manager = yield* makeDeviceSessionManager(yield* makeDeviceCommunication(fake.link))
        const session = yield* manager.createSession()
        const caps = session.deviceContext.capabilities
        // Damaged every time: a typed error after the retries, not a wrong capability set.
        let again = 0
        const always = yield* makeFakeBoard({
          run: () => {
            again++
            return { stdout: damaged }
          },
        })
        const other = yield* makeDeviceSessionManager(yield* makeDeviceCommunication(always.link))
        const error = yield* Effect.flip(other.createSession())
        return { probes, os: caps.osFunctions, error, again, sent: fake.programs[0] ?? "" }
      }),
    )
    expect(result.probes).toBe(2)
    expect(result.os).toContain("rename")
    expect(result.error._tag).toBe("DeviceCapabilityError")
    expect(result.error.reason).toMatch(/damaged/)
    expect(result.again).toBe(4)
    // The probe itself travels as a checked request.
    expect(result.sent).toContain("_belay_request_damaged")
  })

  it("a heap too small for the checked probe gets the plain probe, whose answer is still checked", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { makeFakeBoard } = yield* Effect.promise(() => import("@belay/transport/testing"))
        const { makeDeviceCommunication } = yield* Effect.promise(() => import("@belay/transport"))
        const { makeDeviceSessionManager } = yield* Effect.promise(() => import("../src/index.js"))
        const fake = yield* makeFakeBoard({
          run: (code) =>
            code.includes("_belay_request_damaged")
              ? { traceback: "MemoryError: memory allocation failed, allocating 1001 bytes\r\n" }
              : code.includes("_belay_probe")
                ? { stdout: PROBE_ANSWER }
                : { stdout: "" },
        })
        const manager = yield* makeDeviceSessionManager(yield* makeDeviceCommunication(fake.link))
        const session = yield* manager.createSession()
        return { caps: session.deviceContext.capabilities, programs: fake.programs }
      }),
    )
    expect(result.caps.osFunctions).toContain("rename")
    // Checked, a collection, checked again, then plain.
    expect(result.programs.filter((p) => p.includes("_belay_request_damaged"))).toHaveLength(2)
    expect(result.programs.some((p) => p.startsWith("def _belay_probe"))).toBe(true)
  })
})

describe("the board's own state", () => {
  it("a soft reset ends board-RAM resources without their cleanup, and tells the session", async () => {
    const log: string[] = []
    const result = await run(
      Effect.gen(function* () {
        const { manager, device } = yield* boardWithManager()
        const s = yield* manager.createSession()
        const thread = yield* s.resources.track(
          "BackgroundThread",
          Effect.sync(() => log.push("stop t-1")),
          { resourceId: "t-1", lostOnReset: true },
        )
        yield* s.resources.registerResource({ ...resource("timer", log), lostOnReset: true })
        yield* s.resources.registerResource(resource("file", log))
        const before = s.resources.getResourceStats()
        yield* device.softReset
        // The manager hears of the reset through the transport's reset stream.
        yield* Effect.sleep("1 millis").pipe(
          Effect.repeat({ until: () => s.boardResets > 0 }),
          Effect.timeout("2 seconds"),
        )
        const after = s.resources.getResourceStats()
        const threadLive = thread.isLive
        yield* s.end
        return { before, after, resets: s.boardResets, threadLive }
      }),
    )
    expect(result.before.totalResources).toBe(3)
    expect(result.after).toEqual({
      totalResources: 1,
      totalResourceCost: 10,
      resourcesByType: { Test: 1 },
    })
    expect(result.threadLive).toBe(false)
    expect(result.resets).toBe(1)
    expect(log).toEqual(["file"])
  })

  it("a lost link breaks and ends its sessions, and new sessions are refused", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager, board } = yield* boardWithManager()
        const s = yield* manager.createSession()
        board.disconnect()
        yield* s.ended
        const refused = yield* Effect.flip(manager.createSession())
        return { broken: s.brokenReason, reason: s.endReason, refused }
      }),
    )
    expect(result.broken).toMatch(/lost/)
    expect(result.reason).toBe("link-lost")
    expect(result.refused._tag).toBe("SessionError")
    if (result.refused._tag === "SessionError") expect(result.refused.recoverable).toBe(false)
  })
})

describe("retry", () => {
  it("retries recoverable errors in fresh sessions with backoff, and nothing else", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { manager } = yield* boardWithManager()
        const seen: string[] = []
        let attempts = 0
        const value = yield* executeWithRetry(
          manager,
          (session) =>
            Effect.suspend(() => {
              seen.push(session.sessionId)
              return ++attempts < 3
                ? Effect.fail(
                    new SessionError({ sessionId: session.sessionId, reason: "flaky", recoverable: true }),
                  )
                : Effect.succeed("done")
            }),
          { baseDelay: "5 millis" },
        )
        let hard = 0
        const fatal = yield* Effect.flip(
          executeWithRetry(
            manager,
            (session) =>
              Effect.suspend(() => {
                hard++
                return Effect.fail(
                  new SessionError({ sessionId: session.sessionId, reason: "no", recoverable: false }),
                )
              }),
            { baseDelay: "5 millis" },
          ),
        )
        return { value, distinct: new Set(seen).size, hard, fatal, stats: yield* manager.sessionStats }
      }),
    )
    expect(result.value).toBe("done")
    expect(result.distinct).toBe(3)
    expect(result.hard).toBe(1)
    expect(result.fatal.recoverable).toBe(false)
    expect(result.stats.activeSessionCount).toBe(0)
  })
})

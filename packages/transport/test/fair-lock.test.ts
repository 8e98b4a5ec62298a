/**
 * `FairLock` (issue 18): the board's lock must never be lost, even when a waiter is interrupted
 * at the moment the lock is handed to it.
 *
 * Mutations tried (each made by hand in a copy of `FairLock.ts`, then this file run):
 * 1. In `acquire`'s interruption cleanup, `else if (granted) this.release()` removed (a waiter
 *    interrupted just after its turn came keeps the lock forever): caught by "a waiter
 *    interrupted at the moment the lock is handed to it releases it" (the next caller times out).
 * 2. `release` handing the lock to the newest waiter (`pop` for `shift`): caught by "waiters get
 *    the lock in the order they asked".
 * 3. The interrupted waiter left in the queue (no `splice`): caught by "an interrupted waiter
 *    leaves the queue without taking a turn" (its turn resumes nobody and the lock stays held).
 */
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { FairLock } from "../src/FairLock.js"

describe("FairLock", () => {
  it("a waiter interrupted at the moment the lock is handed to it releases it", async () => {
    // In Effect 4.1 a callback's `resume` runs the waiting fiber at once, inside the holder's
    // release, so the window between "turn granted" and "waiter resumed" cannot be opened through
    // the public API: an interrupt lands either before the grant (the waiter leaves the queue) or
    // after the waiter resumed (then `withLock`'s own release runs). A runtime that resumes
    // later (as Effect did, and may again) opens it. The test plays that runtime: it registers a
    // waiter the way the runtime does, lets the holder hand it the turn without resuming it, then
    // runs the waiter's interruption cleanup.
    const lock = new FairLock()
    const acquire = (lock as unknown as { acquire: { register?: unknown } }).acquire
    expect(typeof acquire.register, "FairLock's acquire is an Effect.callback with a register function").toBe(
      "function",
    )
    const register = acquire.register as (
      resume: (effect: Effect.Effect<void>) => void,
    ) => Effect.Effect<void>
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        // A holder, through a scope closed by the test.
        const scope = yield* Scope.make()
        yield* Scope.provide(lock.lease, scope)
        // The waiter queues; its resume is only recorded (the runtime has not run it yet).
        let resumed = 0
        const onInterrupt = register(() => {
          resumed++
        })
        const queued = lock.waiting
        // The holder leaves: the turn goes to the waiter.
        yield* Scope.close(scope, Exit.void)
        const handed = { resumed, held: lock.isHeld, waiting: lock.waiting }
        // The waiter is interrupted before it resumed: its cleanup must give the lock back.
        yield* onInterrupt
        const next = yield* Effect.exit(Effect.timeout(lock.withLock(Effect.succeed("next")), "200 millis"))
        return { queued, handed, next, held: lock.isHeld }
      }),
    )
    expect(result.queued).toBe(1)
    expect(result.handed).toEqual({ resumed: 1, held: true, waiting: 0 })
    expect(result.next).toEqual(Exit.succeed("next"))
    expect(result.held).toBe(false)
  })

  it("a waiter interrupted right as the holder leaves: the lock is free after, whichever came first", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const lock = new FairLock()
        const scope = yield* Scope.make()
        yield* Scope.provide(lock.lease, scope)
        const waiter = yield* Effect.forkChild(lock.withLock(Effect.never))
        yield* Effect.yieldNow
        // Hand over and interrupt in one step.
        yield* Effect.sync(() => {
          Effect.runSync(Scope.close(scope, Exit.void))
          waiter.interruptUnsafe()
        })
        yield* Fiber.await(waiter)
        const next = yield* Effect.exit(Effect.timeout(lock.withLock(Effect.succeed("next")), "200 millis"))
        return { next, held: lock.isHeld, waiting: lock.waiting }
      }),
    )
    expect(result).toEqual({ next: Exit.succeed("next"), held: false, waiting: 0 })
  })

  it("an interrupted waiter leaves the queue without taking a turn", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const lock = new FairLock()
        const release = yield* Deferred.make<void>()
        const holder = yield* Effect.forkChild(lock.withLock(Deferred.await(release)))
        yield* Effect.yieldNow
        const order: string[] = []
        const a = yield* Effect.forkChild(lock.withLock(Effect.sync(() => order.push("a"))))
        yield* Effect.yieldNow
        const b = yield* Effect.forkChild(lock.withLock(Effect.sync(() => order.push("b"))))
        yield* Effect.yieldNow
        yield* Fiber.interrupt(a)
        const waitingAfter = lock.waiting
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        yield* Effect.timeout(Fiber.join(b), "200 millis")
        return { order, waitingAfter, held: lock.isHeld }
      }),
    )
    expect(result).toEqual({ order: ["b"], waitingAfter: 1, held: false })
  })

  it("waiters get the lock in the order they asked", async () => {
    const order = await Effect.runPromise(
      Effect.gen(function* () {
        const lock = new FairLock()
        const release = yield* Deferred.make<void>()
        const holder = yield* Effect.forkChild(lock.withLock(Deferred.await(release)))
        yield* Effect.yieldNow
        const order: number[] = []
        const fibers = []
        for (let i = 0; i < 5; i++) {
          fibers.push(yield* Effect.forkChild(lock.withLock(Effect.sync(() => order.push(i)))))
          yield* Effect.yieldNow
        }
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        for (const f of fibers) yield* Fiber.join(f)
        return order
      }),
    )
    expect(order).toEqual([0, 1, 2, 3, 4])
  })
})

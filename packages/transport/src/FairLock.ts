import { Effect, type Scope } from "effect"

/**
 * A first-come, first-served mutual exclusion lock: callers acquire it in the order they asked,
 * and an interrupted waiter leaves the queue without taking a turn.
 *
 * @example
 * const lock = new FairLock()
 * yield* lock.withLock(exchangeWithBoard)
 */
export class FairLock {
  private held = false
  private readonly queue: Array<() => void> = []

  /** Number of callers waiting for the lock (not counting the holder). */
  get waiting(): number {
    return this.queue.length
  }

  get isHeld(): boolean {
    return this.held
  }

  private readonly acquire: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (!this.held) {
      this.held = true
      resume(Effect.void)
      return
    }
    let granted = false
    const turn = () => {
      granted = true
      resume(Effect.void)
    }
    this.queue.push(turn)
    return Effect.sync(() => {
      const at = this.queue.indexOf(turn)
      if (at >= 0) this.queue.splice(at, 1)
      else if (granted) this.release()
    })
  })

  /** Hold the lock for the lifetime of the current scope. */
  readonly lease: Effect.Effect<void, never, Scope.Scope> = Effect.acquireRelease(this.acquire, () =>
    Effect.sync(() => this.release()),
  )

  private readonly releaseNow: Effect.Effect<void> = Effect.sync(() => this.release())

  private release(): void {
    const next = this.queue.shift()
    if (next === undefined) this.held = false
    else next()
  }

  /** Run `self` while holding the lock; the lock is released however `self` ends. */
  withLock<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.uninterruptibleMask((restore) => {
      // Uncontended: take it here, with no callback to suspend on.
      if (!this.held) {
        this.held = true
        return Effect.ensuring(restore(self), this.releaseNow)
      }
      return Effect.andThen(restore(this.acquire), Effect.ensuring(restore(self), this.releaseNow))
    })
  }
}

import { Duration, Effect, type Scope } from "effect"
import type { DeviceSessionImpl } from "./DeviceSessionImpl.js"

/** The sweeper wakes at least this often (ms), whatever the timeout. */
const MAX_SWEEP_MS = 60_000
/** ... and at most this often (ms), for very short test timeouts. */
const MIN_SWEEP_MS = 5

/**
 * @internal One sweeper for all of a manager's sessions ends those idle longer than `timeout`
 * (within a tenth of it). A session held by an operation or an exchange is busy, never idle; its
 * idle time counts from when the last one left. The returned effect starts the sweeper, in
 * `scope`, unless it runs; it stops by itself when no session is left.
 */
export const idleSweeper = (
  sessions: () => Iterable<DeviceSessionImpl>,
  count: () => number,
  timeout: Duration.Duration,
  scope: Scope.Scope,
  end: (session: DeviceSessionImpl) => Effect.Effect<void>,
): Effect.Effect<void> => {
  const idleMs = Duration.toMillis(timeout)
  const sweepMs = Math.min(MAX_SWEEP_MS, Math.max(MIN_SWEEP_MS, idleMs / 10))
  let sweeping = false
  const sweep: Effect.Effect<void> = Effect.gen(function* () {
    while (count() > 0) {
      yield* Effect.sleep(Duration.millis(sweepMs))
      const now = Date.now()
      for (const session of sessions()) {
        if (session.isActive && !session.isBusy && now - session.lastActivity >= idleMs) {
          yield* Effect.logInfo("Session idle; ending it").pipe(
            Effect.annotateLogs({ sessionId: session.sessionId }),
          )
          yield* end(session)
        }
      }
    }
  }).pipe(
    Effect.ensuring(
      Effect.sync(() => {
        sweeping = false
      }),
    ),
  )
  return Effect.suspend(() => {
    if (sweeping || !Number.isFinite(idleMs)) return Effect.void
    sweeping = true
    return Effect.asVoid(Effect.forkIn(Effect.interruptible(sweep), scope))
  })
}

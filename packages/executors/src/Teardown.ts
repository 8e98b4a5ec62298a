import type { DeviceSession, ResourceCleanupError, SessionError } from "@belay/core"
import { type Duration, Effect } from "effect"
import type { PythonSource } from "./PythonSource.js"
import { runPlainCode, SessionCode, sessionCodeParts } from "./SessionCode.js"
import { executorState } from "./SessionExecutorState.js"

/**
 * What declaring a teardown takes.
 *
 * @example
 * Teardown.make({ name: "lights_off", source: "led.off()", lostOnReset: true })
 *
 * @since 0.1.0
 */
export interface TeardownOptions {
  /** A name for logs and for registering it once per session (a Python identifier). */
  readonly name: string
  /** The code that undoes what the session did on the board (pins off, timers stopped). */
  readonly source: PythonSource | string
  /** Bound on the teardown code; the session's cleanup timeout bounds it too. */
  readonly timeout?: Duration.Input
  /**
   * The teardown undoes board RAM state: skip it when the board reset in the meantime (the
   * reset undid it already), and register it again after a reset. Default false: it runs
   * whenever the session ends.
   */
  readonly lostOnReset?: boolean
}

/**
 * Code that runs when the session ends, however it ends (asked to, failed, idle, interrupted),
 * registered as a session resource: it runs once, bounded, newest resource first, and a failure
 * is reported in the session's `ResourceCleanupError`.
 *
 * @example
 * const lightsOff = Teardown.make({ name: "lights_off", source: "led.off()" })
 * yield* lightsOff.register(session) // runs when the session ends
 *
 * @since 0.1.0
 */
export class Teardown extends SessionCode {
  readonly _tag = "Teardown" as const
  private constructor(
    parts: ReturnType<typeof sessionCodeParts>,
    readonly lostOnReset: boolean,
  ) {
    super(...parts)
  }

  /** Declare a teardown. Throws `DefinitionError` when `name` is not a Python identifier. */
  static make(options: TeardownOptions): Teardown {
    return new Teardown(sessionCodeParts(options, "a teardown name"), options.lostOnReset === true)
  }

  /**
   * Register the teardown with `session` (once per session; again after a board reset when
   * `lostOnReset`). Nothing is sent now.
   */
  register(session: DeviceSession): Effect.Effect<void, SessionError | ResourceCleanupError> {
    return Effect.gen({ self: this }, function* () {
      const state = executorState(session)
      const generation = yield* session.device.generation
      const registered = state.teardowns.get(this.name)
      if (registered !== undefined && (!this.lostOnReset || registered === generation)) return
      if (!session.isActive) {
        return yield* this.ended(session, "register teardown")
      }
      state.teardowns.set(this.name, generation)
      const label = `teardown ${this.name}`
      yield* session.resources
        .track(
          "Teardown",
          runPlainCode(session, label, this.source, this.timeout).pipe(
            Effect.tapError((error) =>
              Effect.logWarning("Teardown failed").pipe(
                Effect.annotateLogs({
                  teardown: this.name,
                  sessionId: session.sessionId,
                  error: error.message,
                }),
              ),
            ),
            Effect.withSpan("belay.teardown.run", {
              attributes: { teardown: this.name, sessionId: session.sessionId },
            }),
          ),
          { resourceId: `teardown:${this.name}`, lostOnReset: this.lostOnReset, estimatedCost: 0 },
        )
        .pipe(Effect.onError(() => Effect.sync(() => state.teardowns.delete(this.name))))
      yield* Effect.logDebug("Teardown registered").pipe(
        Effect.annotateLogs({ teardown: this.name, sessionId: session.sessionId }),
      )
    })
  }
}

import type { DeviceSession } from "@belay/core"
import { type Duration, Effect } from "effect"
import { inSpan } from "./CallSpan.js"
import type { PythonSource } from "./PythonSource.js"
import { type BoardCodeError, runPlainCode, SessionCode, sessionCodeParts } from "./SessionCode.js"
import { executorState } from "./SessionExecutorState.js"

/**
 * What declaring a setup takes.
 *
 * @example
 * Setup.make({ name: "pins", source: "from machine import Pin", timeout: "5 seconds" })
 *
 * @since 0.1.0
 */
export interface SetupOptions {
  /** A name for logs and for running it once per session (a Python identifier). */
  readonly name: string
  /** The code: imports, pin set-up, globals the tasks use. */
  readonly source: PythonSource | string
  readonly timeout?: Duration.Input
}

/**
 * Code that runs once per session, before the tasks that need it (imports, pin set-up). It runs
 * again after a board reset, since the reset undid it. Concurrent callers wait for one run.
 *
 * @example
 * const pins = Setup.make({ name: "pins", source: py`
 *   from machine import Pin
 *   led = Pin(25, Pin.OUT)
 * ` })
 * yield* pins.run(session) // runs the code
 * yield* pins.run(session) // already done in this session: sends nothing
 *
 * @since 0.1.0
 */
export class Setup extends SessionCode {
  readonly _tag = "Setup" as const

  /** Declare a setup. Throws `DefinitionError` when `name` is not a Python identifier. */
  static make(options: SetupOptions): Setup {
    return new Setup(...sessionCodeParts(options, "a setup name"))
  }

  /** True when this setup already ran in `session` since the board's last reset. */
  hasRun(session: DeviceSession): Effect.Effect<boolean> {
    return Effect.map(session.device.generation, (generation) => {
      const done = executorState(session).setups.get(this.name)
      return done !== undefined && done.generation === generation && done.hash === this.source.hash
    })
  }

  /** Run the code in `session` unless it already ran there since the board's last reset. */
  run(session: DeviceSession): Effect.Effect<void, BoardCodeError> {
    // A module member runs this before every call: when the setup already ran, answer without
    // a span or a lock.
    return Effect.flatMap(this.hasRun(session), (done) =>
      done
        ? Effect.void
        : inSpan(this.runLocked(session), "belay.setup.run", {
            setup: this.name,
            sessionId: session.sessionId,
          }),
    )
  }

  private runLocked(session: DeviceSession): Effect.Effect<void, BoardCodeError> {
    return Effect.gen({ self: this }, function* () {
      const state = executorState(session)
      yield* state.lock.withPermits(1)(
        Effect.gen({ self: this }, function* () {
          if (yield* this.hasRun(session)) return
          if (!session.isActive) {
            return yield* this.ended(session, "run setup")
          }
          const generation = yield* session.device.generation
          yield* runPlainCode(session, `setup ${this.name}`, this.source, this.timeout)
          if ((yield* session.device.generation) === generation) {
            state.setups.set(this.name, { generation, hash: this.source.hash })
          }
          yield* Effect.logDebug("Setup ran").pipe(
            Effect.annotateLogs({ setup: this.name, sessionId: session.sessionId }),
          )
        }),
      )
    })
  }
}

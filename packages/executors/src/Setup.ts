import { type DeviceSession, SessionError } from "@belay/core"
import type { ProtocolError, PythonError } from "@belay/transport"
import { type Duration, Effect } from "effect"
import { makeOutputLogger } from "./BoardOutput.js"
import { inSpan } from "./CallSpan.js"
import { checkIdentifier } from "./Codec.js"
import { TaskTimeoutError } from "./errors.js"
import { PythonSource } from "./PythonSource.js"
import { executorState } from "./SessionExecutorState.js"

/**
 * Everything running board code for setup or teardown can fail with.
 *
 * @example
 * pins.run(session).pipe(Effect.catchTag("PythonError", (e) => Console.error(e.pythonMessage)))
 *
 * @since 0.1.0
 */
export type BoardCodeError = PythonError | ProtocolError | TaskTimeoutError | SessionError

/** @internal run plain code, log its prints, map a call timeout */
export const runPlainCode = (
  session: DeviceSession,
  label: string,
  source: PythonSource,
  timeout: Duration.Input | undefined,
): Effect.Effect<void, PythonError | ProtocolError | TaskTimeoutError> =>
  session.device.exec(source.text, timeout === undefined ? undefined : { timeout }).pipe(
    Effect.mapError((e): PythonError | ProtocolError | TaskTimeoutError =>
      e._tag === "ProtocolTimeoutError" && e.phase === "call"
        ? new TaskTimeoutError({ task: label, timeoutMs: e.timeoutMs })
        : e,
    ),
    Effect.tapError((e) =>
      e._tag === "PythonError" && e.stdout.length > 0
        ? makeOutputLogger(label, session.sessionId).feed(`${e.stdout}\n`)
        : Effect.void,
    ),
    Effect.flatMap((output) => {
      if (output.length === 0) return Effect.void
      const logger = makeOutputLogger(label, session.sessionId)
      return Effect.andThen(logger.feed(output), logger.flush)
    }),
  )

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
export class Setup {
  readonly _tag = "Setup" as const
  private constructor(
    readonly name: string,
    readonly source: PythonSource,
    readonly timeout: Duration.Input | undefined,
  ) {}

  /** Declare a setup. Throws `DefinitionError` when `name` is not a Python identifier. */
  static make(options: SetupOptions): Setup {
    checkIdentifier(options.name, "a setup name")
    const source = typeof options.source === "string" ? PythonSource.of(options.source) : options.source
    return new Setup(options.name, source, options.timeout)
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
            return yield* new SessionError({
              sessionId: session.sessionId,
              reason: `cannot run setup ${this.name}: the session has ended`,
              recoverable: true,
            })
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

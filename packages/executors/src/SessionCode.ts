/**
 * What setups and teardowns share: named board code of a session, run plainly (no frames, no
 * deployment), its prints logged, once per session (again after a board reset where that
 * matters).
 *
 * @internal
 */
import { type DeviceSession, SessionError } from "@belay/core"
import { MinifyPython, type ProtocolError, type PythonError } from "@belay/transport"
import { type Duration, Effect } from "effect"
import { makeOutputLogger } from "./BoardOutput.js"
import { checkIdentifier } from "./Codec.js"
import { TaskTimeoutError } from "./errors.js"
import { asSource, type PythonSource } from "./PythonSource.js"

/**
 * Everything running board code for setup or teardown can fail with.
 *
 * @example
 * pins.run(session).pipe(Effect.catchTag("PythonError", (e) => Console.error(e.pythonMessage)))
 *
 * @since 0.1.0
 */
export type BoardCodeError = PythonError | ProtocolError | TaskTimeoutError | SessionError

/** @internal run plain code (minified unless the caller turned it off), log its prints, map a call timeout */
export const runPlainCode = (
  session: DeviceSession,
  label: string,
  source: PythonSource,
  timeout: Duration.Input | undefined,
): Effect.Effect<void, PythonError | ProtocolError | TaskTimeoutError> =>
  MinifyPython.use((minify) =>
    session.device.exec(
      minify ? source.minified.text : source.text,
      timeout === undefined ? undefined : { timeout },
    ),
  ).pipe(
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

/** @internal a setup or a teardown: a name (a Python identifier), its code, and a bound on it */
export abstract class SessionCode {
  protected constructor(
    readonly name: string,
    readonly source: PythonSource,
    readonly timeout: Duration.Input | undefined,
  ) {}

  /** The session has ended: `attempted` (what this code wanted to do) cannot happen. */
  protected ended(session: DeviceSession, attempted: string): SessionError {
    return new SessionError({
      sessionId: session.sessionId,
      reason: `cannot ${attempted} ${this.name}: the session has ended`,
      recoverable: true,
    })
  }
}

/**
 * The name, code and bound of a setup or teardown, from its options. Throws `DefinitionError`
 * when the name is not a Python identifier (`what` says which kind of name).
 */
export const sessionCodeParts = (
  options: {
    readonly name: string
    readonly source: PythonSource | string
    readonly timeout?: Duration.Input
  },
  what: string,
) => {
  checkIdentifier(options.name, what)
  return [options.name, asSource(options.source), options.timeout] as const
}

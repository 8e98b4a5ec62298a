import type { CapabilityMissingError, SessionError } from "@belay/core"
import type { ProtocolError, PythonError } from "@belay/transport"
import { Data } from "effect"

/**
 * A task, module, setup or teardown was declared wrongly (a name that is not a Python
 * identifier, a source without text). Thrown when the declaration is made: it is a programming
 * error, not something that happens at run time.
 *
 * @example
 * try { Task.make({ name: "not a name", source: py`pass` }) } catch (e) {
 *   if (e instanceof DefinitionError) console.error(e.message)
 * }
 *
 * @since 0.1.0
 */
export class DefinitionError extends Data.TaggedError("DefinitionError")<{
  readonly name: string
  readonly reason: string
}> {
  override get message() {
    return `invalid board code declaration ${JSON.stringify(this.name)}: ${this.reason}`
  }
}

/**
 * An argument could not be turned into Python: the argument schema refused it, or the value has
 * no Python literal (a function, a class instance, a cycle, a lone surrogate). Nothing was sent.
 *
 * @example
 * Effect.catchTag("ArgumentEncodeError", (e) => Console.error(e.task, e.path, e.reason))
 *
 * @since 0.1.0
 */
export class ArgumentEncodeError extends Data.TaggedError("ArgumentEncodeError")<{
  readonly task: string
  /** Where in the arguments, e.g. `$[1].name`. */
  readonly path: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `cannot encode the arguments of ${this.task} at ${this.path}: ${this.reason}`
  }
}

/**
 * What the board returned is not what the result schema describes, or not a Python literal at
 * all (e.g. `<object>`). `path` names the field, e.g. `$.readings[3]`.
 *
 * @example
 * Effect.catchTag("ResultDecodeError", (e) => Console.error(`${e.task}: ${e.path}: ${e.reason}`))
 *
 * @since 0.1.0
 */
export class ResultDecodeError extends Data.TaggedError("ResultDecodeError")<{
  readonly task: string
  /** The field that failed, e.g. `$.temp` or `$[2]`; `$` for the whole value. */
  readonly path: string
  readonly reason: string
  /** An excerpt of what the board sent. */
  readonly received: string
  readonly cause?: unknown
}> {
  override get message() {
    return `the result of ${this.task} does not decode at ${this.path}: ${this.reason} (received: ${this.received})`
  }
}

/**
 * A call did not finish within its timeout; the board was interrupted (Ctrl-C) and is back at
 * its prompt.
 *
 * @example
 * Effect.catchTag("TaskTimeoutError", (e) => Console.error(`${e.task} took over ${e.timeoutMs} ms`))
 *
 * @since 0.1.0
 */
export class TaskTimeoutError extends Data.TaggedError("TaskTimeoutError")<{
  readonly task: string
  readonly timeoutMs: number
}> {
  override get message() {
    return `${this.task} did not finish within ${this.timeoutMs} ms; it was interrupted on the board`
  }
}

/**
 * The code was interrupted on the board (a `KeyboardInterrupt`: Ctrl-C from the board's console
 * or another program on the link) before it finished.
 *
 * @example
 * Effect.catchTag("TaskInterruptedError", (e) => Console.error(`${e.task} was interrupted`))
 *
 * @since 0.1.0
 */
export class TaskInterruptedError extends Data.TaggedError("TaskInterruptedError")<{
  readonly task: string
  /** What the code printed before it was interrupted. */
  readonly stdout: string
}> {
  override get message() {
    return `${this.task} was interrupted on the board (KeyboardInterrupt)`
  }
}

/**
 * The board answered in a way the executor framing does not allow (a missing result frame, a
 * registry reply that does not parse). It points at a board that lost bytes or at code that
 * printed into the framing on purpose.
 *
 * @example
 * Effect.catchTag("FramingError", (e) => Console.error(e.reason, e.received))
 *
 * @since 0.1.0
 */
export class FramingError extends Data.TaggedError("FramingError")<{
  readonly task: string
  readonly reason: string
  readonly received: string
}> {
  override get message() {
    return `${this.task}: ${this.reason} (received: ${this.received})`
  }
}

/**
 * A board thread ended with an exception. Reported by `join`, `status`, and when the session
 * stops the thread (then as a cleanup failure of the session).
 *
 * @example
 * Effect.catchTag("ThreadFailedError", (e) => Console.error(e.exceptionType, e.pythonMessage, e.traceback))
 *
 * @since 0.1.0
 */
export class ThreadFailedError extends Data.TaggedError("ThreadFailedError")<{
  readonly thread: string
  readonly threadId: string
  /** e.g. `ValueError` */
  readonly exceptionType: string
  readonly pythonMessage: string
  /** The traceback as the board printed it (empty on boards without `io.StringIO`). */
  readonly traceback: string
}> {
  override get message() {
    const what = this.pythonMessage ? `${this.exceptionType}: ${this.pythonMessage}` : this.exceptionType
    return `board thread ${this.threadId} (${this.thread}) failed: ${what}`
  }
}

/**
 * A board thread did not stop within the bound after its stop flag was set (it does not check
 * the flag, or blocks). It may still be running on the board.
 *
 * @example
 * Effect.catchTag("ThreadStopTimeoutError", () => session.device.softReset)
 *
 * @since 0.1.0
 */
export class ThreadStopTimeoutError extends Data.TaggedError("ThreadStopTimeoutError")<{
  readonly thread: string
  readonly threadId: string
  readonly waitedMs: number
}> {
  override get message() {
    return `board thread ${this.threadId} (${this.thread}) did not stop within ${this.waitedMs} ms of its stop flag`
  }
}

/**
 * A proxy handle that cannot reach its board object: it belongs to another session, its session
 * has ended, it was released, or the board reset since it was made (the board's registry is
 * gone). Refused before anything runs on its behalf: never another object.
 *
 * @example
 * Effect.catchTag("StaleProxyError", (e) => Console.error(`proxy ${e.proxyId}: ${e.reason}`))
 *
 * @since 0.1.0
 */
export class StaleProxyError extends Data.TaggedError("StaleProxyError")<{
  /** The handle's id in the board's registry. */
  readonly proxyId: number
  /** The object's Python type, as the board named it when the handle was made. */
  readonly typeName: string
  readonly reason: string
}> {
  override get message() {
    return `proxy ${this.typeName}#${this.proxyId} cannot be used: ${this.reason}`
  }
}

/**
 * Everything calling a task (or reading a generator stream) can fail with.
 *
 * @example
 * add.call(session, 1, 2).pipe(Effect.catchTag("TaskTimeoutError", () => Effect.succeed(0)))
 *
 * @since 0.1.0
 */
export type TaskCallError =
  | ArgumentEncodeError
  | ResultDecodeError
  | TaskTimeoutError
  | TaskInterruptedError
  | FramingError
  | PythonError
  | ProtocolError
  | SessionError
  | StaleProxyError

/**
 * Everything starting a board thread can fail with.
 *
 * @example
 * blink.start(session, 250).pipe(Effect.catchTag("CapabilityMissingError", () => Effect.void))
 *
 * @since 0.1.0
 */
export type ThreadStartError = TaskCallError | CapabilityMissingError

/**
 * Everything stopping, joining or polling a board thread can fail with.
 *
 * @example
 * thread.stop.pipe(Effect.catchTag("ThreadStopTimeoutError", (e) => Console.error(e.message)))
 *
 * @since 0.1.0
 */
export type ThreadError = ThreadFailedError | ThreadStopTimeoutError | TaskCallError

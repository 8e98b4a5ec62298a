/**
 * `@belay/executors/browser` (and `@belay/executors` outside Node): the platform-neutral API,
 * for browsers and workers; no Node built-in. Call a MicroPython board like a library. Typed tasks, generator streams,
 * board threads, setup and teardown code, grouped in modules, all tied to a Belay session.
 *
 * The public API, grouped by concept. The board side of the executors' protocol (its Python
 * runtimes, how result frames are written), for fake boards in tests, is at
 * `@belay/executors/internal` and may change in any release. This is the Node entry
 * (`@belay/executors/node`, and `@belay/executors` in Node): the browser entry
 * (`@belay/executors/browser`, and `@belay/executors` elsewhere) has all of it but `pythonFile`.
 *
 * @example
 * import { py, Task } from "@belay/executors"
 * const add = Task.make({
 *   name: "add",
 *   source: py`
 *     def add(a, b):
 *         return a + b
 *   `,
 *   args: [Schema.Number, Schema.Number],
 *   result: Schema.Number,
 * })
 * const sum = yield* manager.executeInSession((session) => add.call(session, 1, 2))
 *
 * @since 0.1.0
 */

// Arguments and results: schemas that cross to the board and back.
export {
  type ArgsInput,
  type ArgsType,
  type BoardSchema,
  type CallArgs,
  isPythonIdentifier,
} from "./Codec.js"
// What this process knows of the code on a board.
export { forgetBoardRegistry } from "./Deployment.js"
// What a session holds for the executors: deployed functions, board threads.
export {
  type BackgroundThreadInfo,
  type DeployedMethodInfo,
  type ExecutorContext,
  executorContext,
} from "./ExecutorContext.js"
// Typed errors.
export {
  ArgumentEncodeError,
  DefinitionError,
  FramingError,
  ResultDecodeError,
  StaleProxyError,
  type TaskCallError,
  TaskInterruptedError,
  TaskTimeoutError,
  type ThreadError,
  ThreadFailedError,
  type ThreadStartError,
  ThreadStopTimeoutError,
} from "./errors.js"
// Modules: tasks deployed together, with a shared setup and teardown.
export { BoardModule, type BoardModuleOptions } from "./Module.js"
// Proxy objects: handles to objects that live on the board, released with their session.
export {
  BoardProxy,
  type ProxyCallOptions,
  type ProxyError,
  type ProxyIterateOptions,
  type ProxyIterator,
  type ProxyOptions,
  type ProxyPath,
  type ProxyValue,
} from "./Proxy.js"
export type { ProxyStats } from "./ProxyStats.js"
// Python code: inline or from a string.
export { PythonSource, py } from "./PythonSource.js"
// Setup: code run once per session, before the tasks that need it.
export type { BoardCodeError } from "./SessionCode.js"
export { Setup, type SetupOptions } from "./Setup.js"
// Tasks: a function on the board with a typed signature; generators read as streams.
export { type CallOptions, GeneratorTask, Task, type TaskOptions } from "./Task.js"
// Teardown: code run when the session ends, however it ends.
export { Teardown, type TeardownOptions } from "./Teardown.js"
// Board threads, stopped when the session ends.
export { type BoardThread, type ThreadStatus, ThreadTask, type ThreadTaskOptions } from "./Thread.js"

/**
 * `@belay/executors`: call a MicroPython board like a library. Typed tasks, generator streams,
 * board threads, setup and teardown code, grouped in modules, all tied to a Belay session.
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
 */
export {
  type ArgsInput,
  type ArgsType,
  type BoardSchema,
  type CallArgs,
  isPythonIdentifier,
} from "./Codec.js"
export { forgetBoardRegistry } from "./Deployment.js"
export {
  type BackgroundThreadInfo,
  type DeployedMethodInfo,
  type ExecutorContext,
  executorContext,
} from "./ExecutorContext.js"
export * from "./errors.js"
export { BoardModule, type BoardModuleOptions } from "./Module.js"
export { PythonSource, py, pythonFile } from "./PythonSource.js"
export { type BoardCodeError, Setup, type SetupOptions } from "./Setup.js"
export { type CallOptions, GeneratorTask, Task, type TaskOptions } from "./Task.js"
export { Teardown, type TeardownOptions } from "./Teardown.js"
export {
  type BoardThread,
  THREAD_RUNTIME,
  type ThreadStatus,
  ThreadTask,
  type ThreadTaskOptions,
} from "./Thread.js"

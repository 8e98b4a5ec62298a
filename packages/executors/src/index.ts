/**
 * `@belay/executors`: call a MicroPython board like a library. Typed tasks, generator streams,
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

export * from "./browser.js"
// Python code from a file (Node only).
export { pythonFile } from "./PythonFile.js"

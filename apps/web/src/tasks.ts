/**
 * The tasks the page offers, with their argument schemas kept beside them: the task panel builds
 * its form from those schemas (a title and a description each, the input's type from the
 * schema's type) and decodes what was typed with them before the call.
 */
import { GeneratorTask, py, Task } from "@belay/executors"
import { Schema, SchemaAST } from "effect"

/** One argument: its schema (annotated with a title, optionally a description and a default). */
export interface ArgSchema {
  readonly ast: SchemaAST.AST
}

/** A task the page offers: a plain call (result shown) or a generator (its items plotted). */
export type PageTask =
  | {
      readonly kind: "call"
      readonly name: string
      readonly args: ReadonlyArray<ArgSchema>
      readonly defaults: ReadonlyArray<string>
      readonly task: Task<ReadonlyArray<unknown>, unknown>
    }
  | {
      readonly kind: "stream"
      readonly name: string
      readonly args: ReadonlyArray<ArgSchema>
      readonly defaults: ReadonlyArray<string>
      readonly task: GeneratorTask<ReadonlyArray<unknown>, readonly [number, number]>
    }

const addArgs = [
  Schema.Number.annotate({ title: "a", description: "a number" }),
  Schema.Number.annotate({ title: "b", description: "another number" }),
] as const

const greetArgs = [
  Schema.String.annotate({ title: "name", description: "who to greet" }),
  Schema.Int.annotate({ title: "times", description: "how many times (a whole number)" }),
  Schema.Boolean.annotate({ title: "shout", description: "in capitals" }),
] as const

const sineArgs = [
  Schema.Number.annotate({ title: "cycles per second", description: "the sine's frequency" }),
  Schema.Int.annotate({ title: "points", description: "how many points (a whole number)" }),
  Schema.Int.annotate({ title: "interval ms", description: "milliseconds between points" }),
] as const

const erase = <T>(task: T) => task as never

/** The page's tasks. */
export const pageTasks: ReadonlyArray<PageTask> = [
  {
    kind: "call",
    name: "add",
    args: addArgs,
    defaults: ["2", "3"],
    task: erase(
      Task.make({
        name: "add",
        source: py`
          def add(a, b):
              return a + b
        `,
        args: addArgs,
        result: Schema.Number,
      }),
    ),
  },
  {
    kind: "call",
    name: "greet",
    args: greetArgs,
    defaults: ["board", "2", "false"],
    task: erase(
      Task.make({
        name: "greet",
        source: py`
          def greet(name, times, shout):
              text = ' '.join(['hello ' + name] * times)
              return text.upper() if shout else text
        `,
        args: greetArgs,
        result: Schema.String,
      }),
    ),
  },
  {
    kind: "stream",
    name: "sine",
    args: sineArgs,
    defaults: ["0.5", "400", "20"],
    task: erase(
      GeneratorTask.make({
        name: "sine",
        source: py`
          def sine(freq, points, interval):
              import math, time
              for i in range(points):
                  t = i * interval / 1000
                  yield (t, math.sin(2 * math.pi * freq * t))
                  time.sleep_ms(interval)
        `,
        args: sineArgs,
        item: Schema.Tuple([Schema.Number, Schema.Number]),
        timeout: "10 minutes",
      }),
    ),
  },
]

/** What kind of input an argument gets. */
export const inputKind = (schema: ArgSchema): "number" | "checkbox" | "text" =>
  schema.ast._tag === "Number" ? "number" : schema.ast._tag === "Boolean" ? "checkbox" : "text"

/** The annotation `key` of a schema, if it has one. */
export const annotation = (schema: ArgSchema, key: "title" | "description"): string | undefined => {
  const value = SchemaAST.resolve(schema.ast)?.[key]
  return typeof value === "string" ? value : undefined
}

/** Decode what was typed for an argument with its schema; a readable error when it does not fit. */
export const decodeArg = (schema: ArgSchema, raw: string | boolean): unknown => {
  const value = typeof raw === "boolean" ? raw : inputKind(schema) === "number" ? Number(raw) : raw
  if (typeof raw === "string" && inputKind(schema) === "number" && raw.trim() === "")
    throw new Error(`${annotation(schema, "title") ?? "argument"}: a number is needed`)
  return Schema.decodeUnknownSync(schema as Schema.Codec<unknown, unknown>)(value)
}

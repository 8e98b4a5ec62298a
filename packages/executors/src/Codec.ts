import {
  PythonLiteralEncodeError,
  type PythonValue,
  parsePythonLiteral,
  toPythonLiteral,
} from "@belay/transport"
import { Effect, Result, Schema, SchemaAST, SchemaIssue } from "effect"
import { ArgumentEncodeError, DefinitionError, ResultDecodeError } from "./errors.js"
import { excerpt } from "./Framing.js"
import { lookupCode, type ProxyRef, proxyRefOf } from "./ProxyRef.js"

/**
 * A schema whose values can cross to the board and back: it needs no services to encode or
 * decode. Its encoded side must be something a Python literal can hold (null, booleans, numbers,
 * bigints, strings, `Uint8Array`, arrays, plain objects, Maps, Sets).
 *
 * @example
 * const Reading: BoardSchema<{ temp: number }> = Schema.Struct({ temp: Schema.Number })
 *
 * @since 0.1.0
 */
export type BoardSchema<T> = Schema.Codec<T, unknown, never, never>

/**
 * The arguments of a task: a `Schema.Tuple` (positional arguments, called as
 * `call(session, a, b)`), a `Schema.Struct` (keyword arguments, called as `call(session, { a, b })`),
 * or an array of schemas as a shorthand for a tuple.
 *
 * @example
 * Task.make({ name: "move", source, args: Schema.Struct({ x: Schema.Number, y: Schema.Number }) })
 *
 * @since 0.1.0
 */
export type ArgsInput = BoardSchema<ReadonlyArray<unknown>> | BoardSchema<object> | ReadonlyArray<Schema.Top>

/**
 * The decoded type of an {@link ArgsInput}.
 *
 * @example
 * type Point = ArgsType<[typeof Schema.Number, typeof Schema.Number]> // readonly [number, number]
 *
 * @since 0.1.0
 */
export type ArgsType<S> =
  S extends ReadonlyArray<Schema.Top>
    ? { readonly [K in keyof S]: S[K] extends Schema.Top ? S[K]["Type"] : never }
    : S extends Schema.Top
      ? S["Type"]
      : never

/**
 * The parameters a call takes after the session: the tuple's elements, or the one struct.
 *
 * @example
 * type Args = CallArgs<[typeof Schema.String]> // [string]
 *
 * @since 0.1.0
 */
export type CallArgs<S> = S extends undefined
  ? []
  : ArgsType<S> extends infer T
    ? T extends ReadonlyArray<unknown>
      ? T
      : [T]
    : never

const PYTHON_KEYWORDS = new Set(
  "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield".split(
    " ",
  ),
)
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * True when `name` can stand in Python code as a name (letters, digits, `_`; not a keyword).
 *
 * @example
 * isPythonIdentifier("read_temp") // true
 * isPythonIdentifier("class") // false
 *
 * @since 0.1.0
 */
export const isPythonIdentifier = (name: string): boolean =>
  IDENTIFIER.test(name) && !PYTHON_KEYWORDS.has(name)

/** @internal check a declared name */
export const checkIdentifier = (name: string, what: string): void => {
  if (!isPythonIdentifier(name)) {
    throw new DefinitionError({ name, reason: `${what} must be a Python identifier (letters, digits, _)` })
  }
}

/** @internal the arguments, prepared once per declaration */
export interface ArgsCodec {
  /** True for positional arguments (a tuple schema). */
  readonly positional: boolean
  /**
   * Encode what the caller passed after the session into the text between the call's
   * parentheses. Proxy handles in the arguments become lookups in the board's registry and are
   * added to `refs`, for the caller to check against its session; without `refs` they are
   * refused.
   */
  readonly encode: (
    task: string,
    callArgs: ReadonlyArray<unknown>,
    refs?: Array<ProxyRef>,
  ) => Result.Result<string, ArgumentEncodeError>
}

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  `$${path
    .map((p) =>
      typeof p === "number"
        ? `[${p}]`
        : typeof p === "string" && /^[A-Za-z_$][\w$]*$/.test(p)
          ? `.${p}`
          : `[${JSON.stringify(String(p))}]`,
    )
    .join("")}`

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The first issue of a schema error as a path and a message. */
export const describeIssue = (issue: SchemaIssue.Issue): { path: string; reason: string } => {
  const first = formatter(issue).issues[0]
  if (first === undefined) return { path: "$", reason: "invalid" }
  const path = (first.path ?? []).map((p) =>
    typeof p === "object" && p !== null && "key" in p ? (p.key as PropertyKey) : (p as PropertyKey),
  )
  return { path: formatPath(path), reason: first.message }
}

/** A literal's hook for proxy handles: the registry lookup, the handle noted in `refs`. */
const proxyLookups =
  (refs: Array<ProxyRef>) =>
  (value: object): string | undefined => {
    const ref = proxyRefOf(value)
    if (ref === undefined) return undefined
    refs.push(ref)
    return lookupCode(ref.proxyId)
  }

/** @internal a value as a Python literal, proxy handles as lookups when `refs` collects them */
export const literal = (
  task: string,
  value: unknown,
  at: string,
  refs?: Array<ProxyRef>,
): Result.Result<string, ArgumentEncodeError> => {
  try {
    return Result.succeed(
      refs === undefined
        ? toPythonLiteral(value)
        : toPythonLiteral(value, { encodeOther: proxyLookups(refs) }),
    )
  } catch (error) {
    if (error instanceof PythonLiteralEncodeError) {
      return Result.fail(
        new ArgumentEncodeError({
          task,
          path: `${at}${error.path.slice(1)}`,
          reason: error.reason,
          cause: error,
        }),
      )
    }
    throw error
  }
}

/** @internal */
export const makeArgsCodec = (input: ArgsInput | undefined): ArgsCodec => {
  if (input === undefined) {
    return {
      positional: true,
      encode: (task, callArgs) =>
        callArgs.length === 0
          ? Result.succeed("")
          : Result.fail(
              new ArgumentEncodeError({
                task,
                path: "$",
                reason: `takes no arguments, got ${callArgs.length}`,
              }),
            ),
    }
  }
  const schema: Schema.Top = Array.isArray(input)
    ? Schema.Tuple(input as ReadonlyArray<Schema.Top>)
    : (input as Schema.Top)
  const positional = SchemaAST.toType(schema.ast)._tag === "Arrays"
  const encodeSchema = Schema.encodeUnknownResult(schema as BoardSchema<unknown>)
  return {
    positional,
    encode: (task, callArgs, refs) => {
      const value = positional ? callArgs : callArgs[0]
      if (!positional && callArgs.length !== 1) {
        return Result.fail(
          new ArgumentEncodeError({
            task,
            path: "$",
            reason: `takes one object of keyword arguments, got ${callArgs.length} arguments`,
          }),
        )
      }
      const encoded = encodeSchema(value)
      if (Result.isFailure(encoded)) {
        const { path, reason } = describeIssue(encoded.failure.issue)
        return Result.fail(new ArgumentEncodeError({ task, path, reason, cause: encoded.failure }))
      }
      const out = encoded.success
      const parts: string[] = []
      if (positional) {
        if (!Array.isArray(out)) {
          return Result.fail(
            new ArgumentEncodeError({
              task,
              path: "$",
              reason: "the argument schema did not encode to an array",
            }),
          )
        }
        for (let i = 0; i < out.length; i++) {
          const text = literal(task, out[i], `$[${i}]`, refs)
          if (Result.isFailure(text)) return text
          parts.push(text.success)
        }
      } else {
        if (typeof out !== "object" || out === null || Object.getPrototypeOf(out) !== Object.prototype) {
          return Result.fail(
            new ArgumentEncodeError({
              task,
              path: "$",
              reason: "the argument schema did not encode to a plain object of keyword arguments",
            }),
          )
        }
        for (const [key, item] of Object.entries(out)) {
          if (!isPythonIdentifier(key)) {
            return Result.fail(
              new ArgumentEncodeError({
                task,
                path: formatPath([key]),
                reason: "a keyword argument name must be a Python identifier",
              }),
            )
          }
          const text = literal(task, item, formatPath([key]), refs)
          if (Result.isFailure(text)) return text
          parts.push(`${key}=${text.success}`)
        }
      }
      return Result.succeed(parts.join(","))
    },
  }
}

/** @internal the result side, prepared once per declaration */
export interface ResultCodec<A> {
  /** Decodes when called (callers call it as the result arrives), not when the effect runs. */
  readonly decode: (task: string, repr: string) => Effect.Effect<A, ResultDecodeError>
}

/**
 * @internal decode a value already read from the board (`received` is its text, for messages)
 * with `schema`
 */
export const makeValueDecoder = <A>(schema: BoardSchema<A>) => {
  const decodeSchema = Schema.decodeUnknownResult(schema)
  return (task: string, value: unknown, received: string): Result.Result<A, ResultDecodeError> => {
    const decoded = decodeSchema(value)
    if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
    const { path, reason } = describeIssue(decoded.failure.issue)
    return Result.fail(
      new ResultDecodeError({ task, path, reason, received: excerpt(received), cause: decoded.failure }),
    )
  }
}

/** @internal */
export const makeResultCodec = <A>(schema: BoardSchema<A> | undefined): ResultCodec<A> => {
  const decodeSchema =
    schema === undefined
      ? (value: unknown) => Result.succeed(value as A)
      : Schema.decodeUnknownResult(schema as BoardSchema<A>)
  const decode = (task: string, repr: string): Result.Result<A, ResultDecodeError> => {
    const parsed = parsePythonLiteral(repr)
    if (Result.isFailure(parsed)) {
      return Result.fail(
        new ResultDecodeError({
          task,
          path: "$",
          reason: `not a Python literal: expected ${parsed.failure.expected} at position ${parsed.failure.position}`,
          received: excerpt(repr),
          cause: parsed.failure,
        }),
      )
    }
    const decoded = decodeSchema(parsed.success as PythonValue)
    if (Result.isFailure(decoded)) {
      const { path, reason } = describeIssue(decoded.failure.issue)
      return Result.fail(
        new ResultDecodeError({ task, path, reason, received: excerpt(repr), cause: decoded.failure }),
      )
    }
    return Result.succeed(decoded.success)
  }
  return { decode: (task, repr) => Effect.fromResult(decode(task, repr)) }
}

/**
 * Board objects for Promise code: a JavaScript `Proxy` around a `BoardProxy` handle, so that
 * `await led.on()`, `await led.value()`, `await led.value(1)` and `await led.pin` read as they
 * would on the board. Each access is one exchange of the handle's session; typed failures reject
 * with `BelayError`.
 */
import {
  BoardProxy,
  type BoardSchema,
  type ProxyCallOptions,
  type ProxyIterateOptions,
  type ProxyIterator,
  type ProxyPath,
} from "@belay/executors"
import type { PythonValue } from "@belay/transport"
import { Effect } from "effect"

/**
 * What a remote access gives back: a plain value, or another remote object.
 *
 * @example
 * const v: RemoteValue = await led.value() // 0 or 1
 * @since 0.1.0
 */
export type RemoteValue = PythonValue | RemoteObject

/**
 * An attribute of a remote object, not read yet: call it (a method call, `await led.value(1)`),
 * await it (an attribute read, `await led.pin`; `catch` and `finally` read it too), or go
 * further (`await board.sensor.mode`, `await list[0]` for an index). A Python attribute named
 * `then`, `catch` or `finally` is read with `$get`.
 *
 * @example
 * const member: RemoteMember = led.value
 * await member(1)
 * @since 0.1.0
 */
export type RemoteMember = ((...args: ReadonlyArray<unknown>) => Promise<RemoteValue>) &
  Pick<Promise<RemoteValue>, "then" | "catch" | "finally"> & { readonly [name: string]: RemoteMember }

/**
 * The `$` members of a remote object (Python names cannot hold `$`, so they never hide a board
 * attribute).
 *
 * @example
 * await led.$set("level", 1)
 * @since 0.1.0
 */
export interface RemoteObjectMembers {
  /** The object's id in the board's registry. */
  readonly $id: number
  /** Its Python type name, e.g. `Pin`. */
  readonly $type: string
  /** True once released (or its session ended, or the board reset). */
  readonly $released: boolean
  /** The Effect handle (for `belay.run` and task arguments with `BoardProxy.schema`). */
  readonly $handle: BoardProxy
  /** Read `path`, decoded by `schema` when given. */
  $get<A = RemoteValue>(path: ProxyPath, schema?: BoardSchema<A>): Promise<A>
  /** `path` as a remote object even when its value is plain. */
  $ref(path: ProxyPath): Promise<RemoteObject>
  /** Set `path` to `value`. */
  $set(path: ProxyPath, value: unknown): Promise<void>
  /** Call method `path` with positional arguments and options (keywords, result schema, bound). */
  $call<A = RemoteValue>(path: ProxyPath, options?: ProxyCallOptions<A>): Promise<A>
  /** `object[key]`, decoded by `schema` when given. */
  $index<A = RemoteValue>(key: unknown, schema?: BoardSchema<A>): Promise<A>
  /** Set `object[key] = value`. */
  $setIndex(key: unknown, value: unknown): Promise<void>
  /** The object itself as a plain value, decoded by `schema` when given. */
  $value<A = PythonValue>(schema?: BoardSchema<A>): Promise<A>
  /** Iterate the object on the board, a batch per exchange (`for await` does the same). */
  $iterate<A = RemoteValue>(options?: ProxyIterateOptions<A>): AsyncIterable<A>
  /** Drop the object from the board now. */
  $release(): Promise<void>
  [Symbol.asyncIterator](): AsyncIterator<RemoteValue>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * The accesses of a board object whose shape the caller describes: each method as an async
 * function, each other attribute as something to await.
 *
 * @example
 * interface Led { on(): void; value(v?: number): number; pin: number }
 * const led = await s.proxy<Led>("machine.Pin(25)")
 * const level: number = await led.value()
 * @since 0.1.0
 */
export type RemoteShape<T> = {
  readonly [K in keyof T]: T[K] extends (...args: infer P) => infer R
    ? (...args: P) => Promise<Awaited<R>>
    : PromiseLike<T[K]>
}

/**
 * A board object seen from Promise code. Each attribute is a {@link RemoteMember} at run time:
 * `await led.on()` calls a method, `await led.pin` reads an attribute, `await list[0]` indexes.
 * Without a shape (`T`) attributes are typed `any`; with one (`s.proxy<Led>(...)`) as
 * {@link RemoteShape} says. Calling the object calls it on the board (a function). Its object is
 * dropped from the board when released (`$release`, `await using`), when the host
 * garbage-collects it, or when its session ends.
 *
 * @example
 * await belay.session(async (s) => {
 *   const led = await s.proxy("machine.Pin(25, machine.Pin.OUT)")
 *   await led.on()
 *   console.log(await led.value()) // 1
 *   await led.value(0)
 * })
 * @since 0.1.0
 */
export type RemoteObject<T = unknown> = RemoteObjectMembers &
  ((...args: ReadonlyArray<unknown>) => Promise<RemoteValue>) &
  // biome-ignore lint/suspicious/noExplicitAny: an undescribed object's attributes are whatever the board has
  (unknown extends T ? { readonly [name: string]: any } : RemoteShape<T>)

/**
 * How the facade runs an effect (typed failures rejected as `BelayError`).
 *
 * @example
 * const run: RunEffect = (effect) => belay.run(effect)
 * @since 0.1.0
 */
export type RunEffect = <A, E>(effect: Effect.Effect<A, E>) => Promise<A>

/** The value with handles wrapped as remote objects. */
const wrap = (run: RunEffect, value: unknown): RemoteValue =>
  value instanceof BoardProxy ? remoteObject(run, value) : (value as PythonValue)

/** A step of a member path: an attribute name, or an index (`list[0]`). */
const stepOf = (name: string): string | number => (/^(0|-?[1-9]\d*)$/.test(name) ? Number(name) : name)

/** Names JavaScript asks of objects by itself: never board attributes. */
const NOT_MEMBERS = new Set(["then", "toJSON", "toString", "valueOf", "constructor", "inspect"])

const inspect = Symbol.for("nodejs.util.inspect.custom")

const rejectSet = (name: PropertyKey): never => {
  throw new TypeError(
    `board attributes are set with await object.$set(${JSON.stringify(String(name))}, value), not by assignment`,
  )
}

/** An attribute path not read yet: callable (a call), thenable (a read), and extensible. */
const member = (run: RunEffect, handle: BoardProxy, path: ReadonlyArray<string | number>): RemoteMember => {
  const read = () => run(Effect.map(handle.get(path), (v) => wrap(run, v)))
  const target = (..._args: ReadonlyArray<unknown>) => undefined
  return new Proxy(target, {
    apply: (_t, _this, args: ReadonlyArray<unknown>) =>
      run(Effect.map(handle.callWith(path, { args }), (v) => wrap(run, v))),
    get: (_t, name) => {
      if (name === "then") {
        return (onFulfilled?: (v: RemoteValue) => unknown, onRejected?: (e: unknown) => unknown) =>
          read().then(onFulfilled, onRejected)
      }
      if (name === "catch") return (onRejected?: (e: unknown) => unknown) => read().catch(onRejected)
      if (name === "finally") return (onFinally?: () => void) => read().finally(onFinally)
      if (typeof name === "symbol") {
        return name === inspect
          ? () => `RemoteMember(${handle.typeName}#${handle.proxyId} ${path.join(".")})`
          : undefined
      }
      return member(run, handle, [...path, stepOf(name)])
    },
    set: (_t, name) => rejectSet(name),
  }) as unknown as RemoteMember
}

/**
 * Wrap a handle for Promise code.
 *
 * @example
 * const led = remoteObject((e) => belay.run(e), handle)
 * await led.on()
 * @since 0.1.0
 */
export const remoteObject = (run: RunEffect, handle: BoardProxy): RemoteObject => {
  const iterate = <A>(options?: ProxyIterateOptions<A>): AsyncIterable<A> => ({
    [Symbol.asyncIterator]: (): AsyncIterator<A> => {
      // The board's iterator, opened on the first `next`; items a batch at a time.
      let opened: Promise<ProxyIterator<A>> | undefined
      let buffer: ReadonlyArray<A> = []
      let at = 0
      const iterator = () => {
        opened ??= run(handle.iterator(options))
        return opened
      }
      return {
        next: async (): Promise<IteratorResult<A>> => {
          while (at >= buffer.length) {
            const batch = await run((await iterator()).next)
            if (batch === undefined) return { done: true, value: undefined }
            buffer = batch
            at = 0
          }
          return { done: false, value: wrap(run, buffer[at++]) as A }
        },
        // `break` out of `for await`: the board's iterator is dropped with the next exchange.
        return: async (): Promise<IteratorResult<A>> => {
          if (opened !== undefined) await run((await opened).close)
          return { done: true, value: undefined }
        },
      }
    },
  })
  const members: Record<string, unknown> = {
    $id: handle.proxyId,
    $type: handle.typeName,
    $handle: handle,
    $get: (path: ProxyPath, schema?: BoardSchema<unknown>) =>
      run(
        schema === undefined ? Effect.map(handle.get(path), (v) => wrap(run, v)) : handle.get(path, schema),
      ),
    $ref: (path: ProxyPath) => run(Effect.map(handle.ref(path), (v) => remoteObject(run, v))),
    $set: (path: ProxyPath, value: unknown) => run(handle.set(path, value)),
    $call: (path: ProxyPath, options: ProxyCallOptions<unknown> = {}) =>
      run(
        Effect.map(handle.callWith(path, options), (v) => (options.result === undefined ? wrap(run, v) : v)),
      ),
    $index: (key: unknown, schema?: BoardSchema<unknown>) =>
      run(
        schema === undefined ? Effect.map(handle.index(key), (v) => wrap(run, v)) : handle.index(key, schema),
      ),
    $setIndex: (key: unknown, value: unknown) => run(handle.setIndex(key, value)),
    $value: (schema?: BoardSchema<unknown>) =>
      run(schema === undefined ? handle.value() : handle.value(schema)),
    $iterate: iterate,
    $release: () => run(handle.release),
  }
  const target = (..._args: ReadonlyArray<unknown>) => undefined
  return new Proxy(target, {
    apply: (_t, _this, args: ReadonlyArray<unknown>) =>
      run(Effect.map(handle.invokeWith({ args }), (v) => wrap(run, v))),
    get: (_t, name) => {
      if (typeof name === "symbol") {
        if (name === Symbol.asyncIterator) return () => iterate()[Symbol.asyncIterator]()
        if (name === Symbol.asyncDispose) return () => run(handle.release)
        if (name === inspect) return () => `RemoteObject(${handle.typeName}#${handle.proxyId})`
        // The handle, for argument encoding (the key is the executors' own symbol).
        return (handle as unknown as Record<symbol, unknown>)[name]
      }
      if (name === "$released") return handle.isReleased
      if (name in members) return members[name]
      if (name === "toString") return () => `RemoteObject(${handle.typeName}#${handle.proxyId})`
      if (NOT_MEMBERS.has(name)) return undefined
      return member(run, handle, [stepOf(name)])
    },
    set: (_t, name) => rejectSet(name),
  }) as unknown as RemoteObject
}

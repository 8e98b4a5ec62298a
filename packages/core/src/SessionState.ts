import { Option } from "effect"

/**
 * A typed key for `SessionState`. Two keys with the same name are the same slot.
 *
 * @example
 * const Calibration = SessionStateKey<{ offset: number }>("calibration")
 * session.state.set(Calibration, { offset: 3 })
 */
export interface SessionStateKey<A> {
  readonly name: string
  /** Phantom: the type of the value stored under this key. */
  readonly _A?: (a: A) => A
}

/** Make a typed key for `SessionState`. */
export const SessionStateKey = <A>(name: string): SessionStateKey<A> => ({ name })

/**
 * Per-session key/value storage for operations (the seed's `SessionState`). It lives and dies
 * with its session.
 *
 * @example
 * const Count = SessionStateKey<number>("count")
 * session.state.update(Count, (n) => Option.getOrElse(n, () => 0) + 1)
 */
export class SessionState {
  private readonly values = new Map<string, unknown>()

  get<A>(key: SessionStateKey<A>): Option.Option<A> {
    return this.values.has(key.name) ? Option.some(this.values.get(key.name) as A) : Option.none()
  }

  set<A>(key: SessionStateKey<A>, value: A): void {
    this.values.set(key.name, value)
  }

  update<A>(key: SessionStateKey<A>, f: (current: Option.Option<A>) => A): A {
    const next = f(this.get(key))
    this.values.set(key.name, next)
    return next
  }

  has(key: SessionStateKey<unknown>): boolean {
    return this.values.has(key.name)
  }

  delete(key: SessionStateKey<unknown>): boolean {
    return this.values.delete(key.name)
  }

  get size(): number {
    return this.values.size
  }

  keys(): ReadonlyArray<string> {
    return [...this.values.keys()]
  }

  /** @internal at session end */
  clear(): void {
    this.values.clear()
  }
}

import { Option } from "effect"

/**
 * A typed key for a `StateStore`. Two keys with the same name are the same slot, so a package
 * names its keys after itself (`"@belay/executors/BoardView"`).
 *
 * @example
 * const Calibration = StateKey<{ offset: number }>("calibration")
 * store.set(Calibration, { offset: 3 })
 *
 * @since 0.1.0
 */
export interface StateKey<A> {
  readonly name: string
  /** Phantom: the type of the value stored under this key. */
  readonly _A?: (a: A) => A
}

/**
 * Make a typed key for a `StateStore`.
 *
 * @example
 * const Count = StateKey<number>("count")
 */
export const StateKey = <A>(name: string): StateKey<A> => ({ name })

/**
 * Values held under typed keys for as long as what owns the store lives: a board connection
 * (`DeviceCommunicationShape.connectionState`) or a session (`SessionState` in `@belay/core`).
 * The map is made on first write, so an unused store costs one small object.
 *
 * @example
 * const Seen = StateKey<Set<string>>("@my/pkg/seen")
 * const seen = device.connectionState.getOrCreate(Seen, () => new Set())
 *
 * @since 0.1.0
 */
export class StateStore {
  private values: Map<string, unknown> | undefined = undefined

  get<A>(key: StateKey<A>): Option.Option<A> {
    const values = this.values
    return values?.has(key.name) ? Option.some(values.get(key.name) as A) : Option.none()
  }

  /** The value under `key`, or `undefined` when there is none (no `Option` on hot paths). */
  getOrUndefined<A>(key: StateKey<A>): A | undefined {
    return this.values?.get(key.name) as A | undefined
  }

  set<A>(key: StateKey<A>, value: A): void {
    this.values ??= new Map()
    this.values.set(key.name, value)
  }

  update<A>(key: StateKey<A>, f: (current: Option.Option<A>) => A): A {
    const next = f(this.get(key))
    this.set(key, next)
    return next
  }

  /**
   * The value under `key`, made by `make` and stored when there is none.
   *
   * @example
   * const log = session.state.getOrCreate(Log, () => [] as string[])
   */
  getOrCreate<A>(key: StateKey<A>, make: () => A): A {
    const values = this.values
    if (values?.has(key.name)) return values.get(key.name) as A
    const value = make()
    this.set(key, value)
    return value
  }

  has<A>(key: StateKey<A>): boolean {
    return this.values?.has(key.name) ?? false
  }

  delete<A>(key: StateKey<A>): boolean {
    return this.values?.delete(key.name) ?? false
  }

  get size(): number {
    return this.values?.size ?? 0
  }

  keys(): ReadonlyArray<string> {
    return this.values ? [...this.values.keys()] : []
  }

  /** Drop every value (what owns the store ended). */
  clear(): void {
    this.values = undefined
  }
}

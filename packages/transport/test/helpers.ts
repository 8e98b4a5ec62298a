import { Effect, type Scope } from "effect"

/** Run a scoped effect to a promise; the scope closes when it ends. */
export const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect))

/** Run a scoped effect and return its failure (or throw if it succeeded). */
export const runFailure = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<E> =>
  Effect.runPromise(Effect.scoped(Effect.flip(effect)))

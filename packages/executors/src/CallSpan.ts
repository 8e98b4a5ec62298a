import { Effect, Tracer } from "effect"

/**
 * Run `effect` as a child span named `name`. The span is what `Effect.withSpan` makes, without
 * the stack frame `withSpan` also puts on the fiber: with a stack frame there, each fiber the
 * transport interrupts during the exchange (the losers of its timeout races) gets its cause
 * annotated, and on a cached call that costs more than all the executor's own work.
 *
 * @internal
 */
export const inSpan = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  name: string,
  attributes: Record<string, unknown>,
): Effect.Effect<A, E, R> =>
  Effect.useSpan(name, { attributes }, (span) => Effect.provideService(effect, Tracer.ParentSpan, span))

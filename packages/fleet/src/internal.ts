/**
 * Small helpers of the package's own (not exported from the index).
 */
import { Cause, Effect, Layer } from "effect"

/** A layer that fails with `error` when built (so it provides nothing, whatever it claims). */
export const failLayer = <E, A = never>(error: E): Layer.Layer<A, E> =>
  Layer.effectDiscard(Effect.fail(error)) as unknown as Layer.Layer<A, E>

/** The same layer, its typed failures mapped by `f`. */
export const mapLayerError =
  <E, E2>(f: (error: E) => E2) =>
  <A, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, E2, R> =>
    Layer.catchCause(layer, (cause) =>
      Layer.effectDiscard(Effect.failCause(Cause.map(cause, f))),
    ) as Layer.Layer<A, E2, R>

/** The tag of a tagged error, else `Error`. */
export const tagOf = (error: unknown): string => {
  const tag = (error as { _tag?: unknown } | null)?._tag
  return typeof tag === "string" ? tag : "Error"
}

/** The message of an error, else its text. */
export const messageOf = (error: unknown): string => {
  const message = (error as { message?: unknown } | null)?.message
  return typeof message === "string" ? message : String(error)
}

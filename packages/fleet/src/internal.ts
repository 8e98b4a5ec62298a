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

/**
 * JSON that carries bytes: a `Uint8Array` becomes `{"$bytes": "<base64>"}`; functions and
 * `undefined` are left out (a progress callback in options does not cross).
 */
export const encodeJson = (value: unknown): string =>
  JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    const original = (this as Record<string, unknown>)[key]
    if (original instanceof Uint8Array) return { $bytes: Buffer.from(original).toString("base64") }
    if (typeof v === "bigint") return Number(v)
    return v
  }) ?? "null"

/** The inverse of `encodeJson`. */
export const decodeJson = (text: string): unknown =>
  JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const bytes = (v as { $bytes?: unknown }).$bytes
      if (typeof bytes === "string" && Object.keys(v).length === 1)
        return new Uint8Array(Buffer.from(bytes, "base64"))
    }
    return v
  })

/** An error's own plain fields as JSON (not its cause, not functions), for the wire. */
export const errorDetail = (error: unknown): string | undefined => {
  if (error === null || typeof error !== "object") return undefined
  const fields: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(error)) {
    if (key === "cause" || key === "_tag" || key === "stack") continue
    if (value === null || ["string", "number", "boolean"].includes(typeof value)) fields[key] = value
    else if (Array.isArray(value) && value.every((v) => typeof v === "string" || typeof v === "number"))
      fields[key] = value
  }
  return Object.keys(fields).length === 0 ? undefined : JSON.stringify(fields)
}

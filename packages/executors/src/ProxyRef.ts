/**
 * How a proxy handle stands in the arguments of a call: the argument codec finds handles (the
 * Effect handle, or anything that answers the {@link proxyRefKey} property with one, such as the
 * Promise facade's `Proxy`), writes the board's registry lookup in their place, and hands them
 * to the caller, which checks that each belongs to the calling session and board before sending.
 * Kept apart from `Proxy.ts` so that the codec does not depend on the proxy operations.
 *
 * @internal
 */
import type { DeviceSession } from "@belay/core"
import type { StaleProxyError } from "./errors.js"

/** The property a handle (or a wrapper of one) answers with the handle. */
export const proxyRefKey: unique symbol = Symbol("@belay/executors/ProxyRef")

/** What the codec and the call paths need of a handle. */
export interface ProxyRef {
  readonly proxyId: number
  /**
   * Why the handle cannot be used in `session` on the board at `generation`, or `undefined`
   * when it can.
   */
  readonly staleIn: (session: DeviceSession, generation: number) => StaleProxyError | undefined
}

/** The handle `value` is or wraps, if any. */
export const proxyRefOf = (value: unknown): ProxyRef | undefined => {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return undefined
  const ref = (value as { readonly [proxyRefKey]?: unknown })[proxyRefKey]
  return typeof ref === "object" && ref !== null && typeof (ref as ProxyRef).proxyId === "number"
    ? (ref as ProxyRef)
    : undefined
}

/** The board expression for a handle's object. */
export const lookupCode = (proxyId: number): string => `_belay_pg(${proxyId})`

import { Effect } from "effect"
import type { SessionError } from "./errors.js"
import type { ResourceTracker } from "./ResourceTracker.js"

/**
 * What executors need from a session (the seed's `IExecutorContext`): the deployment cache and
 * thread ids.
 *
 * @example
 * if (!ctx.isMethodDeployed(sig, hash)) { yield* deploy; yield* ctx.registerMethodDeployment(sig, hash) }
 */
export interface ExecutorContext {
  readonly sessionId: string
  readonly resourceTracker: ResourceTracker
  readonly isMethodDeployed: (signature: string, codeHash: Uint8Array) => boolean
  readonly registerMethodDeployment: (
    signature: string,
    codeHash: Uint8Array,
  ) => Effect.Effect<void, SessionError>
  /** A thread id unique in this session, e.g. `sampler-3`. */
  readonly allocateThreadId: (methodName: string) => Effect.Effect<string>
}

/** @internal */
export const makeExecutorContext = (sessionId: string, tracker: ResourceTracker): ExecutorContext => {
  let next = 0
  return {
    sessionId,
    resourceTracker: tracker,
    isMethodDeployed: (signature, codeHash) => tracker.isMethodDeployed(signature, codeHash),
    registerMethodDeployment: (signature, codeHash) => tracker.registerDeployedMethod(signature, codeHash),
    allocateThreadId: (methodName) => Effect.sync(() => `${methodName}-${++next}`),
  }
}

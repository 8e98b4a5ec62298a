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

/**
 * @internal One small object per session. Members are prototype getters handing out functions
 * bound to the session, so they work when passed around on their own, and cost nothing per
 * session until used.
 */
class ExecutorContextImpl implements ExecutorContext {
  private next = 0
  constructor(readonly resourceTracker: ResourceTracker) {}

  get sessionId(): string {
    return this.resourceTracker.sessionId
  }

  get isMethodDeployed(): ExecutorContext["isMethodDeployed"] {
    return (signature, codeHash) => this.resourceTracker.isMethodDeployed(signature, codeHash)
  }

  get registerMethodDeployment(): ExecutorContext["registerMethodDeployment"] {
    return (signature, codeHash) => this.resourceTracker.registerDeployedMethod(signature, codeHash)
  }

  get allocateThreadId(): ExecutorContext["allocateThreadId"] {
    return (methodName) => Effect.sync(() => `${methodName}-${++this.next}`)
  }
}

/** @internal */
export const makeExecutorContext = (tracker: ResourceTracker): ExecutorContext =>
  new ExecutorContextImpl(tracker)

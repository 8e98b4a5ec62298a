/**
 * What the executors remember per session: the board threads it started, the functions it
 * deployed or verified on the board, and its thread ids. Kept in the session's state (one
 * object per session, made on first use), which the session drops when it ends; it reads as
 * empty once the session's cleanup began, and forgets what a board reset ended (its RAM,
 * threads and functions are gone). The thread stops themselves are resources of the session,
 * cleaned up by its scope. No finalizer of its own: one on the session's scope would double
 * what a session that deploys a function costs (about 460 bytes more, measured).
 */
import {
  type DeviceSession,
  type ResourceCleanupError,
  type ResourceHandle,
  SessionError,
  SessionStateKey,
} from "@belay/core"
import { Effect } from "effect"
import { type ProxyStats, proxyStatsOf } from "./ProxyStats.js"

/**
 * A background thread running on the board for a session.
 *
 * @example
 * const [thread] = executorContext(session).activeThreads()
 * thread?.methodName // "sampler"
 *
 * @since 0.1.0
 */
export interface BackgroundThreadInfo {
  readonly threadId: string
  readonly methodName: string
  readonly registeredAt: Date
  readonly sessionId: string
}

/**
 * A function deployed on the board for a session: its registry key (signature) and code hash.
 *
 * @example
 * executorContext(session).deployedMethods().map((m) => m.signature) // ["add"]
 *
 * @since 0.1.0
 */
export interface DeployedMethodInfo {
  readonly signature: string
  readonly codeHash: Uint8Array
  readonly deployedAt: Date
  readonly sessionId: string
}

/**
 * What executors need from a session: the record of deployed functions, the session's board
 * threads, and thread ids.
 *
 * @example
 * const ctx = executorContext(session)
 * if (!ctx.isMethodDeployed(sig, hash)) { yield* deploy; yield* ctx.registerMethodDeployment(sig, hash) }
 *
 * @since 0.1.0
 */
export interface ExecutorContext {
  readonly sessionId: string
  /** The function `signature` with this code hash is on the board for this session (since its last reset). */
  readonly isMethodDeployed: (signature: string, codeHash: Uint8Array) => boolean
  readonly registerMethodDeployment: (
    signature: string,
    codeHash: Uint8Array,
  ) => Effect.Effect<void, SessionError>
  /** A thread id unique in this session, e.g. `sampler-3`. */
  readonly allocateThreadId: (methodName: string) => Effect.Effect<string>
  /**
   * Record a board thread. `stop` (set its stop flag and wait for it) is a resource of the
   * session (type `BackgroundThread`, lost on reset): it runs when the session ends unless the
   * thread is unregistered first. On an ended session `stop` runs at once and this fails.
   */
  readonly registerBackgroundThread: (
    threadId: string,
    methodName: string,
    stop?: Effect.Effect<void, unknown>,
  ) => Effect.Effect<void, SessionError | ResourceCleanupError>
  /** The thread ended on its own: forget it (its stop is not run). */
  readonly unregisterBackgroundThread: (threadId: string) => Effect.Effect<void>
  /** The session's threads running on the board (none after a board reset or the session's end). */
  readonly activeThreads: () => ReadonlyArray<BackgroundThreadInfo>
  /** The functions this session deployed or verified since the board's last reset. */
  readonly deployedMethods: () => ReadonlyArray<DeployedMethodInfo>
  /** The session's proxy handles: live, created, released (all zero once it ended). */
  readonly proxies: () => ProxyStats
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"))

// Built with join so a stored key is one flat string (concatenation would keep a rope of small pieces alive).
const methodKey = (signature: string, codeHash: Uint8Array): string => {
  const parts: string[] = [signature, "\u0000"]
  for (const b of codeHash) parts.push(HEX[b]!)
  return parts.join("")
}

// A lookup key lives only for the lookup (checked on every task call): plain concatenation is
// cheaper than building an array to join.
const methodLookupKey = (signature: string, codeHash: Uint8Array): string => {
  let key = `${signature}\u0000`
  for (let i = 0; i < codeHash.length; i++) key += HEX[codeHash[i]!]!
  return key
}

/** A deployed function, kept small: the key joins signature and hex hash. */
class MethodRecord implements DeployedMethodInfo {
  constructor(
    readonly context: ExecutorContextImpl,
    readonly key: string,
    readonly signatureLength: number,
    readonly deployedAtMs: number,
  ) {}
  get signature(): string {
    return this.key.slice(0, this.signatureLength)
  }
  get codeHash(): Uint8Array {
    const hex = this.key.slice(this.signatureLength + 1)
    const out = new Uint8Array(hex.length / 2)
    for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
    return out
  }
  get deployedAt(): Date {
    return new Date(this.deployedAtMs)
  }
  get sessionId(): string {
    return this.context.sessionId
  }
}

interface ThreadRecord {
  readonly info: BackgroundThreadInfo
  /** The stop, as a resource of the session. */
  readonly stop: ResourceHandle | undefined
  /** `session.boardResets` when the thread started: a later reset ended it. */
  readonly resets: number
}

/**
 * @internal One object per session, made on first use. Members are prototype getters handing
 * out functions bound to the session, so they work when passed around on their own.
 */
class ExecutorContextImpl implements ExecutorContext {
  private next = 0
  private methods: Map<string, MethodRecord> | undefined = undefined
  /** `session.boardResets` the method record belongs to: a later reset empties it. */
  private methodResets = 0
  private threads: Map<string, ThreadRecord> | undefined = undefined

  constructor(readonly session: DeviceSession) {}

  get sessionId(): string {
    return this.session.sessionId
  }

  private ended(attempted: string): SessionError {
    return new SessionError({
      sessionId: this.sessionId,
      reason: `cannot ${attempted}: the session has ended`,
      recoverable: true,
    })
  }

  /**
   * The session's cleanup began: nothing more is recorded. (An active session has not; only an
   * ending one needs its tracker asked.)
   */
  private get hasEnded(): boolean {
    return !this.session.isActive && this.session.resources.isClosed
  }

  /** The deployed-method record, emptied when the board reset since it was written. */
  private liveMethods(): Map<string, MethodRecord> | undefined {
    const methods = this.methods
    if (methods !== undefined && this.methodResets !== this.session.boardResets) {
      methods.clear()
      this.methodResets = this.session.boardResets
    }
    return methods
  }

  get isMethodDeployed(): ExecutorContext["isMethodDeployed"] {
    return (signature, codeHash) => {
      const methods = this.liveMethods()
      return (methods?.has(methodLookupKey(signature, codeHash)) ?? false) && !this.hasEnded
    }
  }

  get registerMethodDeployment(): ExecutorContext["registerMethodDeployment"] {
    return (signature, codeHash) =>
      Effect.suspend(() => {
        if (this.hasEnded) return Effect.fail(this.ended(`register method ${signature}`))
        const methods = this.liveMethods() ?? new Map<string, MethodRecord>()
        if (this.methods === undefined) {
          this.methods = methods
          this.methodResets = this.session.boardResets
        }
        const key = methodKey(signature, codeHash)
        methods.set(key, new MethodRecord(this, key, signature.length, Date.now()))
        return Effect.void
      })
  }

  get allocateThreadId(): ExecutorContext["allocateThreadId"] {
    return (methodName) => Effect.sync(() => `${methodName}-${++this.next}`)
  }

  get registerBackgroundThread(): ExecutorContext["registerBackgroundThread"] {
    return (threadId, methodName, stop) =>
      Effect.gen({ self: this }, function* () {
        const session = this.session
        const handle =
          stop === undefined
            ? undefined
            : // On an ended session this runs `stop` at once and fails.
              yield* session.resources.track("BackgroundThread", stop, {
                resourceId: threadId,
                lostOnReset: true,
              })
        if (handle === undefined && this.hasEnded) {
          return yield* this.ended(`register thread ${threadId}`)
        }
        this.threads ??= new Map()
        this.threads.set(threadId, {
          info: { threadId, methodName, registeredAt: new Date(), sessionId: session.sessionId },
          stop: handle,
          resets: session.boardResets,
        })
        yield* Effect.logDebug("Background thread registered").pipe(
          Effect.annotateLogs({ threadId, method: methodName, sessionId: session.sessionId }),
        )
      })
  }

  get unregisterBackgroundThread(): ExecutorContext["unregisterBackgroundThread"] {
    return (threadId) =>
      Effect.suspend(() => {
        const record = this.threads?.get(threadId)
        this.threads?.delete(threadId)
        return record?.stop ? record.stop.forget : Effect.void
      })
  }

  get activeThreads(): ExecutorContext["activeThreads"] {
    return () => {
      const threads = this.threads
      if (threads === undefined || this.hasEnded) return []
      const out: BackgroundThreadInfo[] = []
      for (const [threadId, record] of threads) {
        // A board reset ended it (its stop was dropped with the board's RAM).
        if (
          record.resets !== this.session.boardResets ||
          (record.stop !== undefined && !record.stop.isLive)
        ) {
          threads.delete(threadId)
        } else out.push(record.info)
      }
      return out
    }
  }

  get proxies(): ExecutorContext["proxies"] {
    return () => proxyStatsOf(this.session)
  }

  get deployedMethods(): ExecutorContext["deployedMethods"] {
    return () => {
      const methods = this.liveMethods()
      return methods && !this.hasEnded ? [...methods.values()] : []
    }
  }
}

const ExecutorContextKey = SessionStateKey<ExecutorContext>("@belay/executors/ExecutorContext")

/**
 * The executor context of a session (made on first use; the same object after).
 *
 * @example
 * const ctx = executorContext(session)
 * ctx.activeThreads() // the session's board threads
 *
 * @since 0.1.0
 */
export const executorContext = (session: DeviceSession): ExecutorContext =>
  session.state.getOrCreate(ExecutorContextKey, () => new ExecutorContextImpl(session))

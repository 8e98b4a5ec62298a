/**
 * What a session holds of the board's proxy registry, and what this process knows of the ids it
 * handed out on a board connection.
 *
 * The board keeps every proxied object in one dict, `_belay_p` (`python/proxy.py`), under an int
 * id the host chooses. Ids come from a counter per board connection that starts at a random
 * point and only goes up, so an id is never used twice: a handle whose object the board lost (a
 * reset the host did not see) finds nothing under its id, never another object.
 *
 * Per session the host keeps the ids the board may hold for it:
 *
 * - `live`: ids of handles not yet released;
 * - `extra`: ids whose outcome is not known yet (an exchange in flight that may keep an object
 *   there) and iterators of streams being read;
 * - `pending`: ids to drop from the board at the session's next proxy exchange (released handles,
 *   handles the host garbage-collected, ids an exchange that failed may have used).
 *
 * The whole set is dropped when the session ends, by one tracked resource of the session
 * (`ProxyRegistry`), registered before the first object is kept: whatever happens to the
 * exchanges in between, the board's registry holds nothing of the session afterwards.
 *
 * @internal
 */
import { type DeviceSession, type ResourceHandle, SessionError } from "@belay/core"
import {
  type DeviceCommunicationShape,
  execChecked,
  type ProtocolError,
  type PythonError,
  StateKey,
} from "@belay/transport"
import { Effect } from "effect"
import { makeUnit } from "./Deployment.js"
import { type ProxyStats, SessionProxiesKey } from "./ProxyStats.js"
import { PythonSource } from "./PythonSource.js"
import { PROXY, PROXY_ITER } from "./python/embedded.js"

/**
 * The board side of proxies (`python/proxy.py`, minified at build time): the registry
 * `_belay_p`, `_belay_pg(id)` (the object, or a `KeyError` naming `_belay_stale`),
 * `_belay_pe(id, value)` (`(0, value)` for a plain value, else kept at `id` as `(1, type)`),
 * `_belay_pk(id, value)` (always kept), `_belay_pd(ids)` (drop).
 */
export const PROXY_RUNTIME = PythonSource.of(PROXY.code)

/**
 * The board side of iteration (`python/proxy_iter.py`): `_belay_pb(mark, id, base, n)` frames
 * the next `n` items of the iterator kept at `id`. Apart from the rest, so that a small board
 * compiles one at a time.
 */
export const PROXY_ITER_RUNTIME = PythonSource.of(PROXY_ITER.code)

/** The proxy runtime as a deploy unit: deployed once per board (again after a reset). */
export const proxyUnit = makeUnit("_belay_proxy", PROXY_RUNTIME)

/** The iteration runtime, deployed when a session first iterates on the board. */
export const proxyIterUnit = makeUnit("_belay_proxy_iter", PROXY_ITER_RUNTIME)

/** At most this many ids are dropped in one exchange (a small board compiles the list). */
export const DROP_CHUNK = 48

/** The next id this process hands out on a board connection. */
interface IdCounter {
  next: number
}

const IdCounterKey = StateKey<IdCounter>("@belay/executors/ProxyIds")

/** Start below 2^28: ids stay MicroPython small ints (no heap) for hundreds of millions of ids. */
const ID_START_RANGE = 2 ** 28

/** `count` fresh ids on this board connection (consecutive); the first one. */
export const allocateIds = (device: DeviceCommunicationShape, count: number): number => {
  const counter = device.connectionState.getOrCreate(IdCounterKey, () => ({
    next: 1 + Math.floor(Math.random() * ID_START_RANGE),
  }))
  const first = counter.next
  counter.next += count
  return first
}

/** `(1,2,3)`: ids as a Python tuple. */
export const idTuple = (ids: ReadonlyArray<number>): string =>
  ids.length === 1 ? `(${ids[0]},)` : `(${ids.join(",")})`

/**
 * Code that drops `ids` from the registry without needing the runtime on the board (and leaving
 * no global): what the session's end sends.
 */
export const dropCode = (ids: ReadonlyArray<number>): string =>
  `(lambda d:[d.pop(i,None) for i in ${idTuple(ids)}])(globals().get('_belay_p',{}))`

/** The session's proxy state, made on first use (it is emptied when the session ends). */
export const sessionProxies = (session: DeviceSession): SessionProxies =>
  session.state.getOrCreate(SessionProxiesKey, () => new SessionProxies(session))

/** @internal one session's part of the board's proxy registry */
export class SessionProxies {
  /** Ids of handles made and not released. */
  readonly live = new Set<number>()
  /** Ids the board may hold for the session that no handle stands for (in flight, iterators). */
  readonly extra = new Set<number>()
  /** Ids to drop at the next exchange. */
  pending: number[] = []
  created = 0
  released = 0
  /** The board generation the live ids belong to. */
  generation: number | undefined = undefined
  /** The session resource that drops everything at the session's end. */
  private tracked: ResourceHandle | undefined = undefined
  /** Host-side collection of handles: their ids join `pending`. */
  private finalizers: FinalizationRegistry<number> | undefined = undefined

  constructor(readonly session: DeviceSession) {}

  stats(): ProxyStats {
    return {
      live: this.live.size,
      created: this.created,
      released: this.released,
      pendingRelease: this.pending.length,
    }
  }

  /**
   * The board is at `generation`: when it changed since the live ids were made, the board lost
   * them (their handles are stale); they are dropped anyway at the next exchange, in case one
   * was kept after the reset.
   */
  observe(generation: number): void {
    if (this.generation === generation) return
    if (this.generation !== undefined) {
      this.released += this.live.size
      for (const id of this.live) this.pending.push(id)
      this.live.clear()
    }
    this.generation = generation
  }

  /** A new handle at `id`: counted, and watched for host-side collection. */
  adopt(id: number, handle: object): void {
    this.extra.delete(id)
    this.live.add(id)
    this.created++
    this.finalizers ??= new FinalizationRegistry((collected) => this.release(collected))
    this.finalizers.register(handle, id, handle)
  }

  /** The handle at `id` is released (explicitly or collected): drop its object at the next exchange. */
  release(id: number, handle?: object): boolean {
    if (handle !== undefined) this.finalizers?.unregister(handle)
    if (!this.live.delete(id)) return false
    this.released++
    this.pending.push(id)
    return true
  }

  /** The board said it does not hold `id`: forget the handle without dropping anything. */
  forget(id: number): void {
    if (this.live.delete(id)) this.released++
  }

  /** Up to `max` pending ids, taken for the next exchange (give them back if it fails). */
  takePending(max = DROP_CHUNK): ReadonlyArray<number> {
    if (this.pending.length === 0) return EMPTY
    return this.pending.splice(0, max)
  }

  /** An exchange that carried `ids` to drop failed: drop them next time. */
  restore(ids: ReadonlyArray<number>): void {
    for (const id of ids) this.pending.push(id)
  }

  /**
   * The session resource that drops whatever the board holds for the session when it ends;
   * registered before the first object is kept. Fails when the session has ended.
   */
  ensureTracked(): Effect.Effect<void, SessionError> {
    if (this.tracked?.isLive === true) return Effect.void
    return this.session.resources
      .track("ProxyRegistry", this.dropAll(), { resourceId: "proxy-registry", estimatedCost: 0 })
      .pipe(
        Effect.flatMap((handle) => {
          // Two accesses registered at once: keep one (the other's cleanup has nothing of its own).
          if (this.tracked?.isLive === true) return handle.forget
          this.tracked = handle
          return Effect.void
        }),
        // Registering on an ended session runs the drop at once and fails with the session's error.
        Effect.catchTag("ResourceCleanupError", (error) => Effect.fail(sessionEnded(this.session, error))),
      )
  }

  /** At the session's end: drop every id of the session from the board, a chunk per exchange. */
  private dropAll(): Effect.Effect<void, PythonError | ProtocolError> {
    return Effect.suspend(() => {
      const ids = [...this.pending, ...this.live, ...this.extra]
      if (ids.length === 0) return Effect.void
      const chunks: number[][] = []
      for (let i = 0; i < ids.length; i += DROP_CHUNK) chunks.push(ids.slice(i, i + DROP_CHUNK))
      return Effect.forEach(
        chunks,
        (chunk) =>
          Effect.map(execChecked(this.session.device, dropCode(chunk)), () => {
            // Done only once the board dropped them: a cleanup tried again sends what is left.
            for (const id of chunk) {
              if (this.live.delete(id)) this.released++
              this.extra.delete(id)
            }
            const dropped = new Set(chunk)
            this.pending = this.pending.filter((id) => !dropped.has(id))
          }),
        { discard: true },
      )
    })
  }
}

const EMPTY: ReadonlyArray<number> = []

const sessionEnded = (session: DeviceSession, cause: unknown): SessionError =>
  new SessionError({
    sessionId: session.sessionId,
    reason: "cannot keep a board object: the session has ended",
    recoverable: true,
    cause,
  })

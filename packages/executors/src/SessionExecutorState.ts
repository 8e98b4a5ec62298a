import { type DeviceSession, SessionStateKey } from "@belay/core"
import { Semaphore } from "effect"

/** @internal what executors remember per session: setups run, teardowns registered */
export interface SessionExecutorState {
  /** Setup name to the reset generation (and code hash) it last ran at. */
  readonly setups: Map<string, { readonly generation: number; readonly hash: Uint8Array }>
  /** Teardown name to the reset generation it was registered at. */
  readonly teardowns: Map<string, number>
  /** Serialises setup runs and teardown registrations of the session. */
  readonly lock: Semaphore.Semaphore
}

const ExecutorStateKey = SessionStateKey<SessionExecutorState>("@belay/executors/SessionExecutorState")

/** @internal the session's executor state, made on first use; it ends with the session */
export const executorState = (session: DeviceSession): SessionExecutorState =>
  session.state.getOrCreate(ExecutorStateKey, () => ({
    setups: new Map(),
    teardowns: new Map(),
    lock: Semaphore.makeUnsafe(1),
  }))

import type { DeviceSession } from "@belay/core"
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

const states = new WeakMap<DeviceSession, SessionExecutorState>()

/** @internal */
export const executorState = (session: DeviceSession): SessionExecutorState => {
  let state = states.get(session)
  if (state === undefined) {
    state = { setups: new Map(), teardowns: new Map(), lock: Semaphore.makeUnsafe(1) }
    states.set(session, state)
  }
  return state
}

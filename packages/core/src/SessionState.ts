import { StateKey, StateStore } from "@belay/transport"

/**
 * A typed key for `SessionState`. Two keys with the same name are the same slot.
 *
 * @example
 * const Calibration = SessionStateKey<{ offset: number }>("calibration")
 * session.state.set(Calibration, { offset: 3 })
 *
 * @since 0.1.0
 */
export type SessionStateKey<A> = StateKey<A>

/**
 * Make a typed key for `SessionState`.
 *
 * @example
 * const Calibration = SessionStateKey<{ offset: number }>("calibration")
 */
export const SessionStateKey: <A>(name: string) => SessionStateKey<A> = StateKey

/**
 * State that lives as long as a session, under typed keys: what operations and the other
 * packages (executors, filesystem) remember per session. It is emptied when the session ends.
 * State that lives as long as the board connection is `session.device.connectionState`.
 *
 * @example
 * const Count = SessionStateKey<number>("count")
 * session.state.update(Count, (n) => Option.getOrElse(n, () => 0) + 1)
 * const log = session.state.getOrCreate(SessionStateKey<string[]>("log"), () => [])
 *
 * @since 0.1.0
 */
export class SessionState extends StateStore {}

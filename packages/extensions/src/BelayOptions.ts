import { loadSessionManagementOptions, type SessionManagementOptions } from "@belay/core"
import { Config, Effect } from "effect"
import { type BoardOptions, loadBoardOptions } from "./BoardOptions.js"

/**
 * Everything the composed stack needs: where the board is, the protocol engine's options and the
 * session manager's.
 *
 * @example
 * BelayLive({ device: "serial:/dev/ttyACM0", session: { maxConcurrentSessions: 2 } })
 * @since 0.1.0
 */
export interface BelayOptions extends BoardOptions {
  readonly session: Partial<SessionManagementOptions>
  /**
   * Send Python minified: task and module definitions, setups, teardowns (see `MinifyPython` in
   * `@belay/transport`). Default `true`; `BELAY_MINIFY=0` turns it off.
   */
  readonly minify: boolean
}

/**
 * The environment variables Belay reads:
 * `BELAY_DEVICE` (connection string, default `virtual`), `BELAY_EXEC_TIMEOUT` (e.g. `30s`, `500ms`; a bare number is milliseconds),
 * `BELAY_INTEGRITY` (`checked`, the default, or `unchecked`: see `ExecOptions.integrity` in
 * `@belay/transport`), `BELAY_MAX_OUTPUT_BYTES` (output `exec`/`eval` collect, default 16 MB; `64KB`, `16MB` or bytes),
 * `BELAY_VIRTUAL_DIR`, `BELAY_VIRTUAL_IDLE_TIMEOUT` (how long a kept virtual board stays without a client, e.g. `15m`), `BELAY_WEBREPL_PASSWORD` (a `ws://` board's WebREPL password),
 * `BELAY_SYNC_CLOCK` (`local` or `true`, `utc`, `false`: set the board's clock on connect), `BELAY_MINIFY` (`0` or `false` sends Python as written, not minified), and the session options of `@belay/core` (`BELAY_SESSION_TIMEOUT`,
 * `BELAY_MAX_SESSIONS`, `BELAY_SESSION_LIMIT`, `BELAY_SESSION_METRICS`, `BELAY_RESOURCE_TRACKING`,
 * `BELAY_CLEANUP_TIMEOUT`, `BELAY_FALLBACK_CAPABILITIES`).
 *
 * @example
 * const options = yield* loadBelayOptions({ device: "virtual" })
 * @since 0.1.0
 */
export const loadBelayOptions = (overrides: Partial<BelayOptions> = {}) =>
  Effect.gen(function* () {
    const board = yield* loadBoardOptions(overrides)
    const rest = yield* loadSessionOptions(overrides)
    return { ...board, ...rest } satisfies BelayOptions
  })

/**
 * The session manager's options and whether Python travels minified: what
 * {@link loadBelayOptions} reads beyond {@link loadBoardOptions}.
 *
 * @example
 * const { session, minify } = yield* loadSessionOptions({ session: { maxConcurrentSessions: 2 } })
 * @since 0.1.0
 */
export const loadSessionOptions = (overrides: Partial<Pick<BelayOptions, "session" | "minify">> = {}) =>
  Effect.gen(function* () {
    const minify = yield* Config.Boolean("BELAY_MINIFY").pipe(Config.withDefault(true))
    const session = yield* loadSessionManagementOptions(overrides.session)
    return { session, minify: overrides.minify ?? minify }
  })

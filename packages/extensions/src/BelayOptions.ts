import {
  ByteSizeConfig,
  DurationConfig,
  loadSessionManagementOptions,
  type SessionManagementOptions,
} from "@belay/core"
import type { RawReplOptions } from "@belay/transport"
import { Config, Duration, Effect, Option, type Redacted } from "effect"
import type { ClockZone } from "./BoardClock.js"

/**
 * Everything the composed stack needs: where the board is, the protocol engine's options and the
 * session manager's.
 *
 * @example
 * BelayLive({ device: "serial:/dev/ttyACM0", session: { maxConcurrentSessions: 2 } })
 * @since 0.1.0
 */
export interface BelayOptions {
  /** A connection string (see `parseConnectionString`). Default `virtual`. */
  readonly device: string
  readonly session: Partial<SessionManagementOptions>
  readonly protocol: RawReplOptions
  /** Where the virtual board keeps its flash; in memory when unset. */
  readonly virtualDir: string | undefined
  /**
   * `qemu:microbit` without `keep=`: keep the emulator running between processes (the CLI does),
   * rather than one of its own that stops with the stack (the default).
   */
  readonly keepQemu: boolean | undefined
  /**
   * `virtual` without `keep=`: use the virtual board kept running between processes (the CLI
   * does), rather than one in this process that powers off with the stack (the default).
   */
  readonly keepVirtual: boolean | undefined
  /** How long a kept virtual board started by this stack waits without a client before it exits, in ms (default 15 minutes). */
  readonly virtualIdleTimeoutMs: number | undefined
  /** The password of a `ws://` board's WebREPL (unless its connection string has one). */
  readonly webReplPassword: Redacted.Redacted<string> | undefined
  /**
   * Set the board's clock from the host's once the link is open (see `syncTime`): `"local"` (the
   * host's local time, as `belay rtc --set`) or `"utc"`; undefined, the default, leaves it alone.
   * A board without `machine.RTC` then fails the connection with `CapabilityMissingError`.
   */
  readonly syncClock: ClockZone | undefined
  /**
   * Send Python minified: task and module definitions, setups, teardowns (see `MinifyPython` in
   * `@belay/transport`). Default `true`; `BELAY_MINIFY=0` turns it off.
   */
  readonly minify: boolean
}

/** `BELAY_SYNC_CLOCK`'s words: a zone, yes (the local time) or no. */
const SYNC_CLOCK_WORDS = ["local", "utc", "true", "yes", "on", "1", "false", "no", "off", "0"] as const

const syncClockOf = (word: (typeof SYNC_CLOCK_WORDS)[number]): ClockZone | undefined =>
  word === "utc" ? "utc" : ["false", "no", "off", "0"].includes(word) ? undefined : "local"

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
    const device = yield* Config.String("BELAY_DEVICE").pipe(Config.withDefault("virtual"))
    const execTimeout = yield* Config.option(DurationConfig("BELAY_EXEC_TIMEOUT"))
    const virtualDir = yield* Config.option(Config.String("BELAY_VIRTUAL_DIR"))
    const virtualIdle = yield* Config.option(DurationConfig("BELAY_VIRTUAL_IDLE_TIMEOUT"))
    const webReplPassword = yield* Config.option(Config.Redacted("BELAY_WEBREPL_PASSWORD"))
    const integrity = yield* Config.option(Config.Literals(["checked", "unchecked"], "BELAY_INTEGRITY"))
    const maxOutput = yield* Config.option(ByteSizeConfig("BELAY_MAX_OUTPUT_BYTES"))
    const syncClock = yield* Config.option(Config.Literals(SYNC_CLOCK_WORDS, "BELAY_SYNC_CLOCK"))
    const minify = yield* Config.Boolean("BELAY_MINIFY").pipe(Config.withDefault(true))
    const session = yield* loadSessionManagementOptions(overrides.session)
    const protocol: RawReplOptions = {
      ...(Option.isSome(execTimeout) ? { execTimeoutMs: Duration.toMillis(execTimeout.value) } : {}),
      ...(Option.isSome(integrity) ? { integrity: integrity.value } : {}),
      ...(Option.isSome(maxOutput) ? { maxOutputBytes: maxOutput.value } : {}),
      ...overrides.protocol,
    }
    return {
      device: overrides.device ?? device,
      session,
      protocol,
      virtualDir: overrides.virtualDir ?? Option.getOrUndefined(virtualDir),
      keepQemu: overrides.keepQemu,
      keepVirtual: overrides.keepVirtual,
      virtualIdleTimeoutMs:
        overrides.virtualIdleTimeoutMs ??
        (Option.isSome(virtualIdle) ? Duration.toMillis(virtualIdle.value) : undefined),
      webReplPassword: overrides.webReplPassword ?? Option.getOrUndefined(webReplPassword),
      syncClock:
        "syncClock" in overrides
          ? overrides.syncClock
          : Option.isSome(syncClock)
            ? syncClockOf(syncClock.value)
            : undefined,
      minify: overrides.minify ?? minify,
    } satisfies BelayOptions
  })

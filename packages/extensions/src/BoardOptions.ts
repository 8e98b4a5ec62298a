import { ByteSizeConfig, DurationConfig } from "@belay/core"
import type { RawReplOptions } from "@belay/transport"
import { Config, Duration, Effect, Option, type Redacted } from "effect"
import type { ClockZone } from "./BoardClock.js"

/**
 * What the board's link and protocol engine need: where the board is, the engine's options, how
 * a virtual board or emulator is found, a WebREPL password, a clock to set on connect.
 *
 * @example
 * BelayBoardLive({ device: "serial:/dev/ttyACM0", protocol: { execTimeoutMs: 5000 } })
 * @since 0.1.0
 */
export interface BoardOptions {
  /** A connection string (see `parseConnectionString`). Default `virtual`. */
  readonly device: string
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
}

/** `BELAY_SYNC_CLOCK`'s words: a zone, yes (the local time) or no. */
const SYNC_CLOCK_WORDS = ["local", "utc", "true", "yes", "on", "1", "false", "no", "off", "0"] as const

const syncClockOf = (word: (typeof SYNC_CLOCK_WORDS)[number]): ClockZone | undefined =>
  word === "utc" ? "utc" : ["false", "no", "off", "0"].includes(word) ? undefined : "local"

/**
 * The options of the board's link and protocol engine only (no session manager): what
 * {@link loadBelayOptions} reads but `session` and `minify`.
 *
 * @example
 * const options = yield* loadBoardOptions({ device: "serial:/dev/ttyACM0" })
 * @since 0.1.0
 */
export const loadBoardOptions = (overrides: Partial<BoardOptions> = {}) =>
  Effect.gen(function* () {
    const device = yield* Config.String("BELAY_DEVICE").pipe(Config.withDefault("virtual"))
    const execTimeout = yield* Config.option(DurationConfig("BELAY_EXEC_TIMEOUT"))
    const virtualDir = yield* Config.option(Config.String("BELAY_VIRTUAL_DIR"))
    const virtualIdle = yield* Config.option(DurationConfig("BELAY_VIRTUAL_IDLE_TIMEOUT"))
    const webReplPassword = yield* Config.option(Config.Redacted("BELAY_WEBREPL_PASSWORD"))
    const integrity = yield* Config.option(Config.Literals(["checked", "unchecked"], "BELAY_INTEGRITY"))
    const maxOutput = yield* Config.option(ByteSizeConfig("BELAY_MAX_OUTPUT_BYTES"))
    const syncClock = yield* Config.option(Config.Literals(SYNC_CLOCK_WORDS, "BELAY_SYNC_CLOCK"))
    const protocol: RawReplOptions = {
      ...(Option.isSome(execTimeout) ? { execTimeoutMs: Duration.toMillis(execTimeout.value) } : {}),
      ...(Option.isSome(integrity) ? { integrity: integrity.value } : {}),
      ...(Option.isSome(maxOutput) ? { maxOutputBytes: maxOutput.value } : {}),
      ...overrides.protocol,
    }
    return {
      device: overrides.device ?? device,
      protocol,
      // Set empty, it counts as unset (a flash folder named "" is none).
      virtualDir: overrides.virtualDir ?? Option.getOrUndefined(Option.filter(virtualDir, (d) => d !== "")),
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
    } satisfies BoardOptions
  })

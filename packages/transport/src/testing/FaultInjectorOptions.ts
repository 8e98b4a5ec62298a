/**
 * What a fault injector is told and what it reports: the faults it can cause on the wire, the
 * resets it can cause on the board, their rates and aims, and the test's handle on it.
 */
import type { Effect, Scope } from "effect"
import type { ByteLink } from "../ByteLink.js"
import type { LinkClosedError } from "../errors.js"

/** What can go wrong on the wire. */
export type LinkFaultKind = "drop" | "duplicate" | "corrupt" | "delay" | "split" | "stall" | "disconnect"

/** A soft reset (RAM gone, back at the prompt) or a hard one (power-on banner, friendly REPL). */
export type BoardResetKind = "soft" | "hard"

/** Where in an exchange a reset or fault is aimed, as seen from the host's bytes. */
export type ExchangePhase = "enter-raw" | "raw-paste-negotiate" | "code" | "running" | "output" | "idle"

/**
 * Probability of each fault per chunk (one write, or one chunk received from the board), 0..1,
 * default 0.
 *
 * @example
 * const rates: LinkFaultRates = { drop: 0.01, split: 0.2, stall: 0.001 }
 */
export interface LinkFaultRates {
  /** Remove one random byte from the chunk. */
  readonly drop?: number
  /** Repeat one random byte (or a short run). */
  readonly duplicate?: number
  /** Flip bits of one random byte. */
  readonly corrupt?: number
  /** Hold the chunk back for `delayMs` (order preserved). */
  readonly delay?: number
  /** Cut the chunk into 2..4 pieces delivered separately (benign: must never break anything). */
  readonly split?: number
  /** Stop delivering in that direction for `stallMs`, then resume (order preserved). */
  readonly stall?: number
  /** The link is lost: `received` fails with `LinkLostError`, writes fail. */
  readonly disconnect?: number
}

/**
 * Settings of a fault injector.
 *
 * @example
 * const options: FaultInjectorOptions = {
 *   seed: 42,
 *   fromBoard: { corrupt: 0.01 },
 *   schedule: [{ direction: "toBoard", atByte: 100, fault: "drop" }],
 *   resets: { rate: 0.05, phases: ["running"], perform: (kind) => (kind === "hard" ? board.hardReset : board.softReset) },
 * }
 */
export interface FaultInjectorOptions {
  /** Same seed + same traffic => same faults. */
  readonly seed: number
  /** Faults on host->board bytes. */
  readonly toBoard?: LinkFaultRates
  /** Faults on board->host bytes. */
  readonly fromBoard?: LinkFaultRates
  /** Range of a delay in milliseconds, bounds included. Default [1, 20]. */
  readonly delayMs?: readonly [number, number]
  /** Range of a stall in milliseconds, bounds included. Default [50, 400]. */
  readonly stallMs?: readonly [number, number]
  /**
   * Faults at exact points, in addition to the random ones: the n-th byte (0-based, counted over
   * the injector's whole life) in a direction. A scheduled fault is skipped when its byte passes
   * while injection is off, or (from the board) while no view is connected.
   */
  readonly schedule?: ReadonlyArray<{
    readonly direction: "toBoard" | "fromBoard"
    readonly atByte: number
    readonly fault: LinkFaultKind
  }>
  /**
   * Board resets aimed at protocol phases. `perform` does the reset on the real board under test;
   * it is forked (never awaited by the byte path) as soon as the byte that entered the phase has
   * been delivered, so the board is in that phase when it resets. At most once per phase entry.
   */
  readonly resets?: {
    /** Probability per phase entry. */
    readonly rate: number
    /** Default: all but `"idle"`. */
    readonly phases?: ReadonlyArray<ExchangePhase>
    /** Default: both. */
    readonly kinds?: ReadonlyArray<BoardResetKind>
    readonly perform: (kind: BoardResetKind) => Effect.Effect<void>
  }
}

/** One fault the injector caused. */
export interface InjectedFault {
  readonly kind: LinkFaultKind | `reset-${BoardResetKind}`
  readonly direction?: "toBoard" | "fromBoard"
  readonly phase: ExchangePhase
  /** The byte the fault hit (or the phase was entered at), counted in its direction over the injector's life. */
  readonly atByte?: number
  /** How long a delay or stall holds the bytes back. */
  readonly durationMs?: number
}

/** Totals over the injector's whole life. */
export interface FaultCounts {
  /** Faults by kind (`drop`, ..., `reset-soft`, `reset-hard`). */
  readonly byKind: Readonly<Record<string, number>>
  readonly total: number
  /** Bytes the host wrote (before faults). */
  readonly bytesToBoard: number
  /** Bytes the board sent (before faults), connected or not. */
  readonly bytesFromBoard: number
}

/** The test's handle on a fault injector. */
export interface FaultInjector {
  /**
   * A fresh link view over the inner link. Only one is live at a time: connecting again ends the
   * previous view (its `received` ends). After an injected disconnect, `connect` gives service
   * back (a replugged cable); bytes the board sent while nothing was connected are lost, like a
   * real cable. Fails when the inner link is closed.
   */
  readonly connect: Effect.Effect<ByteLink, LinkClosedError, Scope.Scope>
  /** Turn injection off/on (e.g. off while checking the board after an operation). On at start. */
  readonly setEnabled: (enabled: boolean) => Effect.Effect<void>
  readonly counts: Effect.Effect<FaultCounts>
  /** Every fault injected, in order (bounded: the last 10,000). */
  readonly log: Effect.Effect<ReadonlyArray<InjectedFault>>
}

/**
 * Where a raw REPL exchange is, read from the bytes on the wire (for aiming faults at a phase),
 * and the seeded random numbers that make a fault run reproducible.
 */
import type { ExchangePhase } from "./FaultInjectorOptions.js"

/**
 * mulberry32: a small seeded PRNG, uniform in [0, 1).
 * @internal
 */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A phase entered at a byte of a chunk. */
export interface PhaseEntry {
  readonly index: number
  readonly phase: ExchangePhase
}

/**
 * Follows the raw REPL exchange from the bytes on the wire (see RawReplEngine): `\r\x01` enters
 * the raw REPL, `\x05A\x01` asks for raw-paste, code follows, `\x04` ends it, the board's first
 * bytes after that are output, and `>` after the last `\x04` is the prompt. A heuristic: corrupted
 * traffic can mislead it, it never throws.
 * @internal
 */
export class ExchangePhaseTracker {
  phase: ExchangePhase = "idle"
  private hostPrevious = -1
  private hostBeforePrevious = -1
  private boardPrevious = -1
  private endsSeen = 0

  /** Host->board bytes: the phases entered, with the index of the byte that entered them. */
  host(bytes: Uint8Array): PhaseEntry[] {
    const entered: PhaseEntry[] = []
    const enter = (index: number, phase: ExchangePhase) => {
      this.phase = phase
      entered.push({ index, phase })
    }
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!
      if (b === 0x01) {
        if (this.hostBeforePrevious === 0x05 && this.hostPrevious === 0x41) enter(i, "raw-paste-negotiate")
        else if (this.hostPrevious === 0x0d || this.hostPrevious === 0x03) enter(i, "enter-raw")
      } else if (b === 0x04) {
        if (this.phase === "code") {
          this.endsSeen = 0
          this.boardPrevious = -1
          enter(i, "running")
        }
      } else if (this.phase !== "code" && this.phase !== "running") {
        const startsCommand = b === 0x41 && this.hostPrevious === 0x05
        if (!startsCommand && (b >= 0x20 || b === 0x09 || b === 0x0a)) enter(i, "code")
      }
      this.hostBeforePrevious = this.hostPrevious
      this.hostPrevious = b
    }
    return entered
  }

  /** Board->host bytes: the phases entered. */
  board(bytes: Uint8Array): PhaseEntry[] {
    const entered: PhaseEntry[] = []
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!
      if (this.phase === "running") {
        this.phase = "output"
        entered.push({ index: i, phase: "output" })
      }
      if (this.phase === "output") {
        if (b === 0x04) this.endsSeen++
        else if (b === 0x3e && this.boardPrevious === 0x04 && this.endsSeen >= 2) {
          // `\x04` `>` after stdout and traceback: the raw prompt (raw-paste also echoes a `\x04` first;
          // a traceback never starts with `>`).
          this.phase = "idle"
          entered.push({ index: i, phase: "idle" })
        }
      }
      this.boardPrevious = b
    }
    return entered
  }
}

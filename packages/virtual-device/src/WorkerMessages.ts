/**
 * The worker message protocol: the private messages and shared control words between the host
 * side of a virtual board and its interpreter worker (not the raw REPL protocol the board speaks).
 *
 * Control words live in a SharedArrayBuffer so that the host can reach a worker whose thread is
 * busy running Python (interrupts, stdin) and the worker can stream stdout without returning to
 * its event loop.
 *
 * @internal
 */

/** Indexes into the Int32Array of control words. */
export const Ctrl = {
  /** Spin lock guarding RUNNING/INTERRUPT and the interpreter's pending-exception words. */
  lock: 0,
  /** Sequence number of the execution the worker is running, 0 when idle. */
  running: 1,
  /** Sequence number of the execution the host wants interrupted. */
  interrupt: 2,
  /** Futex word: the host bumps it and notifies to wake a worker waiting for stdin or time. */
  wake: 3,
  /** Bytes written to the stdin ring by the host (wrapping counter). */
  inWrite: 4,
  /** Bytes read from the stdin ring by the worker (wrapping counter). */
  inRead: 5,
  /** Bytes written to the stdout ring by the worker (wrapping counter). */
  outWrite: 6,
  /** Bytes read from the stdout ring by the host (wrapping counter). */
  outRead: 7,
  /**
   * 1 while an `out` message is on its way to the host and not yet taken: the worker posts one
   * only when it sets this from 0, the host clears it before it reads the ring. At most one such
   * message is queued, however fast the code prints.
   */
  outSignal: 8,
} as const

export const CTRL_WORDS = 9
/** Size of the stdin ring (power of two): what the board's UART buffer holds while code runs. */
export const IN_RING_SIZE = 4096
/** Size of the stdout ring (power of two); a full ring blocks `print` like a slow UART does. */
export const OUT_RING_SIZE = 2048

/**
 * Where the interpreter keeps its pending exception and scheduler state, found by watching what
 * `mp_sched_keyboard_interrupt` writes. Writing the same values from another thread raises
 * KeyboardInterrupt at the VM's next backward jump.
 */
export interface InterruptAddresses {
  /** Byte address of `mp_pending_exception`. */
  readonly pendingException: number
  /** The value meaning "KeyboardInterrupt pending" (address of the kbd exception object). */
  readonly kbdException: number
  /** Byte address of `sched_state`. */
  readonly schedState: number
  /** The value meaning "pending" for `sched_state`. */
  readonly schedPending: number
}

/**
 * Offset of `traceback_data` in `mp_obj_exception_t` on wasm32 (after the type pointer and the
 * traceback length/alloc bit fields). Cleared before each Ctrl-C, as the firmware does.
 */
export const KBD_TRACEBACK_OFFSET = 8

/** A file or directory on the board's flash, path absolute on the board (`/lib/x.py`). */
export type FlashEntry =
  | { readonly path: string; readonly kind: "dir" }
  | { readonly path: string; readonly kind: "file"; readonly data: Uint8Array }

/** What changed on the board's flash during one execution. */
export type FlashChange =
  | { readonly op: "mkdir"; readonly path: string }
  | { readonly op: "write"; readonly path: string; readonly data: Uint8Array }
  | { readonly op: "delete"; readonly path: string }

export interface WorkerData {
  /** The compiled interpreter, or its patched bytes for the worker to compile (the first worker). */
  readonly module: WebAssembly.Module | Uint8Array
  readonly memory: WebAssembly.Memory
  readonly ctrl: SharedArrayBuffer
  readonly inRing: SharedArrayBuffer
  readonly outRing: SharedArrayBuffer
  readonly interruptAddresses: InterruptAddresses | undefined
}

export type ExecMode =
  /** Raw REPL and raw-paste: the code is a module (`<stdin>`). */
  | "file"
  /** Friendly REPL: one interactive statement, expression results are printed. */
  | "single"
  /** boot.py / main.py: the code is a path on the flash. */
  | "path"

/** What the board keeps across resets for its `machine` module. */
export interface MachineState {
  /** The RTC: milliseconds added to the host's clock. */
  readonly rtcOffsetMs: number
  /** `machine.unique_id()`, as hex. */
  readonly uniqueId: string
}

/** How a board playing CircuitPython starts an interpreter. */
export interface CircuitPythonState {
  /** e.g. `"9.2.1"` */
  readonly version: string
  /** What `sys.implementation._machine` and `os.uname().machine` say. */
  readonly machine: string
  /** Code sees the flash read-only (the CIRCUITPY drive is the computer's). */
  readonly readOnly: boolean
  /** This interpreter runs boot.py: `storage.remount` is allowed. */
  readonly booting: boolean
}

export type HostMessage =
  | {
      readonly type: "start"
      readonly files: ReadonlyArray<FlashEntry>
      readonly flashSize: number
      readonly machine: MachineState
      /** Set when the board plays CircuitPython. */
      readonly circuitPython: CircuitPythonState | undefined
    }
  | { readonly type: "exec"; readonly seq: number; readonly mode: ExecMode; readonly code: Uint8Array }
  /** Files written from outside the interpreter (WebREPL's file transfer), applied between executions. */
  | { readonly type: "flash"; readonly changes: ReadonlyArray<FlashChange> }

export type ExecOutcome =
  | { readonly kind: "ok" }
  /** An uncaught exception; `traceback` is MicroPython's text with `\r\n` line endings. */
  | { readonly kind: "exception"; readonly type: string; readonly traceback: string }
  /** `SystemExit`: the firmware does a soft reset. */
  | { readonly kind: "exit" }
  /** The interpreter itself failed (WebAssembly trap, out of memory): only a hard reset helps. */
  | { readonly kind: "crash"; readonly message: string }

export interface BoardInfo {
  /** e.g. `MicroPython v1.27.0 on 2025-12-10` */
  readonly version: string
  /** e.g. `JS with Emscripten` */
  readonly machine: string
}

export type WorkerMessage =
  | {
      readonly type: "loaded"
      readonly interruptAddresses: InterruptAddresses | undefined
      /** The module this worker compiled from bytes, for the workers after it. */
      readonly compiled: WebAssembly.Module | undefined
    }
  | { readonly type: "started"; readonly info: BoardInfo }
  | { readonly type: "out" }
  | {
      readonly type: "done"
      readonly seq: number
      readonly outcome: ExecOutcome
      readonly changes: ReadonlyArray<FlashChange>
    }
  | { readonly type: "fatal"; readonly message: string }
  /** Running code set the RTC (`machine.RTC().datetime(t)`): the board keeps the new offset. */
  | { readonly type: "rtc"; readonly offsetMs: number }
  /**
   * Running code called `machine.reset()`: the host hard-resets the board. `changes` is what the
   * code wrote to the flash before (closed files survive a reset); the worker stops meanwhile.
   */
  | { readonly type: "reset"; readonly changes: ReadonlyArray<FlashChange> }
  /** boot.py called `storage.remount("/", readonly)` (CircuitPython): kept until the next power-on. */
  | { readonly type: "remount"; readonly readOnly: boolean }
  /** Code called `os.sync()` (CircuitPython). */
  | { readonly type: "synced" }

import type { VirtualBoardAssets } from "./platform/types.js"

/**
 * How a virtual board behaves. Every option has a default that matches a modern board on a
 * fast USB link.
 *
 * @example
 * // A slow board that refuses raw-paste, on a 115200-baud line, with its flash in a directory
 * const options: VirtualBoardOptions = {
 *   rawPaste: false,
 *   bytesPerSecond: 11520,
 *   flashDir: "/tmp/board-flash",
 * }
 *
 * @since 0.1.0
 */
export interface VirtualBoardOptions {
  /** Answer raw-paste requests with `R\x01` (default `true`); `false` answers `R\x00`. */
  readonly rawPaste?: boolean
  /** Raw-paste flow-control window in bytes (default 256; real small boards use 128). */
  readonly rawPasteWindow?: number
  /**
   * Speed limit of the serial line in bytes per second, in each direction (default: none).
   * 115200 baud is 11520 bytes/s.
   */
  readonly bytesPerSecond?: number
  /**
   * `"modern"` (default) is MicroPython 1.27. `"old"` behaves like firmware before 1.14, which
   * does not know raw-paste: `\x05A\x01` is answered with the raw REPL banner (`raw REPL; …`).
   */
  readonly firmware?: "modern" | "old"
  /** The soft reset line (default `"MPY: soft reboot"`, or `"soft reboot"` for `firmware: "old"`). */
  readonly softRebootBanner?: "MPY: soft reboot" | "soft reboot"
  /** Line ending of banner lines (default `"\r\n"`; some ports print `"\r\r\n"`). */
  readonly bannerLineEnding?: "\r\n" | "\r\r\n"
  /** Keep the flash in this host directory (created if missing) so it persists between processes. */
  readonly flashDir?: string
  /** Size of the flash reported by `os.statvfs` (default 2 MiB; not enforced on writes). */
  readonly flashSize?: number
  /**
   * How long after Ctrl-C running code may take to stop before the board is hard reset
   * (default 500 ms). KeyboardInterrupt normally arrives within a few milliseconds.
   */
  readonly interruptTimeoutMs?: number
  /**
   * `"micropython"` (default), or `"circuitpython"`: the same interpreter behind CircuitPython's
   * firmware. Its banner (`Adafruit CircuitPython 9.2.1 on ...`), `sys.implementation.name ==
   * "circuitpython"`, `soft reboot` then `code.py` (or `code.txt`, `main.py`, `main.txt`) after each
   * reset, `Code done running.` and the `Press any key to enter the REPL. Use CTRL-D to reload.`
   * wait, a fresh VM each time the REPL is entered, boot.py only at power-on, no `machine`
   * (`storage` instead), `os` without `ilistdir` but with `sync`, `uname` and `getenv`, and a flash
   * that code sees read-only until boot.py calls `storage.remount("/", False)` (see `writable`).
   */
  readonly flavor?: "micropython" | "circuitpython"
  /**
   * CircuitPython only: the version it reports (default `"9.2.1"`). Before 7.0 it does not know
   * raw-paste (`\x05A\x01` gets the raw banner again); before 7.1 a soft reset in the raw REPL runs
   * `code.py` too and waits for a key before it is back at the raw prompt.
   */
  readonly circuitPythonVersion?: string
  /**
   * CircuitPython only: code may write the flash from power-on, as after `storage.remount("/",
   * False)` in boot.py (the computer's drive is then read-only). Default false: code gets
   * `OSError: [Errno 30] Read-only filesystem`, as on a board whose CIRCUITPY drive is the computer's.
   */
  readonly writable?: boolean
  /**
   * In a browser: where the page serves the interpreter's worker script, `micropython.mjs` and
   * `micropython.wasm` (Node finds them in the packages and ignores this).
   */
  readonly assets?: VirtualBoardAssets
  /**
   * The most memory the interpreter may grow to, in bytes (whole 64 KiB pages; from 32 MiB to
   * 1 GiB, the default). MicroPython's WebAssembly port collects garbage only when the running code
   * returns: a program that allocates without end grows to this, then fails with `MemoryError`.
   * Lower it to bound each board of a pool or a fleet runner.
   */
  readonly memoryLimit?: number
}

/** The least `memoryLimit`: room for the interpreter's start (about 16 MiB) and a program. */
export const MEMORY_LIMIT_MIN = 32 * 1024 * 1024
/** The most `memoryLimit`, and the default: 1 GiB. */
export const MEMORY_LIMIT_MAX = 1024 * 1024 * 1024

/** @internal */
export interface ResolvedOptions {
  readonly rawPaste: boolean
  readonly rawPasteWindow: number
  readonly bytesPerSecond: number | undefined
  readonly firmware: "modern" | "old"
  readonly softRebootBanner: string
  readonly lineEnding: string
  readonly flashDir: string | undefined
  readonly flashSize: number
  readonly interruptTimeoutMs: number
  /** CircuitPython's version as numbers, or undefined for MicroPython. */
  readonly circuitPython: CircuitPythonOptions | undefined
  readonly assets: VirtualBoardAssets | undefined
  /** The most pages of linear memory, when `memoryLimit` asks for fewer than the most. */
  readonly memoryPages: number | undefined
}

/** @internal */
export interface CircuitPythonOptions {
  /** e.g. `"9.2.1"` */
  readonly version: string
  readonly major: number
  readonly minor: number
  readonly patch: number
  readonly writable: boolean
}

const parseCircuitPythonVersion = (text: string): [number, number, number] => {
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(text)
  if (match === null)
    throw new RangeError(`circuitPythonVersion must look like 9.2.1, got ${JSON.stringify(text)}`)
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)]
}

/** @internal */
export const resolveOptions = (options: VirtualBoardOptions = {}): ResolvedOptions => {
  const flavor = options.flavor ?? "micropython"
  if (flavor !== "micropython" && flavor !== "circuitpython")
    throw new RangeError(`flavor must be micropython or circuitpython, got ${JSON.stringify(flavor)}`)
  let circuitPython: CircuitPythonOptions | undefined
  if (flavor === "circuitpython") {
    const version = options.circuitPythonVersion ?? "9.2.1"
    const [major, minor, patch] = parseCircuitPythonVersion(version)
    circuitPython = { version, major, minor, patch, writable: options.writable ?? false }
  }
  // CircuitPython learnt raw-paste with 7.0 (its merge of MicroPython 1.14 and later).
  const firmware =
    options.firmware ?? (circuitPython !== undefined && circuitPython.major < 7 ? "old" : "modern")
  const window = options.rawPasteWindow ?? 256
  if (!Number.isInteger(window) || window < 1 || window > 0xffff) {
    throw new RangeError(`rawPasteWindow must be an integer from 1 to 65535, got ${window}`)
  }
  const bps = options.bytesPerSecond
  if (bps !== undefined && !(bps > 0)) throw new RangeError(`bytesPerSecond must be positive, got ${bps}`)
  const memory = options.memoryLimit
  if (
    memory !== undefined &&
    !(Number.isInteger(memory) && memory >= MEMORY_LIMIT_MIN && memory <= MEMORY_LIMIT_MAX)
  )
    throw new RangeError(
      `memoryLimit must be a whole number of bytes from ${MEMORY_LIMIT_MIN} (32 MiB) to ${MEMORY_LIMIT_MAX} (1 GiB), got ${memory}`,
    )
  return {
    rawPaste: options.rawPaste ?? true,
    rawPasteWindow: window,
    bytesPerSecond: bps,
    firmware,
    softRebootBanner:
      options.softRebootBanner ??
      (firmware === "old" || circuitPython !== undefined ? "soft reboot" : "MPY: soft reboot"),
    lineEnding: options.bannerLineEnding ?? "\r\n",
    flashDir: options.flashDir,
    flashSize: options.flashSize ?? 2 * 1024 * 1024,
    interruptTimeoutMs: options.interruptTimeoutMs ?? 500,
    circuitPython,
    assets: options.assets,
    memoryPages: memory === undefined || memory === MEMORY_LIMIT_MAX ? undefined : Math.floor(memory / 65536),
  }
}

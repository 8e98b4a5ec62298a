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
}

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
}

/** @internal */
export const resolveOptions = (options: VirtualBoardOptions = {}): ResolvedOptions => {
  const firmware = options.firmware ?? "modern"
  const window = options.rawPasteWindow ?? 256
  if (!Number.isInteger(window) || window < 1 || window > 0xffff) {
    throw new RangeError(`rawPasteWindow must be an integer from 1 to 65535, got ${window}`)
  }
  const bps = options.bytesPerSecond
  if (bps !== undefined && !(bps > 0)) throw new RangeError(`bytesPerSecond must be positive, got ${bps}`)
  return {
    rawPaste: options.rawPaste ?? true,
    rawPasteWindow: window,
    bytesPerSecond: bps,
    firmware,
    softRebootBanner: options.softRebootBanner ?? (firmware === "old" ? "soft reboot" : "MPY: soft reboot"),
    lineEnding: options.bannerLineEnding ?? "\r\n",
    flashDir: options.flashDir,
    flashSize: options.flashSize ?? 2 * 1024 * 1024,
    interruptTimeoutMs: options.interruptTimeoutMs ?? 500,
  }
}

/**
 * DTR and RTS after a port opens: shared by the serial links of Node (`serialport`) and of the
 * browser (Web Serial).
 */

/**
 * What to do with the DTR and RTS modem lines right after the port opens.
 *
 * - `"leave"`: keep what the OS did at open (Linux and macOS assert both).
 * - `"assert"`: raise both.
 * - `"deassert"`: drop both at once. ESP32/ESP8266 boards wire DTR/RTS to EN and GPIO0
 *   through an auto-reset circuit; with both lines at the same level neither reset nor
 *   the bootloader is triggered, and dropping them keeps the board running when the port
 *   is later closed.
 *
 * @example
 * openSerialLink({ path: "/dev/ttyUSB0", controlLines: "deassert" }) // an ESP32 that must not reset
 * @since 0.1.0
 */
export type ControlLinePolicy = "leave" | "assert" | "deassert"

/** DTR/RTS levels to set after open, or `undefined` to leave the lines alone. @internal */
export const controlLineLevels = (options: {
  readonly controlLines?: ControlLinePolicy | undefined
  readonly dtr?: boolean | undefined
  readonly rts?: boolean | undefined
}): { dtr: boolean; rts: boolean } | undefined => {
  const policy = options.controlLines ?? "leave"
  if (policy === "leave" && options.dtr === undefined && options.rts === undefined) return undefined
  // A line the caller did not name keeps the level the OS gives it at open (asserted).
  const base = policy !== "deassert"
  return { dtr: options.dtr ?? base, rts: options.rts ?? base }
}

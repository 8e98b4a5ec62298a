/**
 * Which serial port is a given board: the port whose USB identity (vendor and product id, serial
 * number, manufacturer, location on the bus) matches what is asked, among the ports listed.
 * Pure: the ports are given, so it is tested with made-up lists.
 */
import { Data, Result } from "effect"
import type { SerialPortInfo } from "./listSerialPorts.js"

/**
 * What a serial port must have to be the board: every field given must match (at least one).
 *
 * - `vendorId`, `productId`: USB ids in hex, any case, with or without `0x` (`2e8a`, `0x2E8A`, `5`)
 * - `serialNumber`: the USB serial number, whole, any case
 * - `manufacturer`: part of the USB manufacturer string, any case (`raspberry` finds `Raspberry Pi`)
 * - `location`: where it is plugged in, as `belay ports` shows it (Linux: the USB interface
 *   `1-1.4:1.0`, or the device `1-1.4`, which matches each of its interfaces; macOS: the location
 *   id; Windows: `Port_#0001.Hub_#0001`), whole, any case
 *
 * @example
 * const pico: SerialPortMatch = { vendorId: "2e8a", productId: "0005" }
 * @since 0.1.0
 */
export interface SerialPortMatch {
  readonly vendorId?: string | undefined
  readonly productId?: string | undefined
  readonly serialNumber?: string | undefined
  readonly manufacturer?: string | undefined
  readonly location?: string | undefined
}

/**
 * A USB id as 4 lowercase hex digits (`0x2E8A`, `2E8A`, `2e8a` give `2e8a`; `5` gives `0005`), or
 * undefined when it is not 1 to 4 hex digits.
 *
 * @example
 * normalizeUsbId("0x2E8A") // "2e8a"
 * @since 0.1.0
 */
export const normalizeUsbId = (id: string | undefined): string | undefined => {
  if (id === undefined) return undefined
  const hex = id.trim().replace(/^0x/i, "").toLowerCase()
  return /^[0-9a-f]{1,4}$/.test(hex) ? hex.padStart(4, "0") : undefined
}

/**
 * No serial port, or more than one, matches; or the match itself is not one (`reason: "invalid"`:
 * a USB id that is not hex, or no field at all). The message names the candidates: every port
 * listed (`"none"`), or those that matched (`"several"`), with the fields a match can use.
 *
 * @example
 * Effect.catchTag("SerialPortMatchError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class SerialPortMatchError extends Data.TaggedError("SerialPortMatchError")<{
  readonly match: SerialPortMatch
  readonly reason: "none" | "several" | "invalid"
  /** Every port listed when it was looked for. */
  readonly ports: ReadonlyArray<SerialPortInfo>
  /** The ports that matched (none, or several). */
  readonly matching: ReadonlyArray<SerialPortInfo>
  /** What is wrong with the match, for `reason: "invalid"`. */
  readonly problem?: string
}> {
  override get message(): string {
    const asked = describeMatch(this.match)
    if (this.reason === "invalid") return `cannot look for a serial port by ${asked}: ${this.problem}`
    if (this.reason === "several")
      return `${this.matching.length} serial ports match ${asked}; add a field that tells them apart: ${this.matching.map(describePortIdentity).join("; ")}`
    return this.ports.length === 0
      ? `no serial port matches ${asked}: there are no serial ports at all`
      : `no serial port matches ${asked}; the ports: ${this.ports.map(describePortIdentity).join("; ")}`
  }
}

/**
 * A match as the connection string writes it: `vid=2e8a,pid=0005,serial=E661...`.
 *
 * @example
 * describeMatch({ vendorId: "2e8a", productId: "0005" }) // "vid=2e8a,pid=0005"
 * @since 0.1.0
 */
export const describeMatch = (match: SerialPortMatch): string => {
  const parts = [
    ["vid", match.vendorId],
    ["pid", match.productId],
    ["serial", match.serialNumber],
    ["manufacturer", match.manufacturer],
    ["location", match.location],
  ].filter((part): part is [string, string] => part[1] !== undefined)
  return parts.length === 0 ? "nothing" : parts.map(([k, v]) => `${k}=${v}`).join(",")
}

/**
 * A port with the fields a match uses: `/dev/ttyACM0 2e8a:0005 serial=E66... manufacturer="Raspberry Pi" location=1-1.4:1.0`.
 *
 * @example
 * describePortIdentity({ path: "/dev/ttyACM0", vendorId: "2e8a", productId: "0005", likelyMicroPython: true }) // "/dev/ttyACM0 2e8a:0005"
 * @since 0.1.0
 */
export const describePortIdentity = (port: SerialPortInfo): string =>
  [
    port.path,
    port.vendorId !== undefined ? `${port.vendorId}:${port.productId ?? "????"}` : "no USB ids",
    port.serialNumber !== undefined ? `serial=${port.serialNumber}` : undefined,
    port.manufacturer !== undefined ? `manufacturer=${JSON.stringify(port.manufacturer)}` : undefined,
    port.locationId !== undefined ? `location=${port.locationId}` : undefined,
  ]
    .filter((part) => part !== undefined)
    .join(" ")

/** The match's fields that are given, or why it is not a match. */
const checkMatch = (match: SerialPortMatch): string | undefined => {
  const given = Object.values(match).filter((v) => v !== undefined)
  if (given.length === 0) return "a match needs at least one of vid, pid, serial, manufacturer, location"
  if (given.some((v) => typeof v !== "string" || v.trim() === "")) return "a field is empty"
  for (const [name, id] of [
    ["vid", match.vendorId],
    ["pid", match.productId],
  ] as const) {
    if (id !== undefined && normalizeUsbId(id) === undefined)
      return `${name} must be a USB id of 1 to 4 hex digits (e.g. 2e8a), not ${JSON.stringify(id)}`
  }
  return undefined
}

const same = (a: string | undefined, b: string) =>
  a !== undefined && a.trim().toLowerCase() === b.trim().toLowerCase()

/**
 * Whether `port` has everything `match` asks for (see {@link SerialPortMatch} for how each field
 * compares). A field the port does not report never matches.
 *
 * @example
 * portMatches({ path: "/dev/ttyACM0", vendorId: "2e8a", likelyMicroPython: true }, { vendorId: "0x2E8A" }) // true
 * @since 0.1.0
 */
export const portMatches = (port: SerialPortInfo, match: SerialPortMatch): boolean => {
  const vendor = normalizeUsbId(match.vendorId)
  const product = normalizeUsbId(match.productId)
  if (match.vendorId !== undefined && (vendor === undefined || normalizeUsbId(port.vendorId) !== vendor))
    return false
  if (match.productId !== undefined && (product === undefined || normalizeUsbId(port.productId) !== product))
    return false
  if (match.serialNumber !== undefined && !same(port.serialNumber, match.serialNumber)) return false
  if (
    match.manufacturer !== undefined &&
    (port.manufacturer === undefined ||
      !port.manufacturer.toLowerCase().includes(match.manufacturer.trim().toLowerCase()))
  )
    return false
  if (match.location !== undefined) {
    const wanted = match.location.trim().toLowerCase()
    const location = port.locationId?.trim().toLowerCase()
    // The device `1-1.4` matches each of its interfaces, `1-1.4:1.0`, `1-1.4:1.2`.
    if (location === undefined || (location !== wanted && !location.startsWith(`${wanted}:`))) return false
  }
  return true
}

/**
 * The one port among `ports` that `match` names: `SerialPortMatchError` when none does, when
 * several do, or when the match is not one.
 *
 * @example
 * const port = Result.getOrThrow(selectSerialPort(yield* listSerialPorts(), { vendorId: "2e8a", productId: "0005" }))
 * @since 0.1.0
 */
export const selectSerialPort = (
  ports: ReadonlyArray<SerialPortInfo>,
  match: SerialPortMatch,
): Result.Result<SerialPortInfo, SerialPortMatchError> => {
  const problem = checkMatch(match)
  if (problem !== undefined)
    return Result.fail(new SerialPortMatchError({ match, reason: "invalid", ports, matching: [], problem }))
  const matching = ports.filter((port) => portMatches(port, match))
  if (matching.length === 1) return Result.succeed(matching[0] as SerialPortInfo)
  return Result.fail(
    new SerialPortMatchError({ match, reason: matching.length === 0 ? "none" : "several", ports, matching }),
  )
}

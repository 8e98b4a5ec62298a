/**
 * Serial byte links on the `serialport` package (an optional peer dependency, loaded on first use).
 *
 * @example
 * import { listSerialPorts, openSerialLink } from "@belay/transport/serial"
 *
 * @module
 */

export type { ControlLinePolicy } from "../ControlLines.js"
export { listSerialPorts, type SerialPortInfo } from "./listSerialPorts.js"
export {
  openSerialLink,
  type SerialLinkOptions,
  type SerialPortSettings,
} from "./SerialLink.js"
export {
  describeMatch,
  describePortIdentity,
  normalizeUsbId,
  portMatches,
  type SerialPortMatch,
  SerialPortMatchError,
  selectSerialPort,
} from "./SerialPortMatch.js"

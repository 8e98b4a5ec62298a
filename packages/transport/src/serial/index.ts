/**
 * Serial byte links on the `serialport` package (an optional peer dependency, loaded on first use).
 *
 * @example
 * import { listSerialPorts, openSerialLink } from "@belay/transport/serial"
 *
 * @module
 */
export { listSerialPorts, type SerialPortInfo } from "./listSerialPorts.js"
export { type ControlLinePolicy, openSerialLink, type SerialLinkOptions } from "./SerialLink.js"

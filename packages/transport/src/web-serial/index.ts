/**
 * Serial ports in a browser: the Web Serial API (`navigator.serial`, Chrome and Edge, on https or
 * localhost) as a Belay byte link. No Node built-in.
 *
 * @example
 * import { openWebSerialLink, requestWebSerialPort } from "@belay/transport/web-serial"
 *
 * @module
 */
export type { ControlLinePolicy } from "../ControlLines.js"
export {
  openWebSerialLink,
  requestWebSerialPort,
  type WebSerial,
  type WebSerialLinkOptions,
  type WebSerialPort,
  type WebSerialReader,
  type WebSerialWriter,
} from "./WebSerialLink.js"

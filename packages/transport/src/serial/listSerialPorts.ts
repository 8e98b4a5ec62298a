import { readdir, readFile, realpath } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { Effect } from "effect"
import { LinkOpenError } from "../errors.js"
import { loadSerialBinding } from "./loadSerialBinding.js"
import { normalizeUsbId } from "./SerialPortMatch.js"

/**
 * A serial port found on this host, as {@link listSerialPorts} reports it.
 *
 * @example
 * const likely = (yield* listSerialPorts()).filter((p: SerialPortInfo) => p.likelyMicroPython)
 * @since 0.1.0
 */
export interface SerialPortInfo {
  /** What to pass to `openSerialLink`: `/dev/ttyACM0`, `COM3`. */
  readonly path: string
  readonly manufacturer?: string
  readonly serialNumber?: string
  /** USB vendor id as 4 lowercase hex digits, e.g. `2e8a`. */
  readonly vendorId?: string
  /** USB product id as 4 lowercase hex digits, e.g. `0005`. */
  readonly productId?: string
  /** Platform identifier (Linux: the `/dev/serial/by-id` name; Windows: the PnP id). */
  readonly pnpId?: string
  /**
   * Where it is plugged in: on Linux the USB interface as pyserial names it (`1-1.4:1.0`, bus 1,
   * hub port 1, port 4, configuration 1, interface 0); macOS's location id; Windows' location
   * (`Port_#0001.Hub_#0001`). Stays the same for the same socket, whatever board is in it.
   */
  readonly locationId?: string
  /** What the USB ids say the device is, e.g. `Silicon Labs CP210x USB-UART`. */
  readonly knownDevice?: string
  /**
   * The USB ids belong to a board that runs MicroPython, or to a USB-UART bridge such boards
   * commonly carry. A hint for picking a port, not a promise: confirm by talking to the board.
   */
  readonly likelyMicroPython: boolean
}

interface KnownUsbDevice {
  readonly vendorId: string
  /** Absent: any product of this vendor. */
  readonly productId?: string
  readonly name: string
  readonly likelyMicroPython: boolean
}

/** USB ids seen on MicroPython boards. More specific entries (with a product id) come first. */
const knownUsbDevices: ReadonlyArray<KnownUsbDevice> = [
  { vendorId: "0d28", productId: "0204", name: "BBC micro:bit (Arm DAPLink)", likelyMicroPython: true },
  { vendorId: "10c4", productId: "ea60", name: "Silicon Labs CP210x USB-UART", likelyMicroPython: true },
  { vendorId: "1a86", productId: "7523", name: "WCH CH340 USB-UART", likelyMicroPython: true },
  { vendorId: "1a86", productId: "55d3", name: "WCH CH343 USB-UART", likelyMicroPython: true },
  { vendorId: "1a86", productId: "55d4", name: "WCH CH9102 USB-UART", likelyMicroPython: true },
  { vendorId: "067b", productId: "2303", name: "Prolific PL2303 USB-UART", likelyMicroPython: true },
  {
    vendorId: "0483",
    productId: "374b",
    name: "ST-LINK/V2-1 virtual COM (STM32 Nucleo)",
    likelyMicroPython: true,
  },
  { vendorId: "2e8a", name: "Raspberry Pi RP2040/RP2350 (Pico)", likelyMicroPython: true },
  { vendorId: "303a", name: "Espressif native USB (ESP32-S2/S3/C3/C6)", likelyMicroPython: true },
  { vendorId: "f055", name: "MicroPython board (pyboard USB id)", likelyMicroPython: true },
  { vendorId: "0403", name: "FTDI USB-UART", likelyMicroPython: true },
  { vendorId: "239a", name: "Adafruit board", likelyMicroPython: true },
  { vendorId: "2341", name: "Arduino board", likelyMicroPython: false },
  { vendorId: "1366", name: "SEGGER J-Link", likelyMicroPython: false },
]

const identify = (vendorId: string | undefined, productId: string | undefined): KnownUsbDevice | undefined =>
  vendorId === undefined
    ? undefined
    : knownUsbDevices.find(
        (known) =>
          known.vendorId === vendorId && (known.productId === undefined || known.productId === productId),
      )

interface RawPortInfo {
  readonly path: string
  readonly manufacturer?: string | undefined
  readonly serialNumber?: string | undefined
  readonly vendorId?: string | undefined
  readonly productId?: string | undefined
  readonly pnpId?: string | undefined
  readonly locationId?: string | undefined
}

const describePort = (raw: RawPortInfo): SerialPortInfo => {
  const vendorId = normalizeUsbId(raw.vendorId)
  const productId = normalizeUsbId(raw.productId)
  const known = identify(vendorId, productId)
  const text = (value: string | undefined) =>
    value === undefined || value.trim() === "" ? undefined : value.trim()
  const manufacturer = text(raw.manufacturer)
  const serialNumber = text(raw.serialNumber)
  const pnpId = text(raw.pnpId)
  const locationId = text(raw.locationId)
  return {
    path: raw.path,
    ...(manufacturer !== undefined && { manufacturer }),
    ...(serialNumber !== undefined && { serialNumber }),
    ...(vendorId !== undefined && { vendorId }),
    ...(productId !== undefined && { productId }),
    ...(pnpId !== undefined && { pnpId }),
    ...(locationId !== undefined && { locationId }),
    ...(known !== undefined && { knownDevice: known.name }),
    likelyMicroPython: known?.likelyMicroPython ?? false,
  }
}

const sysfsTty = "/sys/class/tty"
/** The device names serialport's Linux lister reports. */
const serialTtyName = /^(tty(S|WCH|ACM|USB|AMA|MFD|O|XRUSB)\d|rfcomm\d)/

/** A USB interface's sysfs name: bus-ports:configuration.interface, e.g. `1-1.4:1.0`. */
const usbInterfaceName = /^\d+-[\d.]+:\d+\.\d+$/

/**
 * Linux: the USB interface a tty belongs to (`1-1.4:1.0`), from sysfs; undefined for a tty that is
 * not on USB, or where sysfs does not say.
 */
const linuxUsbLocation = async (path: string): Promise<string | undefined> => {
  const device = await realpath(join(sysfsTty, basename(path), "device")).catch(() => undefined)
  for (
    let dir = device, depth = 0;
    dir !== undefined && depth < 4 && dir.startsWith("/sys/devices/");
    dir = dirname(dir), depth++
  ) {
    if (usbInterfaceName.test(basename(dir))) return basename(dir)
  }
  return undefined
}

const readSysfs = (file: string): Promise<string | undefined> =>
  readFile(file, "utf8").then(
    (text) => text.trim(),
    () => undefined,
  )

/**
 * Linux without udev (containers, minimal systems): `serialport` lists through `udevadm`, which
 * is missing there. Read the same facts from sysfs instead.
 */
const listFromSysfs = async (): Promise<ReadonlyArray<RawPortInfo>> => {
  const ports: Array<RawPortInfo> = []
  for (const name of await readdir(sysfsTty)) {
    if (!serialTtyName.test(name)) continue
    const device = await realpath(join(sysfsTty, name, "device")).catch(() => undefined)
    if (device === undefined) continue // no hardware behind it
    // 8250-style ports exist for every possible UART; type 0 means nothing is there.
    if (name.startsWith("ttyS") && (await readSysfs(join(sysfsTty, name, "type"))) === "0") continue
    let usb: string | undefined
    for (
      let dir = device, depth = 0;
      depth < 6 && dir.startsWith("/sys/devices/");
      dir = dirname(dir), depth++
    ) {
      if ((await readSysfs(join(dir, "idVendor"))) !== undefined) {
        usb = dir
        break
      }
    }
    ports.push(
      usb === undefined
        ? { path: `/dev/${name}` }
        : {
            path: `/dev/${name}`,
            vendorId: await readSysfs(join(usb, "idVendor")),
            productId: await readSysfs(join(usb, "idProduct")),
            manufacturer: await readSysfs(join(usb, "manufacturer")),
            serialNumber: await readSysfs(join(usb, "serial")),
            locationId: await linuxUsbLocation(`/dev/${name}`),
          },
    )
  }
  return ports
}

const failure = "serial ports"

/**
 * List the serial ports of this host, with USB ids, serial numbers, manufacturers and locations
 * (what a `SerialPortMatch` matches on) and a hint of which ones are likely MicroPython
 * boards. On Linux without udev, reads sysfs instead.
 *
 * @example
 * import { listSerialPorts, openSerialLink } from "@belay/transport/serial"
 *
 * const firstBoard = Effect.gen(function* () {
 *   const ports = yield* listSerialPorts()
 *   const board = ports.find((port) => port.likelyMicroPython)
 *   return board === undefined ? yield* Effect.fail("no board found") : board.path
 * })
 * @since 0.1.0
 */
export const listSerialPorts = (): Effect.Effect<ReadonlyArray<SerialPortInfo>, LinkOpenError> =>
  Effect.gen(function* () {
    const binding = yield* loadSerialBinding(failure)
    const raw = yield* Effect.tryPromise({
      try: async (): Promise<ReadonlyArray<RawPortInfo>> => {
        try {
          return await binding.list()
        } catch (error) {
          if (process.platform !== "linux") throw error
          return await listFromSysfs().catch(() => Promise.reject(error))
        }
      },
      catch: (cause) =>
        new LinkOpenError({
          link: failure,
          reason: `could not list serial ports: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause,
        }),
    })
    // serialport's Linux lister (udev) gives no location: sysfs has it.
    const located =
      process.platform === "linux"
        ? yield* Effect.promise(() =>
            Promise.all(
              raw.map(async (port) =>
                port.locationId === undefined && port.path.startsWith("/dev/")
                  ? { ...port, locationId: await linuxUsbLocation(port.path) }
                  : port,
              ),
            ),
          )
        : raw
    return located.map(describePort).sort((a, b) => a.path.localeCompare(b.path))
  })

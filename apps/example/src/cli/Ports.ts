/**
 * `ports`: the serial ports as a table with the fields `--device usb:` matches on. Imported when
 * the command runs.
 */
import type { SerialPortInfo } from "@belay/transport/serial"

const HEAD = ["port", "vid:pid", "serial", "manufacturer", "location", ""] as const

/**
 * The ports as a table: path, `vid:pid`, serial number, manufacturer, location (`-` where a port
 * does not say), and `likely MicroPython` where its USB ids say so; or a line saying there are none.
 *
 * @example
 * portsTable([{ path: "/dev/ttyACM0", vendorId: "2e8a", productId: "0005", likelyMicroPython: true }])
 * // "port          vid:pid    serial  manufacturer  location\n/dev/ttyACM0  2e8a:0005  -  ..."
 */
export const portsTable = (ports: ReadonlyArray<SerialPortInfo>): string => {
  if (ports.length === 0) return "no serial ports found\n"
  const rows = ports.map((p) => [
    p.path,
    p.vendorId !== undefined ? `${p.vendorId}:${p.productId ?? "????"}` : "-",
    p.serialNumber ?? "-",
    p.manufacturer ?? "-",
    p.locationId ?? "-",
    p.likelyMicroPython ? "likely MicroPython" : "",
  ])
  const widths = HEAD.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join("  ")
      .trimEnd()
  return `${[HEAD, ...rows].map(line).join("\n")}\n`
}

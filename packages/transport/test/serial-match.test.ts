import { Effect, Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  describePortIdentity,
  normalizeUsbId,
  openSerialLink,
  portMatches,
  type SerialPortInfo,
  type SerialPortMatch,
  selectSerialPort,
} from "../src/serial/index.js"

// Picking a serial port by USB identity, on made-up port lists (no USB here): properties of the
// matcher, the error that names the candidates, and openSerialLink's use of it.

const hex4 = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16).padStart(4, "0"))
const text = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s.trim() !== "" && s === s.trim())
const location = fc
  .tuple(
    fc.integer({ min: 1, max: 4 }),
    fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 3 }),
  )
  .map(([bus, ports]) => `${bus}-${ports.join(".")}:1.0`)

const portArb: fc.Arbitrary<SerialPortInfo> = fc
  .record(
    {
      n: fc.integer({ min: 0, max: 99 }),
      vendorId: hex4,
      productId: hex4,
      serialNumber: text,
      manufacturer: text,
      locationId: location,
    },
    { requiredKeys: ["n"] },
  )
  .map(({ n, ...fields }) => ({ path: `/dev/ttyACM${n}`, likelyMicroPython: false, ...fields }))

/** Ports drawn from small pools of values, so that lists often hold ports that share some fields. */
const pooledPortArb: fc.Arbitrary<SerialPortInfo> = fc
  .record(
    {
      n: fc.integer({ min: 0, max: 9 }),
      vendorId: fc.constantFrom("2e8a", "10c4", "0d28"),
      productId: fc.constantFrom("0005", "ea60", "0204"),
      serialNumber: fc.constantFrom("E661A", "e661a", "E661B", "0001"),
      manufacturer: fc.constantFrom("Raspberry Pi", "MicroPython", "Silicon Labs"),
      locationId: fc.constantFrom("1-1.2:1.0", "1-1.2:1.2", "1-1.3:1.0", "2-1:1.0"),
    },
    { requiredKeys: ["n"] },
  )
  .map(({ n, ...fields }) => ({ path: `/dev/ttyUSB${n}`, likelyMicroPython: true, ...fields }))

const portsArb = fc.uniqueArray(
  fc.oneof({ arbitrary: pooledPortArb, weight: 3 }, { arbitrary: portArb, weight: 1 }),
  { maxLength: 8, selector: (p) => p.path },
)

/** The ways a person may write a USB id: any case, with or without 0x, leading zeros dropped. */
const spellings = (id: string) => {
  const short = id.replace(/^0+(?=.)/, "")
  return [id, id.toUpperCase(), `0x${id}`, `0X${id.toUpperCase()}`, short, `0x${short}`]
}

const matchOf = (port: SerialPortInfo, keys: ReadonlyArray<keyof SerialPortMatch>): SerialPortMatch => {
  const all: SerialPortMatch = {
    vendorId: port.vendorId,
    productId: port.productId,
    serialNumber: port.serialNumber,
    manufacturer: port.manufacturer,
    location: port.locationId,
  }
  return Object.fromEntries(keys.map((k) => [k, all[k]]))
}

const keysArb = fc.subarray(["vendorId", "productId", "serialNumber", "manufacturer", "location"] as const, {
  minLength: 1,
})

describe("portMatches", () => {
  it("a match made of any of a port's own fields matches it", () => {
    fc.assert(
      fc.property(portArb, keysArb, (port, keys) => {
        const match = matchOf(port, keys)
        fc.pre(Object.values(match).every((v) => v !== undefined))
        expect(portMatches(port, match)).toBe(true)
      }),
    )
  })

  it("USB ids match in any case, with or without 0x or leading zeros; other ids do not", () => {
    fc.assert(
      fc.property(hex4, hex4, hex4, (vid, pid, other) => {
        const port: SerialPortInfo = {
          path: "/dev/ttyACM0",
          vendorId: vid,
          productId: pid,
          likelyMicroPython: false,
        }
        for (const v of spellings(vid))
          for (const p of spellings(pid)) expect(portMatches(port, { vendorId: v, productId: p })).toBe(true)
        expect(portMatches(port, { vendorId: other })).toBe(other === vid)
        expect(portMatches(port, { productId: other })).toBe(other === pid)
      }),
    )
    expect(normalizeUsbId("0x2E8A")).toBe("2e8a")
    expect(normalizeUsbId("5")).toBe("0005")
    expect(normalizeUsbId("12345")).toBeUndefined()
    expect(normalizeUsbId("pico")).toBeUndefined()
  })

  it("serial numbers whole in any case; manufacturers by any part in any case; a field the port lacks never matches", () => {
    const port: SerialPortInfo = {
      path: "/dev/ttyACM0",
      serialNumber: "E6614C311B7E6F35",
      manufacturer: "Raspberry Pi",
      likelyMicroPython: true,
    }
    expect(portMatches(port, { serialNumber: "e6614c311b7e6f35" })).toBe(true)
    expect(portMatches(port, { serialNumber: "E6614C" })).toBe(false)
    expect(portMatches(port, { manufacturer: "raspberry" })).toBe(true)
    expect(portMatches(port, { manufacturer: "PI" })).toBe(true)
    expect(portMatches(port, { manufacturer: "Espressif" })).toBe(false)
    expect(portMatches(port, { vendorId: "2e8a" })).toBe(false)
    expect(portMatches(port, { location: "1-1" })).toBe(false)
    fc.assert(
      fc.property(text, text, (serial, asked) => {
        const p: SerialPortInfo = { path: "/dev/ttyUSB0", serialNumber: serial, likelyMicroPython: false }
        expect(portMatches(p, { serialNumber: asked })).toBe(serial.toLowerCase() === asked.toLowerCase())
        expect(portMatches(p, { manufacturer: asked })).toBe(false)
      }),
    )
  })

  it("a location names its interface, or the device, which matches each of its interfaces, and nothing else", () => {
    const at = (locationId: string): SerialPortInfo => ({
      path: "/dev/ttyACM0",
      locationId,
      likelyMicroPython: false,
    })
    expect(portMatches(at("1-1.4:1.0"), { location: "1-1.4:1.0" })).toBe(true)
    expect(portMatches(at("1-1.4:1.2"), { location: "1-1.4" })).toBe(true)
    expect(portMatches(at("1-1.40:1.0"), { location: "1-1.4" })).toBe(false)
    expect(portMatches(at("1-1.4.2:1.0"), { location: "1-1.4" })).toBe(false)
    expect(portMatches(at("Port_#0001.Hub_#0001"), { location: "port_#0001.hub_#0001" })).toBe(true)
  })
})

describe("selectSerialPort", () => {
  it("answers the port when exactly one matches; otherwise an error naming the candidates", () => {
    const outcomes = new Set<number>()
    fc.assert(
      fc.property(portsArb, fc.oneof(portArb, pooledPortArb), keysArb, (ports, model, keys) => {
        const match = matchOf(model, keys)
        fc.pre(Object.values(match).some((v) => v !== undefined))
        const matching = ports.filter((p) => portMatches(p, match))
        outcomes.add(Math.min(matching.length, 2))
        const result = selectSerialPort(ports, match)
        if (matching.length === 1) {
          expect(Result.getOrThrow(result)).toBe(matching[0])
          return
        }
        expect(Result.isFailure(result)).toBe(true)
        if (Result.isSuccess(result)) return
        const error = result.failure
        expect(error.reason).toBe(matching.length === 0 ? "none" : "several")
        expect(error.matching).toEqual(matching)
        // The candidates, each with the fields a match uses: every port for none, the matching for several.
        for (const candidate of matching.length === 0 ? ports : matching)
          expect(error.message).toContain(describePortIdentity(candidate))
      }),
      { numRuns: 500 },
    )
    // The runs met all three cases: no port, one, several.
    expect([...outcomes].sort()).toEqual([0, 1, 2])
  })

  it("picks one port out of several by its serial number, vid:pid or location", () => {
    const ports: ReadonlyArray<SerialPortInfo> = [
      {
        path: "/dev/ttyACM0",
        vendorId: "2e8a",
        productId: "0005",
        serialNumber: "E661A",
        manufacturer: "MicroPython",
        locationId: "1-1.2:1.0",
        likelyMicroPython: true,
      },
      {
        path: "/dev/ttyACM1",
        vendorId: "2e8a",
        productId: "0005",
        serialNumber: "E661B",
        manufacturer: "MicroPython",
        locationId: "1-1.3:1.0",
        likelyMicroPython: true,
      },
      {
        path: "/dev/ttyUSB0",
        vendorId: "10c4",
        productId: "ea60",
        manufacturer: "Silicon Labs",
        likelyMicroPython: true,
      },
      { path: "/dev/ttyS0", likelyMicroPython: false },
    ]
    const pick = (match: SerialPortMatch) => Result.map(selectSerialPort(ports, match), (p) => p.path)
    expect(pick({ serialNumber: "e661b" })).toEqual(Result.succeed("/dev/ttyACM1"))
    expect(pick({ vendorId: "10C4", productId: "0xEA60" })).toEqual(Result.succeed("/dev/ttyUSB0"))
    expect(pick({ vendorId: "2e8a", location: "1-1.2" })).toEqual(Result.succeed("/dev/ttyACM0"))
    expect(pick({ manufacturer: "silicon" })).toEqual(Result.succeed("/dev/ttyUSB0"))

    const several = selectSerialPort(ports, { vendorId: "2e8a", productId: "0005" })
    expect(Result.isFailure(several) && several.failure.message).toBe(
      '2 serial ports match vid=2e8a,pid=0005; add a field that tells them apart: /dev/ttyACM0 2e8a:0005 serial=E661A manufacturer="MicroPython" location=1-1.2:1.0; /dev/ttyACM1 2e8a:0005 serial=E661B manufacturer="MicroPython" location=1-1.3:1.0',
    )
    const none = selectSerialPort(ports, { serialNumber: "nope" })
    expect(Result.isFailure(none) && none.failure.message).toBe(
      'no serial port matches serial=nope; the ports: /dev/ttyACM0 2e8a:0005 serial=E661A manufacturer="MicroPython" location=1-1.2:1.0; /dev/ttyACM1 2e8a:0005 serial=E661B manufacturer="MicroPython" location=1-1.3:1.0; /dev/ttyUSB0 10c4:ea60 manufacturer="Silicon Labs"; /dev/ttyS0 no USB ids',
    )
    const empty = selectSerialPort([], { vendorId: "2e8a" })
    expect(Result.isFailure(empty) && empty.failure.message).toBe(
      "no serial port matches vid=2e8a: there are no serial ports at all",
    )
  })

  it("refuses what is not a match: no field, an empty field, a USB id that is not hex", () => {
    const reasons = (match: SerialPortMatch) => {
      const result = selectSerialPort([{ path: "/dev/ttyACM0", likelyMicroPython: false }], match)
      return Result.isFailure(result) ? [result.failure.reason, result.failure.message] : ["ok", ""]
    }
    expect(reasons({})).toEqual([
      "invalid",
      "cannot look for a serial port by nothing: a match needs at least one of vid, pid, serial, manufacturer, location",
    ])
    expect(reasons({ serialNumber: " " })[0]).toBe("invalid")
    expect(reasons({ vendorId: "pico" })).toEqual([
      "invalid",
      'cannot look for a serial port by vid=pico: vid must be a USB id of 1 to 4 hex digits (e.g. 2e8a), not "pico"',
    ])
  })
})

describe("openSerialLink({ match })", () => {
  it("fails with SerialPortMatchError when no port on this host matches, before opening anything", async () => {
    const error = await Effect.runPromise(
      Effect.flip(
        Effect.scoped(openSerialLink({ match: { vendorId: "ffff", serialNumber: "belay-test-none" } })),
      ),
    )
    expect(error._tag).toBe("SerialPortMatchError")
    expect(error.message).toMatch(/^no serial port matches vid=ffff,serial=belay-test-none/)
  })
})

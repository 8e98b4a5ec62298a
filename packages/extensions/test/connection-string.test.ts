import { Cause, Effect, Exit, Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { openConnection } from "../src/Connection.js"
import { parseConnectionString, splitCommandLine } from "../src/ConnectionString.js"

const ok = (input: string) => {
  const r = parseConnectionString(input)
  if (Result.isFailure(r)) throw new Error(r.failure.message)
  return r.success
}
const bad = (input: string) => {
  const r = parseConnectionString(input)
  if (Result.isSuccess(r)) throw new Error(`expected ${input} to be refused`)
  return r.failure
}

describe("connection strings", () => {
  it("reads the virtual board with its options", () => {
    expect(ok("virtual")).toEqual({
      _tag: "Virtual",
      bytesPerSecond: undefined,
      rawPaste: undefined,
      firmware: undefined,
      flashDir: undefined,
    })
    expect(ok("virtual?baud=115200&rawPaste=false&firmware=old&dir=/tmp/f")).toEqual({
      _tag: "Virtual",
      bytesPerSecond: 11520,
      rawPaste: false,
      firmware: "old",
      flashDir: "/tmp/f",
    })
  })

  it("reads the virtual board's memory bound: a size with K, M or G, from 32M to 1G", () => {
    expect(ok("virtual?memory=64M")).toMatchObject({ _tag: "Virtual", memoryLimit: 64 * 2 ** 20 })
    expect(ok("virtual?keep=false&memory=1g")).toMatchObject({ memoryLimit: 2 ** 30 })
    expect(ok("virtual?memory=40960k")).toMatchObject({ memoryLimit: 40 * 2 ** 20 })
    expect(ok("virtual")).not.toHaveProperty("memoryLimit")
    for (const size of ["16M", "2G", "64MB", "-64M", "", "1.5G", "M"])
      expect(bad(`virtual?memory=${size}`).reason).toContain("memory must be a size from 32M to 1G")
  })

  it("reads the virtual board playing CircuitPython: flavor, version, writable", () => {
    expect(ok("virtual?flavor=circuitpython")).toMatchObject({ _tag: "Virtual", flavor: "circuitpython" })
    expect(ok("virtual?flavor=circuitpython&version=6.3.0&writable=true")).toMatchObject({
      _tag: "Virtual",
      flavor: "circuitpython",
      circuitPythonVersion: "6.3.0",
      writable: true,
    })
    expect(ok("virtual?flavor=micropython")).toMatchObject({ flavor: "micropython" })
    expect(bad("virtual?flavor=pyboard").reason).toContain("flavor must be micropython or circuitpython")
    expect(bad("virtual?version=9.2.1").reason).toContain("go with flavor=circuitpython")
    expect(bad("virtual?flavor=circuitpython&version=nine").reason).toContain("version must look like 9.2.1")
    expect(bad("virtual?flavor=circuitpython&writable=maybe").reason).toContain(
      "writable must be true or false",
    )
  })

  it("reads keep= of the virtual board, and refuses a line speed for the kept one", () => {
    expect(ok("virtual")).toHaveProperty("keep", undefined)
    expect(ok("virtual?keep=true&dir=/tmp/f")).toMatchObject({ keep: true, flashDir: "/tmp/f" })
    expect(ok("virtual?keep=0&baud=9600")).toMatchObject({ keep: false, bytesPerSecond: 960 })
    // The kept board is reached over a local TCP connection: no line to slow down.
    expect(bad("virtual?keep=true&baud=115200").reason).toContain("add keep=false")
    expect(bad("virtual?bytesPerSecond=100&keep=yes").reason).toContain("at full speed")
    expect(bad("virtual?keep=maybe").reason).toContain("keep must be true or false")
  })

  it("reads mpremote's shortcuts, bare port names, auto and id:", () => {
    expect(ok("a0")).toMatchObject({ _tag: "Serial", path: "/dev/ttyACM0", baudRate: 115200 })
    expect(ok("u1?baud=9600")).toMatchObject({ _tag: "Serial", path: "/dev/ttyUSB1", baudRate: 9600 })
    expect(ok("c3")).toMatchObject({ _tag: "Serial", path: "COM3" })
    expect(ok("ttyACM2")).toMatchObject({ _tag: "Serial", path: "/dev/ttyACM2" })
    expect(ok("cu.usbmodem101")).toMatchObject({ _tag: "Serial", path: "/dev/cu.usbmodem101" })
    expect(ok("auto")).toEqual({
      _tag: "FindSerial",
      match: undefined,
      baudRate: 115200,
      dtr: undefined,
      rts: undefined,
    })
    expect(ok("auto?baud=9600")).toMatchObject({ _tag: "FindSerial", baudRate: 9600 })
    expect(ok("id:e6614c311b7e6f35")).toMatchObject({
      _tag: "FindSerial",
      match: { serialNumber: "e6614c311b7e6f35" },
    })
    expect(bad("id:").reason).toBe("id: needs a serial number")
    expect(bad("automatic").reason).toBe("not a known board, scheme or device path")
    expect(bad("a100").reason).toBe("not a known board, scheme or device path")
  })

  it("reads usb: matches by vid, pid, serial, manufacturer and location, with the serial options", () => {
    expect(ok("usb:vid=2e8a,pid=0005")).toEqual({
      _tag: "FindSerial",
      match: { vendorId: "2e8a", productId: "0005" },
      baudRate: 115200,
      dtr: undefined,
      rts: undefined,
    })
    expect(
      ok("USB:VID=0x2E8A,serial=E661A,manufacturer=Raspberry%20Pi,location=1-1.4:1.0?baud=9600&dtr=false"),
    ).toMatchObject({
      match: {
        vendorId: "0x2E8A",
        serialNumber: "E661A",
        manufacturer: "Raspberry Pi",
        location: "1-1.4:1.0",
      },
      baudRate: 9600,
      dtr: false,
    })
    expect(ok("usb:manufacturer=Acme%2C Inc.")).toMatchObject({ match: { manufacturer: "Acme, Inc." } })
    expect(bad("usb:").reason).toBe(
      "usb: needs at least one of vid=, pid=, serial=, manufacturer=, location=",
    )
    expect(bad("usb:vendor=2e8a").reason).toBe(
      'unknown usb: field "vendor" (known: vid, pid, serial, manufacturer, location)',
    )
    expect(bad("usb:vid=pico").reason).toBe(
      'usb: vid must be a USB id of 1 to 4 hex digits (e.g. 2e8a), got "pico"',
    )
    expect(bad("usb:pid=12345").reason).toContain("usb: pid must be a USB id")
    expect(bad("usb:serial=").reason).toBe("usb: serial= needs a value")
    expect(bad("usb:serial").reason).toBe("usb: serial= needs a value")
    expect(bad("usb:vid=2e8a,vid=2e8b").reason).toBe("usb: vid= is given twice")
    expect(bad("usb:serial=%E0%A4%A").reason).toBe("usb: serial= has a bad %-escape")
    expect(bad("usb:vid=2e8a?speed=1").reason).toContain('unknown option "speed"')
  })

  it("any usb: match written with its values %-escaped reads back as it was", () => {
    const value = fc.string({ minLength: 1, maxLength: 16 }).filter((v) => v.trim() === v && v !== "")
    const hex = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16))
    fc.assert(
      fc.property(
        fc.record(
          { vid: hex, pid: hex, serial: value, manufacturer: value, location: value },
          { requiredKeys: [] },
        ),
        (fields) => {
          const entries = Object.entries(fields)
          fc.pre(entries.length > 0)
          const text = `usb:${entries.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(",")}`
          const names = { vid: "vendorId", pid: "productId", serial: "serialNumber" } as Record<
            string,
            string
          >
          expect(ok(text)).toMatchObject({
            _tag: "FindSerial",
            match: Object.fromEntries(entries.map(([k, v]) => [names[k] ?? k, v])),
          })
        },
      ),
    )
  })

  it("gives a MicroPython unix build -i, so that it runs its REPL on a pipe", () => {
    expect(ok("exec:micropython")).toMatchObject({ command: "micropython", args: ["-i"] })
    expect(ok("exec:/opt/mp/micropython-dev -X heapsize=1M")).toMatchObject({
      args: ["-i", "-X", "heapsize=1M"],
    })
    expect(ok("exec:micropython -i")).toMatchObject({ args: ["-i"] })
    expect(ok("exec:node board.mjs")).toMatchObject({ command: "node", args: ["board.mjs"] })
  })

  it("reads serial ports, with or without the scheme", () => {
    expect(ok("serial:/dev/ttyACM0")).toEqual({
      _tag: "Serial",
      path: "/dev/ttyACM0",
      baudRate: 115200,
      dtr: undefined,
      rts: undefined,
    })
    expect(ok("serial:/dev/ttyUSB0?baud=9600&dtr=false&rts=0")).toEqual({
      _tag: "Serial",
      path: "/dev/ttyUSB0",
      baudRate: 9600,
      dtr: false,
      rts: false,
    })
    expect(ok("/dev/ttyUSB1")).toMatchObject({ _tag: "Serial", path: "/dev/ttyUSB1" })
    expect(ok("COM3")).toMatchObject({ _tag: "Serial", path: "COM3" })
  })

  it("reads exec commands with quoted arguments", () => {
    expect(ok("exec:micropython")).toEqual({
      _tag: "Exec",
      command: "micropython",
      args: ["-i"],
      restart: true,
      pty: false,
    })
    expect(ok(`exec:node "my board.mjs" --flag 'a b' c\\ d`)).toMatchObject({
      command: "node",
      args: ["my board.mjs", "--flag", "a b", "c d"],
    })
  })

  it("reads exec-pty: a command on a pseudo-terminal, where a MicroPython build needs no -i", () => {
    expect(ok("exec-pty:ssh -t pi micropython")).toEqual({
      _tag: "Exec",
      command: "ssh",
      args: ["-t", "pi", "micropython"],
      restart: true,
      pty: true,
    })
    expect(ok("exec-pty:micropython")).toMatchObject({ command: "micropython", args: [], pty: true })
  })

  it("reads qemu and list", () => {
    expect(ok("qemu:microbit")).toEqual({
      _tag: "Qemu",
      machine: "microbit",
      firmwarePath: undefined,
      keep: undefined,
    })
    expect(ok("qemu:microbit?keep=true&firmware=/tmp/f.hex")).toMatchObject({
      keep: true,
      firmwarePath: "/tmp/f.hex",
    })
    expect(ok("qemu:microbit?keep=0")).toMatchObject({ keep: false })
    expect(ok("list")).toEqual({ _tag: "List" })
  })

  it("reads tcp: and rfc2217: with mpremote's socket:// and rfc2217:// spellings", () => {
    const tcp = { _tag: "Tcp", host: "192.168.1.20", port: 23 }
    expect(ok("tcp:192.168.1.20:23")).toEqual(tcp)
    expect(ok("socket://192.168.1.20:23")).toEqual(tcp)
    expect(ok("tcp://192.168.1.20:23")).toEqual(tcp)
    expect(ok("tcp:[::1]:7000")).toEqual({ _tag: "Tcp", host: "::1", port: 7000 })
    expect(ok("rfc2217:lab-pi:2217")).toEqual({
      _tag: "Rfc2217",
      host: "lab-pi",
      port: 2217,
      baudRate: 115200,
      dtr: undefined,
      rts: undefined,
    })
    expect(ok("rfc2217://lab-pi:2217?baud=9600&dtr=false&rts=0")).toEqual({
      _tag: "Rfc2217",
      host: "lab-pi",
      port: 2217,
      baudRate: 9600,
      dtr: false,
      rts: false,
    })
    for (const input of ["tcp:host", "tcp:host:0", "tcp:host:70000", "rfc2217:host:x", "tcp:h:1?baud=9600"]) {
      expect(bad(input)._tag).toBe("ConnectionStringError")
    }
    expect(bad("rfc2217:host").reason).toContain("rfc2217: needs host:port")
    expect(bad("rfc2217:h:1?speed=1").reason).toContain("speed")
  })

  it("names a fleet board, which only the fleet's client opens", async () => {
    expect(ok("fleet:shelf1/b0")).toEqual({ _tag: "Fleet", boardId: "shelf1/b0", lent: false })
    expect(ok("fleet:E66038B713849D31?link=lent")).toEqual({
      _tag: "Fleet",
      boardId: "E66038B713849D31",
      lent: true,
    })
    expect(bad("fleet:").reason).toContain("fleet: needs a board id")
    expect(bad("fleet:a/b?link=borrowed").reason).toContain("the only value is lent")
    expect(bad("fleet:a/b?baud=9600").reason).toContain("baud")
    const opened = await Effect.runPromiseExit(Effect.scoped(openConnection(ok("fleet:shelf1/b0"))))
    expect(Exit.isFailure(opened) && Cause.pretty(opened.cause)).toContain(
      "cannot open fleet:shelf1/b0: a fleet board is reached through its runner",
    )
  })

  it("refuses what it cannot read, saying what was expected", () => {
    for (const input of [
      "",
      "tcp://x",
      "serial:",
      "serial:/dev/x?baud=fast",
      "virtual?speed=1",
      "qemu:pico",
      "exec:",
      "exec-pty:",
      "qemu:microbit?keep=maybe",
      "exec:'open",
      "USB0",
      "virtual?rawPaste=maybe",
    ]) {
      const error = bad(input)
      expect(error._tag).toBe("ConnectionStringError")
      expect(error.message).toContain("Expected one of")
    }
    expect(bad("tcp://x").reason).toContain("tcp:")
    expect(bad("virtual?speed=1").reason).toContain("speed")
  })

  it("never throws on arbitrary input (property)", () => {
    fc.assert(
      fc.property(fc.string(), (input) => {
        const r = parseConnectionString(input)
        expect(Result.isSuccess(r) || r.failure._tag === "ConnectionStringError").toBe(true)
      }),
      { numRuns: 2000 },
    )
  })

  it("splits command lines so that quoting round-trips (property)", () => {
    const word = fc.string({ minLength: 1 }).filter((w) => !/[\\'"\s]/.test(w))
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            word,
            fc.string({ minLength: 1 }).map((w) => w.replace(/'/g, "")),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        (words) => {
          const line = words.map((w) => `'${w}'`).join(" ")
          expect(splitCommandLine(line)).toEqual(words)
        },
      ),
    )
  })
})

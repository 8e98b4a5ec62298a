import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { eraseProgram, firmwareEnd } from "../src/microbitFlash.ts"
import { defaultMicrobitFirmwarePath, isQemuMicrobitAvailable } from "../src/qemu.ts"

// Whether the erase works on the emulated board is pinned end to end: files written over the room
// a removed one left stay whole (apps/example e2e-microbit), and files survive a reset in the
// middle of a write (filesystem qemu suite), which a loader file of 0xFF bytes did not allow.
describe("the emulated micro:bit's flash, erased beyond the firmware", () => {
  it("ends the firmware at its last byte below the end of the flash, across extended-address records", () => {
    const hex = [
      ":020000040000FA",
      ":10010000000102030405060708090A0B0C0D0E0F68",
      ":020000040003F7",
      ":04FFF000DEADBEEF2B", // 0x3FFF0..0x3FFF4
      ":020000041000EA",
      ":0410C000010203041E", // 0x1000_10C0: the UICR, not the flash
      ":00000001FF",
    ].join("\n")
    expect(firmwareEnd(hex)).toBe(0x3fff4)
    expect(firmwareEnd(":020000040000FA\n:0400000001020304F2\n:00000001FF\n")).toBe(4)
  })

  it("erases page by page through the flash controller, from the page given to the end of the flash", () => {
    const program = eraseProgram(0x3bc00)
    expect(program).toContain(`for a in range(${0x3bc00},${0x40000},1024):`)
    expect(program).toContain(`m[${0x4001e504}]=2`) // NVMC CONFIG: erase enabled
    expect(program).toContain(`m[${0x4001e508}]=a`) // NVMC ERASEPAGE
    expect(program.endsWith(`m[${0x4001e504}]=0`)).toBe(true) // back to read-only
  })

  it.runIf(isQemuMicrobitAvailable())(
    "the installed firmware leaves room for the filesystem after it",
    () => {
      const end = firmwareEnd(readFileSync(defaultMicrobitFirmwarePath, "latin1"))
      expect(end).toBeGreaterThan(0x30000)
      expect(end).toBeLessThan(0x3fc00)
    },
  )
})

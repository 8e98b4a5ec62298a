import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { firmwareEnd } from "../src/microbitFlash.ts"
import { defaultMicrobitFirmwarePath, isQemuMicrobitAvailable } from "../src/qemu.ts"

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

  it.runIf(isQemuMicrobitAvailable())(
    "the installed firmware leaves room for the filesystem after it",
    () => {
      const end = firmwareEnd(readFileSync(defaultMicrobitFirmwarePath, "latin1"))
      expect(end).toBeGreaterThan(0x30000)
      expect(end).toBeLessThan(0x3fc00)
    },
  )
})

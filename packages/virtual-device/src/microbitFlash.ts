/**
 * The emulated micro:bit's flash as a real one is after flashing: erased (0xFF) beyond the
 * firmware. QEMU starts every byte the firmware's hex file does not set at 0, and MicroPython's
 * micro:bit filesystem, which lives in the flash after the firmware, reads a chunk starting 0 as
 * one freed by a deleted file: on a zeroed flash it hands out chunks of live files and files read
 * back damaged (seen: a 3000-byte file written, verified, then a second file written and the
 * first's hash changed). A real board's flash is erased by its programmer before the firmware is
 * written, so the region is 0xFF, which is what this gives QEMU: a second loader with a file of
 * 0xFF bytes from the end of the firmware to the end of the flash.
 *
 * @internal
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import os from "node:os"
import path from "node:path"

/** The nRF51822's flash: 256 KB from address 0. */
const FLASH_END = 0x40000

/**
 * The end of what an Intel HEX file writes below the end of the flash (the first address after
 * its last byte there).
 *
 * @example
 * firmwareEnd(":020000040000FA\n:0400000001020304F2\n:00000001FF\n") // 4
 */
export const firmwareEnd = (hex: string): number => {
  let base = 0
  let end = 0
  for (const line of hex.split(/\r?\n/)) {
    if (!line.startsWith(":") || line.length < 11) continue
    const count = Number.parseInt(line.slice(1, 3), 16)
    const offset = Number.parseInt(line.slice(3, 7), 16)
    const type = Number.parseInt(line.slice(7, 9), 16)
    if (type === 0x04) base = Number.parseInt(line.slice(9, 13), 16) * 0x10000
    else if (type === 0x02) base = Number.parseInt(line.slice(9, 13), 16) * 0x10
    else if (type === 0x00) {
      const recordEnd = base + offset + count
      if (base + offset < FLASH_END) end = Math.max(end, Math.min(recordEnd, FLASH_END))
    }
  }
  return end
}

/** Where the erased-flash files are kept: the user's cache folder (they depend only on their size). */
const cacheFolder = () =>
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "belay", "qemu")

/**
 * QEMU's loader arguments that erase the flash after `firmwarePath`'s hex: `-device
 * loader,file=<0xFF bytes>,addr=<end of the firmware>,force-raw=on`, the file made once in the
 * user's cache folder; none when the firmware fills the flash.
 */
export const erasedFlashArguments = (firmwarePath: string): ReadonlyArray<string> => {
  const start = firmwareEnd(readFileSync(firmwarePath, "latin1"))
  if (start >= FLASH_END) return []
  const folder = cacheFolder()
  const file = path.join(folder, `microbit-erased-${start.toString(16)}.bin`)
  if (!existsSync(file)) {
    mkdirSync(folder, { recursive: true })
    // Written aside, then renamed: a QEMU started at the same time reads a whole file or none.
    const partial = `${file}.${process.pid}.partial`
    writeFileSync(partial, Buffer.alloc(FLASH_END - start, 0xff))
    renameSync(partial, file)
  }
  return ["-device", `loader,file=${file},addr=0x${start.toString(16)},force-raw=on`]
}

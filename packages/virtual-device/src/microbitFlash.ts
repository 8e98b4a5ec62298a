/**
 * The emulated micro:bit's flash as a real one is after flashing: erased (0xFF) beyond the
 * firmware, and kept across resets.
 *
 * QEMU starts every byte the firmware's hex file does not set at 0, and MicroPython's micro:bit
 * filesystem, which lives in the flash after the firmware, reads a chunk whose marker is 0 as one
 * freed by a deleted file: on a zeroed flash it hands out chunks of live files, and files read
 * back damaged (seen: a 3000-byte file written and verified, then two more written over the room
 * a removed one left, and the first one's hash changed). A real board's programmer erases the
 * flash before it writes the firmware. A second loader file of 0xFF bytes does not do: QEMU copies
 * its loader files into memory again at every reset, so each `machine.reset()` would erase every
 * file. So the board erases it itself, once, as the emulator starts: the flash controller's
 * page erase (NVMC `ERASEPAGE`) on every page from the first after the firmware to the end of the
 * flash, through `machine.mem32`, then a reset so that the filesystem starts on erased pages.
 *
 * @internal
 */
import { closeSync, constants, openSync, readFileSync, readSync, writeSync } from "node:fs"

/** The nRF51822's flash: 256 KB from address 0, in 1 KB pages. */
const FLASH_END = 0x40000
const PAGE_SIZE = 0x400
/** The nRF51 flash controller's registers: READY, CONFIG (2 = erase enabled), ERASEPAGE. */
const NVMC_READY = 0x4001e400
const NVMC_CONFIG = 0x4001e504
const NVMC_ERASEPAGE = 0x4001e508

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
    else if (type === 0x00 && base + offset < FLASH_END)
      end = Math.max(end, Math.min(base + offset + count, FLASH_END))
  }
  return end
}

/**
 * The board-side program that erases every page from `start` (page aligned) to the end of the
 * flash, one page at a time, waiting for the controller after each.
 *
 * @example
 * eraseProgram(0x3bc00) // "import machine\nm=machine.mem32\nfor a in range(244736,262144,1024):\n ..."
 */
export const eraseProgram = (start: number): string =>
  [
    "import machine",
    "m=machine.mem32",
    `for a in range(${start},${FLASH_END},${PAGE_SIZE}):`,
    ` m[${NVMC_CONFIG}]=2`,
    ` m[${NVMC_ERASEPAGE}]=a`,
    ` while not m[${NVMC_READY}]:pass`,
    `m[${NVMC_CONFIG}]=0`,
  ].join("\n")

const RAW_BANNER = "raw REPL; CTRL-B to exit\r\n>"
/** The end of a raw-REPL reply: the code's end, its traceback's, and the prompt. */
const RAW_END = "\x04>"
/** What the board prints once it has started again. */
const BOOTED = ">>> "
/** How often the pseudo-terminal is read while waiting. */
const POLL_MS = 5
/**
 * Code goes out in pieces this big, this far apart: the firmware drops what its small receive
 * buffer cannot take, and an emulator on a busy machine reads slowly.
 */
const WRITE_PIECE = 32
const WRITE_GAP_MS = 10

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Erase the flash beyond `firmwarePath`'s firmware on the emulated board behind `ptyPath` (just
 * started, its filesystem empty), then reset it and wait until it has started again. Each wait is
 * bounded by `timeoutMs`; a board that does not answer is an error saying what it printed. Safe to
 * run again after a failure: erasing an erased page changes nothing.
 */
export const eraseFlashBeyondFirmware = async (
  ptyPath: string,
  firmwarePath: string,
  timeoutMs: number,
): Promise<void> => {
  const start = Math.ceil(firmwareEnd(readFileSync(firmwarePath, "latin1")) / PAGE_SIZE) * PAGE_SIZE
  if (start >= FLASH_END) return
  const fd = openSync(ptyPath, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK)
  let received = ""
  const chunk = Buffer.alloc(4096)
  const until = async (text: string, what: string) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const at = received.indexOf(text)
      if (at >= 0) {
        received = received.slice(at + text.length)
        return
      }
      if (Date.now() > deadline)
        throw new Error(
          `the board did not ${what} within ${timeoutMs} ms (it printed ${JSON.stringify(received.slice(-200))})`,
        )
      let n = 0
      try {
        n = readSync(fd, chunk, 0, chunk.length, null)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error
      }
      if (n > 0) received += chunk.toString("latin1", 0, n)
      else await sleep(POLL_MS)
    }
  }
  const send = async (text: string) => {
    const bytes = Buffer.from(text, "latin1")
    for (let at = 0; at < bytes.length; at += WRITE_PIECE) {
      if (at > 0) await sleep(WRITE_GAP_MS)
      writeSync(fd, bytes.subarray(at, at + WRITE_PIECE))
    }
  }
  try {
    await send("\r\x03\x03\r\x01")
    await until(RAW_BANNER, "enter its raw REPL")
    await send(`${eraseProgram(start)}\x04`)
    await until(RAW_END, "erase its flash")
    received = ""
    await send("import microbit\nmicrobit.reset()\x04")
    await until(BOOTED, "start again after the erase")
  } finally {
    closeSync(fd)
  }
}

import { createHash, randomBytes } from "node:crypto"
import { mkdir, writeFile } from "node:fs/promises"
import path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { belayCommand, qemuMicrobitForBlock, withoutResendWarnings } from "./belayProcess.js"

// A put on the QEMU micro:bit (MicroPython 1.9.2: no rename, no statvfs, about 15 KB of flash)
// whose flash holds the file once but not twice: the atomic put (a verified temporary file copied
// over the target) is refused up front with the sizes, leaving the board as it was; --no-atomic
// writes in place, verified.

const cli = belayCommand("belay-smallboard-put-")
const belay = cli.run

/** 72 chunks of the micro:bit's filesystem (126 data bytes each): about 5.7 KB stays free of its 15 KB. */
const FILL = "f=open('filler','wb')\nfor i in range(72):f.write(bytes(126))\nf.close()"
/** The target before the put. */
const OLD = "f=open('x.bin','wb')\nf.write(b'old')\nf.close()"
const LIST = "import os\nprint(sorted(os.listdir()))"

describe("a put on the QEMU micro:bit that fits once but not twice", () => {
  const qemu = qemuMicrobitForBlock()
  let device: string
  let local: string
  const data = randomBytes(4000)
  beforeAll(async () => {
    device = `serial:${qemu.ptyPath()}`
    const dir = path.join(cli.home(), "put")
    await mkdir(dir, { recursive: true })
    local = path.join(dir, "x.bin")
    await writeFile(local, data)
  })

  it("atomic: refused before anything is written, with the sizes and the way out; exit 1, nothing left, the old file intact", async () => {
    const setup = await belay(["exec", FILL, "+", "exec", OLD, "--device", device])
    expect(setup).toMatchObject({ code: 0, stderr: "" })
    const put = await belay(["cp", local, ":x.bin", "--device", device])
    expect(put.code).toBe(1)
    // (A line of its own: a request the emulated board's UART damaged, sent again, may be logged
    // as a warning before it.)
    expect(put.stderr).toMatch(
      /^belay: write \/x\.bin: not enough room for an atomic write of 4000 bytes over the old 3-byte file: it needs 8509 bytes free \(the verified temporary file, then room to copy it over the real name\) and \d+ are; nothing was written\. /m,
    )
    const free = Number(/and (\d+) are/.exec(put.stderr)?.[1])
    expect(free).toBeGreaterThan(4000)
    expect(free).toBeLessThan(8509)
    expect(put.stderr).toContain("`atomic: false`")
    expect(put.stderr).toContain("--no-atomic")
    const after = await belay(["exec", LIST, "+", "cat", "x.bin", "--device", device])
    expect(after).toMatchObject({ code: 0, stdout: "['filler', 'x.bin']\nold" })
  })

  it("--no-atomic: written in place and verified; sha256sum matches the host file", async () => {
    const put = await belay([
      "cp",
      "--no-atomic",
      local,
      ":x.bin",
      "+",
      "sha256sum",
      "x.bin",
      "+",
      "exec",
      LIST,
      "--device",
      device,
    ])
    // A first attempt the board had no memory to close is begun again, with a warning (it happens
    // on a busy machine, when resent exchanges have fragmented the heap).
    expect(withoutResendWarnings(put.stderr)).toBe("")
    expect(put.code).toBe(0)
    expect(put.stdout).toContain(`${local} -> :/x.bin: 3.9 KB copied and verified\n`)
    const digest = createHash("sha256").update(data).digest("hex")
    expect(put.stdout).toContain(`${digest}  /x.bin\n`)
    expect(put.stdout).toContain("['filler', 'x.bin']\n")
  })
})

describe("--no-atomic on fs put and fs sync (virtual board)", () => {
  it("fs put and fs sync take it; cp, fs put and fs sync say in their help what it costs", async () => {
    const dir = path.join(cli.home(), "sync")
    await mkdir(dir, { recursive: true })
    await writeFile(path.join(dir, "a.py"), "a = 1\n")
    await writeFile(path.join(dir, "b.py"), "b = 2\n")
    const run = await belay([
      "fs",
      "put",
      "--no-atomic",
      path.join(dir, "a.py"),
      "/put.py",
      "+",
      "fs",
      "sync",
      "--no-atomic",
      dir,
      "/synced",
      "+",
      "cat",
      "/put.py",
      "/synced/b.py",
    ])
    expect(run).toMatchObject({ code: 0, stderr: "" })
    expect(run.stdout).toContain("2 uploaded, 0 unchanged, 0 deleted\n")
    expect(run.stdout).toMatch(/a = 1\nb = 2\n$/)
    for (const command of [["cp"], ["fs", "put"], ["fs", "sync"]]) {
      const help = await belay([...command, "--help"])
      expect(help.stdout).toContain("--no-atomic")
      expect(help.stdout).toContain("a power cut, reset or kill mid-write leaves a partial file")
    }
  })
})

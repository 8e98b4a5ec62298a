import { writeFile } from "node:fs/promises"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { belayCommand, stdoutJson } from "./belayProcess.js"

// The belay command on the virtual board playing CircuitPython (no real CircuitPython firmware runs
// in CI): `info` names the firmware, a write to the flash that CircuitPython keeps read-only to
// code fails with what to do, and with the flash writable the usual commands work.

const cli = belayCommand("belay-cp-")
const belay = cli.run
const CIRCUITPYTHON = "virtual?flavor=circuitpython"

describe("belay on a CircuitPython board (virtual)", () => {
  it("info shows the firmware: CircuitPython, its version, no threads, os without ilistdir", async () => {
    const text = await belay(["info", "--device", CIRCUITPYTHON])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^firmware +CircuitPython 9\.2\.1 \(circuitpython\)$/m)
    expect(text.stdout).toMatch(/^threads +no$/m)
    const json = await belay(["info", "--json", "--device", `${CIRCUITPYTHON}&version=6.3.0`])
    expect(json.code).toBe(0)
    const report = stdoutJson(json)
    expect(report.capabilities).toMatchObject({ flavor: "circuitpython", version: "6.3.0", rawPaste: false })
    expect(report.capabilities.osFunctions).not.toContain("ilistdir")
  })

  it("reset uses CircuitPython's microcontroller.reset() and the board answers again", async () => {
    expect(await belay(["reset", "--device", CIRCUITPYTHON])).toMatchObject({
      code: 0,
      stdout: "reset; the board answers again (CircuitPython 9.2.1)\n",
    })
  })

  it("fs put to the read-only flash exits 1 saying how to make it writable; writable, put, ls and cat work", async () => {
    const local = path.join(cli.home(), "hello.py")
    await writeFile(local, "print('hello')\n")
    const refused = await belay(["fs", "put", local, "/hello.py", "--device", CIRCUITPYTHON])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain("read-only to code")
    expect(refused.stderr).toContain('storage.remount("/", False)')
    const writable = `${CIRCUITPYTHON}&writable=true`
    expect((await belay(["fs", "put", local, "/hello.py", "--device", writable])).code).toBe(0)
    const ls = await belay(["fs", "ls", "/", "--json", "--device", writable])
    expect(stdoutJson(ls)).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: "/hello.py", type: "file" })]),
    )
    expect(await belay(["fs", "cat", "/hello.py", "--device", writable])).toMatchObject({
      code: 0,
      stdout: "print('hello')\n",
    })
    expect(await belay(["exec", "exec(open('/hello.py').read())", "--device", writable])).toMatchObject({
      code: 0,
      stdout: "hello\n",
    })
  })
})

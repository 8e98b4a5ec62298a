import { randomBytes } from "node:crypto"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { belayCommand, qemuMicrobitForBlock, signalGroup, sleep, startPtyBoard } from "./belayProcess.js"

// Nothing left after a crash: a `belay fs put` killed outright (SIGKILL: no finalizer runs) leaves
// its half-written temporary file on a board that stays powered; the next connection removes it,
// and the old file under the real name was never touched. The boards here outlive the CLI: the
// virtual board behind a pseudo-terminal and the QEMU micro:bit.

const cli = belayCommand("belay-crash-")
const start = cli.start
/** Run to the end; a longer bound than usual: 2 MB uploads to a board behind a pseudo-terminal. */
const belay = (args: string[]) => cli.run(args, { timeoutMs: 120_000 })

/** The board's root listing, by `exec` (no file operation: nothing is cleaned on the way). */
const rootNames = async (device: string, root: string) => {
  const result = await belay(["exec", `import os\nprint(repr(os.listdir(${root})))`, "--device", device])
  expect(result.code).toBe(0)
  return JSON.parse(result.stdout.trim().replace(/'/g, '"')) as string[]
}

const temporaries = (names: ReadonlyArray<string>) => names.filter((n) => /^\.belay-.*\.tmp$/.test(n))

/**
 * `belay fs put local remote`, SIGKILLed `afterMs` after its upload registered its temporary file
 * (with the session, just before its first exchange). Whether the kill came mid-upload is checked
 * on the board afterwards, by the caller.
 */
const killedPut = async (device: string, local: string, remote: string, afterMs: number) => {
  const put = start(["fs", "put", local, remote, "--device", device], { env: { BELAY_LOG_LEVEL: "Debug" } })
  await put.until("BoardTempFile", "stderr")
  await sleep(afterMs)
  put.child.kill("SIGKILL")
  const result = await put.finished
  expect(result.signal).toBe("SIGKILL")
}

describe("a killed fs put, virtual board on a pseudo-terminal", () => {
  let board: Awaited<ReturnType<typeof startPtyBoard>>
  let device: string
  beforeAll(async () => {
    board = await startPtyBoard(await mkdtemp(path.join(os.tmpdir(), "belay-crash-pty-")))
    device = `serial:${board.link}`
  })
  afterAll(async () => {
    if (!board) return
    signalGroup(board.child, "SIGTERM")
    await rm(path.dirname(board.link), { recursive: true, force: true })
  })

  it("SIGKILL during a 2 MB fs put: the next connection removes the temporary file, the old file is intact", async () => {
    const old = randomBytes(1000)
    const oldFile = path.join(cli.home(), "old.bin")
    await writeFile(oldFile, old)
    expect((await belay(["fs", "put", oldFile, "/big.bin", "--device", device])).code).toBe(0)
    const big = path.join(cli.home(), "big.bin")
    await writeFile(big, randomBytes(2 * 1024 * 1024))

    await killedPut(device, big, "/big.bin", 500)
    // What the killed host left: a half-written temporary file beside the old file.
    const left = temporaries(await rootNames(device, "'/'"))
    expect(left.length).toBe(1)

    // The next connection's first file operation removes it.
    const ls = await belay(["fs", "ls", "--json", "--device", device])
    expect(ls.code).toBe(0)
    expect(JSON.parse(ls.stdout)).toEqual([expect.objectContaining({ path: "/big.bin", size: 1000 })])
    expect(temporaries(await rootNames(device, "'/'"))).toEqual([])
    const back = path.join(cli.home(), "back.bin")
    expect((await belay(["fs", "get", "/big.bin", back, "--device", device])).code).toBe(0)
    expect(Buffer.compare(await readFile(back), old)).toBe(0)
  })

  it("fs clean removes what is dead under a directory and says so, with --json too", async () => {
    expect((await belay(["fs", "mkdir", "/app", "--device", device])).code).toBe(0)
    const big = path.join(cli.home(), "big.bin")
    await killedPut(device, big, "/app/big.bin", 500)
    const left = temporaries(await rootNames(device, "'/app'"))
    expect(left.length).toBe(1)
    const clean = await belay(["fs", "clean", "/app", "--json", "--device", device])
    expect(clean.code).toBe(0)
    expect(JSON.parse(clean.stdout)).toEqual({ removed: [`/app/${left[0]}`], kept: [] })
    const again = await belay(["fs", "clean", "--device", device])
    expect(again).toMatchObject({
      code: 0,
      stdout: "0 temporary file(s) removed, 0 kept (uploads in progress)\n",
    })
    expect((await belay(["fs", "rm", "-r", "/app", "--device", device])).code).toBe(0)
  })
})

describe("a killed fs put, QEMU micro:bit through --device serial:/dev/pts/N", () => {
  const qemu = qemuMicrobitForBlock()
  let device: string
  beforeAll(() => {
    device = `serial:${qemu.ptyPath()}`
  })

  it("SIGKILL during fs put: the next upload removes the temporary file first, the old file is intact", async () => {
    const oldFile = path.join(cli.home(), "old.txt")
    await writeFile(oldFile, "the old content\n")
    expect((await belay(["fs", "put", oldFile, "/keep.txt", "--device", device])).code).toBe(0)
    const big = path.join(cli.home(), "mb.bin")
    // Room on the micro:bit's 15 KB flash for it twice, as an atomic put needs (a file without
    // that room is refused before anything is written, and leaves nothing to kill).
    await writeFile(big, randomBytes(6000))

    await killedPut(device, big, "/keep.txt", 300)
    const left = temporaries(await rootNames(device, ""))
    expect(left.length).toBe(1)

    // A micro:bit looks at a directory's temporary files at the first upload into it.
    const other = path.join(cli.home(), "other.txt")
    await writeFile(other, "another file\n")
    expect((await belay(["fs", "put", other, "/other.txt", "--device", device])).code).toBe(0)
    expect(temporaries(await rootNames(device, ""))).toEqual([])
    const cat = await belay(["fs", "cat", "/keep.txt", "--device", device])
    expect(cat).toMatchObject({ code: 0, stdout: "the old content\n" })
  })

  it("a name longer than the micro:bit takes is refused with exit 1, nothing left", async () => {
    const file = path.join(cli.home(), "x.txt")
    await writeFile(file, "x")
    const put = await belay(["fs", "put", file, `/${"n".repeat(121)}`, "--device", device])
    expect(put.code).toBe(1)
    expect(put.stderr).toContain("takes names of at most 120 bytes")
    expect(temporaries(await rootNames(device, ""))).toEqual([])
  })
})

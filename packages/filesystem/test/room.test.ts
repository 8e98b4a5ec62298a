/**
 * Room for a write, checked before anything is written: what each commit mode needs, the errors'
 * words, the board helper that measures free space, and whole writes on a fake micro:bit-like board
 * (flat, no rename, no statvfs: real MicroPython 1.27 in WebAssembly) whose flash is made small.
 */
import { frameProbeAnswer } from "@belay/core/internal"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { sizeHelper } from "../src/CompactHash.js"
import { NotEnoughSpaceError, PartialWriteError } from "../src/errors.js"
import { type BoardFileSystem, boardFileSystem, isTemporaryName } from "../src/index.js"
import { REPLY_ALONE, ROOM_FOR_WRITE } from "../src/python/embedded.js"
import { COPY_RESERVE_MARGIN, roomError, roomNeed } from "../src/UploadRoom.js"
import { changeCode, randomBytes, run, wasmBoard } from "./fixtures.js"
import { instrument } from "./suite.js"

const request = (size: number, atomic: boolean) => ({
  operation: "write" as const,
  path: "/x.bin",
  data: new Uint8Array(size),
  atomic,
})

describe("what a write needs free", () => {
  it("a copy commit: the temporary file, then the commit's reservation; in place: the growth; rename and append are not checked", () => {
    expect(roomNeed("copy", "write", 4000)).toEqual({ base: 4000, grow: 4000 + COPY_RESERVE_MARGIN })
    expect(roomNeed("direct", "write", 4000)).toEqual({ base: 0, grow: 4000 })
    expect(roomNeed("rename", "write", 4000)).toBeUndefined()
    expect(roomNeed("copy", "append", 4000)).toBeUndefined()
  })

  it("no error when the free space covers the need, exactly or more", () => {
    expect(roomError(request(4000, true), { old: 0, need: 8512, free: 8512 })).toBeUndefined()
    expect(roomError(request(4000, false), { old: 3, need: 3997, free: 9000 })).toBeUndefined()
  })

  it("an atomic write without room says the sizes, and names the library option and the CLI flag", () => {
    const error = roomError(request(4000, true), { old: 3, need: 8509, free: 5760 })
    expect(error).toBeInstanceOf(NotEnoughSpaceError)
    expect(error).toMatchObject({ size: 4000, existing: 3, needed: 8509, free: 5760, atomic: true })
    expect(error?.message).toBe(
      "write /x.bin: not enough room for an atomic write of 4000 bytes over the old 3-byte file: it needs 8509 bytes free (the verified temporary file, then room to copy it over the real name) and 5760 are; nothing was written. Free room on the board, or write in place without the copy: the library's `atomic: false` option, the CLI's --no-atomic flag (a power cut or kill mid-write then leaves a partial file)",
    )
  })

  it("a write in place without room says so up front, with the old file's size", () => {
    const error = roomError(request(9000, false), { old: 1000, need: 8000, free: 5000 })
    expect(error?.message).toBe(
      "write /x.bin: not enough room to write 9000 bytes in place over the old 1000-byte file: it needs 8000 bytes free and 5000 are; nothing was written (free room on the board first)",
    )
  })

  it("a write in place that failed after it began says the file is damaged, and how to write it again", () => {
    const error = new PartialWriteError({
      operation: "write",
      path: "/x.bin",
      size: 4000,
      reason: "no space",
    })
    expect(error.message).toContain("the file on the board is damaged or incomplete")
    expect(error.message).toContain("--no-atomic")
    expect(error.message).toContain("`atomic: false`")
  })
})

// A micro:bit-like board whose flash holds FLASH_BYTES: every file opened for writing counts the
// regular files in the working directory, and a write past the capacity raises ENOSPC (28) as the
// micro:bit does. Reads are the interpreter's own. Names do not start with `_b` (a reset keeps them).
const FLASH_BYTES = 12_000
const SMALL_FLASH = [
  "import os",
  "if '_q_open' not in globals():",
  "    _q_open = open",
  "def _q_used():",
  "    n = 0",
  "    for f in os.listdir():",
  "        s = os.stat(f)",
  "        if s[0] & 0x8000:",
  "            n += s[6]",
  "    return n",
  "class _QFile:",
  "    def __init__(self, f):",
  "        self.f = f",
  "    def write(self, d):",
  `        if _q_used() + len(d) > ${FLASH_BYTES}:`,
  "            raise OSError(28)",
  "        return self.f.write(d)",
  "    def close(self):",
  "        self.f.close()",
  "def open(p, m='r'):",
  "    f = _q_open(p, m)",
  "    return _QFile(f) if 'w' in m or 'a' in m else f",
  "",
].join("\n")

/** A micro:bit's probe answer, but with `os.stat` for sizes (the WebAssembly build has no `os.size`). */
const PROBE_SMALL_FLAT = frameProbeAnswer(
  "{'impl': 'micropython', 'ver': '1.9.2', 'plat': 'microbit', 'mach': 'fake micro:bit', 'mods': [], " +
    "'hash': [], 'os': ['listdir', 'remove', 'stat', 'uname'], 'uid': None, 'free': 7000}",
)

const flatBoard = Effect.gen(function* () {
  let instrumented!: ReturnType<typeof instrument>
  const board = yield* wasmBoard({
    intercept: (code) => (code.includes("_belay_probe") ? { stdout: PROBE_SMALL_FLAT } : undefined),
    wrap: (device) => {
      instrumented = instrument(device, () => Effect.die("no reset here"))
      return instrumented.device
    },
  })
  board.py(SMALL_FLASH)
  const session = yield* board.manager.createSession()
  const fs = boardFileSystem(session)
  return { ...board, fs, instrumented }
})

const names = (fs: BoardFileSystem) => Effect.map(fs.list("/"), (entries) => entries.map((e) => e.path))
const temporaries = (fs: BoardFileSystem) =>
  Effect.map(names(fs), (paths) => paths.filter((p) => isTemporaryName(p.slice(1))))

describe("a flat board without rename, with a small flash (fake micro:bit)", () => {
  it("the helper measures the free space by a reservation file it removes; statvfs where the board has it", () =>
    run(
      Effect.gen(function* () {
        const { py } = yield* flatBoard
        const d = { flat: true, os: new Set(["listdir", "remove", "stat"]), piece: 256 } as never
        const call = (args: string) =>
          py(
            `${sizeHelper(d).code}${REPLY_ALONE.code}${ROOM_FOR_WRITE.code}_b1(_bq(${args}))\ndel _bsz,_b1,_bq`,
          ).split(/\r?\n/)[0]
        py("f=open('old.bin','wb');f.write(bytes(1000));f.close()")
        // 11 000 bytes free; 4000 over the 1000-byte file needs 4000 + (4512 - 1000): fits.
        expect(call("'old.bin','.belay-r.tmp',4000,4512,None,[28]")).toBe("(1000, 7512, 7552)")
        // 20 000 needed: as many 128-byte blocks as fit.
        expect(call("'new.bin','.belay-r.tmp',10000,10000,None,[28]")).toBe("(0, 20000, 10880)")
        expect(
          py("print(sorted(n for n in os.listdir() if n.endswith('.bin') or n.startswith('.belay')))"),
        ).toBe("['old.bin']")
        // Another OSError than "no space" is raised, and the reservation still goes.
        expect(() => call("'new.bin','.belay-r.tmp',20000,0,None,[99]")).toThrow(/OSError: 28/)
        expect(py("print([n for n in os.listdir() if n.startswith('.belay')])")).toBe("[]")
        const statvfs = py("s=os.statvfs('/');print((s[1] or s[0])*s[4])")
        expect(call("'old.bin','.belay-r.tmp',0,10,'/',[28]")).toBe(`(1000, 0, ${statvfs})`)
        py("os.remove('old.bin')")
      }),
    ))

  it("an atomic write that fits once but not twice is refused before anything is written; in place it lands, verified", () =>
    run(
      Effect.gen(function* () {
        const { fs, instrumented } = yield* flatBoard
        yield* fs.write("/keep.bin", "old")
        const data = randomBytes(7000, 7)
        const sent = instrumented.programs.length
        const error = yield* Effect.flip(fs.write("/keep.bin", data))
        expect(error).toBeInstanceOf(NotEnoughSpaceError)
        expect(error).toMatchObject({ size: 7000, existing: 3, atomic: true })
        const { needed, free } = error as NotEnoughSpaceError
        expect(needed).toBe(7000 + 7000 + COPY_RESERVE_MARGIN - 3)
        expect(free).toBeLessThan(needed)
        expect(free).toBeGreaterThan(7000)
        // One exchange (the check): no upload was opened.
        expect(instrumented.programs.slice(sent).filter((p) => p.includes("_bf")).length).toBe(0)
        expect(yield* fs.readText("/keep.bin")).toBe("old")
        expect(yield* temporaries(fs)).toEqual([])

        const result = yield* fs.write("/keep.bin", data, { atomic: false })
        expect(result).toMatchObject({ commit: "direct", size: 7000 })
        expect(Buffer.from(yield* fs.readBytes("/keep.bin")).equals(Buffer.from(data))).toBe(true)
        expect(yield* temporaries(fs)).toEqual([])
        yield* fs.remove("/keep.bin")
      }),
    ))

  it("in place, a file bigger than the free space and the old file together is refused up front", () =>
    run(
      Effect.gen(function* () {
        const { fs } = yield* flatBoard
        yield* fs.write("/big.bin", randomBytes(2000, 1))
        const error = yield* Effect.flip(fs.write("/big.bin", randomBytes(14_000, 2), { atomic: false }))
        expect(error).toBeInstanceOf(NotEnoughSpaceError)
        expect(error).toMatchObject({ size: 14_000, existing: 2000, needed: 12_000, atomic: false })
        expect(error.message).toContain("in place over the old 2000-byte file")
        expect((yield* fs.stat("/big.bin")).size).toBe(2000)
        yield* fs.remove("/big.bin")
      }),
    ))

  it("in place, content that does not check out is a PartialWriteError that says the file is damaged", () =>
    run(
      Effect.gen(function* () {
        const { fs, instrumented } = yield* flatBoard
        // The board hashes something else than what it wrote (as a flash that lost bytes would).
        instrumented.mutate((code) =>
          code.includes("r=_bh(t,s)") ? changeCode(code, "r=_bh(t,s)", "r=(0,0,0)") : undefined,
        )
        const error = yield* Effect.flip(fs.write("/bad.bin", randomBytes(300, 3), { atomic: false }))
        instrumented.mutate(undefined)
        expect(error).toBeInstanceOf(PartialWriteError)
        expect(error.message).toMatch(
          /^write \/bad\.bin: writing 300 bytes in place failed \(.*verification failed/,
        )
        expect(error.message).toContain("the file on the board is damaged or incomplete")
        yield* fs.remove("/bad.bin")
      }),
    ))
})

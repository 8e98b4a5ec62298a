import { spawn } from "node:child_process"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { boardFileSystem, forgetTransferProfile, isTemporaryName } from "../src/index.js"
import { OWNER } from "../src/TemporaryFiles.js"
import { randomBytes } from "./fixtures.js"
import { qemuBoard } from "./qemu-fixture.js"
import { boardSuite, instrument } from "./suite.js"

// The board suite on the emulated micro:bit: MicroPython 1.9.2, ~9 KB heap, a flat ~15 KB
// filesystem, no hashlib (adler32 computed on the board), no rename (atomic writes commit by an
// on-board copy), plain raw mode paced at 128 B / 10 ms. Never skipped: CI installs QEMU.
const suite = boardSuite({
  name: "QEMU micro:bit (MicroPython 1.9.2)",
  open: Effect.gen(function* () {
    let instrumented!: ReturnType<typeof instrument>
    const { manager } = yield* qemuBoard((device) => {
      instrumented = instrument(device, (inner) =>
        Effect.andThen(
          inner.exec("import microbit\nmicrobit.reset()", { integrity: "unchecked" }),
          Effect.die("the board should have reset"),
        ),
      )
      return instrumented.device
    })
    return { manager, instrumented }
  }),
  sizes: [0, 1, 255, 256, 4000],
  dir: "/",
  directories: false,
  interruptedSize: 3000,
  timeoutMs: 120_000,
})

describe("QEMU micro:bit: a small heap and a small flash", () => {
  it("refuses a download whose helper lost a byte on the way (`return` read as `retrn`), and reads the file", () =>
    suite.withSession((fs) =>
      Effect.gen(function* () {
        const content = "a download that must come back exactly\n".repeat(20)
        yield* fs.write("/retrn.txt", content)
        const { instrumented } = suite.board()
        let damaged = 0
        instrumented.mutate((code) => {
          const at = code.indexOf("return(", code.indexOf("def _bd("))
          if (damaged > 0 || !code.includes("def _bd(") || at < 0) return undefined
          damaged++
          return code.slice(0, at + 2) + code.slice(at + 3)
        })
        const read = yield* Effect.ensuring(
          fs.readText("/retrn.txt"),
          Effect.sync(() => instrumented.mutate(undefined)),
        )
        expect(damaged).toBe(1)
        expect(read).toBe(content)
        yield* fs.remove("/retrn.txt")
      }),
    ))

  it("keeps every exchange small enough for the board's memory", () =>
    suite.withSession((fs) =>
      Effect.gen(function* () {
        const sent = suite.board().instrumented.programs.length
        yield* fs.write("/sized.bin", randomBytes(4000, 5))
        const programs = suite.board().instrumented.programs.slice(sent)
        expect(programs.length).toBeGreaterThan(3)
        expect(Math.max(...programs.map((p) => p.length))).toBeLessThan(2048)
        yield* fs.remove("/sized.bin")
      }),
    ))
})

/** The id of a process that has ended. */
const endedPid = () =>
  new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" })
    child.on("error", reject)
    child.on("exit", () => resolve(child.pid as number))
  })

const temporaries = (names: ReadonlyArray<string>) => names.filter((n) => isTemporaryName(n.slice(1)))

describe("QEMU micro:bit: nothing left after a crash or a refused request", () => {
  it("a name longer than its filesystem takes is refused before anything is sent, typed; a 100-byte name works", () =>
    suite.withSession((fs) =>
      Effect.gen(function* () {
        const sent = suite.board().instrumented.programs.length
        const error = yield* Effect.flip(fs.write(`/${"n".repeat(121)}`, "x"))
        expect(error._tag).toBe("BoardLimitError")
        expect(error.message).toContain("the micro:bit's filesystem takes names of at most 120 bytes")
        expect(suite.board().instrumented.programs.length).toBe(sent)
        const long = `/${"l".repeat(100)}`
        yield* fs.write(long, "a long name")
        yield* fs.append(long, ", appended")
        expect(yield* fs.readText(long)).toBe("a long name, appended")
        expect(temporaries((yield* fs.list("/")).map((e) => e.path))).toEqual([])
        yield* fs.remove(long)
      }),
    ))

  it("what a killed host left (a half temporary file, still open) goes before the next connection's first upload; the old file stays", () =>
    suite.withSession((fs, session) =>
      Effect.gen(function* () {
        yield* fs.write("/keep.txt", "the old content")
        const dead = yield* Effect.promise(endedPid)
        // As a host killed mid-upload leaves it on a board that stayed powered: the file open in
        // the registry, which names a process that has ended.
        yield* session.device.exec(
          `f=open('.belay-killed-3.tmp','wb')\nf.write(b'x'*600)\nif '_bf' not in globals():_bf={}\n_bf['.belay-killed-3']=[f,${OWNER.host},${dead}]\ndel f`,
        )
        // The next connection (a new transfer profile: new owner token, nothing looked at yet).
        forgetTransferProfile(session.device)
        const next = boardFileSystem(session)
        yield* next.write("/new.txt", "new")
        const names = (yield* next.list("/")).map((e) => e.path)
        expect(temporaries(names)).toEqual([])
        expect(yield* next.readText("/keep.txt")).toBe("the old content")
        expect((yield* session.device.exec("print('_bf' in globals())")).trim()).toBe("False")
      }),
    ))
})

import { Effect } from "effect"
import { describe, expect, it } from "vitest"
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
          inner.exec("import microbit\nmicrobit.reset()"),
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

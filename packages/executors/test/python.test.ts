/**
 * The board Python in src/python: the embedded module is what the .py files give, every runtime
 * compiles on MicroPython (1.27 on WebAssembly, 1.9.2 on the QEMU micro:bit), and the frame
 * runtime prints the frames the host reads.
 */
import { readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { type DeviceCommunicationShape, makeDeviceCommunication, toPythonLiteral } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
// @ts-expect-error: a plain JavaScript build script, without types
import { embed } from "../../../scripts/embed-python.mjs"
import { encodeFrame, RESULT_MARK } from "../src/Framing.js"
import * as embedded from "../src/python/embedded.js"
import { type OpenBoard, openQemuBoard, openWith } from "./boards.js"

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

const runtimes = Object.entries(embedded).filter(
  (entry): entry is [string, embedded.EmbeddedPython] => typeof entry[1] === "object",
)

/**
 * Neither board has `_thread`. Where `sys.modules` can be written (the virtual board), a stand-in
 * module lets the thread runtime's `import _thread` run (the runtime runs threads in
 * virtual-threads.test.ts); on the micro:bit the import fails after the whole text compiled
 * (`exec` compiles all of it before running any), which is what this test asks.
 */
const STAND_IN =
  "import sys\nclass _belay_no_thread:\n pass\nif hasattr(sys,'modules'):sys.modules['_thread']=_belay_no_thread"
const REMOVE_STAND_IN = "if hasattr(sys,'modules'):del sys.modules['_thread']\ndel _belay_no_thread"

/** As it is, without the transport's check around it: the micro:bit's heap holds one copy. */
const UNCHECKED = { integrity: "unchecked" } as const

/**
 * Define the runtime, then delete what it defined: `compiled` and the names it left (none), or
 * the exception it raised.
 */
const defineAndDelete = (device: DeviceCommunicationShape, runtime: embedded.EmbeddedPython) =>
  Effect.gen(function* () {
    yield* device.exec(STAND_IN, UNCHECKED)
    const defined = yield* device
      .exec(
        `exec(${toPythonLiteral(runtime.code)})\n${runtime.defines.length > 0 ? `del ${runtime.defines.join(",")}\n` : ""}print('compiled')`,
        UNCHECKED,
      )
      .pipe(Effect.catchTag("PythonError", (e) => Effect.succeed(e.exceptionType)))
    const left = yield* device.exec(
      `print([n for n in ${toPythonLiteral(runtime.defines)} if n in globals()])\n${REMOVE_STAND_IN}`,
      UNCHECKED,
    )
    return `${defined.trim()} ${left.trim()}`
  })

/** The frame `_belay_o` prints for a value, as the host reads it. */
const printedFrame = (device: DeviceCommunicationShape) =>
  Effect.gen(function* () {
    const out = yield* device.exec(
      `exec(${toPythonLiteral(embedded.FRAME.code)})\n_belay_o('\\x1eabc0123456',[1,'\\xe9'],3)\ndel _belay_o`,
    )
    return out.replace(/\r\n/g, "\n")
  })

const checks = (board: () => OpenBoard, importsThread: boolean) => {
  it("every runtime compiles and leaves nothing defined", async () => {
    const results = await board().run(
      Effect.forEach(runtimes, ([name, runtime]) =>
        Effect.map(defineAndDelete(board().device, runtime), (out) => [name, out]),
      ),
    )
    expect(results).toEqual(
      runtimes.map(([name]) => [name, importsThread || name !== "THREAD" ? "compiled []" : "ImportError []"]),
    )
  })

  it("the frame runtime prints the frame the host reads", async () => {
    const printed = await board().run(printedFrame(board().device))
    expect(printed).toBe(encodeFrame("abc0123456", "3", "[1, '\\xe9']", RESULT_MARK))
  })
}

describe("board Python (src/python)", () => {
  it("the embedded module is up to date with the .py files", () => {
    const committed = readFileSync(path.join(packageDir, "src", "python", "embedded.ts"), "utf8")
    expect(embed(packageDir)).toBe(committed)
  })

  describe("on the virtual board (MicroPython 1.27, WebAssembly)", () => {
    let board: OpenBoard
    beforeAll(async () => {
      board = await openWith(
        Effect.map(Effect.flatMap(openVirtualBoard({}), makeDeviceCommunication), (device) => ({ device })),
      )
    })
    afterAll(() => board.close())
    checks(() => board, true)
  })

  describe("on the QEMU micro:bit (MicroPython 1.9.2)", () => {
    let board: OpenBoard
    beforeAll(async () => {
      board = await openQemuBoard()
    }, 60_000)
    afterAll(() => board.close())
    checks(() => board, false)
  })
})

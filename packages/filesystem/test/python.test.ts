/**
 * The board helpers in src/python: the embedded module is what the .py files give, and every
 * helper compiles on MicroPython (1.27 on WebAssembly, 1.9.2 on the QEMU micro:bit).
 */
import { readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
// @ts-expect-error: a plain JavaScript build script, without types
import { embed } from "../../../scripts/embed-python.mjs"
import * as embedded from "../src/python/embedded.js"
import { run } from "./fixtures.js"
import { qemuBoard } from "./qemu-fixture.js"

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

const helpers = Object.entries(embedded).filter(
  (entry): entry is [string, embedded.EmbeddedPython] => typeof entry[1] === "object",
)

/**
 * Define the helper, then delete what it defined: nothing stays. Sent as it is (not inside a
 * string for `exec`, which holds it twice): the micro:bit parses the probe with little to spare.
 */
const defineAndDelete = (helper: embedded.EmbeddedPython) =>
  `${helper.code}${helper.defines.length > 0 ? `del ${helper.defines.join(",")}\n` : ""}print('compiled')`

describe("board helpers (src/python)", () => {
  it("the embedded module is up to date with the .py files", () => {
    const committed = readFileSync(path.join(packageDir, "src", "python", "embedded.ts"), "utf8")
    expect(embed(packageDir)).toBe(committed)
  })

  it("every helper compiles on the virtual board (MicroPython 1.27, WebAssembly)", () =>
    run(
      Effect.gen(function* () {
        expect(helpers.length).toBeGreaterThan(10)
        const device = yield* makeDeviceCommunication(yield* openVirtualBoard({}))
        for (const [name, helper] of helpers) {
          const out = yield* device.exec(defineAndDelete(helper))
          expect([name, out.trim()]).toEqual([name, "compiled"])
        }
      }),
    ))

  it(
    "every helper compiles on the QEMU micro:bit (MicroPython 1.9.2)",
    () =>
      run(
        Effect.gen(function* () {
          const { raw } = yield* qemuBoard()
          for (const [name, helper] of helpers) {
            const out = yield* raw.exec(defineAndDelete(helper))
            expect([name, out.trim()]).toEqual([name, "compiled"])
          }
        }),
      ),
    120_000,
  )
})

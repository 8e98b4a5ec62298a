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
import { embed, minify } from "../../../scripts/embed-python.mjs"
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

  it("minified code joins statements where Python allows it, and runs as the source does", () =>
    run(
      Effect.gen(function* () {
        const source = [
          "# board names: total=t item=i",
          "def walk(items):",
          '    """A docstring goes."""',
          "    total = 0",
          "    for item in items:",
          "        if item < 0:",
          "            continue",
          "        elif item == 0:",
          "            total -= 1",
          "            total *= 2",
          "        else:",
          "            try:",
          "                total += 10 // item",
          "            except ZeroDivisionError:",
          "                pass",
          "    print(total)",
          "walk([1, 0, -3, 5, 2])",
          "",
        ].join("\n")
        const { code } = minify(source, "walk.py")
        expect(code).toBe(
          "def walk(items):\n t=0\n for i in items:\n  if i<0:continue\n  elif i==0:t-=1;t*=2\n  else:\n   try:t+=10//i\n   except ZeroDivisionError:pass\n print(t)\nwalk([1,0,-3,5,2])\n",
        )
        const device = yield* makeDeviceCommunication(yield* openVirtualBoard({}))
        expect((yield* device.exec(code)).trim()).toBe((yield* device.exec(source)).trim())
      }),
    ))

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
          // Not the mount's file system: it needs os.mount, which the micro:bit lacks, and a mount
          // is refused there before any of it is sent (mount.test.ts pins that refusal).
          for (const [name, helper] of helpers.filter(([name]) => name !== "MOUNT_VFS")) {
            const out = yield* raw.exec(defineAndDelete(helper))
            expect([name, out.trim()]).toEqual([name, "compiled"])
          }
        }),
      ),
    120_000,
  )
})

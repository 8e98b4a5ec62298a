/**
 * The board Python in src/python: the embedded module is what the .py files give, the names the
 * host relies on are the ones the board sees, and no runtime grows past the bytes it is allowed
 * (the lean runtime travels inside every checked request on a micro:bit). That each one compiles
 * and runs on MicroPython is tested in @belay/virtual-device (test/transport-python.test.ts).
 */
import { readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
// @ts-expect-error: a plain JavaScript build script, without types
import { embed } from "../../../scripts/embed-python.mjs"
import {
  EXEC_RUNTIME,
  EXEC_RUNTIME_NAME,
  LEAN_EXEC_RUNTIME,
  STACK_DEPTH_PROBE,
} from "../src/CheckedOutput.js"
import { CHECKED_RUNTIME, COLLECT_GARBAGE } from "../src/CheckedRequest.js"
import * as python from "../src/python/embedded.js"

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const bytes = (text: string) => new TextEncoder().encode(text).length

describe("board Python (src/python)", () => {
  it("the embedded module is up to date with the .py files", () => {
    const committed = readFileSync(path.join(packageDir, "src", "python", "embedded.ts"), "utf8")
    expect(embed(packageDir)).toBe(committed)
  })

  it("defines the names the host calls and reads in tracebacks", () => {
    expect(python.LEAN_EXEC_RUNTIME.defines).toEqual([EXEC_RUNTIME_NAME])
    expect(python.EXEC_RUNTIME.code).toContain(`\n${EXEC_RUNTIME_NAME},_belay_w=_belay_m()`)
    expect(python.EXEC_RUNTIME.code).toContain(" def _belay_print(")
    expect(python.EXEC_RUNTIME.code).toContain(" def _belay_step(")
    expect(python.CHECKED_RUNTIME.defines).toEqual(["_belay_x"])
    expect(python.STACK_DEPTH.defines).toEqual(["_bsd"])
    // The probe and the runtime ask the same stack-depth function, sent before each.
    expect(STACK_DEPTH_PROBE.startsWith(python.STACK_DEPTH.code)).toBe(true)
    expect(EXEC_RUNTIME.startsWith(python.STACK_DEPTH.code)).toBe(true)
  })

  it("keeps each runtime within the bytes it had as hand-minified strings", () => {
    // The figures of the hand-written strings these files replaced: a runtime may only shrink.
    expect(bytes(EXEC_RUNTIME)).toBeLessThanOrEqual(1341)
    expect(bytes(LEAN_EXEC_RUNTIME)).toBeLessThanOrEqual(255)
    expect(bytes(STACK_DEPTH_PROBE)).toBeLessThanOrEqual(151)
    expect(bytes(CHECKED_RUNTIME)).toBeLessThanOrEqual(85)
    // 4 bytes over `import gc;gc.collect()`, which left a `gc` global in the person's namespace.
    expect(bytes(COLLECT_GARBAGE)).toBeLessThanOrEqual(26)
    expect(COLLECT_GARBAGE).toBe("__import__('gc').collect()")
  })
})

/**
 * The board Python in src/python: the embedded module is what the .py files give, and the probe
 * runs on MicroPython (1.27 on WebAssembly, 1.9.2 on the QEMU micro:bit), answers with a check
 * line the host accepts, and leaves nothing defined.
 */
import { readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { type DeviceCommunicationShape, makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { openVirtualBoard, startQemuMicrobit } from "@belay/virtual-device"
import { Effect, Result } from "effect"
import { describe, expect, it } from "vitest"
// @ts-expect-error: a plain JavaScript build script, without types
import { embed } from "../../../scripts/embed-python.mjs"
import { CAPABILITY_PROBE, parseCapabilityProbe } from "../src/internal.js"
import { run } from "./fixtures.js"

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

/** Run the probe as it is sent unchecked; its answer and what it left in the globals. */
const probe = (device: DeviceCommunicationShape) =>
  Effect.gen(function* () {
    const output = yield* device.exec(CAPABILITY_PROBE)
    const left = yield* device.exec("print('_belay_probe' in globals())")
    const parsed = parseCapabilityProbe(output, { rawPaste: false, rawPasteWindow: undefined })
    return { parsed, left: left.trim() }
  })

describe("board Python (src/python)", () => {
  it("the embedded module is up to date with the .py files", () => {
    const committed = readFileSync(path.join(packageDir, "src", "python", "embedded.ts"), "utf8")
    expect(embed(packageDir)).toBe(committed)
  })

  it("the probe runs on the virtual board (MicroPython 1.27, WebAssembly) and leaves nothing", () =>
    run(
      Effect.gen(function* () {
        const { parsed, left } = yield* probe(yield* makeDeviceCommunication(yield* openVirtualBoard({})))
        expect(Result.isSuccess(parsed) && parsed.success.platform).toBe("webassembly")
        expect(left).toBe("False")
      }),
    ))

  it(
    "the probe runs on the QEMU micro:bit (MicroPython 1.9.2) and leaves nothing",
    () =>
      run(
        Effect.gen(function* () {
          const qemu = yield* startQemuMicrobit()
          const device = yield* makeDeviceCommunication(yield* openSerialLink({ path: qemu.ptyPath }))
          const { parsed, left } = yield* probe(device)
          expect(Result.isSuccess(parsed) && parsed.success.platform).toBe("microbit")
          expect(left).toBe("False")
        }),
      ),
    60_000,
  )
})

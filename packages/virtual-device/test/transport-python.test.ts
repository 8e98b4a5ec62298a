/**
 * The transport's board Python (packages/transport/src/python) compiles and answers as the host
 * expects on MicroPython 1.27 (WebAssembly) and 1.9.2 (the QEMU micro:bit): each file is run
 * plainly, as its constant is sent, and leaves no global behind.
 */
import { type DeviceCommunicationShape, makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as python from "../../transport/src/python/embedded.js"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"
import { startQemuMicrobit } from "../src/qemu.ts"

/**
 * Run `helpers` in one request, as the host sends them together, remove what they left, and print
 * what stays of the helpers' globals (`_belay...`, and stack_depth.py's `_bsd`).
 */
const runAndClean = (helpers: ReadonlyArray<python.EmbeddedPython>, leaves: ReadonlyArray<string>) =>
  [
    `exec(${JSON.stringify(helpers.map((h) => h.code).join(""))})`,
    ...[...helpers.flatMap((h) => h.defines), ...leaves].map((name) => `try:del ${name}\nexcept:pass`),
    "print(sorted(n for n in globals() if n.startswith('_b')))",
  ].join("\n")

/** Each helper's plain output on `device`, with the `_belay` globals left after it. */
const answers = (device: DeviceCommunicationShape) =>
  Effect.gen(function* () {
    const run = (helpers: ReadonlyArray<python.EmbeddedPython>, leaves: ReadonlyArray<string> = []) =>
      Effect.map(device.exec(runAndClean(helpers, leaves), { integrity: "unchecked" }), (out) =>
        out.replaceAll("\r\n", "\n"),
      )
    return {
      depth: yield* run([python.STACK_DEPTH]),
      runtime: yield* run([python.STACK_DEPTH, python.EXEC_RUNTIME], ["_belay_e1"]),
      probe: yield* run([python.STACK_DEPTH, python.STACK_DEPTH_PROBE]),
      lean: yield* run([python.LEAN_EXEC_RUNTIME]),
      checked: yield* run([python.CHECKED_RUNTIME]),
      collect: yield* run([python.COLLECT_GARBAGE]),
    }
  })

describe("the transport's board Python", () => {
  it("runs on the virtual board (MicroPython 1.27): a deep stack keeps the runtime", async () => {
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.flatMap(openVirtualBoard({}), (link) =>
          Effect.flatMap(makeDeviceCommunication(link), answers),
        ),
      ),
    )
    expect(result).toEqual({
      depth: "[]\n",
      runtime: "deep\n[]\n",
      probe: "deep\n[]\n",
      lean: "[]\n",
      checked: "[]\n",
      collect: "[]\n",
    })
  })

  it("runs on the QEMU micro:bit (MicroPython 1.9.2): a shallow stack keeps none", async () => {
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const qemu = yield* startQemuMicrobit()
          const link = yield* openSerialLink({ path: qemu.ptyPath })
          return yield* answers(yield* makeDeviceCommunication(link, { execTimeoutMs: 20_000 }))
        }),
      ),
    )
    expect(result).toEqual({
      depth: "[]\n",
      runtime: "shallow\n[]\n",
      probe: "shallow\n[]\n",
      lean: "[]\n",
      checked: "[]\n",
      collect: "[]\n",
    })
  }, 120_000)
})

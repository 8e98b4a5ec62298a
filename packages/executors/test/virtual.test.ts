import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect } from "effect"
import { describeBoard } from "./boardSuite.js"
import { openWith } from "./boards.js"

// MicroPython 1.27 (WebAssembly) in-process: double floats, raw-paste, a large heap, no _thread.
describeBoard(
  "the virtual board",
  () =>
    openWith(
      Effect.gen(function* () {
        const link = yield* openVirtualBoard()
        return { device: yield* makeDeviceCommunication(link) }
      }),
    ),
  { floats: "double", threads: false, propertyRuns: 200, maxLength: 16, resetBetweenTests: false },
)

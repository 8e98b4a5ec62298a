import { makeDeviceSessionManager } from "@belay/core"
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard, type VirtualBoardOptions } from "@belay/virtual-device"
import { Effect, Stream } from "effect"
import { boardSuite, instrument, type SuiteBoard } from "./suite.js"

/**
 * The virtual board (MicroPython 1.27 WebAssembly behind the serial protocol, littlefs-like flash
 * with the full os module). Its reset button is pressed while a program it was sent is running.
 */
const virtualBoard = (options: VirtualBoardOptions) =>
  Effect.gen(function* () {
    const link = yield* openVirtualBoard(options)
    const device = yield* makeDeviceCommunication(link)
    const instrumented = instrument(device, (inner) =>
      Stream.runForEach(inner.execStream("print('belay-armed')\nimport time\ntime.sleep(10)"), (text) =>
        text.includes("belay-armed") ? link.hardReset : Effect.void,
      ).pipe(Effect.andThen(Effect.die("the board should have reset"))),
    )
    const manager = yield* makeDeviceSessionManager(instrumented.device)
    return { manager, instrumented } satisfies SuiteBoard
  })

boardSuite({
  name: "virtual board (MicroPython 1.27)",
  open: virtualBoard({}),
  sizes: [0, 1, 255, 256, 65536],
  dir: "/suite",
  directories: true,
  fsOptions: { maxChunkBytes: 2048 },
  interruptedSize: 8000,
  timeoutMs: 60_000,
})

boardSuite({
  name: "virtual board at 115200 baud, 128-byte raw-paste window",
  open: virtualBoard({ bytesPerSecond: 11_520, rawPasteWindow: 128 }),
  sizes: [0, 1, 256, 20_000],
  dir: "/slow",
  directories: true,
  fsOptions: { maxChunkBytes: 2048 },
  interruptedSize: 8000,
  timeoutMs: 60_000,
})

// The same board playing CircuitPython 9 (its os without ilistdir, a fresh VM for each REPL, its
// reset button leaving it at "Press any key to enter the REPL"), its flash writable by code as
// after `storage.remount("/", False)` in boot.py. No real CircuitPython firmware runs here.
boardSuite({
  name: "virtual board playing CircuitPython 9",
  open: virtualBoard({ flavor: "circuitpython", writable: true }),
  sizes: [0, 1, 256, 20_000],
  dir: "/cp",
  directories: true,
  fsOptions: { maxChunkBytes: 2048 },
  interruptedSize: 8000,
  timeoutMs: 60_000,
})

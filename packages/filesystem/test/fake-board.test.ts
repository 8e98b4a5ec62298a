import { Effect } from "effect"
import { wasmBoard } from "./fixtures.js"
import { boardSuite, instrument } from "./suite.js"

// The board suite on the scripted fake board with real MicroPython 1.27 (WebAssembly) running the
// code: raw-paste with a 128-byte window, a link that is not 8-bit clean (so base64 is used).
boardSuite({
  name: "fake board (MicroPython 1.27)",
  open: Effect.gen(function* () {
    let reset: () => void = () => {}
    let instrumented!: ReturnType<typeof instrument>
    const { manager } = yield* wasmBoard({
      wrap: (device, resetNextExchange) => {
        reset = resetNextExchange
        instrumented = instrument(device, (inner) => {
          reset()
          return Effect.andThen(inner.exec("pass"), Effect.die("the board should have reset"))
        })
        return instrumented.device
      },
    })
    return { manager, instrumented }
  }),
  sizes: [0, 1, 255, 256, 65536],
  dir: "/suite",
  directories: true,
  fsOptions: { maxChunkBytes: 2048 },
  interruptedSize: 8000,
  timeoutMs: 60_000,
})

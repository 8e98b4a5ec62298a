/**
 * The Chromium benchmark's page script: `window.belayBench.virtual(...)` runs {@link measure} on
 * the in-page virtual board (MicroPython in a Web Worker).
 */
import { openVirtualBoard } from "@belay/virtual-device/browser"
import { measure, type Samples } from "./measure.js"

declare global {
  interface Window {
    belayBench: {
      readonly virtual: (rounds: number, uploads: number, uploadBytes: number) => Promise<Samples>
    }
  }
}

window.belayBench = {
  virtual: (rounds, uploads, uploadBytes) =>
    measure(
      openVirtualBoard({
        assets: { worker: "/worker.js", micropython: "/micropython.mjs", wasm: "/micropython.wasm" },
      }),
      rounds,
      uploads,
      uploadBytes,
    ),
}
document.title = "ready"

import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: {
    // The tests run the sources: the package's `#platform` import (built files by its
    // package.json) is the Node one from `src/` too, so that one copy of each module is loaded.
    alias: { "#platform": fileURLToPath(new URL("./src/platform/node.ts", import.meta.url)) },
  },
  test: {
    // One test file at a time: the QEMU micro:bit drops UART bytes when the host is busy, and the
    // fake board's MicroPython is CPU-heavy; running them side by side makes the emulated board lossy.
    fileParallelism: false,
    // Bounds for loaded machines; no test asserts a time.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})

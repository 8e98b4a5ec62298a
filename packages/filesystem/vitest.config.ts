import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const sources = fileURLToPath(new URL("./src/", import.meta.url))

export default defineConfig({
  plugins: [
    {
      // The tests run the sources: this package's `#platform` import (built files by its
      // package.json) is the Node one from `src/` too, so that one copy of each module is loaded.
      // Only for this package's own sources: another package's `#platform` is its own.
      name: "platform-from-sources",
      enforce: "pre",
      resolveId: (id, importer) =>
        id === "#platform" && importer?.startsWith(sources) ? `${sources}platform/node.ts` : undefined,
    },
  ],
  test: {
    // One test file at a time: the QEMU micro:bit drops UART bytes when the host is busy, and the
    // fake board's MicroPython is CPU-heavy; running them side by side makes the emulated board lossy.
    fileParallelism: false,
    // Bounds for loaded machines; no test asserts a time.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})

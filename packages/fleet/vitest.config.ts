import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // One test file at a time: each starts runner processes with virtual boards (MicroPython in
    // WebAssembly), which are CPU-heavy on a small machine.
    fileParallelism: false,
    // Bounds for loaded machines; no test asserts a time.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
})

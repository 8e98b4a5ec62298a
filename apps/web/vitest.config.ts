import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // Bounds for loaded machines (Chromium and a MicroPython interpreter start); no test asserts a time.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
})

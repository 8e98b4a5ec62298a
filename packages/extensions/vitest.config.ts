import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // The soak test forces garbage collection to compare the host heap before and after.
    execArgv: ["--expose-gc"],
  },
})

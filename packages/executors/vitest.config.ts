import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // The proxy tests collect garbage to see handles released by the host's collector.
    execArgv: ["--expose-gc"],
  },
})

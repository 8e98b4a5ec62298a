import { defineConfig } from "vitest/config"

// Each test spawns the CLI (a fresh Node process and board) several times.
export default defineConfig({ test: { testTimeout: 180_000, hookTimeout: 60_000 } })

import { defineConfig } from "vitest/config"

// Each test spawns the CLI (a fresh Node process and board) several times. One test file at a
// time: many files touch the emulated micro:bit, whose CPU QEMU slows when the host is busy, and
// whose UART has no flow control, so a loaded host damages what is sent to it far more often than
// a real board's link does (seen: requests refused as damaged, then surfacing after their resends).
export default defineConfig({ test: { testTimeout: 180_000, hookTimeout: 60_000, fileParallelism: false } })

#!/usr/bin/env node
// A virtual MicroPython board on stdin/stdout (binary), or on a TCP port with `--tcp host:port`. See `--help`.
// Runs from the built package: `pnpm -C packages/virtual-device build` first in a checkout.
import { runVirtualBoardOverStdio } from "../dist/cli.js"

await runVirtualBoardOverStdio(process.argv.slice(2))

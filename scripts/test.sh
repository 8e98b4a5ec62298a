#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set up, lint, build, type-check and run every package's tests
# (byte-level fakes, the virtual board, and the QEMU micro:bit).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pnpm lint
pnpm test

#!/usr/bin/env bash
# Set up and run the demo on the virtual board (no hardware needed).
set -euo pipefail
cd "$(dirname "$0")/.."
BELAY_SETUP_OPTIONAL_APT=1 bash scripts/setup.sh
pnpm demo

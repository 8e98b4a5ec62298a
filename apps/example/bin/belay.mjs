#!/usr/bin/env node
// The bundle `pnpm build` (or scripts/setup.sh) writes; see scripts/bundle.mjs.
import "../dist/bundle/belay.mjs"

import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: {
    // The tests run the sources: the package's `#platform` import (built files by its
    // package.json) is the Node one from `src/` too, so that one copy of each module is loaded.
    alias: { "#platform": fileURLToPath(new URL("./src/platform/node.ts", import.meta.url)) },
  },
})

/**
 * The board page's Vite config. Two things beyond the defaults:
 * - the headers that make the page cross-origin isolated (the in-page virtual board shares memory
 *   with its Web Worker), in the dev server and in `vite preview`;
 * - the virtual board's files (`boardFiles.ts`): its worker script and MicroPython's
 *   `micropython.mjs` and `micropython.wasm`, served under `/board/` in dev and written there by
 *   `vite build`.
 */
import path from "node:path"
import { fileURLToPath } from "node:url"
import { defineConfig, type Plugin } from "vite"
import { ISOLATION_HEADERS, virtualBoardFiles } from "./boardFiles.js"

const appDir = path.dirname(fileURLToPath(import.meta.url))

/** The virtual board's files under `/board/`: served by the dev server, written by `vite build`. */
const virtualBoardPlugin = (): Plugin => {
  let files: ReturnType<typeof virtualBoardFiles> | undefined
  const load = () => {
    files ??= virtualBoardFiles()
    return files
  }
  return {
    name: "belay-virtual-board-files",
    configureServer(server) {
      server.middlewares.use((request, response, next) => {
        const match = /^\/board\/([a-z.]+)$/.exec(new URL(request.url ?? "/", "http://x").pathname)
        if (match === null) return next()
        load().then(
          (all) => {
            const file = all.get(match[1]!)
            if (file === undefined) return next()
            response.writeHead(200, { ...ISOLATION_HEADERS, "content-type": file.type }).end(file.bytes)
          },
          (error: unknown) => next(error),
        )
      })
    },
    async generateBundle() {
      for (const [name, { bytes }] of await load())
        this.emitFile({ type: "asset", fileName: `board/${name}`, source: bytes })
    },
  }
}

export default defineConfig({
  root: appDir,
  plugins: [virtualBoardPlugin()],
  server: { headers: ISOLATION_HEADERS, host: "127.0.0.1" },
  preview: { headers: ISOLATION_HEADERS, host: "127.0.0.1" },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2048 },
})

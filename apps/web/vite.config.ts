/**
 * The board page's Vite config. Two things beyond the defaults:
 * - the headers that make the page cross-origin isolated (the in-page virtual board shares memory
 *   with its Web Worker), in the dev server and in `vite preview`;
 * - the virtual board's files: its worker script (`@belay/virtual-device/worker`, bundled by
 *   esbuild as an ES module) and MicroPython's `micropython.mjs` and `micropython.wasm`, served
 *   under `/board/` in dev and written there by `vite build`.
 */
import { readFile } from "node:fs/promises"
import path from "node:path"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"
import { defineConfig, type Plugin } from "vite"

const appDir = path.dirname(fileURLToPath(import.meta.url))

/** Cross-origin isolation: needed for `SharedArrayBuffer`. */
export const ISOLATION_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
}

const micropythonFile = (name: string) =>
  fileURLToPath(import.meta.resolve(`@micropython/micropython-webassembly-pyscript/${name}`))

/** The files the virtual board loads: name under `/board/` → [content type, bytes]. */
const boardFiles = async (): Promise<Map<string, readonly [string, Uint8Array]>> => {
  const worker = await esbuild.build({
    entryPoints: ["@belay/virtual-device/worker"],
    absWorkingDir: appDir,
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    write: false,
    logLevel: "warning",
  })
  return new Map([
    ["worker.js", ["text/javascript", worker.outputFiles[0]!.contents]],
    [
      "micropython.mjs",
      ["text/javascript", new Uint8Array(await readFile(micropythonFile("micropython.mjs")))],
    ],
    [
      "micropython.wasm",
      ["application/wasm", new Uint8Array(await readFile(micropythonFile("micropython.wasm")))],
    ],
  ])
}

const virtualBoardFiles = (): Plugin => {
  let files: Promise<Map<string, readonly [string, Uint8Array]>> | undefined
  const load = () => {
    files ??= boardFiles()
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
            response.writeHead(200, { ...ISOLATION_HEADERS, "content-type": file[0] }).end(file[1])
          },
          (error: unknown) => next(error),
        )
      })
    },
    async generateBundle() {
      for (const [name, [, bytes]] of await load())
        this.emitFile({ type: "asset", fileName: `board/${name}`, source: bytes })
    },
  }
}

export default defineConfig({
  root: appDir,
  plugins: [virtualBoardFiles()],
  server: { headers: ISOLATION_HEADERS, host: "127.0.0.1" },
  preview: { headers: ISOLATION_HEADERS, host: "127.0.0.1" },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2048 },
})

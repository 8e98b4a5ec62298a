/**
 * What the board page's build and its Chromium tests share: the headers that make a page
 * cross-origin isolated (the in-page virtual board shares memory with its Web Worker), browser
 * bundles of our entries (esbuild, `platform: "browser"`, so every `@belay/*` import is its
 * browser entry), and the virtual board's files a page loads: its worker script and MicroPython's
 * `micropython.mjs` and `micropython.wasm`.
 */
import { readFile } from "node:fs/promises"
import path from "node:path"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"

const appDir = path.dirname(fileURLToPath(import.meta.url))

/**
 * Cross-origin isolation: needed for `SharedArrayBuffer`.
 *
 * @example
 * response.writeHead(200, { ...ISOLATION_HEADERS, "content-type": "text/html" })
 */
export const ISOLATION_HEADERS = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
} as const

/**
 * One entry bundled for a browser as an ES module (minified; resolved from the app's folder).
 *
 * @example
 * const worker = await browserBundle("@belay/virtual-device/worker")
 */
export const browserBundle = async (entry: string): Promise<Uint8Array> => {
  const result = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: appDir,
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    write: false,
    logLevel: "warning",
  })
  return result.outputFiles[0]!.contents
}

const micropythonFile = (name: string) =>
  fileURLToPath(import.meta.resolve(`@micropython/micropython-webassembly-pyscript/${name}`))

/**
 * The files the in-page virtual board loads, by name (served under one folder): its content type
 * and bytes.
 *
 * @example
 * for (const [name, file] of await virtualBoardFiles()) console.log(name, file.type, file.bytes.length)
 */
export const virtualBoardFiles = async (): Promise<
  Map<string, { readonly type: string; readonly bytes: Uint8Array }>
> =>
  new Map([
    ["worker.js", { type: "text/javascript", bytes: await browserBundle("@belay/virtual-device/worker") }],
    [
      "micropython.mjs",
      { type: "text/javascript", bytes: new Uint8Array(await readFile(micropythonFile("micropython.mjs"))) },
    ],
    [
      "micropython.wasm",
      {
        type: "application/wasm",
        bytes: new Uint8Array(await readFile(micropythonFile("micropython.wasm"))),
      },
    ],
  ])

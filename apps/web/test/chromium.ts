/**
 * What the Chromium tests and the Chromium bench share: a static server with the headers that make
 * a page cross-origin isolated (the virtual board shares memory with its worker), browser bundles
 * of our entries, the virtual board's files for a page, a WebREPL board on 127.0.0.1, and Debian's
 * Chromium launched headless through playwright-core (no browser download).
 *
 * Chromium: `BELAY_CHROMIUM` or `/usr/bin/chromium` (scripts/setup.sh installs Debian's `chromium`).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { type Browser, chromium } from "playwright-core"
import { virtualBoardFiles as boardFiles, browserBundle, ISOLATION_HEADERS } from "../boardFiles.js"

/** The app's folder (`apps/web`). */
export const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
/** Where screenshots go (not committed). */
export const artifacts = path.join(appDir, "test-artifacts")
/** The Chromium to drive. */
export const chromiumPath = process.env.BELAY_CHROMIUM ?? "/usr/bin/chromium"

const boardScript = fileURLToPath(
  new URL("../../../packages/virtual-device/bin/virtual-board.mjs", import.meta.url),
)

/** Headers of every answer: cross-origin isolated, never cached. */
const ISOLATION = { ...ISOLATION_HEADERS, "cache-control": "no-store" }

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".css": "text/css",
  ".wasm": "application/wasm",
}

/**
 * Serve `files` (path → bytes) first, then the folder `root` (when given), cross-origin isolated,
 * on 127.0.0.1 at a free port; `/` is `/index.html`, a path out of `root` is refused.
 *
 * @example
 * const server = await serveIsolated(new Map([["/index.html", page]]), "dist")
 */
export const serveIsolated = (files: ReadonlyMap<string, Uint8Array>, root?: string): Promise<Server> =>
  new Promise((resolve) => {
    const server = createServer((request, response) => {
      let name = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname)
      if (name === "/") name = "/index.html"
      const found = {
        ...ISOLATION,
        "content-type": CONTENT_TYPES[path.extname(name)] ?? "application/octet-stream",
      }
      const inMemory = files.get(name)
      if (inMemory !== undefined) return void response.writeHead(200, found).end(inMemory)
      const file = root === undefined ? undefined : path.join(root, path.normalize(name))
      if (file === undefined || root === undefined || !file.startsWith(root))
        return void response.writeHead(404, ISOLATION).end()
      readFile(file).then(
        (bytes) => response.writeHead(200, found).end(bytes),
        () => response.writeHead(404, ISOLATION).end(),
      )
    })
    server.listen(0, "127.0.0.1", () => resolve(server))
  })

/** The server's `http://127.0.0.1:<port>`. */
export const originOf = (server: Server): string =>
  `http://127.0.0.1:${(server.address() as AddressInfo).port}`

/** Stop the server (nothing when there is none). */
export const closeServer = (server: Server | undefined): Promise<void> =>
  new Promise((resolve) => (server === undefined ? resolve() : server.close(() => resolve())))

export { browserBundle }

/** The in-page virtual board's files, as a page opens them: `/worker.js`, `/micropython.mjs` and `.wasm`. */
export const virtualBoardFiles = async (): Promise<Array<[string, Uint8Array]>> =>
  [...(await boardFiles())].map(([name, file]) => [`/${name}`, file.bytes])

/** `belay-virtual-board --webrepl 127.0.0.1:0` with `password`, up: the process and its ws:// address. */
export const startWebReplBoard = (password: string): Promise<{ child: ChildProcess; url: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [boardScript, "--webrepl", "127.0.0.1:0", "--password", password], {
      stdio: ["ignore", "ignore", "pipe"],
    })
    let stderr = ""
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
      const ready = /belay-virtual-board ready (ws:\/\/\S+)/.exec(stderr)
      if (ready !== null) resolve({ child, url: ready[1]! })
    })
    child.once("exit", (code) => reject(new Error(`the WebREPL board exited (${code}): ${stderr}`)))
  })

/** Whether there is a Chromium to drive. */
export const hasChromium = (): boolean => existsSync(chromiumPath)

/** Chromium, headless; fails saying how to get one when there is none. */
export const launchChromium = async (): Promise<Browser> => {
  if (!hasChromium())
    throw new Error(
      `no Chromium at ${chromiumPath}: install Debian's chromium (scripts/setup.sh) or set BELAY_CHROMIUM`,
    )
  // Root (CI) has no user namespace for Chromium's sandbox.
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox"] })
}

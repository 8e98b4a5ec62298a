import { createHash } from "node:crypto"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A package host for the tests, on 127.0.0.1 (no internet here): an in-memory map of paths to
 * bodies, every request logged, routes changeable while it runs.
 */
export interface TestServer {
  readonly url: string
  readonly requests: Array<string>
  readonly set: (path: string, body: string | Uint8Array) => void
  readonly remove: (path: string) => void
  /** Requests to `path` get no answer (a stalled server). */
  readonly stall: (path: string) => void
  readonly close: () => Promise<void>
}

export const startServer = async (): Promise<TestServer> => {
  const routes = new Map<string, Uint8Array>()
  const stalled = new Set<string>()
  const requests: string[] = []
  const server: Server = createServer((req, res) => {
    const at = new URL(req.url ?? "/", "http://x").pathname
    requests.push(at)
    if (stalled.has(at)) return
    const body = routes.get(at)
    if (body === undefined) {
      res.writeHead(404).end("not found")
      return
    }
    res
      .writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length })
      .end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    set: (path, body) => routes.set(path, typeof body === "string" ? new TextEncoder().encode(body) : body),
    remove: (path) => routes.delete(path),
    stall: (path) => stalled.add(path),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export const sha256 = (body: string | Uint8Array) => createHash("sha256").update(body).digest("hex")

/** A package as the tests write it: files per `.mpy` version (`py` for source). */
export interface TestPackage {
  readonly name: string
  readonly version: string
  readonly files: Readonly<Record<string, Readonly<Record<string, string>>>>
  readonly deps?: ReadonlyArray<readonly [string, string]>
}

/**
 * Publish `pkg` in mip's index layout on `server` (under `prefix`): each file at
 * `/file/{hash[:2]}/{hash}` by its 8-digit short hash, a manifest per `.mpy` version at
 * `/package/{mpy}/{name}/{version}.json`, and `latest.json` the same.
 */
export const publish = (server: TestServer, pkg: TestPackage, prefix = "") => {
  for (const [mpy, files] of Object.entries(pkg.files)) {
    const hashes: Array<[string, string]> = []
    for (const [path, content] of Object.entries(files)) {
      const short = sha256(content).slice(0, 8)
      server.set(`${prefix}/file/${short.slice(0, 2)}/${short}`, content)
      hashes.push([path, short])
    }
    const manifest = JSON.stringify({ hashes, deps: pkg.deps ?? [], version: pkg.version })
    server.set(`${prefix}/package/${mpy}/${pkg.name}/${pkg.version}.json`, manifest)
    server.set(`${prefix}/package/${mpy}/${pkg.name}/latest.json`, manifest)
  }
}

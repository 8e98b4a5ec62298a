/**
 * The virtual board's platform in a browser: a module `Worker` for the interpreter (the page must
 * be cross-origin isolated, for `SharedArrayBuffer` and shared WebAssembly memory), the wasm and
 * the MicroPython loader fetched from where the page serves them ({@link VirtualBoardAssets}),
 * the flash in memory only. See `./types.ts`.
 *
 * @internal
 */
import type { WorkerData, WorkerMessage } from "../WorkerMessages.js"
import { importSharedMemory, MAX_PAGES } from "../wasm.js"
import type * as NodePlatform from "./node.js"
import type { PatchedMicroPython, VirtualBoardAssets, WorkerChannel } from "./types.js"

/** The browser's `Worker` and worker scope, by the members used here. */
interface BrowserWorker {
  postMessage(message: unknown): void
  addEventListener(
    type: "message" | "error",
    listener: (event: { data?: unknown; message?: string }) => void,
  ): void
  terminate(): void
}
type WorkerConstructor = new (url: string | URL, options: { type: "module"; name?: string }) => BrowserWorker

const needAssets = (assets: VirtualBoardAssets | undefined): VirtualBoardAssets => {
  if (assets === undefined)
    throw new Error(
      "in a browser, the virtual board needs to know where its worker script, micropython.mjs and micropython.wasm are served (the assets option)",
    )
  return assets
}

const href = (url: string | URL) =>
  new URL(url, (globalThis as { location?: { href: string } }).location?.href).href

export const spawnInterpreterThread: typeof NodePlatform.spawnInterpreterThread = (data, assets) => {
  const { worker: workerUrl, micropython } = needAssets(assets)
  const Worker = (globalThis as { Worker?: WorkerConstructor }).Worker
  if (Worker === undefined) throw new Error("this platform has no Worker")
  if (!(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated)
    throw new Error(
      "the page is not cross-origin isolated: the virtual board shares memory with its worker, which browsers allow only with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp",
    )
  const worker = new Worker(href(workerUrl), { type: "module", name: "belay-virtual-board" })
  const exitHandlers: Array<(code: number) => void> = []
  // The worker's first message is its start data (a module worker has no workerData).
  worker.postMessage({ ...data, micropythonUrl: href(micropython) })
  return {
    postMessage: (message) => worker.postMessage(message),
    onMessage: (handler) =>
      worker.addEventListener("message", (event) => handler(event.data as WorkerMessage)),
    onError: (handler) =>
      worker.addEventListener("error", (event) => handler(new Error(event.message ?? "worker error"))),
    onExit: (handler) => {
      exitHandlers.push(handler)
    },
    ref: () => {},
    unref: () => {},
    terminate: async () => {
      worker.terminate()
      for (const handler of exitHandlers) handler(1)
    },
  }
}

/** The page's MicroPython, patched once (fetched again only from another address, or after a failure). */
let patched: { readonly url: string; readonly loading: Promise<PatchedMicroPython> } | undefined

export const loadPatchedMicroPython: typeof NodePlatform.loadPatchedMicroPython = (assets) => {
  const url = href(needAssets(assets).wasm)
  if (patched?.url !== url) {
    const loading = fetch(url).then(async (response) => {
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`)
      return importSharedMemory(new Uint8Array(await response.arrayBuffer()), MAX_PAGES)
    })
    const entry = { url, loading }
    loading.catch(() => {
      if (patched === entry) patched = undefined
    })
    patched = entry
  }
  return patched.loading
}

/** The worker scope, by the members used here. */
interface WorkerScope {
  postMessage(message: unknown): void
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void
  removeEventListener(type: "message", listener: (event: { data: unknown }) => void): void
}

/**
 * A browser's `TextDecoder` refuses views of shared memory (Node's reads them), and the
 * interpreter, built for memory of its own, decodes its strings straight from its heap, now
 * shared: such views are copied first.
 */
const decodeSharedMemoryToo = () => {
  type Decode = (
    this: unknown,
    input?: ArrayBufferView | ArrayBuffer,
    options?: { stream?: boolean },
  ) => string
  const prototype = TextDecoder.prototype as unknown as { decode: Decode }
  const decode = prototype.decode
  prototype.decode = function (input, options) {
    const shared =
      input !== undefined &&
      ArrayBuffer.isView(input) &&
      typeof SharedArrayBuffer !== "undefined" &&
      input.buffer instanceof SharedArrayBuffer
    const own = shared ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength).slice() : input
    return decode.call(this, own, options)
  }
}

export const workerChannel: typeof NodePlatform.workerChannel = async () => {
  decodeSharedMemoryToo()
  const scope = globalThis as unknown as WorkerScope
  const data = await new Promise<WorkerData & { micropythonUrl: string }>((resolve) => {
    const first = (event: { data: unknown }) => {
      scope.removeEventListener("message", first)
      resolve(event.data as WorkerData & { micropythonUrl: string })
    }
    scope.addEventListener("message", first)
  })
  const channel: WorkerChannel = {
    data,
    post: (message: WorkerMessage) => scope.postMessage(message),
    onMessage: (handler) => scope.addEventListener("message", (event) => handler(event.data)),
    loadMicroPython: () => import(/* @vite-ignore */ data.micropythonUrl),
  }
  return channel
}

export const openFlashFolder: typeof NodePlatform.openFlashFolder = () => {
  throw new Error("a flash kept in a host folder (flashDir) needs Node; in a browser the flash is in memory")
}

export const boardUniqueId: typeof NodePlatform.boardUniqueId = (_flashDir, bytes) => {
  const id = new Uint8Array(bytes)
  crypto.getRandomValues(id)
  return Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("")
}

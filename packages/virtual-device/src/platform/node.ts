/**
 * The virtual board's platform in Node: `worker_threads` for the interpreter, the wasm file read
 * from the MicroPython package, host folders for the flash. See `./types.ts`.
 *
 * @internal
 */
import { createHash, randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parentPort, Worker, workerData } from "node:worker_threads"
import type { WorkerData, WorkerMessage } from "../WorkerMessages.js"
import { importSharedMemory, MAX_PAGES } from "../wasm.js"
import type {
  FlashFolder,
  InterpreterThread,
  PatchedMicroPython,
  VirtualBoardAssets,
  WorkerChannel,
} from "./types.js"

/**
 * Where the worker script is. From the built package it sits in `dist/`, beside the modules
 * (a bundle of this code has it beside itself, as the CLI's has); when this file is loaded from `src/` (tests run TypeScript sources through vitest),
 * the worker comes from the package's `dist/`, which `tsc -b` must have produced.
 */
export const workerScriptUrl = (): URL => {
  const here = new URL(import.meta.url)
  if (here.pathname.endsWith(".ts")) {
    const built = new URL("../../dist/worker.js", here)
    const path = fileURLToPath(built)
    if (!existsSync(path)) {
      throw new Error(`${path} is missing: build the package first (pnpm -C packages/virtual-device build)`)
    }
    for (const name of ["worker.ts", "boardPython.ts", "machinePython.ts", "protocol.ts"]) {
      const source = fileURLToPath(new URL(`../${name}`, here))
      if (existsSync(source) && statSync(source).mtimeMs > statSync(path).mtimeMs + 1000) {
        throw new Error(`${path} is older than src/${name}: rebuild (pnpm -C packages/virtual-device build)`)
      }
    }
    return built
  }
  // Beside the package's modules (this one is in `platform/`), or beside a bundle holding this code.
  return new URL(here.pathname.endsWith("/platform/node.js") ? "../worker.js" : "./worker.js", here)
}

/** The interpreter's worker thread. `assets` are a browser's: Node finds everything itself. */
export const spawnInterpreterThread = (data: WorkerData, _assets?: VirtualBoardAssets): InterpreterThread => {
  // The worker's own console output must never reach the serial line (stdout of the pty script):
  // the worker sends its stdout to stderr itself. Piping `worker.stdout` here instead would keep
  // the host process alive through the stream's port, even with the worker unref'd.
  const worker = new Worker(workerScriptUrl(), { workerData: data, stdout: false, stderr: false })
  return {
    postMessage: (message) => worker.postMessage(message),
    onMessage: (handler) => worker.on("message", handler),
    onError: (handler) => worker.on("error", handler),
    onExit: (handler) => worker.on("exit", handler),
    ref: () => worker.ref(),
    unref: () => worker.unref(),
    terminate: async () => {
      await worker.terminate()
    },
  }
}

let patched: PatchedMicroPython | undefined

/**
 * The package's `micropython.wasm`, patched (once per process), read synchronously: a thread can
 * start at once with the bytes and compile them itself.
 */
export const loadPatchedMicroPython = async (_assets?: VirtualBoardAssets): Promise<PatchedMicroPython> => {
  if (patched === undefined) {
    const require = createRequire(import.meta.url)
    const wasmPath = require.resolve("@micropython/micropython-webassembly-pyscript/micropython.wasm")
    patched = importSharedMemory(new Uint8Array(readFileSync(wasmPath)), MAX_PAGES)
  }
  return patched
}

/** The worker's side of the thread (run in the worker). */
export const workerChannel = async (): Promise<WorkerChannel> => {
  // Nothing this thread prints may reach the host's stdout (the serial line of the pty script).
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write
  const port = parentPort!
  return {
    data: workerData as WorkerData,
    post: (message: WorkerMessage) => port.postMessage(message),
    onMessage: (handler) => port.on("message", handler),
    loadMicroPython: () => import("@micropython/micropython-webassembly-pyscript"),
  }
}

/** The flash kept in host folder `dir` (created if missing). */
export const openFlashFolder = (dir: string): FlashFolder => {
  mkdirSync(dir, { recursive: true })
  const hostPath = (boardPath: string) => join(dir, ...boardPath.split("/"))
  return {
    load: () => {
      const entries = new Map<string, Uint8Array | "dir">()
      const walk = (hostDir: string, boardDir: string) => {
        for (const name of readdirSync(hostDir)) {
          const path = join(hostDir, name)
          const boardPath = `${boardDir}${name}`
          if (statSync(path).isDirectory()) {
            entries.set(boardPath, "dir")
            walk(path, `${boardPath}/`)
          } else {
            entries.set(boardPath, new Uint8Array(readFileSync(path)))
          }
        }
      }
      walk(dir, "/")
      return entries
    },
    remove: (boardPath) => rmSync(hostPath(boardPath), { recursive: true, force: true }),
    mkdir: (boardPath) => mkdirSync(hostPath(boardPath), { recursive: true }),
    write: (boardPath, data) => writeFileSync(hostPath(boardPath), data),
  }
}

/**
 * `machine.unique_id()` of a board, `bytes` long in hex: derived from its flash folder, so that the
 * board that keeps its files there keeps its id between processes; random for a flash in memory.
 */
export const boardUniqueId = (flashDir: string | undefined, bytes: number): string =>
  flashDir === undefined
    ? randomBytes(bytes).toString("hex")
    : createHash("sha256").update(resolve(flashDir)).digest().subarray(0, bytes).toString("hex")

/**
 * The board's flash as the host keeps it: survives soft resets, hard resets and worker
 * restarts; optionally backed by a host directory so that it survives the process too.
 *
 * @internal
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { FlashChange, FlashEntry } from "./WorkerMessages.js"

export class FlashStore {
  private readonly entries = new Map<string, Uint8Array | "dir">()

  private constructor(private readonly dir: string | undefined) {}

  /** An empty flash in memory. */
  static inMemory(): FlashStore {
    return new FlashStore(undefined)
  }

  /** A flash whose contents are the files under `dir` (created if missing). */
  static inDirectory(dir: string): FlashStore {
    mkdirSync(dir, { recursive: true })
    const store = new FlashStore(dir)
    const walk = (hostDir: string, boardDir: string) => {
      for (const name of readdirSync(hostDir)) {
        const hostPath = join(hostDir, name)
        const boardPath = `${boardDir}${name}`
        if (statSync(hostPath).isDirectory()) {
          store.entries.set(boardPath, "dir")
          walk(hostPath, `${boardPath}/`)
        } else {
          store.entries.set(boardPath, new Uint8Array(readFileSync(hostPath)))
        }
      }
    }
    walk(dir, "/")
    return store
  }

  /** Everything on the flash, directories before what they contain. */
  snapshot(): FlashEntry[] {
    return [...this.entries]
      .sort(([a], [b]) => a.split("/").length - b.split("/").length || (a < b ? -1 : 1))
      .map(([path, value]) => (value === "dir" ? { path, kind: "dir" } : { path, kind: "file", data: value }))
  }

  /** The contents of a file, if it exists. */
  read(path: string): Uint8Array | undefined {
    const value = this.entries.get(path)
    return value === "dir" ? undefined : value
  }

  has(path: string): boolean {
    return this.entries.has(path)
  }

  apply(changes: ReadonlyArray<FlashChange>) {
    for (const change of changes) {
      const hostPath = this.dir === undefined ? undefined : join(this.dir, ...change.path.split("/"))
      switch (change.op) {
        case "delete":
          for (const path of [...this.entries.keys()]) {
            if (path === change.path || path.startsWith(`${change.path}/`)) this.entries.delete(path)
          }
          if (hostPath !== undefined) rmSync(hostPath, { recursive: true, force: true })
          break
        case "mkdir":
          this.entries.set(change.path, "dir")
          if (hostPath !== undefined) mkdirSync(hostPath, { recursive: true })
          break
        case "write":
          this.entries.set(change.path, change.data)
          if (hostPath !== undefined) writeFileSync(hostPath, change.data)
          break
      }
    }
  }
}

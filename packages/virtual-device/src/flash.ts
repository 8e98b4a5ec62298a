/**
 * The board's flash as the host keeps it: survives soft resets, hard resets and worker
 * restarts; optionally backed by a host directory so that it survives the process too.
 *
 * @internal
 */
import { openFlashFolder } from "#platform"
import type { FlashFolder } from "./platform/types.js"
import type { FlashChange, FlashEntry } from "./WorkerMessages.js"

export class FlashStore {
  private readonly entries = new Map<string, Uint8Array | "dir">()

  private constructor(private readonly folder: FlashFolder | undefined) {}

  /** An empty flash in memory. */
  static inMemory(): FlashStore {
    return new FlashStore(undefined)
  }

  /** A flash whose contents are the files under `dir` (created if missing); Node only. */
  static inDirectory(dir: string): FlashStore {
    const folder = openFlashFolder(dir)
    const store = new FlashStore(folder)
    for (const [path, value] of folder.load()) store.entries.set(path, value)
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
      switch (change.op) {
        case "delete":
          for (const path of [...this.entries.keys()]) {
            if (path === change.path || path.startsWith(`${change.path}/`)) this.entries.delete(path)
          }
          this.folder?.remove(change.path)
          break
        case "mkdir":
          this.entries.set(change.path, "dir")
          this.folder?.mkdir(change.path)
          break
        case "write":
          this.entries.set(change.path, change.data)
          this.folder?.write(change.path, change.data)
          break
      }
    }
  }
}

import { Effect } from "effect"

/** One entry of the cached view of the board's files. */
export interface FileEntry {
  readonly path: string
  readonly type: "file" | "dir"
  readonly size: number
  /** Hex digest when known (algorithm named by `hashAlgorithm`). */
  readonly hash?: string
  readonly hashAlgorithm?: string
}

/** The session's cached view of the board's tree (the seed's `FileSystemState`). */
export interface FileSystemState {
  readonly entries: ReadonlyMap<string, FileEntry>
  /** Paths whose listing is complete in the cache. */
  readonly listedDirectories: ReadonlySet<string>
}

/** One file operation, for debugging (the seed's `FileOperation`). */
export interface FileOperation {
  readonly kind:
    | "list"
    | "stat"
    | "read"
    | "write"
    | "append"
    | "mkdir"
    | "remove"
    | "rename"
    | "hash"
    | "sync"
    | "diskUsage"
  readonly path: string
  readonly bytes?: number
  readonly at: Date
  readonly durationMs?: number
  readonly outcome: "ok" | "error"
  readonly error?: string
}

/**
 * Session-aware bookkeeping for file operations (the seed's `IFileSystemContext`): a cache of
 * what is known about the board's files, invalidated by writes and at session end, and an
 * operation log. The file operations themselves live in `@belay/filesystem`.
 *
 * @example
 * yield* session.fileSystemContext.invalidateCache("/lib")
 * const log = yield* session.fileSystemContext.operations
 */
export interface FileSystemContext {
  readonly sessionId: string
  readonly getState: Effect.Effect<FileSystemState>
  /** Forget what is cached about `path` and everything under it (and its parent's listing). */
  readonly invalidateCache: (path: string) => Effect.Effect<void>
  readonly registerFileOperation: (operation: FileOperation) => Effect.Effect<void>
  readonly operations: Effect.Effect<ReadonlyArray<FileOperation>>
  /** Record what a listing or stat found. */
  readonly updateCache: (entries: ReadonlyArray<FileEntry>, listedDirectory?: string) => Effect.Effect<void>
}

const parentOf = (path: string) => {
  const at = path.lastIndexOf("/")
  return at <= 0 ? "/" : path.slice(0, at)
}

/** @internal the operation log keeps the most recent entries only */
export const OPERATION_LOG_LIMIT = 1000

/**
 * @internal One small object per session: the cache and the log are made on first use, and the
 * members are built when read (see `ExecutorContext`).
 */
class FileSystemContextImpl implements FileSystemContext {
  private entries: Map<string, FileEntry> | undefined = undefined
  private listed: Set<string> | undefined = undefined
  private log: FileOperation[] | undefined = undefined

  constructor(readonly sessionId: string) {}

  private invalidate(path: string): void {
    const prefix = path.endsWith("/") ? path : `${path}/`
    const entries = this.entries
    const listed = this.listed
    if (entries !== undefined) {
      for (const key of [...entries.keys()]) if (key === path || key.startsWith(prefix)) entries.delete(key)
    }
    if (listed !== undefined) {
      for (const dir of [...listed]) if (dir === path || dir.startsWith(prefix)) listed.delete(dir)
      listed.delete(parentOf(path))
    }
  }

  get getState(): Effect.Effect<FileSystemState> {
    return Effect.sync(() => ({ entries: new Map(this.entries), listedDirectories: new Set(this.listed) }))
  }

  get invalidateCache(): FileSystemContext["invalidateCache"] {
    return (path) => Effect.sync(() => this.invalidate(path))
  }

  get registerFileOperation(): FileSystemContext["registerFileOperation"] {
    return (operation) =>
      Effect.sync(() => {
        this.log ??= []
        const log = this.log
        log.push(operation)
        if (log.length > OPERATION_LOG_LIMIT) log.splice(0, log.length - OPERATION_LOG_LIMIT)
        if (
          operation.kind !== "list" &&
          operation.kind !== "stat" &&
          operation.kind !== "read" &&
          operation.kind !== "hash"
        ) {
          this.invalidate(operation.path)
        }
      })
  }

  get operations(): Effect.Effect<ReadonlyArray<FileOperation>> {
    return Effect.sync(() => [...(this.log ?? [])])
  }

  get updateCache(): FileSystemContext["updateCache"] {
    return (found, listedDirectory) =>
      Effect.sync(() => {
        this.entries ??= new Map()
        for (const entry of found) this.entries.set(entry.path, entry)
        if (listedDirectory !== undefined) {
          this.listed ??= new Set()
          this.listed.add(listedDirectory)
        }
      })
  }

  clear(): void {
    this.entries?.clear()
    this.listed?.clear()
  }
}

/** @internal */
export const makeFileSystemContext = (
  sessionId: string,
): FileSystemContext & { readonly clear: () => void } => new FileSystemContextImpl(sessionId)

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

/** @internal */
export const makeFileSystemContext = (
  sessionId: string,
): FileSystemContext & { readonly clear: () => void } => {
  const entries = new Map<string, FileEntry>()
  const listed = new Set<string>()
  const log: FileOperation[] = []
  const invalidate = (path: string) => {
    const prefix = path.endsWith("/") ? path : `${path}/`
    for (const key of [...entries.keys()]) if (key === path || key.startsWith(prefix)) entries.delete(key)
    for (const dir of [...listed]) if (dir === path || dir.startsWith(prefix)) listed.delete(dir)
    listed.delete(parentOf(path))
  }
  return {
    sessionId,
    getState: Effect.sync(() => ({ entries: new Map(entries), listedDirectories: new Set(listed) })),
    invalidateCache: (path) => Effect.sync(() => invalidate(path)),
    registerFileOperation: (operation) =>
      Effect.sync(() => {
        log.push(operation)
        if (log.length > OPERATION_LOG_LIMIT) log.splice(0, log.length - OPERATION_LOG_LIMIT)
        if (
          operation.kind !== "list" &&
          operation.kind !== "stat" &&
          operation.kind !== "read" &&
          operation.kind !== "hash"
        ) {
          invalidate(operation.path)
        }
      }),
    operations: Effect.sync(() => [...log]),
    updateCache: (found, listedDirectory) =>
      Effect.sync(() => {
        for (const entry of found) entries.set(entry.path, entry)
        if (listedDirectory !== undefined) listed.add(listedDirectory)
      }),
    clear: () => {
      entries.clear()
      listed.clear()
    },
  }
}

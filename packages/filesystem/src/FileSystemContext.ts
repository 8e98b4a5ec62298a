/**
 * What the filesystem remembers per session: a cache of what is known about the board's files
 * and an operation log. Kept in the session's state (made on first use) and emptied by a
 * finalizer on the session's scope when the session ends.
 */
import { type DeviceSession, SessionStateKey } from "@belay/core"
import { Effect, Scope } from "effect"

/**
 * One entry of the cached view of the board's files.
 *
 * @example
 * const entry: FileEntry = { path: "/main.py", type: "file", size: 120 }
 *
 * @since 0.1.0
 */
export interface FileEntry {
  readonly path: string
  readonly type: "file" | "dir"
  readonly size: number
  /** Hex digest when known (algorithm named by `hashAlgorithm`). */
  readonly hash?: string
  readonly hashAlgorithm?: string
}

/**
 * The session's cached view of the board's tree.
 *
 * @example
 * const { entries } = yield* fileSystemContext(session).getState
 *
 * @since 0.1.0
 */
export interface FileSystemState {
  readonly entries: ReadonlyMap<string, FileEntry>
  /** Paths whose listing is complete in the cache. */
  readonly listedDirectories: ReadonlySet<string>
}

/**
 * One file operation, for debugging.
 *
 * @example
 * const [last] = (yield* fileSystemContext(session).operations).slice(-1)
 *
 * @since 0.1.0
 */
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
 * Session-aware bookkeeping for file operations: a cache of what is known about the board's
 * files, invalidated by writes and at session end, and an operation log.
 *
 * @example
 * yield* fileSystemContext(session).invalidateCache("/lib")
 * const log = yield* fileSystemContext(session).operations
 *
 * @since 0.1.0
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
 * members are prototype getters handing out functions bound to the session.
 */
class FileSystemContextImpl implements FileSystemContext {
  private entries: Map<string, FileEntry> | undefined = undefined
  private listed: Set<string> | undefined = undefined
  private log: FileOperation[] | undefined = undefined
  /** The finalizer that empties the cache at the session's end is on the session's scope. */
  private finalizing = false

  constructor(readonly session: DeviceSession) {}

  get sessionId(): string {
    return this.session.sessionId
  }

  /** Put the cache's end on the session's scope, once (when something is first cached or logged). */
  private finalizeAtEnd(): Effect.Effect<void> {
    if (this.finalizing) return Effect.void
    this.finalizing = true
    return Scope.addFinalizerExit(this.session.scope, () => {
      this.clear()
      return Effect.void
    })
  }

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
      Effect.suspend(() => {
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
        return this.finalizeAtEnd()
      })
  }

  get operations(): Effect.Effect<ReadonlyArray<FileOperation>> {
    return Effect.sync(() => [...(this.log ?? [])])
  }

  get updateCache(): FileSystemContext["updateCache"] {
    return (found, listedDirectory) =>
      Effect.suspend(() => {
        this.entries ??= new Map()
        for (const entry of found) this.entries.set(entry.path, entry)
        if (listedDirectory !== undefined) {
          this.listed ??= new Set()
          this.listed.add(listedDirectory)
        }
        return this.finalizeAtEnd()
      })
  }

  clear(): void {
    this.entries = undefined
    this.listed = undefined
  }
}

const FileSystemContextKey = SessionStateKey<FileSystemContext>("@belay/filesystem/FileSystemContext")

/**
 * The file-system context of a session (made on first use; the same object after). Its cache
 * is emptied when the session ends.
 *
 * @example
 * const state = yield* fileSystemContext(session).getState
 *
 * @since 0.1.0
 */
export const fileSystemContext = (session: DeviceSession): FileSystemContext =>
  session.state.getOrCreate(FileSystemContextKey, () => new FileSystemContextImpl(session))

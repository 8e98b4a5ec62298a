/**
 * A host folder mounted on the board: `mountHostFolder(session, dir, options)` puts a small VFS
 * (`python/mount_vfs.py`) on the board with `os.mount`, whose every call (stat, listdir, open,
 * read, write, close, remove, rename, mkdir, rmdir) is a request the board writes into its output
 * while the user's code runs; the connection's output interceptor (see `OutputInterceptor` in
 * `@belay/transport`) serves it from the folder (`MountServer.ts`) and answers on the board's
 * stdin. The wire format, with its checks, is in `MountProtocol.ts`.
 *
 * The mount is a session resource: the end of the caller's scope (or of the session) unmounts it,
 * restores `sys.path` and the working directory, and forgets the modules imported from it, so the
 * next run imports the folder's files afresh. A board reset ends it on the board (it lived in RAM):
 * then there is nothing to undo, and `lost` says so.
 */
import { realpath, stat } from "node:fs/promises"
import {
  CapabilityMissingError,
  type DeviceSession,
  type ResourceCleanupError,
  type SessionError,
} from "@belay/core"
import {
  OutputInterceptorKey,
  type ProtocolError,
  type PythonError,
  parsePythonLiteral,
  toPythonLiteral,
} from "@belay/transport"
import { newExchangeNonce } from "@belay/transport/internal"
import { Data, Effect, type Scope } from "effect"
import { InvalidPathError, LocalFileError } from "./errors.js"
import { type MountStats, makeMountServer } from "./MountServer.js"
import { MOUNT_VFS } from "./python/embedded.js"

/**
 * Options of {@link mountHostFolder}.
 *
 * @example
 * const options: MountOptions = { at: "/remote", writable: true }
 * @since 0.1.0
 */
export interface MountOptions {
  /** Where on the board: an absolute path other than `/`. Default `/remote`. */
  readonly at?: string
  /** Let the board's code create, change, rename and remove files in the folder. Default false. */
  readonly writable?: boolean
  /** Follow symlinks that lead out of the folder. Default false (they are refused). */
  readonly unsafeLinks?: boolean
  /** Make the mount the board's working directory while it lasts. Default true. */
  readonly chdir?: boolean
  /** The board's read-ahead and write size per request, in bytes. Default 4096. */
  readonly chunkBytes?: number
  /**
   * The most bytes of one reply to the board (what its stdin buffer must hold): 4000 by default,
   * halved, down to 256, each time a reply arrives damaged.
   */
  readonly maxReplyBytes?: number
}

/**
 * A mounted host folder, for as long as its scope lasts.
 *
 * @example
 * const mount = yield* mountHostFolder(session, "./src")
 * yield* session.device.exec("import app; app.main()")
 * const { requests, bytesRead } = yield* mount.stats
 * @since 0.1.0
 */
export interface MountedFolder {
  /** Where it is on the board, e.g. `/remote`. */
  readonly at: string
  /** The folder on the host (its real path). */
  readonly localDir: string
  readonly writable: boolean
  /** What it served so far. */
  readonly stats: Effect.Effect<MountStats>
  /** True once a board reset removed it from the board (the board's RAM state went). */
  readonly lost: Effect.Effect<boolean>
}

/**
 * A host folder could not be mounted: another mount serves this connection already, or the board
 * did not take it.
 *
 * @example
 * Effect.catchTag("MountError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class MountError extends Data.TaggedError("MountError")<{
  readonly at: string
  readonly reason: string
}> {
  override get message() {
    return `cannot mount at ${this.at}: ${this.reason}`
  }
}

/**
 * What the board needs for a mount, as it reports what it lacks. Like the mount's and the
 * unmount's code below, the work is a function called and deleted in the same exchange, so that
 * its loop variables never land in the board's globals (they belong to the person using it): the
 * mount leaves only its own classes there while mounted (`MOUNT_VFS`, with the modules it imports).
 */
const PROBE = `def _bmp():
 import os,sys
 try:import io
 except ImportError:io=None
 print([n for n,o,a in (('os.mount',os,'mount'),('io.IOBase',io,'IOBase'),('sys.stdin.buffer',sys.stdin,'buffer'),('sys.stdout.buffer',sys.stdout,'buffer')) if not hasattr(o,a)])
try:_bmp()
finally:del _bmp
`

const mountCode = (nonce: string, at: string, chunk: number, chdir: boolean) => {
  const path = toPythonLiteral(at)
  const enter = chdir ? ` os.chdir(${path})\n` : ""
  return `${MOUNT_VFS.code}def _bmm():
 import os,sys
 try:
  import vfs
  for v,p in vfs.mount():
   if p==${path} and type(v).__name__=='_BelayMount':os.umount(p)
 except Exception:pass
 os.mount(_BelayMount('${nonce}',${chunk}),${path})
 i=${path} not in sys.path
 if i:sys.path.insert(0,${path})
 print(repr((os.getcwd(),i)))
${enter}try:_bmm()
finally:del _bmm
`
}

const unmountCode = (at: string, cwd: string, inserted: boolean) => {
  const path = toPythonLiteral(at)
  const unlist = inserted ? ` while ${path} in sys.path:sys.path.remove(${path})\n` : ""
  return `def _bmu():
 import os,sys
 try:
  if (os.getcwd()+'/').startswith(${path}+'/'):os.chdir(${toPythonLiteral(cwd)})
 except OSError:os.chdir('/')
 try:os.umount(${path})
 except OSError:pass
${unlist} for k in [k for k,m in sys.modules.items() if str(getattr(m,'__file__','')).startswith(${path}+'/')]:del sys.modules[k]
 for n in ${toPythonLiteral(MOUNT_VFS.defines)}:globals().pop(n,None)
try:_bmu()
finally:del _bmu
`
}

/**
 * Mount the host folder `dir` on the board of `session` (at `/remote` unless `options.at` says
 * otherwise), read-only unless `writable`; it stays mounted until the scope ends (or the session
 * does), and while it is, code run on the board (by any exchange of this connection, and in the
 * terminal) reads the folder's files as the board's own: `import app` finds `app.py` there. The
 * host never serves a path outside the folder.
 *
 * Fails with `CapabilityMissingError` on a board without `os.mount` (the micro:bit), before
 * anything is sent but a probe; `LocalFileError` when `dir` is not a folder; `MountError` when
 * another mount serves this connection.
 *
 * @example
 * yield* Effect.scoped(
 *   Effect.gen(function* () {
 *     yield* mountHostFolder(session, "./src", { writable: true })
 *     yield* session.device.exec("import app; app.main()")
 *   }),
 * ) // unmounted, sys.path as it was
 * @since 0.1.0
 */
export const mountHostFolder = (
  session: DeviceSession,
  dir: string,
  options?: MountOptions,
): Effect.Effect<
  MountedFolder,
  | MountError
  | CapabilityMissingError
  | LocalFileError
  | InvalidPathError
  | PythonError
  | ProtocolError
  | SessionError
  | ResourceCleanupError,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const at = options?.at ?? "/remote"
    if (!at.startsWith("/") || at === "/" || at.split("/").some((p) => p === ".." || p === "."))
      return yield* new InvalidPathError({
        path: at,
        reason: "a mount point is an absolute path other than /",
      })
    const mountAt = at.length > 1 && at.endsWith("/") ? at.slice(0, -1) : at
    const root = yield* Effect.tryPromise({
      try: async () => {
        const real = await realpath(dir)
        if (!(await stat(real)).isDirectory()) throw new Error("not a directory")
        return real
      },
      catch: (cause) =>
        new LocalFileError({
          operation: "mount",
          path: dir,
          reason: (cause as NodeJS.ErrnoException).code ?? (cause as Error).message,
          cause,
        }),
    })
    const device = session.device
    const caps = session.deviceContext.capabilities
    // Known without asking: a board whose os has neither stat nor ilistdir has no VFS to mount on.
    if (!caps.fallback && !caps.osFunctions.includes("stat") && !caps.osFunctions.includes("ilistdir"))
      return yield* new CapabilityMissingError({ operation: "mount", missing: "os.mount" })
    const lacking = yield* device.exec(PROBE)
    const missing = parseMissing(lacking)
    if (missing.length > 0)
      return yield* new CapabilityMissingError({ operation: "mount", missing: missing.join(", ") })
    if (device.connectionState.has(OutputInterceptorKey))
      return yield* new MountError({ at: mountAt, reason: "another mount serves this connection already" })

    const nonce = newExchangeNonce().slice(0, 8)
    const server = makeMountServer(root, nonce, {
      writable: options?.writable === true,
      unsafeLinks: options?.unsafeLinks === true,
      maxReplyBytes: options?.maxReplyBytes ?? 4000,
    })
    // The host side first (the board's first request may come with the mount itself), last out.
    yield* Effect.acquireRelease(
      Effect.sync(() => device.connectionState.set(OutputInterceptorKey, server.interceptor)),
      () =>
        Effect.andThen(
          Effect.sync(() => {
            if (device.connectionState.getOrUndefined(OutputInterceptorKey) === server.interceptor)
              device.connectionState.delete(OutputInterceptorKey)
          }),
          server.close,
        ),
    )
    const chunk = Math.max(64, Math.floor(options?.chunkBytes ?? 4096))
    const [mounted, handle] = yield* session.acquireWithHandle(
      Effect.gen(function* () {
        const out = yield* device.exec(mountCode(nonce, mountAt, chunk, options?.chdir !== false))
        const generation = yield* device.generation
        const [cwd, inserted] = parseMounted(out)
        return { cwd, inserted, generation }
      }),
      ({ cwd, inserted }) => device.exec(unmountCode(mountAt, cwd, inserted)),
      { resourceType: "HostMount", resourceId: `mount:${mountAt}`, estimatedCost: 4096, lostOnReset: true },
    )
    yield* Effect.addFinalizer(() => Effect.ignore(handle.release))
    return {
      at: mountAt,
      localDir: root,
      writable: options?.writable === true,
      stats: Effect.sync(server.stats),
      lost: Effect.map(device.generation, (g) => g !== mounted.generation),
    } satisfies MountedFolder
  })

const parseMissing = (out: string): ReadonlyArray<string> => {
  try {
    const value = parsePythonLiteral(out.trim().split("\n").at(-1) ?? "[]")
    return Array.isArray(value) ? value.map(String) : []
  } catch {
    return []
  }
}

const parseMounted = (out: string): readonly [string, boolean] => {
  try {
    const value = parsePythonLiteral(out.trim().split("\n").at(-1) ?? "")
    if (Array.isArray(value) && typeof value[0] === "string") return [value[0] || "/", value[1] === true]
  } catch {}
  return ["/", true]
}

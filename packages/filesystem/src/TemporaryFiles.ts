/**
 * Temporary files of uploads, and how a later connection tells the dead from the live ones.
 *
 * An upload writes `.belay-<owner>-<n>.tmp` next to its target (and, when it commits by an
 * on-board copy, briefly a reservation `.belay-<owner>-<n>r.tmp`), then renames or copies it into
 * place. `<owner>` is the token of the connection that made it (six random base-36 characters,
 * made by this process), `<n>` counts that connection's uploads. A host that is killed (SIGKILL,
 * a crash, a pulled cable) cannot remove it; a board that resets mid-upload cannot either.
 *
 * **The registry.** While an upload's temporary file may exist, the board keeps the upload in a
 * registry in its RAM: the global dict `_bf`, under the file's stem (`.belay-<owner>-<n>`, a
 * string too long to be interned), holds `[open file or None, host, pid]`: a 30-bit hash of the
 * host's name and the id of the host process that owns it. The entry is made in the exchange that
 * creates the file and goes in the exchange that renames or removes it; the dict goes when its
 * last entry does. It costs no exchange of its own.
 *
 * **Dead.** A temporary file is dead, and removed without asking anyone, when
 * 1. its owner token was made by this process, and this process has no upload of that name in
 *    flight (the host-side set of in-flight uploads is exact): a session that lost its link, an
 *    upload whose cleanup failed;
 * 2. otherwise, the board's registry has no entry for it: a reset (or a power cut) cleared the
 *    board's RAM since its owner wrote it, so no one can finish it;
 * 3. its entry names this host and a process that no longer runs (`kill(pid, 0)`): a host
 *    process killed with the board left powered (a USB board, the QEMU micro:bit, the virtual
 *    board on a pseudo-terminal).
 *
 * Anything else is live and kept: an upload in flight in this process (another session, another
 * connection), of another process of this host that still runs, or of another host (the board
 * cannot tell whether that host is gone; its next reset will).
 *
 * **When.** On a board with room, the transfer probe (which every connection runs once,
 * before its first file operation) also lists the root directory's temporary files and the
 * registry: no extra exchange when nothing is dead (a few hundred bytes more in the probe), one
 * exchange that removes what is dead otherwise, before the operation. The first upload into any
 * other directory lists that directory in its opening exchange, and what is dead there goes after
 * the upload. On a small board (a micro:bit, whose heap parses the probe and an upload's opening
 * with little to spare) the first upload into a directory lists it in an exchange of its own
 * before it writes anything, so that dead files make room for it. {@link cleanTemporaryFiles}
 * (`belay fs clean`) walks a whole tree on demand. The board-side code needs only `os.listdir`
 * and `os.remove`: it runs on a micro:bit (MicroPython 1.9.2, flat filesystem) as on any board.
 *
 * @internal
 */

import type { PythonValue } from "@belay/transport"
import { Effect } from "effect"
import { hostProcess, isProcessRunning } from "#platform"
import { removeTemporaryFilesCode, scanTemporaryFilesCode } from "./BoardCode.js"
import { asNumber, type FsRuntime, mapBoardErrors, runFramed } from "./BoardExchange.js"
import { boardBaseName, isTemporaryName, TEMP_PREFIX } from "./BoardPath.js"
import type { DeviceProfile } from "./BoardProfile.js"
import type { FileSystemError } from "./errors.js"

/** 30-bit FNV-1a hash of this host's name: small enough to be a small int on any board. */
const hashHost = (name: string): number => {
  let h = 0x811c9dc5
  for (const byte of new TextEncoder().encode(name)) {
    h ^= byte
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h & 0x3fffffff
}

/** Who owns the uploads of this process, as the board's registry records it. */
export const OWNER = (() => {
  const { hostName, pid } = hostProcess()
  return { host: hashHost(hostName), pid } as const
})()

/** Tokens of the connections this process made. */
const ownTokens = new Set<string>()
/** Stems of the uploads of this process whose temporary files may exist on a board. */
const inFlight = new Set<string>()

/**
 * A new connection token: six base-36 characters, the first a letter (so a name never starts
 * with a digit run another token could share).
 */
export const newOwnerToken = (): string => {
  let token = randomToken()
  // Drawn again on the rare clash with a token of this process (one in 26 * 36^5 per token made).
  while (ownTokens.has(token)) token = randomToken()
  ownTokens.add(token)
  return token
}

/** Letters in the first character of a token, and base-36 digits after it. */
const TOKEN_LETTERS = 26
const TOKEN_DIGITS = 5

const randomToken = (): string =>
  `${String.fromCharCode("a".charCodeAt(0) + Math.floor(Math.random() * TOKEN_LETTERS))}${Math.floor(
    Math.random() * 36 ** TOKEN_DIGITS,
  )
    .toString(36)
    .padStart(TOKEN_DIGITS, "0")}`

/** The stem of an upload's temporary names: `.belay-<owner>-<n>`. */
export const uploadStem = (token: string, n: number): string => `${TEMP_PREFIX}${token}-${n}`

/** The stem a temporary name belongs to (`.belay-k3x9ab-4r.tmp` is `.belay-k3x9ab-4`). */
export const stemOf = (name: string): string => name.replace(/r?\.tmp$/, "")

const tokenOf = (stem: string): string => stem.slice(TEMP_PREFIX.length, stem.lastIndexOf("-"))

/** Mark an upload of this process as in flight (before its first exchange) for `body`'s duration. */
export const inFlightDuring = <A, E, R>(stem: string, body: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => inFlight.add(stem)),
    () => body,
    () => Effect.sync(() => inFlight.delete(stem)),
  )

/** An entry of the board's registry: the upload's stem and its owner. */
export interface RegistryEntry {
  readonly stem: string
  readonly host: number
  readonly pid: number
}

/** A temporary file found on the board, and what was decided about it. */
export interface TemporaryFileVerdict {
  /** Board path, e.g. `/lib/.belay-k3x9ab-4.tmp`. */
  readonly path: string
  readonly dead: boolean
  /** Why, in words. */
  readonly reason: string
}

const isRunning = (pid: number): boolean => pid === OWNER.pid || isProcessRunning(pid)

/** Is an upload, by stem and (when the board has it) registry entry, dead? And why. */
export const judge = (
  stem: string,
  entry: RegistryEntry | undefined,
): { readonly dead: boolean; readonly reason: string } => {
  if (ownTokens.has(tokenOf(stem)) || (entry?.host === OWNER.host && entry.pid === OWNER.pid)) {
    return inFlight.has(stem)
      ? { dead: false, reason: "an upload of this process is writing it" }
      : { dead: true, reason: "left by this process, whose upload has ended" }
  }
  if (entry === undefined) {
    return { dead: true, reason: "no upload on the board holds it: the board reset since it was written" }
  }
  if (entry.host !== OWNER.host) {
    return { dead: false, reason: "an upload of another host holds it (a board reset clears it)" }
  }
  return isRunning(entry.pid)
    ? { dead: false, reason: `an upload of process ${entry.pid} on this host holds it, and it runs` }
    : { dead: true, reason: `its process ${entry.pid} on this host has ended` }
}

/** The registry as the board printed it: `[[stem, host, pid], ...]` (other shapes skipped). */
export const parseRegistry = (value: PythonValue | undefined): Map<string, RegistryEntry> => {
  const out = new Map<string, RegistryEntry>()
  if (!Array.isArray(value)) return out
  for (const item of value) {
    if (!Array.isArray(item) || typeof item[0] !== "string") continue
    const host = asNumber(item[1])
    const pid = asNumber(item[2])
    if (host === undefined || pid === undefined) continue
    out.set(item[0], { stem: item[0], host, pid })
  }
  return out
}

/** What is dead, to remove in one exchange: native paths (with their board paths) and registry stems. */
export interface DeadTemporaryFiles {
  readonly files: Array<{ readonly path: string; readonly native: string }>
  readonly stems: Set<string>
}

/** The connection's queue of dead temporary files, made when first needed. */
const pendingOf = (profile: DeviceProfile): DeadTemporaryFiles => {
  if (profile.deadTemporaryFiles === undefined) profile.deadTemporaryFiles = { files: [], stems: new Set() }
  return profile.deadTemporaryFiles
}

/**
 * Judge what a directory listing and the registry show, and queue the dead for removal on the
 * connection's profile. `names` are bare names in `dir` (a board path); `native` maps a board
 * path to the board's own form. Returns every verdict.
 */
export const noteTemporaryFiles = (
  profile: DeviceProfile,
  paths: ReadonlyArray<string>,
  registry: ReadonlyMap<string, RegistryEntry>,
  native: (path: string) => string,
): ReadonlyArray<TemporaryFileVerdict> => {
  const verdicts: TemporaryFileVerdict[] = []
  const pending = pendingOf(profile)
  for (const path of paths) {
    const name = boardBaseName(path)
    if (!isTemporaryName(name)) continue
    const stem = stemOf(name)
    const verdict = judge(stem, registry.get(stem))
    verdicts.push({ path, ...verdict })
    if (verdict.dead && !pending.files.some((f) => f.path === path)) {
      pending.files.push({ path, native: native(path) })
    }
  }
  for (const entry of registry.values()) {
    if (judge(entry.stem, entry).dead) pending.stems.add(entry.stem)
  }
  if (pending.files.length === 0 && pending.stems.size === 0) profile.deadTemporaryFiles = undefined
  return verdicts
}

/**
 * Queue the files of an upload of this process whose own cleanup failed (its exchanges lost or
 * damaged): dead once the upload has returned, they go with the connection's next removal (right
 * after the operation, else before each next one until a removal gets through).
 */
export const queueFailedCleanup = (
  profile: DeviceProfile,
  stem: string,
  files: ReadonlyArray<{ readonly path: string; readonly native: string }>,
): void => {
  const pending = pendingOf(profile)
  for (const file of files) if (!pending.files.some((f) => f.path === file.path)) pending.files.push(file)
  pending.stems.add(stem)
}

/**
 * Remove what {@link noteTemporaryFiles} queued, in one exchange (none when nothing is queued):
 * close and forget the dead registry entries, remove the dead files. Returns the board paths
 * removed. When the exchange fails, what was queued stays queued for the next removal.
 */
export const removeNotedTemporaryFiles = (
  rt: FsRuntime,
): Effect.Effect<ReadonlyArray<string>, FileSystemError> =>
  Effect.suspend(() => {
    const pending = rt.profile.deadTemporaryFiles
    rt.profile.deadTemporaryFiles = undefined
    if (pending === undefined || (pending.files.length === 0 && pending.stems.size === 0)) {
      return Effect.succeed([])
    }
    const byNative = new Map(pending.files.map((f) => [f.native, f.path]))
    return Effect.map(
      runFramed(
        rt,
        removeTemporaryFilesCode(
          pending.files.map((f) => f.native),
          [...pending.stems],
        ),
        { operation: "clean", path: pending.files[0]?.path ?? "/", readOnly: false },
      ).pipe(mapBoardErrors("clean", "/", rt.probe)),
      (values) =>
        values.flatMap((v) => (typeof v === "string" && byNative.has(v) ? [byNative.get(v) as string] : [])),
    ).pipe(
      Effect.tap((removed) =>
        removed.length > 0
          ? Effect.logInfo("Removed temporary files left by an upload that can no longer finish").pipe(
              Effect.annotateLogs({ removed }),
            )
          : Effect.void,
      ),
      // Not removed now (the exchange lost or damaged, the link gone): the next removal tries again.
      Effect.tapError(() =>
        Effect.sync(() => {
          const again = pendingOf(rt.profile)
          for (const file of pending.files)
            if (!again.files.some((f) => f.path === file.path)) again.files.push(file)
          for (const stem of pending.stems) again.stems.add(stem)
        }),
      ),
    )
  })

/**
 * What {@link cleanTemporaryFiles} found and did.
 *
 * @since 0.1.0
 */
export interface CleanReport {
  /** Board paths of the dead temporary files it removed. */
  readonly removed: ReadonlyArray<string>
  /** Temporary files it kept, each with the reason (a live upload writes it). */
  readonly kept: ReadonlyArray<{ readonly path: string; readonly reason: string }>
}

/**
 * Find every temporary file under `dir` (a board path; the whole tree below it, one exchange)
 * and remove the dead ones (one more exchange, only if there are any).
 */
export const cleanTemporaryFiles = (
  rt: FsRuntime,
  dir: { readonly path: string; readonly native: string },
  recursive = true,
): Effect.Effect<CleanReport, FileSystemError> =>
  Effect.gen(function* () {
    const values = yield* runFramed(rt, scanTemporaryFilesCode(rt.dialect, dir.native, recursive), {
      operation: "clean",
      path: dir.path,
      readOnly: true,
      timeoutMs: 120_000,
    }).pipe(mapBoardErrors("clean", dir.path, rt.probe))
    const found: string[] = []
    let registry = new Map<string, RegistryEntry>()
    for (const value of values) {
      if (!Array.isArray(value)) continue
      if (value[0] === "f" && typeof value[1] === "string") {
        // Native paths: on a flat board a bare name; board paths are absolute.
        found.push(rt.dialect.flat ? `/${value[1]}` : value[1])
      } else if (value[0] === "r") registry = parseRegistry(value[1])
    }
    const toNative = (path: string) => (rt.dialect.flat ? path.slice(1) : path)
    const verdicts = noteTemporaryFiles(rt.profile, found, registry, toNative)
    rt.profile.scannedDirectories.add(dir.path)
    const removed = yield* removeNotedTemporaryFiles(rt)
    const gone = new Set(removed)
    return {
      removed,
      kept: verdicts
        .filter((v) => !v.dead && !gone.has(v.path))
        .map((v) => ({ path: v.path, reason: v.reason })),
    }
  })

/**
 * The per-user runtime folder where kept boards (the QEMU micro:bit, the virtual board) are
 * recorded: their state files, and the lock files that let one process at a time start, reuse or
 * stop one.
 */
import { createHash } from "node:crypto"
import {
  closeSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs"
import os from "node:os"
import path from "node:path"
import { Data, Effect, Schedule } from "effect"
import { isAlive, POLL_MS } from "./hostProcesses.js"

/**
 * The kept emulator's state folder or lock could not be used: a folder another user owns or others
 * can read, or a lock that another process holds for too long.
 *
 * @example
 * stopKeptQemuMicrobits().pipe(Effect.catchTag("QemuStateError", (e) => Console.error(e.message)))
 * @since 0.1.0
 */
export class QemuStateError extends Data.TaggedError("QemuStateError")<{
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `the kept QEMU micro:bit: ${this.reason}`
  }
}

/** Bound on waiting for another process's lock: longer than that process may take to start QEMU. */
const LOCK_WAIT_MS = 30_000

/** A lock file still empty after this long belongs to a process that died between creating and writing it. */
const EMPTY_LOCK_STALE_MS = 5_000

/**
 * The per-user folder of the kept boards' state files (the kept QEMU micro:bits' and the kept
 * virtual boards'): `$XDG_RUNTIME_DIR/belay`, else `<os.tmpdir()>/belay-<uid>`; created with mode 0700.
 *
 * @example
 * keptQemuStateDir() // "/run/user/1000/belay"
 * @since 0.1.0
 */
export const keptQemuStateDir = (): string => {
  const runtime = process.env.XDG_RUNTIME_DIR
  if (runtime) return path.join(runtime, "belay")
  return path.join(os.tmpdir(), `belay-${process.getuid?.() ?? os.userInfo().username}`)
}

/** How a kept board's module words a problem with its state folder, lock or state file. */
export type StateFailure<E> = (reason: string, cause?: unknown) => E

/** The state folder, made private to this user; refused when another user owns it or others can enter it. */
export const prepareStateDir = <E>(dir: string, fail: StateFailure<E>) =>
  Effect.try({
    try: () => {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      const stat = lstatSync(dir)
      if (!stat.isDirectory()) throw new Error(`${dir} is not a directory`)
      const uid = process.getuid?.()
      if (uid !== undefined && stat.uid !== uid) throw new Error(`${dir} belongs to another user`)
      if ((stat.mode & 0o077) !== 0) throw new Error(`${dir} is open to other users (mode 0700 expected)`)
      return dir
    },
    catch: (cause) => fail(`cannot use the state folder: ${(cause as Error).message}`, cause),
  })

/** Remove `file` if it is there. */
export const removeFile = (file: string) => {
  try {
    unlinkSync(file)
  } catch {
    // already gone
  }
}

class LockBusy extends Data.TaggedError("LockBusy")<{ readonly holder: string }> {}

const lockOwner = (lock: string): string | undefined => {
  try {
    return readFileSync(lock, "utf8").trim()
  } catch {
    return undefined
  }
}

/**
 * One attempt at the lock: create it exclusively with this process's pid. A lock whose process is
 * gone is moved aside before it is removed, so that of two processes that find it stale at once,
 * the second does not remove the lock the first has just made (it moves that one back).
 */
const tryLock = <E>(lock: string, fail: StateFailure<E>): Effect.Effect<void, LockBusy | E> =>
  Effect.suspend((): Effect.Effect<void, LockBusy | E> => {
    try {
      const fd = openSync(lock, "wx", 0o600)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return Effect.void
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST")
        return Effect.fail(fail(`cannot create ${lock}: ${String(error)}`, error))
    }
    const owner = lockOwner(lock)
    if (owner === undefined) return Effect.fail(new LockBusy({ holder: "gone" })) // removed meanwhile: try again
    const pid = Number(owner)
    const stale =
      owner === ""
        ? Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0) > EMPTY_LOCK_STALE_MS
        : !Number.isInteger(pid) || !isAlive(pid)
    if (stale) {
      const aside = `${lock}.stale-${process.pid}`
      try {
        renameSync(lock, aside)
        if (lockOwner(aside) === owner) removeFile(aside)
        else {
          linkSync(aside, lock)
          removeFile(aside)
        }
      } catch {
        // Another process moved or replaced it first: try again.
      }
    }
    return Effect.fail(new LockBusy({ holder: owner }))
  })

/**
 * Run `body` holding a kept board's lock. Waiting for the lock can be interrupted; `body` cannot,
 * so that a board it starts detached is always recorded (or stopped) before the lock goes.
 */
export const withLock = <A, E, F>(lock: string, body: Effect.Effect<A, E>, fail: StateFailure<F>) =>
  Effect.acquireUseRelease(
    tryLock(lock, fail).pipe(
      Effect.retry({ schedule: Schedule.spaced(POLL_MS), while: (e) => e instanceof LockBusy }),
      Effect.timeoutOrElse({
        duration: LOCK_WAIT_MS,
        orElse: () =>
          Effect.fail(fail(`process ${lockOwner(lock) ?? "?"} has held ${lock} for ${LOCK_WAIT_MS} ms`)),
      }),
      Effect.mapError((e) =>
        e instanceof LockBusy ? fail(`the lock ${lock} is held by process ${e.holder}`) : e,
      ),
      Effect.interruptible,
    ),
    () => Effect.uninterruptible(body),
    () => Effect.sync(() => lockOwner(lock) === String(process.pid) && removeFile(lock)),
  )

/** The state, lock and log files of the kept board that `identity` names (a real path, or a word). */
export const keptBoardFiles = (dir: string, prefix: string, identity: string) => {
  const key = createHash("sha256").update(identity).digest("hex").slice(0, 16)
  const base = path.join(dir, `${prefix}${key}`)
  return { state: `${base}.json`, lock: `${base}.lock`, log: `${base}.log` }
}

/** A state file's record, or undefined when it is missing, unreadable or not one (`valid` says). */
export const readStateFile = <A>(file: string, valid: (value: Partial<A>) => boolean): A | undefined => {
  try {
    const value = JSON.parse(readFileSync(file, "utf8")) as Partial<A>
    return typeof value === "object" && value !== null && valid(value) ? (value as A) : undefined
  } catch {
    return undefined
  }
}

/** Write a state file whole: into a temporary file beside it, then renamed over it. */
export const writeStateFile = <E>(file: string, record: unknown, fail: StateFailure<E>) =>
  Effect.try({
    try: () => {
      const temporary = `${file}.${process.pid}.tmp`
      writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 })
      renameSync(temporary, file)
    },
    catch: (cause) => fail(`cannot write ${file}: ${String(cause)}`, cause),
  })

/** The state files with `prefix` in `dir`, with their records. */
export const recordedStateFiles = <A>(
  dir: string,
  prefix: string,
  read: (file: string) => A | undefined,
): ReadonlyArray<{ readonly file: string; readonly record: A }> => {
  let names: ReadonlyArray<string>
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names
    .filter((name) => name.startsWith(prefix) && name.endsWith(".json"))
    .flatMap((name) => {
      const record = read(path.join(dir, name))
      return record === undefined ? [] : [{ file: path.join(dir, name), record }]
    })
}

/**
 * The per-user runtime folder where kept emulators are recorded, and the lock files that let one
 * process at a time start, reuse or stop an emulator.
 */
import {
  closeSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
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
 * The per-user folder of the kept emulators' state files: `$XDG_RUNTIME_DIR/belay`, else
 * `<os.tmpdir()>/belay-<uid>`; created with mode 0700.
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

/** The state folder, made private to this user; refused when another user owns it or others can enter it. */
export const prepareStateDir = (dir: string) =>
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
    catch: (cause) =>
      new QemuStateError({ reason: `cannot use the state folder: ${(cause as Error).message}`, cause }),
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
const tryLock = (lock: string): Effect.Effect<void, LockBusy | QemuStateError> =>
  Effect.suspend((): Effect.Effect<void, LockBusy | QemuStateError> => {
    try {
      const fd = openSync(lock, "wx", 0o600)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return Effect.void
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST")
        return Effect.fail(
          new QemuStateError({ reason: `cannot create ${lock}: ${String(error)}`, cause: error }),
        )
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
 * Run `body` holding the emulator's lock. Waiting for the lock can be interrupted; `body` cannot,
 * so that an emulator it starts detached is always recorded (or stopped) before the lock goes.
 */
export const withLock = <A, E>(lock: string, body: Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    tryLock(lock).pipe(
      Effect.retry({ schedule: Schedule.spaced(POLL_MS), while: (e) => e._tag === "LockBusy" }),
      Effect.timeoutOrElse({
        duration: LOCK_WAIT_MS,
        orElse: () =>
          Effect.fail(
            new QemuStateError({
              reason: `process ${lockOwner(lock) ?? "?"} has held ${lock} for ${LOCK_WAIT_MS} ms`,
            }),
          ),
      }),
      Effect.catchTag("LockBusy", (e) =>
        Effect.fail(new QemuStateError({ reason: `the lock ${lock} is held by process ${e.holder}` })),
      ),
      Effect.interruptible,
    ),
    () => Effect.uninterruptible(body),
    () => Effect.sync(() => lockOwner(lock) === String(process.pid) && removeFile(lock)),
  )

/**
 * The emulated micro:bit kept running between processes, as a board stays plugged in between
 * commands: `belay cp x.py :` then `belay ls` sees the file.
 *
 * One emulator per firmware file, identified by the file's real path (QEMU loads the firmware into
 * the emulated flash, and the board's files live in that flash, in QEMU's memory: the firmware is
 * what the board runs from). The first process that needs it starts QEMU detached and records it
 * in a state file (pid, pseudo-terminal, firmware, start time) in a per-user runtime folder; later
 * processes find it there. A lock file (created exclusively; a lock whose process is gone is
 * stale) keeps two processes started at once from starting two. An emulator that died, lost its
 * pseudo-terminal, or whose firmware file changed is started afresh. A small holder process keeps
 * the pseudo-terminal open between processes, because QEMU drops the board's output while nothing
 * has it open and notices an open only about a second later; the holder exits by itself within a
 * second once QEMU is gone.
 */
import { spawn } from "node:child_process"
import { closeSync, constants, existsSync, openSync, realpathSync, statSync } from "node:fs"
import path from "node:path"
import { Effect } from "effect"
import {
  commandLine,
  isAlive,
  KILL_WAIT_MS,
  pollUntil,
  signal,
  startDetached,
  terminate,
} from "./hostProcesses.js"
import {
  eraseFlash,
  locateQemuMicrobit,
  ptyAnnouncement,
  type QemuMicrobitOptions,
  QemuStartError,
  qemuMicrobitArguments,
} from "./qemu.js"
import {
  keptBoardFiles,
  keptQemuStateDir,
  prepareStateDir,
  QemuStateError,
  readStateFile,
  recordedStateFiles,
  removeFile,
  withLock,
  writeStateFile,
} from "./runtimeFolder.js"

/**
 * Options of {@link useKeptQemuMicrobit} and {@link stopKeptQemuMicrobits}.
 *
 * @example
 * yield* useKeptQemuMicrobit({ firmwarePath: "./firmware.hex", stateDir: "/tmp/my-belay" })
 * @since 0.1.0
 */
export interface KeptQemuMicrobitOptions extends QemuMicrobitOptions {
  /** Where the state, lock and log files go; default {@link keptQemuStateDir}. */
  readonly stateDir?: string
}

/**
 * A kept emulator, as its state file records it.
 *
 * @example
 * const { ptyPath, pid, startedAt } = yield* useKeptQemuMicrobit()
 * @since 0.1.0
 */
export interface KeptQemuMicrobit {
  /** QEMU's process id. */
  readonly pid: number
  /** The board's UART, e.g. `/dev/pts/3`: open it with `openSerialLink`. */
  readonly ptyPath: string
  /** The firmware's real path: what identifies the emulator. */
  readonly firmwarePath: string
  /** When QEMU started, as an ISO 8601 time. */
  readonly startedAt: string
  /** The process that holds the pseudo-terminal open between commands. */
  readonly holderPid: number
  /** The state file that records it. */
  readonly stateFile: string
}

/**
 * {@link KeptQemuMicrobit} with whether it still runs (QEMU alive and the pseudo-terminal there).
 *
 * @example
 * for (const q of yield* keptQemuMicrobits()) console.log(q.pid, q.running)
 * @since 0.1.0
 */
export interface KeptQemuMicrobitStatus extends KeptQemuMicrobit {
  readonly running: boolean
}

/** The state file's contents beside what identifies the emulator: how to tell the firmware changed. */
interface StateRecord extends Omit<KeptQemuMicrobit, "stateFile"> {
  readonly firmwareSize: number
  readonly firmwareMtimeMs: number
}

/** The holder's name in `ps` and `/proc/<pid>/cmdline`, by which it is recognized. */
const HOLDER_NAME = "belay-qemu-pty-holder"
/**
 * The holder: its stdin the pseudo-terminal (`$2`), reading nothing, it waits while QEMU (`$1`)
 * runs and the pseudo-terminal exists (it goes when QEMU exits, even where QEMU stays a zombie).
 */
const HOLDER_SCRIPT = 'while kill -0 "$1" 2>/dev/null && [ -e "$2" ]; do sleep 1; done'
const FILE_PREFIX = "qemu-microbit-"

/** The files of the emulator for `firmwarePath` (a real path). */
const filesFor = (dir: string, firmwarePath: string) => keptBoardFiles(dir, FILE_PREFIX, firmwarePath)

/** How this module words a problem with its state folder, lock or state file. */
const stateFailure = (reason: string, cause?: unknown) => new QemuStateError({ reason, cause })

/** True while `pid` is QEMU running `firmwarePath` (not another process that got its pid). */
const isQemu = (pid: number, firmwarePath: string): boolean => {
  if (!isAlive(pid)) return false
  const argv = commandLine(pid)
  // Without `/proc` (not Linux), being alive is all that can be checked.
  if (argv === undefined) return !existsSync("/proc")
  return (
    path.basename(argv[0] ?? "").startsWith("qemu-system") && argv.includes(`loader,file=${firmwarePath}`)
  )
}

const isHolder = (pid: number): boolean => isAlive(pid) && (commandLine(pid)?.includes(HOLDER_NAME) ?? true)

const readState = (file: string): StateRecord | undefined =>
  readStateFile<StateRecord>(
    file,
    (value) => typeof value.pid === "number" && typeof value.ptyPath === "string",
  )

/** Stop what `state` records: QEMU, then the holder (its whole process group: the shell and its `sleep`). */
const stopRecorded = (state: StateRecord, killTimeoutMs: number) =>
  Effect.gen(function* () {
    yield* terminate(state.pid, () => isQemu(state.pid, state.firmwarePath), killTimeoutMs)
    if (isHolder(state.holderPid)) signal(-state.holderPid, "SIGKILL")
    yield* pollUntil(() => (isHolder(state.holderPid) ? undefined : true), KILL_WAIT_MS)
  })

/** Start QEMU detached, its output in `logFile`; its pid and pseudo-terminal once it announces it. */
const startDetachedQemu = (
  qemuPath: string,
  firmwarePath: string,
  logFile: string,
  startTimeoutMs: number,
  killTimeoutMs: number,
) =>
  startDetached({
    command: qemuPath,
    args: qemuMicrobitArguments(firmwarePath),
    logFile,
    ready: (output) => ptyAnnouncement.exec(output)?.[1],
    startTimeoutMs,
    killTimeoutMs,
    name: "QEMU",
    readiness: "open the serial port",
  }).pipe(
    Effect.map(({ pid, ready }) => ({ pid, ptyPath: ready })),
    Effect.mapError(
      (failure) =>
        new QemuStartError({
          reason: failure.reason,
          ...(failure.output === undefined ? {} : { output: failure.output }),
          ...(failure.cause === undefined ? {} : { cause: failure.cause }),
        }),
    ),
  )

/** Start the holder of `ptyPath`, which lives while QEMU (`qemuPid`) does. */
const startHolder = (ptyPath: string, qemuPid: number) =>
  Effect.try({
    try: () => {
      const fd = openSync(ptyPath, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK)
      try {
        const child = spawn("sh", ["-c", HOLDER_SCRIPT, HOLDER_NAME, String(qemuPid), ptyPath], {
          detached: true,
          cwd: "/",
          stdio: [fd, "ignore", "ignore"],
        })
        child.unref()
        if (child.pid === undefined) throw new Error("sh could not be started")
        return child.pid
      } finally {
        closeSync(fd)
      }
    },
    catch: (cause) =>
      new QemuStartError({ reason: `could not hold ${ptyPath} open: ${(cause as Error).message}`, cause }),
  })

/** What callers see of a state record: the firmware's size and time are for telling it changed. */
const publicView = ({ firmwareSize: _, firmwareMtimeMs: __, ...rest }: StateRecord, stateFile: string) => ({
  ...rest,
  stateFile,
})

const writeState = (file: string, record: StateRecord) => writeStateFile(file, record, stateFailure)

/**
 * The kept emulated micro:bit for a firmware file: the running one, or a new one started detached
 * (it outlives this process; {@link stopKeptQemuMicrobits} stops it). A recorded emulator that no
 * longer runs, has lost its pseudo-terminal, or runs a firmware file that has since changed is
 * replaced.
 *
 * @example
 * import { openSerialLink } from "@belay/transport/serial"
 *
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const { ptyPath } = yield* useKeptQemuMicrobit()
 *   const link = yield* openSerialLink({ path: ptyPath })
 * }))
 * @since 0.1.0
 */
export const useKeptQemuMicrobit = (
  options: KeptQemuMicrobitOptions = {},
): Effect.Effect<KeptQemuMicrobit & { readonly reused: boolean }, QemuStartError | QemuStateError> =>
  Effect.gen(function* () {
    const located = yield* locateQemuMicrobit(options)
    const firmwarePath = realpathSync(located.firmwarePath)
    const dir = yield* prepareStateDir(options.stateDir ?? keptQemuStateDir(), stateFailure)
    const files = filesFor(dir, firmwarePath)
    const killTimeoutMs = options.killTimeoutMs ?? 2000
    return yield* withLock(
      files.lock,
      Effect.gen(function* () {
        const firmware = statSync(firmwarePath)
        const recorded = readState(files.state)
        if (recorded !== undefined) {
          const same =
            recorded.firmwareSize === firmware.size && recorded.firmwareMtimeMs === firmware.mtimeMs
          if (same && isQemu(recorded.pid, firmwarePath) && existsSync(recorded.ptyPath)) {
            if (isHolder(recorded.holderPid)) return { ...publicView(recorded, files.state), reused: true }
            const holderPid = yield* startHolder(recorded.ptyPath, recorded.pid)
            yield* writeState(files.state, { ...recorded, holderPid })
            return { ...publicView({ ...recorded, holderPid }, files.state), reused: true }
          }
          yield* stopRecorded(recorded, killTimeoutMs)
          removeFile(files.state)
        }
        const startedAt = new Date().toISOString()
        const qemu = yield* startDetachedQemu(
          located.qemuPath,
          firmwarePath,
          files.log,
          options.startTimeoutMs ?? 10000,
          killTimeoutMs,
        )
        const holderPid = yield* startHolder(qemu.ptyPath, qemu.pid).pipe(
          Effect.tapError(() => terminate(qemu.pid, () => isAlive(qemu.pid), killTimeoutMs)),
        )
        const record: StateRecord = {
          pid: qemu.pid,
          ptyPath: qemu.ptyPath,
          firmwarePath,
          startedAt,
          holderPid,
          firmwareSize: firmware.size,
          firmwareMtimeMs: firmware.mtimeMs,
        }
        yield* eraseFlash(qemu.ptyPath, firmwarePath, options.startTimeoutMs ?? 10000).pipe(
          Effect.tapError(() => stopRecorded(record, killTimeoutMs)),
        )
        yield* writeState(files.state, record).pipe(
          Effect.tapError(() => stopRecorded(record, killTimeoutMs)),
        )
        return { ...publicView(record, files.state), reused: false }
      }),
      stateFailure,
    )
  })

const recordedIn = (dir: string) => recordedStateFiles(dir, FILE_PREFIX, readState)

/**
 * The kept emulators recorded in the state folder, with whether each still runs.
 *
 * @example
 * for (const q of yield* keptQemuMicrobits()) console.log(`${q.ptyPath} ${q.running ? "running" : "gone"}`)
 * @since 0.1.0
 */
export const keptQemuMicrobits = (
  options: Pick<KeptQemuMicrobitOptions, "stateDir"> = {},
): Effect.Effect<ReadonlyArray<KeptQemuMicrobitStatus>> =>
  Effect.sync(() =>
    recordedIn(options.stateDir ?? keptQemuStateDir()).map(({ file, record }) => ({
      ...publicView(record, file),
      running: isQemu(record.pid, record.firmwarePath) && existsSync(record.ptyPath),
    })),
  )

/**
 * Stop kept emulators: the one for `options.firmwarePath` when given, else every one recorded.
 * Each one's QEMU and holder process are ended and its state and log files removed. Resolves with
 * what was recorded (running or not).
 *
 * @example
 * const stopped = yield* stopKeptQemuMicrobits()
 * console.log(`${stopped.length} stopped`)
 * @since 0.1.0
 */
export const stopKeptQemuMicrobits = (
  options: Pick<KeptQemuMicrobitOptions, "stateDir" | "firmwarePath" | "killTimeoutMs"> = {},
): Effect.Effect<ReadonlyArray<KeptQemuMicrobit>, QemuStateError> =>
  Effect.gen(function* () {
    // Only what this user's own folder records is stopped.
    const dir = yield* prepareStateDir(options.stateDir ?? keptQemuStateDir(), stateFailure)
    const wanted =
      options.firmwarePath === undefined
        ? undefined
        : filesFor(
            dir,
            existsSync(options.firmwarePath)
              ? realpathSync(options.firmwarePath)
              : path.resolve(options.firmwarePath),
          ).state
    const stopped: Array<KeptQemuMicrobit> = []
    for (const { file } of recordedIn(dir)) {
      if (wanted !== undefined && file !== wanted) continue
      const base = file.slice(0, -".json".length)
      yield* withLock(
        `${base}.lock`,
        Effect.gen(function* () {
          const record = readState(file)
          if (record === undefined) return
          yield* stopRecorded(record, options.killTimeoutMs ?? 2000)
          removeFile(file)
          removeFile(`${base}.log`)
          stopped.push(publicView(record, file))
        }),
        stateFailure,
      )
    }
    return stopped
  })

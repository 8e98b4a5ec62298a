/**
 * The virtual board kept running between processes, as a real board stays powered between
 * commands: `belay exec "x = 1"` then `belay eval x` sees 1, and a command does not pay for
 * starting MicroPython's WebAssembly interpreter (about 130 ms) each time.
 *
 * One board per flash folder (its real path; or one whose flash is in its memory), in a detached
 * process named `belay-virtual-board` that serves it on `127.0.0.1` as a raw TCP byte stream (port
 * chosen by the OS, printed on its ready line). Like the kept QEMU micro:bit (`keptQemu.ts`), it is
 * recorded in a state file in the per-user runtime folder (pid, port, flash folder, board options,
 * start time), started under a lock so that two processes started at once start one, and started
 * afresh when the recorded one is gone or runs other board options (firmware, raw-paste, ...).
 * Clients take turns: one started while another is connected waits until that one leaves. The
 * process exits by itself once it has had no client for its idle time (15 minutes unless told).
 */
import { existsSync, mkdirSync, realpathSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { Data, Effect } from "effect"
import { commandLine, isAlive, startDetached, terminate } from "./hostProcesses.js"
import { resolveOptions, type VirtualBoardOptions } from "./options.js"
import {
  keptBoardFiles,
  keptQemuStateDir,
  prepareStateDir,
  readStateFile,
  recordedStateFiles,
  removeFile,
  withLock,
  writeStateFile,
} from "./runtimeFolder.js"
import { OPTIONS_ENV, READY_LINE } from "./scriptWords.js"

/**
 * The kept virtual board's process could not be started, or did not say it was ready in time.
 *
 * @example
 * useKeptVirtualBoard().pipe(Effect.catchTag("VirtualBoardStartError", (e) => Console.error(e.message)))
 * @since 0.1.0
 */
export class VirtualBoardStartError extends Data.TaggedError("VirtualBoardStartError")<{
  readonly reason: string
  /** The last of what the board's process printed, when it ran. */
  readonly output?: string
  readonly cause?: unknown
}> {
  override get message() {
    // The end of what it said: a stack trace's last lines say why.
    const said = this.output?.trim().slice(-600)
    return `cannot start the kept virtual board: ${this.reason}${said ? ` (it said: ${said})` : ""}`
  }
}

/**
 * The kept virtual board's state folder, lock or state file could not be used: a folder another
 * user owns or others can enter, or a lock that another process holds for too long.
 *
 * @example
 * stopKeptVirtualBoards().pipe(Effect.catchTag("VirtualBoardStateError", (e) => Console.error(e.message)))
 * @since 0.1.0
 */
export class VirtualBoardStateError extends Data.TaggedError("VirtualBoardStateError")<{
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `the kept virtual board: ${this.reason}`
  }
}

/**
 * Options of {@link useKeptVirtualBoard}: the board's options but its line speed (`bytesPerSecond`
 * is the in-process board's link's; the kept board is reached over a local TCP connection at full
 * speed), and how the kept process is found and runs.
 *
 * @example
 * yield* useKeptVirtualBoard({ flashDir: "/tmp/flash", idleTimeoutMs: 60_000 })
 * @since 0.1.0
 */
export interface KeptVirtualBoardOptions extends Omit<VirtualBoardOptions, "bytesPerSecond"> {
  /** Where the state, lock and log files go; default `keptQemuStateDir()` (shared with the kept micro:bits). */
  readonly stateDir?: string
  /**
   * The board's process exits once it has had no client for this long (default 15 minutes). A
   * board already running keeps the idle time it was started with.
   */
  readonly idleTimeoutMs?: number
  /** Bound on the board's process getting ready (default 30 s). */
  readonly startTimeoutMs?: number
  /** How long a stopped board's process has after SIGTERM before SIGKILL (default 2 s). */
  readonly killTimeoutMs?: number
}

/**
 * The board options a kept board runs with, beside its flash folder: a board whose recorded
 * options differ from the ones asked for is started afresh.
 *
 * @example
 * const options: KeptVirtualBoardSettings = { rawPaste: false, firmware: "old" }
 * @since 0.1.0
 */
export type KeptVirtualBoardSettings = Omit<VirtualBoardOptions, "bytesPerSecond" | "flashDir">

/**
 * A kept virtual board, as its state file records it.
 *
 * @example
 * const { host, port } = yield* useKeptVirtualBoard({ flashDir: "/tmp/flash" })
 * const link = yield* openTcpLink({ host, port })
 * @since 0.1.0
 */
export interface KeptVirtualBoard {
  /** The board process's id. */
  readonly pid: number
  /** Where it listens: always `127.0.0.1`. */
  readonly host: string
  readonly port: number
  /** The flash folder's real path; undefined when the flash is in the board's memory. */
  readonly flashDir: string | undefined
  /** The board options it runs with (none given: the defaults). */
  readonly settings: KeptVirtualBoardSettings
  /** How long it stays without a client before it exits, in ms. */
  readonly idleTimeoutMs: number
  /** When it started, as an ISO 8601 time. */
  readonly startedAt: string
  /** The state file that records it. */
  readonly stateFile: string
}

/**
 * {@link KeptVirtualBoard} with whether its process still runs.
 *
 * @example
 * for (const b of yield* keptVirtualBoards()) console.log(b.port, b.running)
 * @since 0.1.0
 */
export interface KeptVirtualBoardStatus extends KeptVirtualBoard {
  readonly running: boolean
}

/** The state file's contents (`flashDir` absent for a board whose flash is in its memory). */
type StateRecord = Omit<KeptVirtualBoard, "stateFile">

/** Default of {@link KeptVirtualBoardOptions.idleTimeoutMs}. */
const DEFAULT_IDLE_TIMEOUT_MS = 15 * 60_000
const FILE_PREFIX = "virtual-board-"
/** The process's name (`argv[0]`), by which `ps`, `pgrep` and this module recognize it. */
const PROCESS_NAME = "belay-virtual-board"
/** Only this machine's programs reach it. */
const HOST = "127.0.0.1"
/** What a flash in the board's memory is called in place of a folder, to name its files. */
const IN_MEMORY = "(flash in memory)"
const readyAt = new RegExp(`^${READY_LINE} on tcp:127\\.0\\.0\\.1:(\\d+)$`, "m")

const stateFailure = (reason: string, cause?: unknown) => new VirtualBoardStateError({ reason, cause })

/**
 * The board process's script: beside this module when built (and in a bundle that puts it
 * there); from the package's `dist/` when this module runs from its TypeScript source (tests).
 */
const serverScript = (): string => {
  const here = new URL(import.meta.url)
  const built = here.pathname.endsWith(".ts") ? "../dist/virtualBoardServer.js" : "./virtualBoardServer.js"
  return fileURLToPath(new URL(built, here))
}

/** The board options as recorded: only those given, in a fixed order, so two records compare as text. */
const settingsOf = (options: KeptVirtualBoardOptions): KeptVirtualBoardSettings => {
  const {
    stateDir: _,
    idleTimeoutMs: __,
    startTimeoutMs: ___,
    killTimeoutMs: ____,
    flashDir: _____,
    ...rest
  } = options
  // A caller from JavaScript may pass the in-process line speed: it does not apply here.
  const { bytesPerSecond: ______, ...settings } = rest as VirtualBoardOptions
  return Object.fromEntries(
    Object.entries(settings)
      .filter(([, value]) => value !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  ) as KeptVirtualBoardSettings
}

/** True while `pid` is the kept board `record` describes (not another process that got its pid). */
const isKeptBoard = (pid: number, flashDir: string | undefined): boolean => {
  if (!isAlive(pid)) return false
  const argv = commandLine(pid)
  // Without `/proc` (not Linux), being alive is all that can be checked.
  if (argv === undefined) return !existsSync("/proc")
  if (argv[0] !== PROCESS_NAME || !argv.includes("--tcp")) return false
  const at = argv.indexOf("--flash-dir")
  return flashDir === undefined ? at < 0 : argv[at + 1] === flashDir
}

const readState = (file: string): StateRecord | undefined =>
  readStateFile<StateRecord>(
    file,
    (value) =>
      typeof value.pid === "number" &&
      typeof value.port === "number" &&
      typeof value.settings === "object" &&
      value.settings !== null,
  )

const publicView = (record: StateRecord, stateFile: string): KeptVirtualBoard => ({
  ...record,
  flashDir: record.flashDir,
  stateFile,
})

const stopRecorded = (record: StateRecord, killTimeoutMs: number) =>
  terminate(record.pid, () => isKeptBoard(record.pid, record.flashDir), killTimeoutMs)

/** The flash folder's real path (made if missing: the board would make it), or undefined. */
const realFlashDir = (flashDir: string | undefined) =>
  Effect.try({
    try: () => {
      if (flashDir === undefined) return undefined
      mkdirSync(flashDir, { recursive: true })
      return realpathSync(flashDir)
    },
    catch: (cause) =>
      new VirtualBoardStartError({
        reason: `cannot use the flash folder ${flashDir}: ${(cause as Error).message}`,
        cause,
      }),
  })

/** Start the board's process detached; its pid and port once it listens. */
const startBoard = (
  flashDir: string | undefined,
  settings: KeptVirtualBoardSettings,
  idleTimeoutMs: number,
  logFile: string,
  startTimeoutMs: number,
  killTimeoutMs: number,
) =>
  Effect.gen(function* () {
    const script = serverScript()
    if (!existsSync(script))
      return yield* new VirtualBoardStartError({
        reason: `${script} is missing: build the package first (pnpm -C packages/virtual-device build)`,
      })
    return yield* startDetached({
      command: process.execPath,
      argv0: PROCESS_NAME,
      args: [
        script,
        "--tcp",
        `${HOST}:0`,
        "--queue-clients",
        "--idle-exit",
        String(idleTimeoutMs / 1000),
        ...(flashDir === undefined ? [] : ["--flash-dir", flashDir]),
      ],
      env: { ...process.env, [OPTIONS_ENV]: JSON.stringify(settings) },
      logFile,
      ready: (output) => readyAt.exec(output)?.[1],
      startTimeoutMs,
      killTimeoutMs,
      name: "the virtual board",
      readiness: "listen on its port",
    }).pipe(
      Effect.map(({ pid, ready }) => ({ pid, port: Number(ready) })),
      Effect.mapError(
        (failure) =>
          new VirtualBoardStartError({
            reason: failure.reason,
            ...(failure.output === undefined ? {} : { output: failure.output }),
            ...(failure.cause === undefined ? {} : { cause: failure.cause }),
          }),
      ),
    )
  })

/**
 * The kept virtual board for a flash folder (or the one whose flash is in its memory, without
 * `flashDir`): the running one, or a new one started detached (it outlives this process, until
 * {@link stopKeptVirtualBoards} or its idle time). A recorded board whose process is gone, or that
 * runs other board options than `options` asks for, is replaced (its RAM goes; its files stay in
 * the folder). Connect with `openTcpLink({ host, port })`; a second client waits for the first to
 * disconnect.
 *
 * @example
 * import { openTcpLink } from "@belay/transport"
 *
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const { host, port } = yield* useKeptVirtualBoard({ flashDir: "/tmp/flash" })
 *   const link = yield* openTcpLink({ host, port })
 * }))
 * @since 0.1.0
 */
export const useKeptVirtualBoard = (
  options: KeptVirtualBoardOptions = {},
): Effect.Effect<
  KeptVirtualBoard & { readonly reused: boolean },
  VirtualBoardStartError | VirtualBoardStateError
> =>
  Effect.gen(function* () {
    const settings = settingsOf(options)
    yield* Effect.try({
      try: () => resolveOptions(settings),
      catch: (cause) => new VirtualBoardStartError({ reason: (cause as Error).message, cause }),
    })
    const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
    if (!(idleTimeoutMs > 0) || !Number.isFinite(idleTimeoutMs))
      return yield* new VirtualBoardStartError({
        reason: `idleTimeoutMs must be a positive number of ms, got ${idleTimeoutMs}`,
      })
    const flashDir = yield* realFlashDir(options.flashDir)
    const dir = yield* prepareStateDir(options.stateDir ?? keptQemuStateDir(), stateFailure)
    const files = keptBoardFiles(dir, FILE_PREFIX, flashDir ?? IN_MEMORY)
    const killTimeoutMs = options.killTimeoutMs ?? 2000
    return yield* withLock(
      files.lock,
      Effect.gen(function* () {
        const recorded = readState(files.state)
        if (recorded !== undefined) {
          const same = JSON.stringify(recorded.settings) === JSON.stringify(settings)
          if (same && recorded.flashDir === flashDir && isKeptBoard(recorded.pid, flashDir))
            return { ...publicView(recorded, files.state), reused: true }
          yield* stopRecorded(recorded, killTimeoutMs)
          removeFile(files.state)
        }
        const startedAt = new Date().toISOString()
        const started = yield* startBoard(
          flashDir,
          settings,
          idleTimeoutMs,
          files.log,
          options.startTimeoutMs ?? 30_000,
          killTimeoutMs,
        )
        const record: StateRecord = {
          pid: started.pid,
          host: HOST,
          port: started.port,
          flashDir,
          settings,
          idleTimeoutMs,
          startedAt,
        }
        yield* writeStateFile(files.state, record, stateFailure).pipe(
          Effect.tapError(() => stopRecorded(record, killTimeoutMs)),
        )
        return { ...publicView(record, files.state), reused: false }
      }),
      stateFailure,
    )
  })

const recordedIn = (dir: string) => recordedStateFiles(dir, FILE_PREFIX, readState)

/**
 * The kept virtual boards recorded in the state folder, with whether each still runs (one that
 * exited after its idle time shows as not running until the next command replaces it, or `stop`).
 *
 * @example
 * for (const b of yield* keptVirtualBoards()) console.log(`${b.port} ${b.running ? "running" : "gone"}`)
 * @since 0.1.0
 */
export const keptVirtualBoards = (
  options: Pick<KeptVirtualBoardOptions, "stateDir"> = {},
): Effect.Effect<ReadonlyArray<KeptVirtualBoardStatus>> =>
  Effect.sync(() =>
    recordedIn(options.stateDir ?? keptQemuStateDir()).map(({ file, record }) => ({
      ...publicView(record, file),
      running: isKeptBoard(record.pid, record.flashDir),
    })),
  )

/**
 * Stop kept virtual boards: the one for `options.flashDir` when given, else every one recorded.
 * Each one's process is ended (its RAM goes; its files stay in its flash folder) and its state
 * and log files removed. Resolves with what was recorded (running or not).
 *
 * @example
 * const stopped = yield* stopKeptVirtualBoards()
 * console.log(`${stopped.length} stopped`)
 * @since 0.1.0
 */
export const stopKeptVirtualBoards = (
  options: Pick<KeptVirtualBoardOptions, "stateDir" | "flashDir" | "killTimeoutMs"> = {},
): Effect.Effect<ReadonlyArray<KeptVirtualBoard>, VirtualBoardStateError> =>
  Effect.gen(function* () {
    // Only what this user's own folder records is stopped.
    const dir = yield* prepareStateDir(options.stateDir ?? keptQemuStateDir(), stateFailure)
    const wanted =
      options.flashDir === undefined
        ? undefined
        : keptBoardFiles(
            dir,
            FILE_PREFIX,
            existsSync(options.flashDir) ? realpathSync(options.flashDir) : path.resolve(options.flashDir),
          ).state
    const stopped: Array<KeptVirtualBoard> = []
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

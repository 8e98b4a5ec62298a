/**
 * The `belay` command spawned as a user runs it, for the whole-process tests: a temporary home
 * (the virtual board keeps its flash in `BELAY_VIRTUAL_DIR` there between invocations, as a real
 * board keeps its files, and the kept boards are recorded in its own runtime folder,
 * `XDG_RUNTIME_DIR`), running the command to its end or watching it run, and the boards that
 * outlive the command (the virtual board behind a pseudo-terminal, the QEMU micro:bit). The kept
 * virtual boards the commands started are stopped after the file's tests.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { afterAll, beforeAll } from "vitest"

const bin = path.resolve(import.meta.dirname, "../bin/belay.cjs")

/** How often a wait looks again. */
const POLL_MS = 50
/** Bound on waiting for text from a running command (a QEMU board under load is slow to start). */
const UNTIL_TIMEOUT_MS = 60_000
/** Bound on one command run to its end, unless the test says otherwise. */
const RUN_TIMEOUT_MS = 60_000
/** Bound on a pseudo-terminal board announcing itself. */
const PTY_BOARD_TIMEOUT_MS = 15_000

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** How a command ended, with everything it printed. */
export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * `stderr` without the library's warnings about exchanges it sent again (a byte the emulated
 * micro:bit dropped on a busy machine, caught by the end-to-end check) or uploads it began again
 * (the micro:bit's 16 KB heap too fragmented, after the exchanges a resend cost, for the code that
 * closes an upload): those are the recovery at work, not a failure, and come and go with the
 * machine's load.
 */
export const withoutResendWarnings = (stderr: string) =>
  stderr.replace(
    /^\[[\d:.]+\] WARN \(#\d+\): [^\n]*(?:sending it again|retrying)[^\n]*\{\n(?: {2}[^\n]*\n)*\}\n\n?/gm,
    "",
  )

/** The environment without `BELAY_DEVICE`, so that each command says its device or gets the default. */
export const withoutDevice = (env: NodeJS.ProcessEnv) => {
  const { BELAY_DEVICE: _, ...rest } = env
  return rest
}

/** What a --json command printed on stdout; a failure shows both streams, so CI says what got in the way. */
export const stdoutJson = (result: { code: number | null; stdout: string; stderr: string }) => {
  try {
    return JSON.parse(result.stdout)
  } catch (error) {
    throw new Error(
      `stdout is not JSON (${(error as Error).message}); exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    )
  }
}

interface StartOptions {
  readonly env?: NodeJS.ProcessEnv
  /** `pipe` to type into the command (`child.stdin`); default `ignore`. */
  readonly stdin?: "pipe" | "ignore"
  /** The command's working directory (default: the test runner's). */
  readonly cwd?: string
}

/** A running command; `until` waits for text on its stdout or stderr. */
export interface RunningBelay {
  readonly child: ChildProcess
  readonly finished: Promise<Finished>
  readonly until: (text: string | RegExp, stream?: "stdout" | "stderr") => Promise<void>
}

/** The runtime folder of a test's home: the kept boards' state files go in its `belay` folder. */
export const runtimeDir = (home: string) => path.join(home, "runtime")

/** Stop the kept virtual boards recorded in `home`'s runtime folder; what was stopped. */
export const stopKeptVirtualBoardsOf = async (home: string) => {
  const { stopKeptVirtualBoards } = await import("@belay/virtual-device")
  const { Effect } = await import("effect")
  return Effect.runPromise(stopKeptVirtualBoards({ stateDir: path.join(runtimeDir(home), "belay") }))
}

const startIn = (home: string, args: ReadonlyArray<string>, options: StartOptions = {}): RunningBelay => {
  const child = spawn(process.execPath, [bin, ...args], {
    env: {
      ...withoutDevice(process.env),
      // The virtual board unless a test says otherwise, and a config folder of the test's own.
      BELAY_DEVICE: "virtual",
      XDG_CONFIG_HOME: path.join(home, "config"),
      XDG_RUNTIME_DIR: runtimeDir(home),
      BELAY_VIRTUAL_DIR: path.join(home, "flash"),
      ...options.env,
    },
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
    ...(options.cwd !== undefined && { cwd: options.cwd }),
  })
  let stdout = ""
  let stderr = ""
  child.stdout?.on("data", (d) => (stdout += d))
  child.stderr?.on("data", (d) => (stderr += d))
  const finished = new Promise<Finished>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  )
  const until = async (text: string | RegExp, stream: "stdout" | "stderr" = "stdout") => {
    const seen = () => {
      const s = stream === "stdout" ? stdout : stderr
      return typeof text === "string" ? s.includes(text) : text.test(s)
    }
    for (let i = 0; i < UNTIL_TIMEOUT_MS / POLL_MS && !seen() && child.exitCode === null; i++)
      await sleep(POLL_MS)
    if (!seen()) throw new Error(`belay ${args.join(" ")}: no ${text} on ${stream}\n${stdout}\n${stderr}`)
  }
  return { child, finished, until }
}

/**
 * Run to the end; a command that outlives `timeoutMs` is killed and fails the test with what it
 * printed (a hang fails the test rather than the suite).
 */
const runIn = async (
  home: string,
  args: ReadonlyArray<string>,
  options: StartOptions & { readonly timeoutMs?: number } = {},
): Promise<Finished> => {
  const run = startIn(home, args, options)
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    run.child.kill("SIGKILL")
  }, options.timeoutMs ?? RUN_TIMEOUT_MS)
  const result = await run.finished
  clearTimeout(timer)
  if (timedOut) throw new Error(`belay ${args.join(" ")} did not finish: ${result.stderr}`)
  return result
}

/**
 * The `belay` command for one test file, with its own temporary home made before the file's tests
 * and removed after them.
 */
export const belayCommand = (prefix: string) => {
  let home = ""
  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), prefix))
  })
  afterAll(async () => {
    // The kept virtual boards its commands started: nothing may outlive the tests, whatever failed.
    if (home !== "") await stopKeptVirtualBoardsOf(home)
    await rm(home, { recursive: true, force: true })
  })
  return {
    /** The temporary home (valid once the file's tests run). */
    home: () => home,
    /** Start the command and watch it run. */
    start: (args: ReadonlyArray<string>, options?: StartOptions) => startIn(home, args, options),
    /** Run the command to its end. */
    run: (args: ReadonlyArray<string>, options?: StartOptions & { readonly timeoutMs?: number }) =>
      runIn(home, args, options),
  }
}

/**
 * The virtual board behind a pseudo-terminal (`socat`), in its own process group so that it can
 * be frozen and stopped as one: it outlives the command, RAM and files.
 */
export const startPtyBoard = async (dir: string) => {
  const { virtualBoardScript } = await import("@belay/virtual-device")
  const link = path.join(dir, "tty")
  const child = spawn(
    "socat",
    [`PTY,link=${link},raw,echo=0`, `EXEC:${process.execPath} ${virtualBoardScript()},pty,raw,echo=0`],
    { detached: true, stdio: ["ignore", "ignore", "pipe"] },
  )
  let stderr = ""
  child.stderr.on("data", (d) => (stderr += d))
  for (
    let i = 0;
    i < PTY_BOARD_TIMEOUT_MS / POLL_MS && !(stderr.includes("ready") && existsSync(link));
    i++
  ) {
    if (child.exitCode !== null) break
    await sleep(POLL_MS)
  }
  if (!existsSync(link)) throw new Error(`no virtual board on ${link}: ${stderr}`)
  return { child, link }
}

/** Send `signal` to a board's whole process group (socat and the board behind it). */
export const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

/**
 * One emulated micro:bit for a `describe` block, started before its tests and stopped after them;
 * `ptyPath()` is its serial port.
 */
export const qemuMicrobitForBlock = () => {
  let ptyPath = ""
  let stop: (() => Promise<void>) | undefined
  beforeAll(async () => {
    const { startQemuMicrobit } = await import("@belay/virtual-device")
    const { Effect, Exit, Scope } = await import("effect")
    const scope = Effect.runSync(Scope.make())
    const qemu = await Effect.runPromise(Scope.provide(startQemuMicrobit(), scope))
    ptyPath = qemu.ptyPath
    stop = () => Effect.runPromise(Scope.close(scope, Exit.void))
  })
  afterAll(async () => {
    await stop?.()
  })
  return { ptyPath: () => ptyPath }
}

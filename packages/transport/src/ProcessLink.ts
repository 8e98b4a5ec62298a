import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { Effect, type Scope } from "effect"
import { type ByteLink, makeReceiveQueue } from "./ByteLink.js"
import { isChildRunning, terminateChildProcess, trackChildProcess } from "./ChildProcesses.js"
import { type LinkError, LinkLostError, LinkOpenError } from "./errors.js"
import {
  isExecutable,
  onPath,
  PTY_READY,
  PTY_READY_TIMEOUT_MS,
  PtyUnavailableError,
  throughScript,
} from "./Pseudoterminal.js"

/**
 * Options of {@link openProcessLink}.
 *
 * @example
 * const options: ProcessLinkOptions = { command: "micropython", args: ["-i"], killTimeoutMs: 500 }
 * @since 0.1.0
 */
export interface ProcessLinkOptions {
  /** The program to run; looked up on `PATH` when it has no slash. No shell is involved. */
  readonly command: string
  readonly args?: ReadonlyArray<string>
  readonly cwd?: string
  /** Variables merged over this process's environment; `undefined` removes one. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /**
   * Start the process again when it exits, and keep the link open: for a board behind a
   * process (the MicroPython unix build) that exits on soft reset, this is its reboot.
   * Default `false`: the process exiting fails `received` with `LinkLostError`.
   */
  readonly restartOnExit?: boolean
  /**
   * With `restartOnExit`: how many restarts in a row of a process that lived less than a second
   * are allowed before the link is reported lost (a crash loop). Default 5.
   */
  readonly maxQuickRestarts?: number
  /** When the scope closes: how long to wait after SIGTERM before SIGKILL. Default 2000 ms. */
  readonly killTimeoutMs?: number
  /**
   * Run the program on a pseudo-terminal, raw and without echo, for a program that wants a
   * terminal (`ssh -t`, `docker run -it`, a REPL that checks `isatty`). Through util-linux's
   * `script` (Linux); its stderr then arrives with its stdout, as on a terminal. Default `false`.
   */
  readonly pty?: boolean
}

/**
 * A {@link ByteLink} to a process's standard streams, with the process's identity.
 *
 * @example
 * const link = yield* openProcessLink({ command: "micropython", restartOnExit: true })
 * console.log(yield* link.pid, yield* link.restarts)
 * @since 0.1.0
 */
export interface ProcessLink extends ByteLink {
  /** The pid of the running process; it changes when the process is restarted. */
  readonly pid: Effect.Effect<number | undefined>
  /** How many times the process was restarted after it exited (`restartOnExit`). */
  readonly restarts: Effect.Effect<number>
}

const quickExitMs = 1000
const stderrKeptChars = 4000
const stderrLinesInMessages = 8

/** Wait for `child` to exit, up to `ms`. */
const exitOf = (child: ChildProcess, ms: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (!isChildRunning(child)) return resume(Effect.void)
    const exited = () => resume(Effect.void)
    child.once("exit", exited)
    return Effect.sync(() => child.off("exit", exited))
  }).pipe(Effect.timeoutOrElse({ duration: ms, orElse: () => Effect.void }))

const describeExit = (code: number | null, signal: NodeJS.Signals | null) =>
  signal !== null ? `killed by signal ${signal}` : `exited with code ${code}`

const describeSpawnFailure = (options: ProcessLinkOptions, error: NodeJS.ErrnoException): string => {
  if (error.code === "ENOENT") {
    if (options.cwd !== undefined && !existsSync(options.cwd))
      return `the working directory ${options.cwd} does not exist`
    return `command not found: ${options.command} (is it installed and on PATH?)`
  }
  if (error.code === "EACCES") return `permission denied: ${options.command} is not executable`
  return error.message
}

/**
 * Start a program and talk to it over its stdin/stdout as a {@link ByteLink} (stderr is kept
 * for error messages). No shell is involved. The process is killed (SIGTERM, then SIGKILL)
 * when the scope closes, and the scope waits for it to be gone; the signals go to that process
 * only, so a wrapper script should `exec` the program it runs.
 *
 * A command that cannot start fails with `LinkOpenError`. The process exiting fails `received`
 * with `LinkLostError` (exit code or signal, and the last lines of stderr), unless
 * `restartOnExit` is set: then it is started again and the link stays open, as a board does
 * when it reboots. With `pty`, the program runs on a raw pseudo-terminal (see
 * {@link ProcessLinkOptions.pty}); the link opens once the terminal is raw, and closing it stops
 * the program itself; where no pseudo-terminal can be made it fails with `PtyUnavailableError`.
 *
 * @example
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const link = yield* openProcessLink({ command: "micropython", restartOnExit: true })
 *   yield* link.write(new TextEncoder().encode("\r\x01"))
 * }))
 *
 * @since 0.1.0
 */
export const openProcessLink = (
  options: ProcessLinkOptions,
): Effect.Effect<ProcessLink, LinkOpenError | PtyUnavailableError, Scope.Scope> =>
  Effect.gen(function* () {
    const pty = options.pty === true
    const link = `${pty ? "exec-pty" : "exec"}:${options.command}`
    const script = pty ? onPath("script") : undefined
    if (pty && (process.platform !== "linux" || script === undefined)) {
      return yield* new PtyUnavailableError({
        command: options.command,
        reason:
          process.platform !== "linux"
            ? `this needs util-linux's \`script\`, which is Linux's (this is ${process.platform}); run the program on pipes (exec:) or behind socat`
            : "util-linux's `script` is not on PATH; install it: sudo apt-get install bsdutils (Debian, Ubuntu), or util-linux",
      })
    }
    // Behind `script`, a program that is not there would only show as a shell's exit code 127.
    const found = options.command.includes("/")
      ? isExecutable(resolve(options.cwd ?? "", options.command))
      : onPath(options.command) !== undefined
    if (pty && !found) {
      return yield* new LinkOpenError({
        link,
        reason: describeSpawnFailure(options, Object.assign(new Error("not found"), { code: "ENOENT" })),
      })
    }
    const target = script !== undefined ? throughScript(script, options) : options
    const killTimeoutMs = options.killTimeoutMs ?? 2000
    const maxQuickRestarts = options.maxQuickRestarts ?? 5
    const rx = yield* makeReceiveQueue(link)
    let closing = false
    let restarts = 0
    let quickRestarts = 0
    let stderrTail = ""

    // On a pseudo-terminal, the program's stderr arrives with its output: the tail of both is kept.
    const lastStderrLines = () => {
      const lines = stderrTail.split(/\r?\n/).filter((line) => line.trim() !== "")
      const label = pty ? "output" : "stderr"
      return lines.length === 0 ? "" : `; ${label}: ${lines.slice(-stderrLinesInMessages).join(" | ")}`
    }

    // The running process; replaced on restart. Set before any callback can read it.
    let current: ChildProcess | undefined
    // On a pseudo-terminal: whether the current process's terminal is raw yet (bytes written
    // before would be mangled: they are dropped, as on a board still rebooting), and who waits for it.
    let currentReady = !pty
    // The program's own pid on a pseudo-terminal (the process started is `script`).
    let programPid: number | undefined
    let onReadyOrEnded: ((failure: string | undefined) => void) | undefined

    const spawnChild = (isRestart: boolean): ChildProcess => {
      const env = options.env !== undefined || pty ? { ...process.env, ...options.env } : undefined
      // `script` runs its command with $SHELL: the line it is given is POSIX shell.
      if (env !== undefined && pty) env.SHELL = "/bin/sh"
      const child = spawn(target.command, target.args ?? [], {
        stdio: ["pipe", "pipe", "pipe"],
        ...(options.cwd !== undefined && { cwd: options.cwd }),
        ...(env !== undefined && { env }),
      })
      current = child
      currentReady = !pty
      programPid = undefined
      trackChildProcess(child)
      const startedAt = Date.now()
      stderrTail = ""
      let preamble: Buffer = Buffer.alloc(0)
      let ready = !pty
      child.stdout?.on("data", (chunk: Buffer) => {
        if (pty) stderrTail = (stderrTail + chunk.toString("latin1")).slice(-stderrKeptChars)
        if (ready) return rx.push(new Uint8Array(chunk))
        preamble = Buffer.concat([preamble, chunk])
        const found = PTY_READY.exec(preamble.toString("latin1"))
        if (found === null) return
        ready = true
        if (current === child) {
          currentReady = true
          programPid = Number(found[1])
        }
        const rest = preamble.subarray(found.index + found[0].length)
        preamble = Buffer.alloc(0)
        stderrTail = rest.toString("latin1")
        if (rest.length > 0) rx.push(new Uint8Array(rest))
        onReadyOrEnded?.(undefined)
      })
      child.stderr?.on("data", (chunk: Buffer) => {
        stderrTail = (stderrTail + chunk.toString("utf8")).slice(-stderrKeptChars)
      })
      // EPIPE when the process is gone: reported through `exit`, and to the writer.
      child.stdin?.on("error", () => {})
      let ended = false
      const onEnded = (code: number | null, signal: NodeJS.Signals | null) => {
        if (ended) return
        ended = true
        if (closing) return
        const how = describeExit(code, signal)
        if (!ready && onReadyOrEnded !== undefined) {
          // The first process, gone before its terminal was raw: the link does not open.
          onReadyOrEnded(`it ${how} before its pseudo-terminal was ready${lastStderrLines()}`)
          return
        }
        if (!options.restartOnExit) {
          rx.fail(`the process ${how}${lastStderrLines()}`)
          return
        }
        quickRestarts = Date.now() - startedAt < quickExitMs ? quickRestarts + 1 : 0
        if (quickRestarts > maxQuickRestarts) {
          rx.fail(`the process keeps exiting right after it starts (last: ${how}${lastStderrLines()})`)
          return
        }
        restarts++
        spawnChild(true)
      }
      // `close` comes once stdout is drained too, so every byte is delivered before the failure;
      // a grandchild holding stdout open must not hide the exit, hence the bounded fallback.
      child.once("close", onEnded)
      child.once("exit", (code, signal) => {
        setTimeout(() => onEnded(code, signal), 500).unref()
      })
      child.on("error", (error: NodeJS.ErrnoException) => {
        if (child.pid !== undefined || ended) return // e.g. a failed kill: the exit events tell the rest
        // It never started (Node follows with a `close` that must not count as an exit).
        ended = true
        if (isRestart && !closing) {
          rx.fail(`could not restart the process: ${describeSpawnFailure(options, error)}`, error)
        }
      })
      return child
    }

    const running = yield* Effect.acquireRelease(
      Effect.callback<ChildProcess, LinkOpenError>((resume) => {
        let child: ChildProcess
        try {
          child = spawnChild(false)
        } catch (cause) {
          const reason = cause instanceof Error ? cause.message : String(cause)
          return resume(Effect.fail(new LinkOpenError({ link, reason, cause })))
        }
        child.once("spawn", () => resume(Effect.succeed(child)))
        child.once("error", (error: NodeJS.ErrnoException) => {
          if (child.pid !== undefined) return
          resume(
            Effect.fail(
              new LinkOpenError({ link, reason: describeSpawnFailure(options, error), cause: error }),
            ),
          )
        })
      }),
      (first) =>
        Effect.suspend(() => {
          closing = true
          rx.end("the link was closed")
          const child = current ?? first
          child.stdin?.destroy()
          // `script` takes 2 s to stop its program on SIGTERM, and after its stdin ends waits for
          // an exit that a program on a raw terminal does not make for an EOF: the program is
          // stopped itself, and `script`, left to exit after it, is signalled only if it does not.
          if (pty && programPid !== undefined && isChildRunning(child)) {
            try {
              process.kill(programPid, "SIGTERM")
            } catch {
              // already gone
            }
            return Effect.andThen(
              exitOf(child, killTimeoutMs),
              terminateChildProcess(child, link, killTimeoutMs),
            )
          }
          return terminateChildProcess(child, link, killTimeoutMs)
        }),
    )
    const currentChild = (): ChildProcess => current ?? running
    if (pty) {
      yield* Effect.callback<void, LinkOpenError>((resume) => {
        if (currentReady) return resume(Effect.void)
        onReadyOrEnded = (failure) => {
          onReadyOrEnded = undefined
          resume(
            failure === undefined ? Effect.void : Effect.fail(new LinkOpenError({ link, reason: failure })),
          )
        }
        return Effect.sync(() => {
          onReadyOrEnded = undefined
        })
      }).pipe(
        Effect.timeoutOrElse({
          duration: PTY_READY_TIMEOUT_MS,
          orElse: () =>
            Effect.fail(
              new LinkOpenError({
                link,
                reason: `its pseudo-terminal was not ready within ${PTY_READY_TIMEOUT_MS} ms${lastStderrLines()}`,
              }),
            ),
        }),
      )
    }

    const write = (bytes: Uint8Array): Effect.Effect<void, LinkError> =>
      Effect.callback<void, LinkError>((resume) => {
        const closed = rx.closedReason()
        if (closed !== undefined) return resume(Effect.fail(closed))
        const stdin = currentChild().stdin
        // A process restarted on a pseudo-terminal that is not raw yet: lost, as on a rebooting board.
        if (bytes.length === 0 || stdin === null || !currentReady) return resume(Effect.void)
        stdin.write(Buffer.from(bytes), (error) => {
          if (!error) return resume(Effect.void)
          const reason = rx.closedReason()
          if (reason !== undefined) return resume(Effect.fail(reason))
          // A process restarting on exit is a board rebooting: bytes sent meanwhile are lost, as on a wire.
          if (options.restartOnExit) return resume(Effect.void)
          resume(
            Effect.fail(new LinkLostError({ link, reason: `write failed: ${error.message}`, cause: error })),
          )
        })
      })

    return {
      description: link,
      write,
      received: rx.stream,
      isOpen: Effect.sync(() => rx.closedReason() === undefined),
      pid: Effect.sync(() => {
        const child = currentChild()
        return isChildRunning(child) ? child.pid : undefined
      }),
      restarts: Effect.sync(() => restarts),
    } satisfies ProcessLink
  })

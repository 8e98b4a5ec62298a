import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { LinkOpenError } from "@belay/transport"
import { Effect, type Scope } from "effect"
import { OPTIONS_ENV, READY_LINE } from "./cli.js"
import type { VirtualBoardOptions } from "./options.js"

/**
 * Options of `openVirtualBoardPty`: the board's options plus where and how to start it.
 *
 * @example
 * const { path } = yield* openVirtualBoardPty({ socat: "/usr/bin/socat", startTimeoutMs: 30_000 })
 * @since 0.1.0
 */
export interface OpenVirtualBoardPtyOptions extends VirtualBoardOptions {
  /** The `socat` binary (default `socat` on the PATH; `/usr/bin/socat` on Debian). */
  readonly socat?: string
  /** How long to wait for the pty and the board (default 15 s). */
  readonly startTimeoutMs?: number
}

/**
 * Absolute path of the script that runs a virtual board on its stdin/stdout.
 *
 * @example
 * spawn(process.execPath, [virtualBoardScript(), "--no-raw-paste"], { stdio: "pipe" })
 * @since 0.1.0
 */
export const virtualBoardScript = (): string =>
  fileURLToPath(new URL("../bin/virtual-board.mjs", import.meta.url))

/** socat splits EXEC command lines on spaces and treats `,:!` and quotes specially. */
const socatSafe = (text: string) => /^[A-Za-z0-9_./@+=-]+$/.test(text)

interface PtyBoard {
  readonly path: string
  readonly stop: () => Promise<void>
}

const startPty = (options: OpenVirtualBoardPtyOptions, signal: AbortSignal): Promise<PtyBoard> =>
  (async () => {
    const { socat = "socat", startTimeoutMs = 15_000, ...boardOptions } = options
    const script = virtualBoardScript()
    for (const part of [process.execPath, script]) {
      if (!socatSafe(part)) throw new Error(`cannot pass ${JSON.stringify(part)} to socat EXEC`)
    }
    const dir = await mkdtemp(join(tmpdir(), "belay-vboard-"))
    const path = join(dir, "tty")
    const child = spawn(
      socat,
      [`PTY,link=${path},raw,echo=0`, `EXEC:${process.execPath} ${script},pty,raw,echo=0`],
      {
        stdio: ["ignore", "ignore", "pipe"],
        detached: true,
        env: { ...process.env, [OPTIONS_ENV]: JSON.stringify(boardOptions) },
      },
    )
    const stop = async () => {
      await killGroup(child)
      await rm(dir, { recursive: true, force: true })
    }
    try {
      await waitReady(child, path, startTimeoutMs, signal)
    } catch (error) {
      await stop()
      throw error
    }
    return { path, stop }
  })()

const waitReady = (child: ChildProcess, path: string, timeoutMs: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    let stderr = ""
    let ready = false
    let settled = false
    const finish = (error?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearInterval(poll)
      signal.removeEventListener("abort", onAbort)
      child.stderr?.removeListener("data", onData)
      // Keep draining stderr so the board never blocks on it.
      child.stderr?.resume()
      if (error) reject(error)
      else resolve()
    }
    const check = () => {
      if (ready && existsSync(path)) finish()
    }
    const onData = (chunk: Buffer) => {
      stderr += chunk.toString()
      if (stderr.includes(READY_LINE)) {
        ready = true
        check()
      }
    }
    const onAbort = () => finish(new Error("interrupted while starting"))
    child.stderr?.on("data", onData)
    child.once("error", (error) => finish(error))
    child.once("exit", (code) => finish(new Error(`socat exited (${code}): ${stderr.trim().slice(-500)}`)))
    signal.addEventListener("abort", onAbort)
    const poll = setInterval(check, 20)
    const timer = setTimeout(
      () => finish(new Error(`no board on ${path} after ${timeoutMs} ms: ${stderr.trim().slice(-500)}`)),
      timeoutMs,
    )
  })

const killGroup = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      resolve()
      return
    }
    const pid = child.pid
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig)
      } catch {
        // already gone
      }
    }
    const force = setTimeout(() => kill("SIGKILL"), 2000)
    child.once("exit", () => {
      clearTimeout(force)
      // socat is gone; make sure the board process in its group is too.
      kill("SIGTERM")
      resolve()
    })
    kill("SIGTERM")
  })

/**
 * Start a virtual board behind a pseudo-terminal, so that real serial code (the `serialport`
 * bindings) can open it by path. Runs `socat PTY,link=<tmp>/tty,raw,echo=0 EXEC:"node
 * bin/virtual-board.mjs",pty,raw,echo=0`, waits for the path and the board, and stops both when
 * the scope closes. Needs `socat` and the built package (`dist/`).
 *
 * @example
 * import { SerialPort } from "serialport"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const { path } = yield* openVirtualBoardPty({ bytesPerSecond: 11520 })
 *     const port = new SerialPort({ path, baudRate: 115200 })
 *     // … talk to the board as to /dev/ttyACM0
 *   }),
 * )
 *
 * @since 0.1.0
 */
export const openVirtualBoardPty = (
  options: OpenVirtualBoardPtyOptions = {},
): Effect.Effect<{ readonly path: string }, LinkOpenError, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.tryPromise({
        try: (signal) => startPty(options, signal),
        catch: (error) =>
          new LinkOpenError({
            link: "virtual-pty",
            reason: error instanceof Error ? error.message : String(error),
            cause: error,
          }),
      }),
      (board) => Effect.promise(() => board.stop()),
    ),
    (board) => ({ path: board.path }),
  )

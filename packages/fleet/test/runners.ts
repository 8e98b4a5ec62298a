/**
 * Runner processes for the tests: started on 127.0.0.1 with free ports, each waited for (its
 * `ready` line) within a bound, killed at the end.
 */
import { type ChildProcess, spawn } from "node:child_process"
import path from "node:path"
import { freePort } from "../../../scripts/testing/ports.js"

const main = path.resolve(import.meta.dirname, "runnerMain.mjs")
const packageDir = path.resolve(import.meta.dirname, "..")

export interface RunnerProcess {
  readonly name: string
  readonly port: number
  readonly child: ChildProcess
  /** Everything it wrote to stderr (for failure messages). */
  readonly log: () => string
  readonly exited: Promise<number | null>
}

/** Attempts at a free port: another program may take the one chosen before the runner binds it. */
const PORT_ATTEMPTS = 3

/**
 * Start a runner serving `boards` (`name=connection`); resolves once it prints `ready`. Without
 * `options.port`, a runner that could not listen on the free port it was given (taken meanwhile)
 * is started again on another.
 */
export const startRunner = async (
  name: string,
  databaseUrl: string,
  boards: ReadonlyArray<string>,
  options: { port?: number; readyWithinMs?: number } = {},
): Promise<RunnerProcess> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRunnerOnce(name, databaseUrl, boards, options)
    } catch (error) {
      const portTaken = error instanceof Error && error.message.includes("cannot listen on")
      if (options.port !== undefined || !portTaken || attempt >= PORT_ATTEMPTS) throw error
    }
  }
}

const startRunnerOnce = (
  name: string,
  databaseUrl: string,
  boards: ReadonlyArray<string>,
  options: { port?: number; readyWithinMs?: number } = {},
): Promise<RunnerProcess> =>
  (async () => {
    const port = options.port ?? (await freePort())
    // Node itself on the built package (a SIGKILL must reach the runner, not a wrapper).
    const child = spawn(process.execPath, [main, name, String(port), databaseUrl, ...boards], {
      cwd: packageDir,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, BELAY_LOG_LEVEL: "Warning" },
    })
    let stderr = ""
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
    const runner: RunnerProcess = { name, port, child, log: () => stderr, exited }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL")
        reject(new Error(`runner ${name} not ready within ${options.readyWithinMs ?? 90_000} ms: ${stderr}`))
      }, options.readyWithinMs ?? 90_000)
      let stdout = ""
      child.stdout?.on("data", (d: Buffer) => {
        stdout += d.toString()
        stderr += d.toString()
        if (stdout.includes("ready\n")) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.once("exit", (code) => {
        clearTimeout(timer)
        reject(new Error(`runner ${name} exited (${code}) before it was ready: ${stderr}`))
      })
    })
    return runner
  })()

/** Stop a runner: SIGTERM, then SIGKILL if it has not exited within 15 s. */
export const stopRunner = async (runner: RunnerProcess): Promise<void> => {
  if (runner.child.exitCode !== null || runner.child.signalCode !== null) return
  runner.child.kill("SIGTERM")
  const timer = setTimeout(() => runner.child.kill("SIGKILL"), 15_000)
  await runner.exited
  clearTimeout(timer)
}

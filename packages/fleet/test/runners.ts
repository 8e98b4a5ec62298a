/**
 * Runner processes for the tests: started on 127.0.0.1 with free ports, each waited for (its
 * `ready` line) within a bound, killed at the end.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import path from "node:path"

const main = path.resolve(import.meta.dirname, "runnerMain.mjs")
const packageDir = path.resolve(import.meta.dirname, "..")

/** A free TCP port on 127.0.0.1. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

export interface RunnerProcess {
  readonly name: string
  readonly port: number
  readonly child: ChildProcess
  /** Everything it wrote to stderr (for failure messages). */
  readonly log: () => string
  readonly exited: Promise<number | null>
}

/** Start a runner serving `boards` (`name=connection`); resolves once it prints `ready`. */
export const startRunner = (
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

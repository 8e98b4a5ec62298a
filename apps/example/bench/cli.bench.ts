import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { type BenchContext, summarize } from "../../../scripts/bench-kit.ts"
import { startupRows } from "./startup.ts"

// The belay command as a person runs it, as a whole process: start-up against `node -e 0`, peak
// memory while a board floods output, and the time of a whole command with and without the
// end-to-end checks.

const bin = path.resolve(import.meta.dirname, "../bin/belay.cjs")

/** Peak resident memory of a process so far (VmHWM), in MB; undefined once it has exited. */
const peakMb = (pid: number): number | undefined => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1]
    return kb === undefined ? undefined : Number(kb) / 1024
  } catch {
    return undefined
  }
}

interface Run {
  readonly code: number | null
  readonly ms: number
  readonly peakMb: number
  readonly stdoutBytes: number
  readonly stderr: string
}

/** Run belay with `args`; stdout read at `readBytesPerSecond` (unlimited when undefined). */
const belay = (args: string[], env: NodeJS.ProcessEnv, readBytesPerSecond?: number) =>
  new Promise<Run>((resolve) => {
    const started = performance.now()
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env } })
    let peak = 0
    let stdoutBytes = 0
    let stderr = ""
    const sample = setInterval(() => {
      peak = Math.max(peak, peakMb(child.pid ?? -1) ?? 0)
    }, 50)
    if (readBytesPerSecond === undefined) child.stdout.on("data", (d: Buffer) => (stdoutBytes += d.length))
    else {
      // A slow reader: take what the budget allows every 100 ms.
      child.stdout.pause()
      const tick = setInterval(() => {
        let budget = readBytesPerSecond / 10
        for (let chunk = child.stdout.read(); chunk !== null; chunk = child.stdout.read()) {
          stdoutBytes += chunk.length
          budget -= chunk.length
          if (budget <= 0) break
        }
      }, 100)
      child.on("close", () => clearInterval(tick))
    }
    child.stderr.on("data", (d: Buffer) => (stderr += d))
    child.on("close", (code) => {
      clearInterval(sample)
      resolve({ code, ms: performance.now() - started, peakMb: peak, stdoutBytes, stderr })
    })
  })

export default async function bench(ctx: BenchContext) {
  const home = await mkdtemp(path.join(os.tmpdir(), "belay-cli-bench-"))
  // The compile cache in the bench's own folder: its first run of each command makes it.
  const env = {
    BELAY_VIRTUAL_DIR: path.join(home, "flash"),
    BELAY_DEVICE: "virtual",
    BELAY_COMPILE_CACHE: path.join(home, "compile-cache"),
    // The kept virtual board is recorded in the bench's own runtime folder, and stopped at its end.
    XDG_RUNTIME_DIR: path.join(home, "runtime"),
  }
  try {
    const seconds = ctx.quick ? 3 : 10
    const flood = "while True:\n    print('x' * 1000)"
    // The in-process virtual board's own memory (its interpreter and worker) counts in the
    // command's; behind a pseudo-terminal, the board is another process, as a real board is.
    const pty = await ptyBoard(home)
    await startupRows(ctx, env, `serial:${pty.path}`)
    const cases = [
      ["in-process board, read at full speed", "virtual?keep=false", undefined],
      ["in-process board, read at 100 KB/s", "virtual?keep=false", 100 * 1024],
      ["board on a pty, read at full speed", `serial:${pty.path}`, undefined],
      ["board on a pty, read at 100 KB/s", `serial:${pty.path}`, 100 * 1024],
    ] as const
    for (const [label, device, rate] of cases) {
      for (const integrity of ["checked", "unchecked"] as const) {
        const run = await belay(
          ["exec", flood, "--device", device],
          { ...env, BELAY_EXEC_TIMEOUT: `${seconds} seconds`, BELAY_INTEGRITY: integrity },
          rate,
        )
        ctx.log(
          `flood (${label}, ${integrity}): exit ${run.code} after ${(run.ms / 1000).toFixed(1)} s, ${(run.stdoutBytes / 1e6).toFixed(1)} MB out, peak ${run.peakMb.toFixed(0)} MB; ${run.stderr.trim().split("\n")[0]}`,
        )
        ctx.record({
          package: "example",
          benchmark: `belay exec of a flooding loop until its ${seconds} s timeout, ${label}, ${integrity}`,
          board: device.startsWith("virtual") ? "virtual" : "virtual (pty)",
          value: run.peakMb,
          unit: "MB peak resident",
          target: "< 200 MB",
          met: run.peakMb < 200,
        })
        ctx.record({
          package: "example",
          benchmark: `belay exec of a flooding loop until its ${seconds} s timeout, ${label}, ${integrity}`,
          board: device.startsWith("virtual") ? "virtual" : "virtual (pty)",
          value: run.stdoutBytes / 1e6 / (run.ms / 1000),
          unit: "MB/s printed",
        })
      }
    }
    // A whole command on the kept virtual board (the CLI's default), first call included.
    const runs = ctx.quick ? 3 : 7
    for (const [label, args] of [
      ["exec print(1)", ["exec", "print(1)"]],
      ["eval 1+1", ["eval", "1+1"]],
    ] as const) {
      for (const integrity of ["checked", "unchecked"] as const) {
        const times: number[] = []
        for (let i = 0; i < runs; i++)
          times.push((await belay([...args], { ...env, BELAY_INTEGRITY: integrity })).ms)
        ctx.record({
          package: "example",
          benchmark: `whole process: belay ${label}, ${integrity}`,
          board: "virtual (kept)",
          value: summarize(times).median,
          unit: "ms (median)",
        })
      }
    }
    pty.stop()
  } finally {
    const { stopKeptVirtualBoards } = await import("@belay/virtual-device")
    const { Effect } = await import("effect")
    await Effect.runPromise(stopKeptVirtualBoards({ stateDir: path.join(home, "runtime", "belay") }))
    await rm(home, { recursive: true, force: true })
  }
}

/** The virtual board as its own process behind a pseudo-terminal (socat), as a USB board is. */
const ptyBoard = async (home: string) => {
  const { virtualBoardScript } = await import("@belay/virtual-device")
  const link = path.join(home, "pty")
  const child = spawn(
    "socat",
    [`PTY,link=${link},raw,echo=0`, `EXEC:${process.execPath} ${virtualBoardScript()},pty,raw,echo=0`],
    { stdio: ["ignore", "ignore", "pipe"] },
  )
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the pty board did not start")), 15_000)
    child.stderr.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  return { path: link, stop: () => child.kill("SIGTERM") }
}

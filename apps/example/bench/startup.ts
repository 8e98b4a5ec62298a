/**
 * Start-up figures of the `belay` command as a whole process, each against `node -e 0` on the same
 * machine: the two in turn (A B A B ...), the ratio taken pair by pair, so a comparison holds when
 * a shared machine's speed drifts; the median of the ratios is the figure.
 */
import { spawn } from "node:child_process"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { type BenchContext, summarize } from "../../../scripts/bench-kit.ts"

const bin = path.resolve(import.meta.dirname, "../bin/belay.cjs")

/** Wall time of one whole process, in ms; fails on a non-zero exit. */
const wallMs = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  new Promise<number>((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d: Buffer) => (stderr += d))
    child.on("error", reject)
    child.on("close", (code) => {
      const ms = performance.now() - started
      if (code === 0) resolve(ms)
      else reject(new Error(`${args.join(" ")} exited ${code}: ${stderr}`))
    })
  })

/** Median of `belay args` over `node -e 0`, pair by pair, and the median times themselves. */
const pairedRatio = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, runs: number) => {
  // Three of each first, not counted: the file system cache warms up, and so does a stand-in
  // board (MicroPython's WebAssembly build runs its first exchanges before V8 has optimized it,
  // which a real board does not).
  for (let i = 0; i < 3; i++) {
    await wallMs([bin, ...args], env)
    await wallMs(["-e", "0"], env)
  }
  const ratios: number[] = []
  const belay: number[] = []
  const node: number[] = []
  for (let i = 0; i < runs; i++) {
    const a = await wallMs([bin, ...args], env)
    const b = await wallMs(["-e", "0"], env)
    belay.push(a)
    node.push(b)
    ratios.push(a / b)
  }
  return { ratio: summarize(ratios).median, belayMs: summarize(belay).median, nodeMs: summarize(node).median }
}

/**
 * The whole process's peak resident memory (the kernel's own high-water mark, read as the process
 * exits), in MB: a module preloaded with `--import` writes `process.resourceUsage().maxRSS`.
 */
const peakResidentMb = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "belay-rss-"))
  try {
    const report = path.join(dir, "maxrss")
    const preload = path.join(dir, "report.mjs")
    await writeFile(
      preload,
      `import { writeFileSync } from "node:fs"\nprocess.on("exit", () => writeFileSync(${JSON.stringify(report)}, String(process.resourceUsage().maxRSS)))\n`,
    )
    await wallMs(["--import", preload, bin, ...args], env)
    return Number(await readFile(report, "utf8")) / 1024
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The targets: at most this many times `node -e 0`. */
const TARGETS = { version: 1.3, help: 1.3, execPty: 1.5, execVirtual: 2.5 } as const
/** Peak resident memory of `belay exec` on a board behind a pseudo-terminal, at most (MB). */
const EXEC_PEAK_MB = 70
/** Commands in a row for the burst row (a script calling belay in a loop). */
const BURST = 20

/** Record the start-up rows: `ptyDevice` names a MicroPython board behind a pseudo-terminal. */
export const startupRows = async (ctx: BenchContext, extraEnv: NodeJS.ProcessEnv, ptyDevice: string) => {
  // Both commands in the same environment: what it holds changes how long any Node takes to
  // start (NODE_EXTRA_CA_CERTS, for one, is read at every start).
  const env = { ...process.env, ...extraEnv }
  // A pair's ratio varies by a third from one pair to the next on a shared machine: 31 pairs hold
  // the median to a few hundredths from one run of the bench to the next.
  const runs = ctx.quick ? 5 : 31
  const cases = [
    ["belay --version", ["--version"], "none", TARGETS.version, env],
    ["belay --help", ["--help"], "none", TARGETS.help, env],
    ["belay exec pass", ["exec", "pass", "--device", ptyDevice], "virtual (pty)", TARGETS.execPty, env],
    // What the first run of a command after an install or an upgrade costs: no compiled code kept.
    [
      "belay exec pass, compile cache off",
      ["exec", "pass", "--device", ptyDevice],
      "virtual (pty)",
      undefined,
      { ...env, BELAY_COMPILE_CACHE: "0" },
    ],
    // The kept virtual board (the CLI's default): started by the first run, found by the others.
    ["belay exec pass", ["exec", "pass", "--device", "virtual"], "virtual (kept)", TARGETS.execVirtual, env],
    // The virtual board in the command's own process: its interpreter starts with every command.
    [
      "belay exec pass",
      ["exec", "pass", "--device", "virtual?keep=false"],
      "virtual (in the process)",
      undefined,
      env,
    ],
  ] as const
  for (const [label, args, board, target, caseEnv] of cases) {
    const { ratio, belayMs, nodeMs } = await pairedRatio(args, caseEnv, runs)
    ctx.log(`${label} on ${board}: ${belayMs.toFixed(0)} ms against node -e 0 ${nodeMs.toFixed(0)} ms`)
    ctx.record({
      package: "example",
      benchmark: `whole process: ${label}, over node -e 0 (median of ${runs} paired runs)`,
      board,
      value: ratio,
      unit: "x node -e 0",
      ...(target === undefined ? {} : { target: `<= ${target}x`, met: ratio <= target }),
    })
    ctx.record({
      package: "example",
      benchmark: `whole process: ${label} (node -e 0: ${nodeMs.toFixed(0)} ms)`,
      board,
      value: belayMs,
      unit: "ms (median)",
    })
  }
  const peak = await peakResidentMb(["exec", "pass", "--device", ptyDevice], env)
  ctx.record({
    package: "example",
    benchmark: "whole process: belay exec pass, peak resident memory",
    board: "virtual (pty)",
    value: peak,
    unit: "MB",
    target: `<= ${EXEC_PEAK_MB} MB`,
    met: peak <= EXEC_PEAK_MB,
  })
  const started = performance.now()
  for (let i = 0; i < BURST; i++) await wallMs([bin, "exec", "pass", "--device", ptyDevice], env)
  ctx.record({
    package: "example",
    benchmark: `whole process: belay exec pass ${BURST} times in a row`,
    board: "virtual (pty)",
    value: performance.now() - started,
    unit: "ms (all)",
  })
}

/**
 * The virtual board over TCP and over WebREPL against the same board over a pseudo-terminal: exec
 * round trip and a 1 MB atomic, verified upload (and its download), each as a fraction of the
 * pseudo-terminal's. Over WebREPL twice: with the firmware's file transfer (uploads put the
 * temporary file with it), and through the raw REPL alone (the same link without its transfer);
 * reads take the raw REPL on both.
 * Every board runs in a process of its own (`belay-virtual-board`, behind socat for the
 * pseudo-terminal, with `--tcp 127.0.0.1:0` or `--webrepl 127.0.0.1:0`), so the comparison is the
 * link alone.
 */
import { spawn } from "node:child_process"
import { makeDeviceSessionManager } from "@belay/core"
import { type ByteLink, makeDeviceCommunication, openTcpLink } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { openWebReplLink } from "@belay/transport/webrepl"
import { openVirtualBoardPty, virtualBoardScript } from "@belay/virtual-device"
import { Effect, Exit, Redacted, References, Scope } from "effect"
import { type BenchContext, summarize, timeEach } from "../../../scripts/bench-kit.ts"
import { boardFileSystem } from "../src/index.ts"

/** Random-looking bytes (incompressible, every byte value). */
const randomBytes = (n: number, seed = 1): Uint8Array => {
  const out = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

/** Bound on the TCP board printing its ready line. */
const START_TIMEOUT_MS = 30_000

/** The WebREPL board's password (in its environment, not on its command line). */
const WEBREPL_PASSWORD = "bench"

/** `belay-virtual-board --tcp 127.0.0.1:0` (or `--webrepl`) in a process of its own, stopped with the scope; its port. */
const boardOn = (option: "--tcp" | "--webrepl", ready: RegExp) =>
  Effect.acquireRelease(
    Effect.tryPromise(
      () =>
        new Promise<{ port: number; stop: () => void }>((resolve, reject) => {
          const child = spawn(process.execPath, [virtualBoardScript(), option, "127.0.0.1:0"], {
            stdio: ["ignore", "ignore", "pipe"],
            env: { ...process.env, BELAY_WEBREPL_PASSWORD: WEBREPL_PASSWORD },
          })
          let stderr = ""
          const timer = setTimeout(() => {
            child.kill()
            reject(new Error(`no TCP board after ${START_TIMEOUT_MS} ms: ${stderr}`))
          }, START_TIMEOUT_MS)
          child.stderr.on("data", (d) => {
            stderr += d
            const port = ready.exec(stderr)?.[1]
            if (port === undefined) return
            clearTimeout(timer)
            resolve({ port: Number(port), stop: () => child.kill("SIGTERM") })
          })
          child.once("exit", (code) => reject(new Error(`the TCP board exited (${code}): ${stderr}`)))
        }),
    ),
    (board) => Effect.sync(board.stop),
  )

const tcpBoard = boardOn("--tcp", /ready on tcp:127\.0\.0\.1:(\d+)/)
const webReplBoard = (raw: boolean) =>
  Effect.flatMap(boardOn("--webrepl", /ready ws:\/\/127\.0\.0\.1:(\d+)/), ({ port }) =>
    Effect.map(
      openWebReplLink({ url: `ws://127.0.0.1:${port}`, password: Redacted.make(WEBREPL_PASSWORD) }),
      // A copy of the link is the same link without its file transfer (found by the link itself).
      (link): ByteLink => (raw ? { ...link } : link),
    ),
  )

const links: ReadonlyArray<{ name: string; open: Effect.Effect<ByteLink, unknown, Scope.Scope> }> = [
  {
    name: "virtual-pty",
    open: Effect.flatMap(openVirtualBoardPty(), (pty) => openSerialLink({ path: pty.path })),
  },
  {
    name: "virtual-tcp",
    open: Effect.flatMap(tcpBoard, ({ port }) => openTcpLink({ host: "127.0.0.1", port })),
  },
  { name: "virtual-webrepl", open: webReplBoard(false) },
  { name: "virtual-webrepl-raw-repl", open: webReplBoard(true) },
]

/** How each link other than the pseudo-terminal is named in the ratio rows. */
const over: Record<string, string> = {
  "virtual-tcp": "over TCP",
  "virtual-webrepl": "over WebREPL (file transfer)",
  "virtual-webrepl-raw-repl": "over WebREPL (raw REPL only)",
}

export default async function bench(ctx: BenchContext) {
  const size = ctx.quick ? 256 * 1024 : 1024 * 1024
  const rounds = ctx.quick ? 1 : 3
  const data = randomBytes(size, 11)
  const figures = new Map<string, { exec: number; up: number; down: number }>()
  for (const link of links) {
    const scope = Effect.runSync(Scope.make())
    const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
      Effect.runPromise(
        Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
      )
    try {
      const { device, fs } = await run(
        Effect.gen(function* () {
          const device = yield* makeDeviceCommunication(yield* link.open)
          const manager = yield* makeDeviceSessionManager(device)
          return { device, fs: boardFileSystem(yield* manager.createSession()) }
        }),
      )
      const exec = summarize(await timeEach(ctx.quick ? 50 : 300, () => run(device.exec("pass")), 20)).median
      const up: number[] = []
      const down: number[] = []
      for (let i = 0; i < rounds; i++) {
        let t = performance.now()
        await run(fs.write("/net-bench.bin", data))
        up.push(size / 1024 / ((performance.now() - t) / 1000))
        t = performance.now()
        const back = await run(fs.readBytes("/net-bench.bin"))
        down.push(size / 1024 / ((performance.now() - t) / 1000))
        if (back.length !== size) throw new Error(`${link.name}: short read`)
      }
      await run(fs.remove("/net-bench.bin"))
      const measured = { exec, up: summarize(up).median, down: summarize(down).median }
      figures.set(link.name, measured)
      const board = link.name
      ctx.record({
        package: "filesystem",
        benchmark: "exec round trip",
        board,
        value: exec,
        unit: "ms (median)",
      })
      const mb = `${size / 1024 / 1024} MB`
      ctx.record({
        package: "filesystem",
        benchmark: `upload ${mb} (atomic, verified)`,
        board,
        value: measured.up,
        unit: "KB/s",
      })
      ctx.record({
        package: "filesystem",
        benchmark: `download ${mb} (verified)`,
        board,
        value: measured.down,
        unit: "KB/s",
      })
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
  const pty = figures.get("virtual-pty")
  if (pty === undefined) return
  for (const [board, name] of Object.entries(over)) {
    const link = figures.get(board)
    if (link === undefined) continue
    const execRatio = link.exec / pty.exec
    const upRatio = link.up / pty.up
    ctx.record({
      package: "filesystem",
      benchmark: `exec round trip ${name}, as a multiple of the pseudo-terminal's`,
      board,
      value: execRatio,
      unit: "×",
      target: "<= 1.5",
      met: execRatio <= 1.5,
    })
    ctx.record({
      package: "filesystem",
      benchmark: `upload ${name}, as a fraction of the pseudo-terminal's`,
      board,
      value: upRatio,
      unit: "of pty",
      target: ">= 0.5",
      met: upRatio >= 0.5,
    })
    ctx.record({
      package: "filesystem",
      benchmark: `download ${name}, as a fraction of the pseudo-terminal's`,
      board,
      value: link.down / pty.down,
      unit: "of pty",
    })
  }
}

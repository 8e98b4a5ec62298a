/**
 * The virtual board over TCP against the same board over a pseudo-terminal: exec round trip and a
 * 1 MB atomic, verified upload (and its download), each as a fraction of the pseudo-terminal's.
 * Both boards run in a process of their own (`belay-virtual-board`, behind socat for the
 * pseudo-terminal, with `--tcp 127.0.0.1:0` for TCP), so the comparison is the link alone.
 */
import { spawn } from "node:child_process"
import { makeDeviceSessionManager } from "@belay/core"
import { type ByteLink, makeDeviceCommunication, openTcpLink } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { openVirtualBoardPty, virtualBoardScript } from "@belay/virtual-device"
import { Effect, Exit, References, Scope } from "effect"
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

/** `belay-virtual-board --tcp 127.0.0.1:0` in a process of its own, stopped with the scope; its port. */
const tcpBoard = Effect.acquireRelease(
  Effect.tryPromise(
    () =>
      new Promise<{ port: number; stop: () => void }>((resolve, reject) => {
        const child = spawn(process.execPath, [virtualBoardScript(), "--tcp", "127.0.0.1:0"], {
          stdio: ["ignore", "ignore", "pipe"],
        })
        let stderr = ""
        const timer = setTimeout(() => {
          child.kill()
          reject(new Error(`no TCP board after ${START_TIMEOUT_MS} ms: ${stderr}`))
        }, START_TIMEOUT_MS)
        child.stderr.on("data", (d) => {
          stderr += d
          const port = /ready on tcp:127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]
          if (port === undefined) return
          clearTimeout(timer)
          resolve({ port: Number(port), stop: () => child.kill("SIGTERM") })
        })
        child.once("exit", (code) => reject(new Error(`the TCP board exited (${code}): ${stderr}`)))
      }),
  ),
  (board) => Effect.sync(board.stop),
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
]

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
  const tcp = figures.get("virtual-tcp")
  if (pty === undefined || tcp === undefined) return
  const execRatio = tcp.exec / pty.exec
  const upRatio = tcp.up / pty.up
  ctx.record({
    package: "filesystem",
    benchmark: "exec round trip over TCP, as a multiple of the pseudo-terminal's",
    board: "virtual-tcp",
    value: execRatio,
    unit: "×",
    target: "<= 1.5",
    met: execRatio <= 1.5,
  })
  ctx.record({
    package: "filesystem",
    benchmark: "upload over TCP, as a fraction of the pseudo-terminal's",
    board: "virtual-tcp",
    value: upRatio,
    unit: "of pty",
    target: ">= 0.5",
    met: upRatio >= 0.5,
  })
  ctx.record({
    package: "filesystem",
    benchmark: "download over TCP, as a fraction of the pseudo-terminal's",
    board: "virtual-tcp",
    value: tcp.down / pty.down,
    unit: "of pty",
  })
}

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { makeDeviceSessionManager } from "@belay/core"
import { makeDeviceCommunication, type RawReplOptions } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { isQemuMicrobitAvailable, openVirtualBoard, startQemuMicrobit } from "@belay/virtual-device"
import { Effect, Exit, References, Scope } from "effect"
import { type BenchContext, summarize } from "../../../scripts/bench-kit.ts"
import { type BoardFileSystem, boardFileSystem } from "../src/index.ts"

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

const kb = (bytes: number) => bytes / 1024

export default async function bench(ctx: BenchContext) {
  const scope = Effect.runSync(Scope.make())
  const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
    Effect.runPromise(
      Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
    )
  const open = (
    name: string,
    link: Effect.Effect<Parameters<typeof makeDeviceCommunication>[0], unknown, Scope.Scope>,
    protocol?: RawReplOptions,
  ) =>
    run(
      Effect.gen(function* () {
        const device = yield* makeDeviceCommunication(yield* link, protocol)
        const manager = yield* makeDeviceSessionManager(device)
        const session = yield* manager.createSession()
        const fs = boardFileSystem(session)
        const info = yield* fs.info
        ctx.log(
          `${name}: encoding ${info.encoding}, hash ${info.hashAlgorithm}, commit ${info.commit}, raw-paste ${info.rawPaste}`,
        )
        return { fs, device }
      }),
    )

  /** Median throughput of writing / reading `size` bytes, in bytes per second. */
  const throughput = async (fs: BoardFileSystem, dir: string, size: number, rounds: number) => {
    const data = randomBytes(size, 7)
    const up: number[] = []
    const down: number[] = []
    for (let i = 0; i < rounds; i++) {
      let t = performance.now()
      await run(fs.write(`${dir}/bench.bin`, data))
      up.push(size / ((performance.now() - t) / 1000))
      t = performance.now()
      const back = await run(fs.readBytes(`${dir}/bench.bin`))
      down.push(size / ((performance.now() - t) / 1000))
      if (back.length !== size) throw new Error("short read")
    }
    await run(fs.remove(`${dir}/bench.bin`))
    return { up: summarize(up).median, down: summarize(down).median }
  }

  try {
    // ---- virtual board, no speed limit, and at 115200 baud ----
    const size = ctx.quick ? 64 * 1024 : 256 * 1024
    const rounds = ctx.quick ? 2 : 5
    const fast = await open("virtual", openVirtualBoard())
    const unlimited = await throughput(fast.fs, "", size, rounds)
    ctx.record({
      package: "filesystem",
      benchmark: `upload ${kb(size)} KB (atomic, verified)`,
      board: "virtual",
      value: kb(unlimited.up),
      unit: "KB/s",
    })
    ctx.record({
      package: "filesystem",
      benchmark: `download ${kb(size)} KB (verified)`,
      board: "virtual",
      value: kb(unlimited.down),
      unit: "KB/s",
    })

    const capacity = 11_520
    const slow = await open("virtual@115200", openVirtualBoard({ bytesPerSecond: capacity }))
    const slowSize = ctx.quick ? 32 * 1024 : 64 * 1024
    const limited = await throughput(slow.fs, "", slowSize, ctx.quick ? 1 : 3)
    // What the line really carries (the virtual board's pacer lets a little more than its nominal
    // rate through): a plain exec of 20 KB of code. Fractions are of the larger of the two.
    const lineStart = performance.now()
    await run(slow.device.exec(`x=b'${"a".repeat(20_000)}'\ndel x`))
    const measured = 20_000 / ((performance.now() - lineStart) / 1000)
    const linkRate = Math.max(capacity, measured)
    ctx.log(`virtual@115200: nominal ${capacity} B/s, measured line ${measured.toFixed(0)} B/s`)
    ctx.record({
      package: "filesystem",
      benchmark: `upload ${kb(slowSize)} KB at 115200 baud`,
      board: "virtual@115200",
      value: kb(limited.up),
      unit: "KB/s",
    })
    ctx.record({
      package: "filesystem",
      benchmark: "upload / link capacity (encoding and protocol included)",
      board: "virtual@115200",
      value: limited.up / linkRate,
      unit: "fraction",
      target: ">= 0.7",
      met: limited.up / linkRate >= 0.7,
      note: `of ${linkRate.toFixed(0)} B/s: the larger of the nominal 11520 and the measured line rate`,
    })
    ctx.record({
      package: "filesystem",
      benchmark: `download ${kb(slowSize)} KB at 115200 baud`,
      board: "virtual@115200",
      value: kb(limited.down),
      unit: "KB/s",
    })
    ctx.record({
      package: "filesystem",
      benchmark: "download / link capacity",
      board: "virtual@115200",
      value: limited.down / linkRate,
      unit: "fraction",
      note: "random bytes, raw where the board prints bytes intact",
    })

    // ---- sync of an unchanged tree of 100 files ----
    const local = await mkdtemp(path.join(os.tmpdir(), "belay-bench-sync-"))
    try {
      for (let i = 0; i < 100; i++) {
        const dir = path.join(local, `pkg${i % 10}`)
        await mkdir(dir, { recursive: true })
        await writeFile(path.join(dir, `module${i}.py`), `# module ${i}\n${"x = 1\n".repeat(20 + (i % 50))}`)
      }
      for (const [name, board] of [
        ["virtual", fast],
        ["virtual@115200", slow],
      ] as const) {
        await run(board.fs.sync(local, "/app"))
        const samples: number[] = []
        let exchanges = 0
        for (let i = 0; i < (ctx.quick ? 2 : 5); i++) {
          const before = (await run(board.device.metrics)).exchanges
          const t = performance.now()
          const report = await run(board.fs.sync(local, "/app"))
          samples.push(performance.now() - t)
          exchanges = (await run(board.device.metrics)).exchanges - before
          if (report.uploaded.length > 0) throw new Error("an unchanged tree uploaded files")
        }
        ctx.record({
          package: "filesystem",
          benchmark: "sync of an unchanged tree of 100 files",
          board: name,
          value: summarize(samples).median,
          unit: "ms (median)",
          note: `${exchanges} exchanges, no file content sent`,
        })
      }
    } finally {
      await rm(local, { recursive: true, force: true })
    }

    // ---- the QEMU micro:bit: plain raw mode, no hashlib, flat 15 KB flash ----
    if (isQemuMicrobitAvailable()) {
      const qemu = await run(startQemuMicrobit())
      const microbit = await open("qemu-microbit", openSerialLink({ path: qemu.ptyPath }))
      const small = await throughput(microbit.fs, "", 4096, ctx.quick ? 1 : 3)
      ctx.record({
        package: "filesystem",
        benchmark: "upload 4 KB (atomic: temporary file, on-board copy)",
        board: "qemu-microbit",
        value: kb(small.up),
        unit: "KB/s",
        note: "plain raw mode with the transport's default pacing",
      })
      ctx.record({
        package: "filesystem",
        benchmark: "download 4 KB",
        board: "qemu-microbit",
        value: kb(small.down),
        unit: "KB/s",
      })
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

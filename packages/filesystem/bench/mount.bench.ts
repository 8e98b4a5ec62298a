/**
 * A mounted host folder against the same bytes copied to the board's flash first: `import` of a
 * 20 KB module and a 1 MB read, on the virtual board (no line limit, then 115200 baud). Each
 * figure is the mount's time as a fraction of copy (`fs.write`, verified) plus the read from
 * flash; the mount's requests and bytes say what it spent its time on.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { makeDeviceSessionManager } from "@belay/core"
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard, type VirtualBoardOptions } from "@belay/virtual-device"
import { Effect, References, Scope } from "effect"
import { type BenchContext, summarize } from "../../../scripts/bench-kit.ts"
import { boardFileSystem, mountHostFolder } from "../src/index.ts"

/** A Python module of about `bytes` bytes: functions returning numbers. */
const moduleOf = (bytes: number) => {
  let text = ""
  for (let i = 0; text.length < bytes; i++) text += `def f${i}(x):\n    return x * ${i} + ${i * 7}\n\n`
  return text
}

const dataOf = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + (i >> 8)) & 0xff)

export default async function bench(ctx: BenchContext) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "belay-mount-bench-"))
  const module = moduleOf(20 * 1024)
  const data = dataOf(1024 * 1024)
  await writeFile(path.join(dir, "bigmod.py"), module)
  await writeFile(path.join(dir, "big.bin"), data)
  const rounds = ctx.quick ? 2 : 5
  const readCode = (file: string) =>
    `f = open('${file}', 'rb')\nn = 0\nwhile True:\n    b = f.read(4096)\n    if not b: break\n    n += len(b)\nf.close()\nprint(n)`
  const importCode = (at: string) =>
    `import sys\nsys.modules.pop('bigmod', None)\nsys.path.insert(0, '${at}')\nimport bigmod\nsys.path.pop(0)\nprint(bigmod.f3(1))`

  const boards: ReadonlyArray<readonly [string, VirtualBoardOptions]> = [
    ["virtual", {}],
    ["virtual@115200", { bytesPerSecond: 11_520 }],
  ]
  try {
    for (const [name, options] of boards) {
      const scope = Effect.runSync(Scope.make())
      const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
        Effect.runPromise(
          Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
        )
      const { session, fs } = await run(
        Effect.gen(function* () {
          const device = yield* makeDeviceCommunication(yield* openVirtualBoard(options))
          const manager = yield* makeDeviceSessionManager(device)
          const session = yield* manager.createSession()
          return { session, fs: boardFileSystem(session) }
        }),
      )
      const mount = await run(mountHostFolder(session, dir, { chdir: false }))
      const time = async (effect: Effect.Effect<unknown, unknown, Scope.Scope>) => {
        const t = performance.now()
        await run(effect)
        return performance.now() - t
      }
      const cases = [
        {
          what: "import 20 KB module",
          file: "bigmod.py",
          bytes: new TextEncoder().encode(module),
          code: importCode,
        },
        {
          what: "read 1 MB file",
          file: "big.bin",
          bytes: data,
          code: (at: string) => readCode(`${at}/big.bin`),
        },
      ]
      for (const c of cases) {
        const rounds_ = name === "virtual" ? rounds : 1
        const mounted: number[] = []
        const copied: number[] = []
        const copyOnly: number[] = []
        const before = await run(mount.stats)
        for (let i = 0; i < rounds_; i++) {
          mounted.push(await time(session.device.exec(c.code("/remote"), { timeout: "10 minutes" })))
          const copy = await time(fs.write(`/bench/${c.file}`, c.bytes, { parents: true }))
          const readFlash = await time(session.device.exec(c.code("/bench"), { timeout: "10 minutes" }))
          copyOnly.push(copy)
          copied.push(copy + readFlash)
        }
        const after = await run(mount.stats)
        const m = summarize(mounted).median
        const cp = summarize(copied).median
        const requests = (after.requests - before.requests) / rounds_
        ctx.log(
          `${name} ${c.what}: mount ${m.toFixed(0)} ms (${requests.toFixed(0)} requests), cp + read ${cp.toFixed(0)} ms (cp ${summarize(copyOnly).median.toFixed(0)} ms)`,
        )
        ctx.record({
          package: "@belay/filesystem",
          benchmark: `mount: ${c.what}, time through the mount / (cp + read from flash)`,
          board: name,
          value: Number((m / cp).toFixed(3)),
          unit: "ratio",
          note: `mount ${m.toFixed(0)} ms in ${requests.toFixed(0)} requests (${((m / Math.max(1, requests)) * 1000).toFixed(0)} µs each); cp + read ${cp.toFixed(0)} ms`,
        })
      }
      await Effect.runPromise(Scope.close(scope, Effect.void as never))
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * `install` on the virtual board (unlimited, and at 115200 baud), from a package index served on
 * 127.0.0.1: a package of 20 modules of 2 KB with one dependency. Figures: the first install
 * (resolve, download, upload), a repeat install from the lock file (the board compares, nothing
 * is uploaded), and a repeat after one file changed on the board.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { makeDeviceSessionManager } from "@belay/core"
import { boardFileSystem } from "@belay/filesystem"
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard, type VirtualBoardOptions } from "@belay/virtual-device"
import { Effect, References } from "effect"
import type { BenchContext } from "../../../scripts/bench-kit.ts"
import { installPackages } from "../src/index.ts"
import { publish, startServer } from "../test/server.ts"

const module = (i: number) =>
  `# module ${i}\n${Array.from({ length: 60 }, (_, k) => `V${k} = ${i * 100 + k}  # padding text`).join("\n")}\n`

export default async function bench(ctx: BenchContext) {
  const server = await startServer()
  const files: Record<string, string> = {}
  for (let i = 0; i < 20; i++) files[`big/m${i}.py`] = module(i)
  publish(server, { name: "big", version: "1.0", files: { py: files }, deps: [["small", "latest"]] })
  publish(server, { name: "small", version: "1.0", files: { py: { "small.py": "S = 1\n" } } })
  const bytes = Object.values(files).reduce((n, f) => n + f.length, 0) + 6
  ctx.log(`package: 21 files, ${bytes} bytes`)

  const measure = async (board: string, options: VirtualBoardOptions) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "belay-install-bench-"))
    writeFileSync(
      path.join(dir, "package.json"),
      JSON.stringify({ micropython: { dependencies: { big: "latest" }, index: server.url } }),
    )
    const cacheDir = mkdtempSync(path.join(os.tmpdir(), "belay-install-bench-cache-"))
    const flashDir = mkdtempSync(path.join(os.tmpdir(), "belay-install-bench-flash-"))
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openVirtualBoard({ ...options, flashDir })
          const device = yield* makeDeviceCommunication(link)
          const manager = yield* makeDeviceSessionManager(device)
          const timed = <A, E>(effect: Effect.Effect<A, E>) =>
            Effect.gen(function* () {
              const t = performance.now()
              const result = yield* effect
              return { result, ms: performance.now() - t }
            })
          yield* manager.executeInNewSession((session) =>
            Effect.gen(function* () {
              const install = installPackages(session, { projectDir: dir, cacheDir, mpy: false })
              const first = yield* timed(install)
              const repeat = yield* timed(install)
              yield* boardFileSystem(session).write("/lib/big/m3.py", "changed = 1\n")
              const oneChanged = yield* timed(install)
              for (const [name, { ms, result }] of [
                ["first install (resolve, download, upload 21 files)", first],
                ["repeat install from the lock file (0 uploaded)", repeat],
                ["repeat install, 1 file changed on the board", oneChanged],
              ] as const) {
                ctx.log(
                  `${board}: ${name}: ${result.uploaded.length} uploaded, ${result.unchanged.length} unchanged`,
                )
                ctx.record({ package: "install", benchmark: name, board, value: ms, unit: "ms" })
              }
            }),
          )
        }),
      ).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
    )
  }
  try {
    await measure("virtual", {})
    await measure("virtual@115200", { bytesPerSecond: 11_520 })
  } finally {
    await server.close()
  }
}

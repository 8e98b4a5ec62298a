import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { Effect, Layer, ManagedRuntime, References } from "effect"
import { FleetClient } from "./src/index.ts"
import { freshDatabase } from "./test/postgres.ts"
import { freePort } from "./test/runners.ts"

const db = await freshDatabase()
const port = await freePort()
const child = spawn(
  process.execPath,
  ["--import", "tsx", "test/runnerMain.ts", "ra", String(port), db.url, "b0=virtual?keep=false"],
  { env: { ...process.env, BELAY_LOG_LEVEL: "Warning" }, stdio: ["ignore", "pipe", "inherit"] },
)
await new Promise<void>((r) => child.stdout!.on("data", (d) => d.toString().includes("ready") && r()))
const cpuOf = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(f[11]) + Number(f[12])) * 10
}
let layer = FleetClient.layer({ databaseUrl: db.url })
if (process.env.NOTRACE) layer = layer.pipe(Layer.provide(Layer.succeed(References.TracerEnabled, false)))
const rt = ManagedRuntime.make(layer)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const N = 600
const r = await rt.runPromise(
  Effect.gen(function* () {
    const b = (yield* FleetClient).board("ra/b0")
    for (let i = 0; i < 50; i++) yield* b.evalRepr("1")
    const c0 = process.cpuUsage()
    const r0 = cpuOf(child.pid!)
    const times: number[] = []
    for (let i = 0; i < N; i++) {
      const s = performance.now()
      yield* b.evalRepr("1")
      times.push(performance.now() - s)
    }
    const c1 = process.cpuUsage(c0)
    const r1 = cpuOf(child.pid!)
    return {
      median: median(times).toFixed(2),
      clientCpu: ((c1.user + c1.system) / 1000 / N).toFixed(2),
      runnerCpu: ((r1 - r0) / N).toFixed(2),
    }
  }).pipe(process.env.NOTRACE ? Effect.provideService(References.TracerEnabled, false) : (x) => x),
)
console.log(process.env.LABEL ?? "", JSON.stringify(r))
await rt.dispose()
child.kill("SIGTERM")
await new Promise((r) => child.once("exit", r))
await db.drop()

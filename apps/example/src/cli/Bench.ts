import { DeviceSessionManager } from "@belay/core"
import { py, Task } from "@belay/executors"
import { boardFileSystem } from "@belay/filesystem"
import { DeviceCommunication } from "@belay/transport"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { printJson, write } from "./Output.js"

const echo = Task.make({
  name: "bench_echo",
  source: py`
    def bench_echo(x):
        return x
  `,
  args: [Schema.Number],
  result: Schema.Number,
})

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

const timed = <A, E, R>(n: number, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const samples: number[] = []
    for (let i = 0; i < n; i++) {
      const t = performance.now()
      yield* effect
      samples.push(performance.now() - t)
    }
    return median(samples)
  })

/** Latency and throughput of every layer on the chosen board. */
export const runBench = (json: boolean) =>
  Effect.gen(function* () {
    const device = yield* DeviceCommunication
    const manager = yield* DeviceSessionManager
    const rows: Array<{ layer: string; measure: string; value: number; unit: string }> = []
    yield* device.exec("pass")
    rows.push({
      layer: "transport",
      measure: "trivial exec round trip (median)",
      value: yield* timed(50, device.exec("pass")),
      unit: "ms",
    })
    yield* manager.executeInNewSession((session) =>
      Effect.gen(function* () {
        const caps = session.deviceContext.capabilities
        yield* echo.call(session, 1)
        rows.push({
          layer: "executors",
          measure: "cached task call (median)",
          value: yield* timed(50, echo.call(session, 7)),
          unit: "ms",
        })
        const fs = boardFileSystem(session)
        const size = Math.max(1024, Math.min(64 * 1024, Math.floor(caps.freeMemory / 8)))
        const data = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff)
        const target = (yield* fs.info).directories ? "/belay_bench.bin" : "belay_bench.bin"
        const up = yield* timed(3, fs.write(target, data))
        rows.push({
          layer: "filesystem",
          measure: `upload ${Math.round(size / 1024)} KB (atomic, verified)`,
          value: size / 1024 / (up / 1000),
          unit: "KB/s",
        })
        const down = yield* timed(3, fs.readBytes(target))
        rows.push({
          layer: "filesystem",
          measure: `download ${Math.round(size / 1024)} KB`,
          value: size / 1024 / (down / 1000),
          unit: "KB/s",
        })
        yield* fs.remove(target)
      }),
    )
    rows.push({
      layer: "core",
      measure: "session create + end, warm (median)",
      value: yield* timed(
        50,
        Effect.flatMap(manager.createSession(), (s) => Effect.ignore(s.end)),
      ),
      unit: "ms",
    })
    if (json) return printJson({ link: device.description, rows })
    write(`Benchmarks on ${device.description}\n`)
    for (const r of rows) {
      write(
        `${r.layer.padEnd(11)} ${r.measure.padEnd(42)} ${r.value.toFixed(r.value < 10 ? 3 : 1).padStart(10)} ${r.unit}\n`,
      )
    }
  })

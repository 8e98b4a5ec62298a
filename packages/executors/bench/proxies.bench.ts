/**
 * Proxy round trips on the virtual board: an attribute read and a method call through a
 * `BoardProxy`, against a bare `exec` of the same line and against a cached task call doing the
 * same on the board; a batch of iteration; and the host heap a live handle keeps.
 */
import { type DeviceSessionManagerShape, makeDeviceSessionManager } from "@belay/core"
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Exit, References, Schema, Scope, Stream } from "effect"
import { type BenchContext, heapPerItem, summarize } from "../../../scripts/bench-kit.ts"
import { BoardProxy, py, Task } from "../src/index.ts"

const CLASS = py`
  class BenchLed:
      def __init__(self, pin):
          self.pin = pin
          self.level = 0
      def value(self, v=None):
          if v is None:
              return self.level
          self.level = v
`

const readPin = Task.make({
  name: "bench_read_pin",
  source: py`
    bench_led = BenchLed(25)
    def bench_read_pin():
        return bench_led.pin
  `,
  result: Schema.Number,
})

/** Samples of each function in turn, `n` rounds, after `warm` rounds: medians in ms. */
const alternate = async (n: number, warm: number, fns: ReadonlyArray<() => Promise<unknown>>) => {
  for (let i = 0; i < warm; i++) for (const f of fns) await f()
  const samples = fns.map(() => [] as number[])
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < fns.length; k++) {
      const t = performance.now()
      await fns[k]!()
      samples[k]!.push(performance.now() - t)
    }
  }
  return samples.map((s) => summarize(s))
}

export default async function bench(ctx: BenchContext) {
  const record = (benchmark: string, value: number, unit: string, note?: string) =>
    ctx.record({ package: "executors", benchmark, board: "virtual", value, unit, ...(note ? { note } : {}) })
  const scope = Effect.runSync(Scope.make())
  const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
    Effect.runPromise(
      Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
    )
  try {
    const device = await run(Effect.flatMap(openVirtualBoard(), (link) => makeDeviceCommunication(link)))
    const manager: DeviceSessionManagerShape = await run(makeDeviceSessionManager(device))
    await run(device.exec(CLASS.text))
    const session = await run(manager.createSession())
    const led = await run(BoardProxy.make(session, "BenchLed(25)"))
    await run(readPin.call(session))
    // What the executor sends for the read and the call once everything is deployed, with a
    // fixed nonce and result id (the executor picks fresh ones): the bare execs' code.
    const lookup = `_belay_pg(${led.proxyId})`
    const bareRead = `_belay_o('\\x1ebenchbench',_belay_pe(1,${lookup}.pin))`
    const bareCall = `_belay_o('\\x1ebenchbench',_belay_pe(1,${lookup}.value(1)))`
    const n = ctx.quick ? 200 : 1000
    const [read, readBare, call, callBare, task] = await alternate(n, ctx.quick ? 50 : 300, [
      () => run(led.get("pin")),
      () => run(device.exec(bareRead)),
      () => run(led.call("value", 1)),
      () => run(device.exec(bareCall)),
      () => run(readPin.call(session)),
    ])
    record("proxy attribute read (led.get)", read!.median, "ms (median)", `p99 ${read!.p99.toFixed(3)} ms`)
    record("bare exec of the same read", readBare!.median, "ms (median)")
    record(
      "proxy method call with an argument (led.call)",
      call!.median,
      "ms (median)",
      `p99 ${call!.p99.toFixed(3)} ms`,
    )
    record("bare exec of the same call", callBare!.median, "ms (median)")
    record("cached task call reading the same attribute", task!.median, "ms (median)")
    record(
      "proxy attribute read / bare exec",
      read!.median / readBare!.median,
      "x",
      `${n} alternating samples each`,
    )
    record(
      "proxy method call / bare exec",
      call!.median / callBare!.median,
      "x",
      `${n} alternating samples each`,
    )

    // Iteration: 1,000 plain items in batches of 16, 64 and 256.
    const numbers = await run(BoardProxy.make(session, "list(range(1000))"))
    for (const batchSize of [16, 64, 256]) {
      const samples: number[] = []
      for (let i = 0; i < (ctx.quick ? 3 : 10); i++) {
        const t = performance.now()
        await run(Stream.runCollect(numbers.iterate({ batchSize, item: Schema.Number })))
        samples.push(performance.now() - t)
      }
      const s = summarize(samples)
      record(
        `iterate 1,000 ints, batches of ${batchSize}`,
        1000 / (s.median / 1000),
        "items/s",
        `${Math.ceil(1000 / batchSize) + 1} exchanges`,
      )
    }

    // Host heap a live handle keeps (its record in the session, the collection watch).
    const count = ctx.quick ? 200 : 1000
    const perHandle = await heapPerItem(count, () => run(BoardProxy.make(session, "BenchLed(1)")))
    record("host heap per live proxy handle", perHandle, "bytes", `${count} handles`)
    await run(Effect.ignore(session.end))
    ctx.log(
      `read ${read!.median.toFixed(3)} ms vs bare ${readBare!.median.toFixed(3)} ms; call ${call!.median.toFixed(3)} ms vs bare ${callBare!.median.toFixed(3)} ms; task ${task!.median.toFixed(3)} ms`,
    )
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

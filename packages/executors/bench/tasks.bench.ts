/**
 * Task call latency (first call with deploy, first call of a later session, cached call) against
 * a bare `exec` of the same code, cached-call throughput, and argument encoding throughput, on the
 * fake board, the virtual board and the QEMU micro:bit.
 */
import { type DeviceSessionManagerShape, makeDeviceSessionManager } from "@belay/core"
import { type DeviceCommunicationShape, makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { makeFakeBoard } from "@belay/transport/testing"
import { isQemuMicrobitAvailable, openVirtualBoard, startQemuMicrobit } from "@belay/virtual-device"
import { Effect, Exit, References, Schema, Scope } from "effect"
import {
  type BenchContext,
  heapPerBatchItem,
  heapPerItem,
  summarize,
  timeEach,
} from "../../../scripts/bench-kit.ts"
import { makeArgsCodec } from "../src/Codec.ts"
import { buildExchange, frameUnit, makeUnit } from "../src/Deployment.ts"
import { executorContext, py, Task } from "../src/index.ts"
import { FakeMicroPython, fastProtocol, probeAnswer } from "../test/fakeMicroPython.ts"

const source = py`
  def bench_add(a, b):
      # a typical small task: a few lines of board code
      total = a + b
      if total > 1000:
          total = total % 1000
      return total
`
const benchAdd = Task.make({
  name: "bench_add",
  source,
  args: [Schema.Number, Schema.Number],
  result: Schema.Number,
})
// The bare execs run exactly the code the executor sends (a 10-character nonce, as the executor
// uses), so the difference is the executor's own cost.
const callLine = "_belay_o('\\x1ebenchbench',bench_add(1,2))"
const benchUnits = [frameUnit, makeUnit("bench_add", source)]
const bareCall = buildExchange(benchUnits, ["ready", "ready"], [callLine], "benchbench").code
const bareDeploy = buildExchange(benchUnits, ["deploy", "deploy"], [callLine], "benchbench").code

interface Board {
  readonly name: string
  readonly open: Effect.Effect<
    { device: DeviceCommunicationShape; onReset: () => void },
    unknown,
    Scope.Scope
  >
}

const boards = (): Board[] => {
  const list: Board[] = [
    {
      name: "fake",
      open: Effect.gen(function* () {
        const model = new FakeMicroPython({ bench_add: (a, b) => ({ value: (a as number) + (b as number) }) })
        const board = yield* makeFakeBoard({
          run: (code) => (code.includes("_belay_probe") ? { stdout: probeAnswer(false) } : model.run(code)),
        })
        const device = yield* makeDeviceCommunication(board.link, fastProtocol)
        return { device, onReset: () => model.reset() }
      }),
    },
    {
      name: "virtual",
      open: openVirtualBoard().pipe(
        Effect.flatMap((link) => makeDeviceCommunication(link)),
        Effect.map((device) => ({ device, onReset: () => {} })),
      ),
    },
  ]
  if (isQemuMicrobitAvailable()) {
    list.push({
      name: "qemu-microbit",
      open: Effect.gen(function* () {
        const qemu = yield* startQemuMicrobit()
        const link = yield* openSerialLink({ path: qemu.ptyPath })
        // Pacing the emulated UART takes without losing bytes (see the package README).
        const device = yield* makeDeviceCommunication(link, {
          plainRawChunkSize: 32,
          plainRawChunkDelayMs: 3,
        })
        return { device, onReset: () => {} }
      }),
    })
  }
  return list
}

export default async function bench(ctx: BenchContext) {
  const record = (board: string, benchmark: string, value: number, unit: string, note?: string) =>
    ctx.record({ package: "executors", benchmark, board, value, unit, ...(note ? { note } : {}) })

  // First: a board failing below must not take these figures with it.
  await sessionStateBench(ctx, record)

  for (const board of boards()) {
    const scope = Effect.runSync(Scope.make())
    const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
      Effect.runPromise(
        Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
      )
    try {
      const { device, onReset } = await run(board.open)
      const manager: DeviceSessionManagerShape = await run(makeDeviceSessionManager(device))
      const small = board.name === "qemu-microbit" || ctx.quick
      const bytesOut = () => run(Effect.map(device.metrics, (m) => m.bytesOut))

      // First call with deploy: after a soft reset the board holds nothing.
      const deploySamples: number[] = []
      let deployBytes = 0
      let deployExchanges = 0
      for (let i = 0; i < (small ? 5 : 20); i++) {
        await run(device.softReset)
        onReset()
        const session = await run(manager.createSession())
        const before = await run(device.metrics)
        const t = performance.now()
        await run(benchAdd.call(session, 1, 2))
        deploySamples.push(performance.now() - t)
        const after = await run(device.metrics)
        deployBytes = after.bytesOut - before.bytesOut
        deployExchanges = after.exchanges - before.exchanges
        await run(Effect.ignore(session.end))
      }
      // The same work as one bare exec of the same code, also right after a soft reset.
      const bareDeploySamples: number[] = []
      for (let i = 0; i < (small ? 5 : 20); i++) {
        await run(device.softReset)
        onReset()
        const t = performance.now()
        await run(device.exec(bareDeploy))
        bareDeploySamples.push(performance.now() - t)
      }
      const bareDeploySummary = summarize(bareDeploySamples)

      // First call of a later session: the call behind a registry check.
      const guardSamples = await timeEach(
        small ? 10 : 50,
        () => run(manager.executeInNewSession((session) => benchAdd.call(session, 1, 2))),
        2,
      )

      // Cached calls in one session, and the bare exec of the same call: both warmed up, then
      // sampled alternately, so neither gains from running after the other (JIT, caches, load).
      const session = await run(manager.createSession())
      const cachedCall = () => run(benchAdd.call(session, 1, 2))
      const bareExec = () => run(device.exec(bareCall))
      const slow = board.name === "qemu-microbit"
      for (let i = 0; i < (slow ? 20 : ctx.quick ? 200 : 1000); i++) {
        await cachedCall()
        await bareExec()
      }
      const n = small ? 100 : 1000
      const cachedSamples: number[] = []
      const bareSamples: number[] = []
      for (let i = 0; i < n; i++) {
        let t = performance.now()
        await cachedCall()
        cachedSamples.push(performance.now() - t)
        t = performance.now()
        await bareExec()
        bareSamples.push(performance.now() - t)
      }
      const cached = summarize(cachedSamples)
      const bare = summarize(bareSamples)

      // Throughput: 1,000 cached calls one after another.
      const sequential = 1000
      const beforeBytes = await bytesOut()
      const started = performance.now()
      for (let i = 0; i < sequential; i++) await cachedCall()
      const sequentialSeconds = (performance.now() - started) / 1000
      const cachedBytes = ((await bytesOut()) - beforeBytes) / sequential
      await run(Effect.ignore(session.end))

      const deploy = summarize(deploySamples)
      const guard = summarize(guardSamples)
      record(board.name, "task call, first (definition + call, one exchange)", deploy.median, "ms (median)")
      record(board.name, "bare exec of the same definition + call", bareDeploySummary.median, "ms (median)")
      record(
        board.name,
        "task call, first in a later session (registry check + call)",
        guard.median,
        "ms (median)",
        "session creation included",
      )
      record(board.name, "task call, cached (call only)", cached.median, "ms (median)")
      record(board.name, "bare exec of the same call", bare.median, "ms (median)")
      const ratio = cached.median / bare.median
      ctx.record({
        package: "executors",
        benchmark: "cached task call / bare exec",
        board: board.name,
        value: ratio,
        unit: "x",
        target: "<= 1.10",
        met: ratio <= 1.1,
        note: `${n} alternating samples each`,
      })
      record(
        board.name,
        "1,000 sequential cached calls",
        sequential / sequentialSeconds,
        "calls/s",
        `${(sequentialSeconds * 1000).toFixed(0)} ms in all`,
      )
      record(board.name, "bytes sent, first call", deployBytes, "bytes", `${deployExchanges} exchange(s)`)
      record(board.name, "bytes sent, cached call", Math.round(cachedBytes), "bytes")
      ctx.log(
        `${board.name}: deploy ${deploy.median.toFixed(2)} ms vs bare ${bareDeploySummary.median.toFixed(2)} ms; cached ${cached.median.toFixed(3)} ms vs bare ${bare.median.toFixed(3)} ms (p99 ${cached.p99.toFixed(3)} / ${bare.p99.toFixed(3)})`,
      )
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }

  // ---- argument encoding (no board) ----
  const codec = makeArgsCodec([
    Schema.String,
    Schema.Array(Schema.Number),
    Schema.Struct({ name: Schema.String, tags: Schema.Array(Schema.String), raw: Schema.Uint8Array }),
  ])
  const args = [
    "sensor \"north\" \\ 'wall'\n",
    Array.from({ length: 64 }, (_, i) => i * 1.5),
    { name: "température", tags: ["a", "b", "c"], raw: new Uint8Array(256).map((_, i) => i) },
  ]
  const one = codec.encode("bench", args)
  if (one._tag !== "Success") throw new Error("encoding failed")
  const literalBytes = one.success.length
  const iterations = ctx.quick ? 2_000 : 20_000
  for (let i = 0; i < 500; i++) codec.encode("bench", args)
  const t = performance.now()
  for (let i = 0; i < iterations; i++) codec.encode("bench", args)
  const seconds = (performance.now() - t) / 1000
  record(
    "none",
    "argument encoding (schema + Python literal)",
    iterations / seconds,
    "calls/s",
    `${literalBytes}-byte literal per call`,
  )
  record(
    "none",
    "argument encoding throughput",
    (iterations * literalBytes) / seconds / 1e6,
    "MB/s of Python literal",
  )
  const bytesOnly = makeArgsCodec([Schema.Uint8Array])
  const blob = [new Uint8Array(64 * 1024).map((_, i) => (i * 31) & 0xff)]
  const blobLiteral = bytesOnly.encode("bench", blob)
  const tb = performance.now()
  const blobRuns = ctx.quick ? 20 : 200
  for (let i = 0; i < blobRuns; i++) bytesOnly.encode("bench", blob)
  const blobSeconds = (performance.now() - tb) / 1000
  record(
    "none",
    "argument encoding throughput, 64 KiB Uint8Array",
    (blobRuns * 64 * 1024) / blobSeconds / 1e6,
    "MB/s of input",
    blobLiteral._tag === "Success" ? `${blobLiteral.success.length} literal bytes` : undefined,
  )
}

/**
 * Heap a session's executor context costs (kept in the session's state), and each deployed-method
 * record in it. The file-system context is a sibling of the same size class (a few fields, its
 * maps made on first use).
 */
const sessionStateBench = async (
  ctx: BenchContext,
  record: (board: string, benchmark: string, value: number, unit: string, note?: string) => void,
) => {
  const scope = Effect.runSync(Scope.make())
  const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
    Effect.runPromise(
      Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
    )
  try {
    const board = await run(makeFakeBoard({ run: () => ({ stdout: probeAnswer(true) }) }))
    const device = await run(makeDeviceCommunication(board.link, fastProtocol))
    const manager = await run(
      makeDeviceSessionManager(device, { maxConcurrentSessions: 1_000_000, defaultSessionTimeout: "1 hour" }),
    )
    const N = ctx.quick ? 500 : 2000
    const sessions: Array<{ end: Effect.Effect<void, unknown> }> = []
    const perContext = await heapPerItem(N, async () => {
      const s = await run(manager.createSession())
      const context = executorContext(s)
      await run(context.registerMethodDeployment("f()", new Uint8Array(32)))
      sessions.push(s)
      return s
    })
    await run(Effect.forEach(sessions, (s) => Effect.ignore(s.end), { discard: true }))
    record(
      "fake",
      "retained heap per session with an executor context and one deployed method",
      perContext,
      "bytes",
      "session, state, scope, context, one method record",
    )
    const holder = await run(manager.createSession())
    const perMethod = await heapPerBatchItem(N, (n) =>
      run(
        Effect.gen(function* () {
          const hash = new Uint8Array(32)
          const context = executorContext(holder)
          for (let i = 0; i < n; i++) {
            hash[0] = i & 0xff
            hash[1] = i >> 8
            yield* context.registerMethodDeployment(`method_${i}(a, b)`, hash)
          }
        }),
      ),
    )
    record(
      "fake",
      "retained heap per deployed-method record",
      perMethod,
      "bytes",
      "32-byte code hash, ~16-char signature",
    )
    await run(Effect.ignore(holder.end))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

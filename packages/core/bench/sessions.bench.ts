import { makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { makeFakeBoard } from "@belay/transport/testing"
import { isQemuMicrobitAvailable, startQemuMicrobit } from "@belay/virtual-device"
import { Duration, Effect, Exit, References, Scope } from "effect"
import {
  type BenchContext,
  heapPerBatchItem,
  heapPerItem,
  summarize,
  timeEach,
} from "../../../scripts/bench-kit.ts"
import { forgetCapabilities, makeDeviceSessionManager } from "../src/index.ts"
import { frameProbeAnswer } from "../src/internal.ts"

const PROBE = frameProbeAnswer(
  "{'impl': 'micropython', 'ver': '1.27.0', 'plat': 'fake', 'mach': 'fake', 'mods': ['_thread'], 'hash': ['sha256'], " +
    "'os': ['listdir'], 'uid': None, 'free': 100000}",
)

const fakeDevice = Effect.gen(function* () {
  const board = yield* makeFakeBoard({ run: () => ({ stdout: PROBE }) })
  return yield* makeDeviceCommunication(board.link, { integrity: "unchecked" })
})

export default async function bench(ctx: BenchContext) {
  const scope = Effect.runSync(Scope.make())
  const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
    Effect.runPromise(
      Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
    )
  try {
    // ---- cold creation: one capability probe round trip, per board ----
    const boards: Array<[string, Effect.Effect<Effect.Success<typeof fakeDevice>, unknown, Scope.Scope>]> = [
      ["fake", fakeDevice],
    ]
    if (isQemuMicrobitAvailable()) {
      boards.push([
        "qemu-microbit",
        Effect.gen(function* () {
          const qemu = yield* startQemuMicrobit()
          const link = yield* openSerialLink({ path: qemu.ptyPath })
          return yield* makeDeviceCommunication(link, { integrity: "unchecked" })
        }),
      ])
    }
    for (const [name, open] of boards) {
      const device = await run(open)
      // Enter the raw REPL first so the figure is the probe, not the connection.
      await run(device.exec("pass"))
      const samples: number[] = []
      for (let i = 0; i < (ctx.quick ? 3 : 10); i++) {
        const manager = await run(makeDeviceSessionManager(device))
        const t = performance.now()
        const session = await run(manager.createSession())
        samples.push(performance.now() - t)
        await run(Effect.ignore(session.end))
        // Forget the cached capabilities so the next creation is cold again.
        forgetCapabilities(device)
      }
      const s = summarize(samples)
      ctx.record({
        package: "core",
        benchmark: "session creation, cold (with capability probe)",
        board: name,
        value: s.median,
        unit: "ms (median)",
        target: "= one round trip (seed: 10-50 ms)",
      })
      const exec = summarize(await timeEach(ctx.quick ? 20 : 100, () => run(device.exec("pass"))))
      ctx.log(
        `${name}: cold creation median ${s.median.toFixed(2)} ms; a trivial exec round trip median ${exec.median.toFixed(2)} ms`,
      )
      ctx.record({
        package: "core",
        benchmark: "cold creation / trivial exec round trip",
        board: name,
        value: s.median / exec.median,
        unit: "x",
        note: "the probe is one exchange with a larger reply",
      })
    }

    // ---- warm creation, reuse, memory: the fake board (no board work involved) ----
    const device = await run(fakeDevice)
    const manager = await run(
      makeDeviceSessionManager(device, {
        maxConcurrentSessions: 1_000_000,
        defaultSessionTimeout: Duration.minutes(30),
      }),
    )
    await run(Effect.flatMap(manager.createSession(), (s) => s.end))
    const warmN = ctx.quick ? 2000 : 20000
    const warm = await run(
      Effect.gen(function* () {
        const samples: number[] = []
        for (let i = 0; i < warmN; i++) {
          const t = performance.now()
          const s = yield* manager.createSession()
          samples.push(performance.now() - t)
          yield* Effect.ignore(s.end)
        }
        return summarize(samples)
      }),
    )
    ctx.record({
      package: "core",
      benchmark: "session creation, warm (cached capabilities)",
      board: "fake",
      value: warm.median,
      unit: "ms (median)",
      target: "< 0.2 ms",
      met: warm.median < 0.2,
    })

    const reuseN = ctx.quick ? 20000 : 200000
    const reuseUs = await run(
      Effect.gen(function* () {
        const live = yield* manager.createSession()
        const op = () => Effect.void
        for (let i = 0; i < 1000; i++) yield* manager.executeInSession(op)
        const t = performance.now()
        for (let i = 0; i < reuseN; i++) yield* manager.executeInSession(op)
        const us = ((performance.now() - t) * 1000) / reuseN
        yield* Effect.ignore(live.end)
        return us
      }),
    )
    ctx.record({
      package: "core",
      benchmark: "executeInSession reuse overhead",
      board: "fake",
      value: reuseUs,
      unit: "us per call",
      target: "< 20 us",
      met: reuseUs < 20,
    })

    const N = 10_000
    const sessions: Array<{ end: Effect.Effect<void, unknown> }> = []
    const perSession = await heapPerItem(N, async () => {
      const s = await run(manager.createSession())
      sessions.push(s)
      return s
    })
    await run(Effect.forEach(sessions, (s) => Effect.ignore(s.end), { discard: true }))
    ctx.record({
      package: "core",
      benchmark: "retained heap per idle session",
      board: "fake",
      value: perSession,
      unit: "bytes",
      target: "< 2048 B (seed 2 KB)",
      met: perSession < 2048,
      note: "contexts not built",
    })

    // The same, with everything core builds for a session on first use: its scope, state,
    // resource tracker and device context. (The executor and file-system contexts, kept in the
    // session's state, are measured by the executors bench.)
    const built: Array<{ end: Effect.Effect<void, unknown> }> = []
    const perBuiltSession = await heapPerItem(N, async () => {
      const s = await run(manager.createSession())
      void s.scope
      void s.state
      void s.resources
      void s.deviceContext
      built.push(s)
      return s
    })
    await run(Effect.forEach(built, (s) => Effect.ignore(s.end), { discard: true }))
    ctx.record({
      package: "core",
      benchmark: "retained heap per idle session, contexts and scope built",
      board: "fake",
      value: perBuiltSession,
      unit: "bytes",
      target: "< 2048 B (seed 2 KB)",
      met: perBuiltSession < 2048,
      note: "scope, state, resource tracker, device context",
    })

    // A call that makes its own session: create, run, end (the path of executeInSession with no
    // live session, and of executeInNewSession).
    const ownN = ctx.quick ? 2000 : 20000
    const own = await run(
      Effect.gen(function* () {
        const op = () => Effect.void
        for (let i = 0; i < 200; i++) yield* manager.executeInNewSession(op)
        const samples: number[] = []
        for (let i = 0; i < ownN; i++) {
          const t = performance.now()
          yield* manager.executeInNewSession(op)
          samples.push(performance.now() - t)
        }
        return summarize(samples)
      }),
    )
    ctx.record({
      package: "core",
      benchmark: "executeInNewSession (create, run, end)",
      board: "fake",
      value: own.median,
      unit: "ms (median)",
    })

    const holder = await run(manager.createSession())
    const perResource = await heapPerBatchItem(N, (n) =>
      run(
        Effect.gen(function* () {
          for (let i = 0; i < n; i++)
            yield* holder.resources.track("Bench", Effect.void, { estimatedCost: 1 })
        }),
      ),
    )
    ctx.record({
      package: "core",
      benchmark: "retained heap per tracked resource (track)",
      board: "fake",
      value: perResource,
      unit: "bytes",
      target: "< 100 B (seed)",
      met: perResource < 100,
    })
    const created = new Date()
    const perRecord = await heapPerBatchItem(N, (n) =>
      run(
        Effect.gen(function* () {
          for (let i = 0; i < n; i++) {
            yield* holder.resources.registerResource({
              resourceId: `r${i}`,
              resourceType: "Bench",
              estimatedCost: 1,
              createdAt: created,
              cleanup: Effect.void,
            })
          }
        }),
      ),
    )
    ctx.record({
      package: "core",
      benchmark: "retained heap per tracked resource (registerResource, caller's record included)",
      board: "fake",
      value: perRecord,
      unit: "bytes",
    })
    await run(Effect.ignore(holder.end))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

import { type ByteLink, type DeviceCommunicationShape, makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { Effect, Exit, References, Scope } from "effect"
import { type BenchContext, summarize, timeEach } from "../../../scripts/bench-kit.ts"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"
import { isQemuMicrobitAvailable, startQemuMicrobit } from "../src/qemu.ts"

// What end-to-end checks cost a plain exec or eval: time and bytes per call, checked (the
// default) against unchecked, on the virtual board, the virtual board at 115200 baud and the
// QEMU micro:bit. The runtime is deployed before timing (once per board boot).

interface Board {
  readonly name: string
  readonly open: Effect.Effect<ByteLink, unknown, Scope.Scope>
}

const boards = (): Board[] => {
  const list: Board[] = [
    { name: "virtual", open: openVirtualBoard() },
    { name: "virtual@115200", open: openVirtualBoard({ bytesPerSecond: 11520 }) },
  ]
  if (isQemuMicrobitAvailable())
    list.push({
      name: "qemu-microbit",
      open: Effect.flatMap(startQemuMicrobit(), (q) => openSerialLink({ path: q.ptyPath })),
    })
  return list
}

const calls = [
  { label: "exec x=1", kind: "exec", code: "x = 1" },
  { label: "exec 10 prints", kind: "exec", code: "for i in range(10): print(i)" },
  { label: "eval [0..9]", kind: "eval", code: "list(range(10))" },
] as const

export default async function bench(ctx: BenchContext) {
  for (const board of boards()) {
    const scope = Effect.runSync(Scope.make())
    const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
      Effect.runPromise(
        Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
      )
    try {
      const link = await run(board.open)
      const comm: DeviceCommunicationShape = await run(makeDeviceCommunication(link))
      await run(comm.exec("pass")) // deploys the runtime
      const iterations = ctx.quick ? 10 : board.name === "virtual" ? 300 : 40
      for (const call of calls) {
        const perMode: Record<string, number> = {}
        for (const integrity of ["unchecked", "checked"] as const) {
          const once = () =>
            run(
              call.kind === "exec"
                ? comm.exec(call.code, { integrity })
                : comm.eval(call.code, { integrity }),
            )
          const before = await run(comm.metrics)
          const samples = await timeEach(iterations, once, 5)
          const after = await run(comm.metrics)
          const n = iterations + 5
          const median = summarize(samples).median
          perMode[integrity] = median
          ctx.record({
            package: "transport",
            benchmark: `${call.label}, ${integrity}`,
            board: board.name,
            value: median,
            unit: "ms (median)",
          })
          ctx.record({
            package: "transport",
            benchmark: `${call.label}, ${integrity}`,
            board: board.name,
            value: Math.round((after.bytesOut - before.bytesOut) / n),
            unit: "bytes sent per call",
          })
          ctx.record({
            package: "transport",
            benchmark: `${call.label}, ${integrity}`,
            board: board.name,
            value: Math.round((after.bytesIn - before.bytesIn) / n),
            unit: "bytes received per call",
          })
        }
        ctx.record({
          package: "transport",
          benchmark: `${call.label}: checked / unchecked`,
          board: board.name,
          value: (perMode.checked ?? Number.NaN) / (perMode.unchecked ?? Number.NaN),
          unit: "× time",
        })
      }
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}

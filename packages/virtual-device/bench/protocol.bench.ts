import { type ByteLink, type DeviceCommunicationShape, makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { makeFakeBoard } from "@belay/transport/testing"
import { Effect, Exit, References, Scope } from "effect"
import { type BenchContext, summarize, timeEach } from "../../../scripts/bench-kit.ts"
import * as VirtualDevice from "../src/index.ts"

interface Board {
  readonly name: string
  /** Link capacity in bytes per second, when limited. */
  readonly capacity?: number
  /** Largest source the board can take in one exchange. */
  readonly maxSource: number
  readonly open: Effect.Effect<ByteLink, unknown, Scope.Scope>
}

type VirtualOptions = { readonly bytesPerSecond?: number; readonly rawPaste?: boolean }
const openVirtual = (
  VirtualDevice as unknown as {
    openVirtualBoard?: (o?: VirtualOptions) => Effect.Effect<ByteLink, unknown, Scope.Scope>
  }
).openVirtualBoard

const boards = (): Board[] => {
  const list: Board[] = [
    {
      name: "fake",
      maxSource: 64 * 1024,
      open: Effect.map(makeFakeBoard({ run: () => ({}) }), (b) => b.link),
    },
  ]
  if (openVirtual) {
    list.push({ name: "virtual", maxSource: 64 * 1024, open: openVirtual() })
    list.push({
      name: "virtual@115200",
      capacity: 11520,
      maxSource: 16 * 1024,
      open: openVirtual({ bytesPerSecond: 11520 }),
    })
  }
  if (VirtualDevice.isQemuMicrobitAvailable()) {
    list.push({
      name: "qemu-microbit",
      maxSource: 1200,
      open: Effect.flatMap(VirtualDevice.startQemuMicrobit(), (q) => openSerialLink({ path: q.ptyPath })),
    })
  }
  return list
}

/** Source of about `size` bytes that does little work: one long bytes literal assignment. */
const sourceOf = (size: number) => `x = b'${"a".repeat(Math.max(0, size - 8))}'\n`

export default async function bench(ctx: BenchContext) {
  for (const board of boards()) {
    const scope = Effect.runSync(Scope.make())
    const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
      Effect.runPromise(
        Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
      )
    try {
      const link = await run(board.open)
      const comm: DeviceCommunicationShape = await run(
        makeDeviceCommunication(link, { integrity: "unchecked" }),
      )
      await run(comm.exec("pass"))
      const latency = summarize(await timeEach(ctx.quick ? 50 : 500, () => run(comm.exec("pass")), 20))
      ctx.record({
        package: "transport",
        benchmark: "trivial exec round trip",
        board: board.name,
        value: latency.median,
        unit: "ms (median)",
      })
      ctx.record({
        package: "transport",
        benchmark: "trivial exec round trip",
        board: board.name,
        value: latency.p99,
        unit: "ms (p99)",
      })
      const caps = await run(comm.protocolCapabilities)
      const size = board.maxSource
      const source = sourceOf(size)
      const measure = async (c: DeviceCommunicationShape, label: string) => {
        const samples = await timeEach(ctx.quick ? 2 : 5, () => run(c.exec(source)), 1)
        const kbps = size / 1024 / (summarize(samples).median / 1000)
        ctx.record({
          package: "transport",
          benchmark: `execute ${Math.round(size / 1024)} KB source, ${label}`,
          board: board.name,
          value: kbps,
          unit: "KB/s",
        })
        if (board.capacity) {
          const fraction = size / (summarize(samples).median / 1000) / board.capacity
          ctx.record({
            package: "transport",
            benchmark: `execute source, ${label}, fraction of link capacity`,
            board: board.name,
            value: fraction,
            unit: "of capacity",
            ...(label === "raw-paste" ? { target: ">= 0.9", met: fraction >= 0.9 } : {}),
          })
        }
      }
      if (caps.rawPaste) await measure(comm, "raw-paste")
      // Plain raw mode on a second engine over a fresh link (paced 256 B / 10 ms, as for small UARTs).
      const plainLink = await run(board.open)
      const plain = await run(
        makeDeviceCommunication(plainLink, { rawPaste: "never", integrity: "unchecked" }),
      )
      await measure(plain, "plain raw (paced)")
      const unpaced = await run(
        makeDeviceCommunication(await run(board.open), {
          rawPaste: "never",
          plainRawChunkDelayMs: 0,
          integrity: "unchecked",
        }),
      )
      if (board.name !== "qemu-microbit") await measure(unpaced, "plain raw (unpaced)")
      ctx.log(`${board.name}: raw-paste ${caps.rawPaste ? `window ${caps.rawPasteWindow}` : "not supported"}`)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}

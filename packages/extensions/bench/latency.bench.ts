/**
 * Round trips and the clock on every board: `measureLatency` (exec("pass"), bare and checked end
 * to end) with its statistics, and how well `readBoardClock` and `syncTime` do, on the virtual
 * board in-process, behind a pseudo-terminal (`serialport`, as a USB board), as a process on pipes
 * (`exec:`), and on the QEMU micro:bit (no machine.RTC there: its clock rows say so).
 */
import {
  type ByteLink,
  DeviceCommunication,
  type DeviceCommunicationShape,
  makeDeviceCommunication,
  openProcessLink,
} from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import * as VirtualDevice from "@belay/virtual-device"
import { Effect, Exit, References, Scope } from "effect"
import type { BenchContext } from "../../../scripts/bench-kit.ts"
import { type LatencyMeasurement, measureLatency, readBoardClock, syncTime } from "../src/index.ts"

interface Board {
  readonly name: string
  readonly open: Effect.Effect<ByteLink, unknown, Scope.Scope>
}

const boards = (): Array<Board> => {
  const list: Array<Board> = [
    { name: "virtual", open: VirtualDevice.openVirtualBoard() },
    {
      name: "virtual-pty",
      open: Effect.flatMap(VirtualDevice.openVirtualBoardPty(), (pty) => openSerialLink({ path: pty.path })),
    },
    {
      name: "virtual-exec",
      open: openProcessLink({ command: process.execPath, args: [VirtualDevice.virtualBoardScript()] }),
    },
  ]
  if (VirtualDevice.isQemuMicrobitAvailable())
    list.push({
      name: "qemu-microbit",
      open: Effect.flatMap(VirtualDevice.startQemuMicrobit(), (q) => openSerialLink({ path: q.ptyPath })),
    })
  return list
}

const f = (v: number) => (v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0))

export default async function bench(ctx: BenchContext) {
  const count = ctx.quick ? 100 : 1000
  const table: Array<string> = [
    "| board | exchange | count | min | median | mean | p99 | max | std dev |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ]
  const clock: Array<string> = [
    "| board | a read's bound (±) | read after syncTime: offset | syncTime's own estimate |",
    "| --- | --- | --- | --- |",
  ]
  for (const board of boards()) {
    const scope = Effect.runSync(Scope.make())
    const run = <A, E>(
      effect: Effect.Effect<A, E, Scope.Scope | DeviceCommunication>,
      device?: DeviceCommunicationShape,
    ) =>
      Effect.runPromise(
        Scope.provide(
          device === undefined
            ? (effect as Effect.Effect<A, E, Scope.Scope>)
            : Effect.provideService(effect, DeviceCommunication, device),
          scope,
        ).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
      )
    try {
      const link = await run(board.open)
      const device = await run(makeDeviceCommunication(link))
      const record = (m: LatencyMeasurement, label: string) => {
        const s = m.statistics
        const figures: Array<[string, number]> = [
          ["min", s.min],
          ["median", s.median],
          ["mean", s.mean],
          ["p99", s.p99],
          ["max", s.max],
          ["std dev", s.stdDev],
        ]
        // Every figure for the bare exchange; median and p99 for the checked one (the rest in the section).
        for (const [name, value] of label === "unchecked"
          ? figures
          : figures.filter(([n]) => n === "median" || n === "p99"))
          ctx.record({
            package: "extensions",
            benchmark: `latency: exec("pass") round trip, ${label}`,
            board: board.name,
            value,
            unit: `ms (${name})`,
          })
        table.push(
          `| ${board.name} | exec("pass"), ${label} | ${s.count} | ${f(s.min)} | ${f(s.median)} | ${f(s.mean)} | ${f(s.p99)} | ${f(s.max)} | ${f(s.stdDev)} |`,
        )
      }
      const boardCount = board.name === "qemu-microbit" ? Math.min(count, 200) : count
      record(
        await run(measureLatency({ count: boardCount, warmup: 5, integrity: "unchecked" }), device),
        "unchecked",
      )
      record(
        await run(measureLatency({ count: boardCount, warmup: 5, integrity: "checked" }), device),
        "checked",
      )
      const clockRow = await run(
        Effect.gen(function* () {
          const read = yield* readBoardClock({ zone: "utc" })
          const sync = yield* syncTime({ zone: "utc" })
          const after = yield* readBoardClock({ zone: "utc" })
          return { read, sync, after }
        }).pipe(
          Effect.map((r) => ({ ok: true as const, ...r })),
          Effect.catchTag("CapabilityMissingError", (e) =>
            Effect.succeed({ ok: false as const, why: e.message }),
          ),
        ),
        device,
      )
      if (clockRow.ok) {
        ctx.record({
          package: "extensions",
          benchmark: "clock read: its bound (half the span the tick lies in)",
          board: board.name,
          value: clockRow.read.uncertaintyMs,
          unit: "ms (±)",
        })
        ctx.record({
          package: "extensions",
          benchmark: "clock after syncTime: offset read back",
          board: board.name,
          value: clockRow.after.offsetMs,
          unit: "ms",
        })
        clock.push(
          `| ${board.name} | ${f(clockRow.read.uncertaintyMs)} ms | ${clockRow.after.offsetMs.toFixed(2)} ms ± ${f(clockRow.after.uncertaintyMs)} | ${clockRow.sync.offsetMs.toFixed(2)} ms ± ${f(clockRow.sync.uncertaintyMs)} |`,
        )
      } else clock.push(`| ${board.name} | ${clockRow.why} | | |`)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
  ctx.section(
    "Round trips and the clock on every board",
    [
      `\`measureLatency\`: round trips of \`exec("pass")\`, one after another after 5 untimed ones, in ms; "unchecked" is the bare raw-REPL exchange, "checked" carries the end-to-end checks (on the micro:bit the lean runtime travels with each call). Boards: the virtual board in-process, behind a pseudo-terminal (\`serialport\`), as a process on pipes (\`exec:\`), and the QEMU micro:bit.`,
      "",
      ...table,
      "",
      "The clock (UTC): a read waits on the board for its seconds to tick and says how long it waited, which places the tick between two moments of the host's clock (the bound is half that span); `syncTime` sends the next whole second half the best round trip early. The offset is the board's minus the host's (positive: the board is ahead).",
      "",
      ...clock,
    ].join("\n"),
  )
}

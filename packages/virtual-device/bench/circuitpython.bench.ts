import { makeDeviceCommunication } from "@belay/transport"
import { Effect, Exit, Fiber, References, Scope, Stream } from "effect"
import { type BenchContext, summarize } from "../../../scripts/bench-kit.ts"
import { openVirtualBoard } from "../src/index.ts"
import type { VirtualBoardOptions } from "../src/options.ts"

/**
 * Connecting to a board that plays CircuitPython, against the same board as MicroPython: the time
 * from opening the protocol engine to the result of a first `exec`, from where each board sits
 * after booting (MicroPython at its friendly prompt; CircuitPython at `Press any key`, or still
 * running a code.py that never ends), and the round trip once connected.
 */
const FOREVER = "import time\nwhile True:\n    time.sleep(0.01)\n"

interface Case {
  readonly board: string
  readonly options: VirtualBoardOptions
  /** code.py, written over the CIRCUITPY drive while the board boots. */
  readonly code?: string
}

const cases: ReadonlyArray<Case> = [
  { board: "virtual", options: {} },
  { board: "virtual-circuitpython (waiting for a key)", options: { flavor: "circuitpython" } },
  { board: "virtual-circuitpython (code.py running)", options: { flavor: "circuitpython" }, code: FOREVER },
  {
    board: "virtual-circuitpython-6.3 (waiting for a key, no raw-paste)",
    options: { flavor: "circuitpython", circuitPythonVersion: "6.3.0" },
  },
]

export default async function bench(ctx: BenchContext) {
  for (const c of cases) {
    const connect: number[] = []
    const roundTrip: number[] = []
    for (let i = 0; i < (ctx.quick ? 3 : 10); i++) {
      const scope = Effect.runSync(Scope.make())
      const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
        Effect.runPromise(
          Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
        )
      try {
        const link = await run(openVirtualBoard(c.options))
        // Let it boot (and run code.py) with its output read, as a board does before a host opens it.
        const reader = await run(Effect.forkChild(Stream.runDrain(link.received)))
        if (c.code !== undefined) await run(link.usbWrite("/code.py", c.code))
        await new Promise((r) => setTimeout(r, 400))
        await run(Fiber.interrupt(reader))
        const started = performance.now()
        const comm = await run(makeDeviceCommunication(link, { integrity: "unchecked" }))
        await run(comm.exec("pass"))
        connect.push(performance.now() - started)
        for (let j = 0; j < 20; j++) {
          const t = performance.now()
          await run(comm.exec("pass"))
          roundTrip.push(performance.now() - t)
        }
      } finally {
        await Effect.runPromise(Scope.close(scope, Exit.void))
      }
    }
    ctx.record({
      package: "virtual-device",
      benchmark: "connect and first exec",
      board: c.board,
      value: summarize(connect).median,
      unit: "ms (median)",
    })
    ctx.record({
      package: "virtual-device",
      benchmark: "exec round trip once connected",
      board: c.board,
      value: summarize(roundTrip).median,
      unit: "ms (median)",
    })
  }
}

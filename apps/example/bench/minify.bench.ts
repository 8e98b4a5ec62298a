/**
 * What minifying the Python Belay sends saves: the demo's board code (its setup and first task
 * calls, as `belay demo` makes them) and a 20 KB `run` file, sent as written and minified, on the
 * virtual board, the virtual board at 115200 baud and the QEMU micro:bit. Figures: bytes on the
 * wire and the time of the first calls (the definitions travel then) and of the whole run; the
 * minifier's own time; and the bytes of the other way of keeping tracebacks right (lines joined,
 * numbers mapped back) against the one Belay uses (every line kept).
 *
 * The micro:bit's firmware holds the whole source in its 9 KB heap before compiling it: a 20 KB
 * file cannot run there either way (sent, it leaves the board silent until it is reset), so it
 * gets the two-section file (2.8 KB as written), which fails there with `MemoryError` as written
 * and runs minified.
 */
import { type DeviceSessionManagerShape, makeDeviceSessionManager } from "@belay/core"
import {
  type DeviceCommunicationShape,
  MinifyPython,
  makeDeviceCommunication,
  minifyPython,
} from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { isQemuMicrobitAvailable, openVirtualBoard, startQemuMicrobit } from "@belay/virtual-device"
import { Effect, Exit, References, Scope, Stream } from "effect"
import { type BenchContext, summarize } from "../../../scripts/bench-kit.ts"
import { DEMO_CODE } from "../src/cli/Demo.ts"
import { runFile } from "./runFile.ts"

const RUN_FILE_BYTES = 20_000
/** Two sections of the run file: what the micro:bit runs minified (and not as written). */
const MICROBIT_RUN_FILE_BYTES = 2_000

interface Board {
  readonly name: string
  readonly open: Effect.Effect<DeviceCommunicationShape, unknown, Scope.Scope>
  /** Runs of each measurement, each way. */
  readonly runs: number
  /** The size of the run file it gets. */
  readonly runFileBytes: number
}

const boards = (quick: boolean): Board[] => {
  const list: Board[] = [
    {
      name: "virtual",
      open: Effect.flatMap(openVirtualBoard(), (link) => makeDeviceCommunication(link)),
      runs: quick ? 3 : 10,
      runFileBytes: RUN_FILE_BYTES,
    },
    {
      name: "virtual@115200",
      open: Effect.flatMap(openVirtualBoard({ bytesPerSecond: 11520 }), (link) =>
        makeDeviceCommunication(link),
      ),
      runs: quick ? 1 : 3,
      runFileBytes: RUN_FILE_BYTES,
    },
  ]
  if (isQemuMicrobitAvailable()) {
    list.push({
      name: "qemu-microbit",
      open: Effect.gen(function* () {
        const qemu = yield* startQemuMicrobit()
        const link = yield* openSerialLink({ path: qemu.ptyPath })
        // The pace the emulated UART takes without losing bytes (see the executors' bench).
        return yield* makeDeviceCommunication(link, {
          plainRawChunkSize: 32,
          plainRawChunkDelayMs: 3,
          execTimeoutMs: 120_000,
        })
      }),
      runs: quick ? 1 : 3,
      runFileBytes: MICROBIT_RUN_FILE_BYTES,
    })
  }
  return list
}

/** One measurement: its time, the bytes it sent, and how it ended. */
interface Sample {
  readonly ms: number
  readonly bytes: number
  readonly failure: string | undefined
}

/** Time `work` from a soft-reset board (nothing deployed), counting the bytes it sends. */
const measure = (
  device: DeviceCommunicationShape,
  minify: boolean,
  work: Effect.Effect<unknown, unknown>,
): Effect.Effect<Sample> =>
  Effect.gen(function* () {
    yield* Effect.ignore(device.softReset)
    const before = (yield* device.metrics).bytesOut
    const started = performance.now()
    const exit = yield* Effect.exit(work.pipe(Effect.provideService(MinifyPython, minify)))
    const ms = performance.now() - started
    const bytes = (yield* device.metrics).bytesOut - before
    const failure = Exit.isSuccess(exit)
      ? undefined
      : String(
          (exit.cause.reasons[0] as { error?: { _tag?: string; exceptionType?: string } } | undefined)?.error
            ?.exceptionType ??
            (exit.cause.reasons[0] as { error?: { _tag?: string } } | undefined)?.error?._tag ??
            "defect",
        )
    return { ms, bytes, failure }
  })

/** The demo's setup and first task calls in one session, as `belay demo` makes them. */
const demoFirstCalls = (manager: DeviceSessionManagerShape, generator: boolean) =>
  manager.executeInNewSession((session) =>
    Effect.gen(function* () {
      yield* DEMO_CODE.setup.run(session)
      yield* DEMO_CODE.add.call(session, 2, 3)
      yield* DEMO_CODE.describe.call(session, [3.5, 1, 4, 1.5], "it's")
      // The demo leaves the generator out on a micro:bit's heap.
      if (generator) yield* Stream.runCollect(Stream.take(DEMO_CODE.countdown.stream(session, 10), 3))
    }),
  )

/** The 20 KB file as `belay run` sends it: minified unless turned off, its output streamed. */
const runTheFile = (device: DeviceCommunicationShape, code: string) =>
  MinifyPython.use((minify) =>
    Stream.runDrain(
      device.execStream(minify ? minifyPython(code) : code, { timeout: Number.POSITIVE_INFINITY }),
    ),
  )

export default async function bench(ctx: BenchContext) {
  const record = (board: string, benchmark: string, value: number, unit: string, note?: string) =>
    ctx.record({ package: "cli", benchmark, board, value, unit, ...(note ? { note } : {}) })

  // ---- what travels, board aside ----
  const file = runFile(RUN_FILE_BYTES)
  const demoSources = Object.values(DEMO_CODE).map((d) => d.source.text)
  const sum = (texts: ReadonlyArray<string>) => texts.reduce((n, t) => n + Buffer.byteLength(t), 0)
  const kept = (text: string) => minifyPython(text)
  const joined = (text: string) => minifyPython(text, { lines: "join" })
  record("-", "demo's board code as written", sum(demoSources), "B")
  record("-", "demo's board code minified (lines kept)", sum(demoSources.map(kept)), "B")
  record("-", "demo's board code minified (lines joined)", sum(demoSources.map(joined)), "B")
  record("-", "run file as written", Buffer.byteLength(file), "B")
  record("-", "run file minified (lines kept)", Buffer.byteLength(kept(file)), "B")
  record("-", "run file minified (lines joined, numbers mapped back)", Buffer.byteLength(joined(file)), "B")
  for (let i = 0; i < 20; i++) kept(file)
  const minifyTimes: number[] = []
  for (let i = 0; i < (ctx.quick ? 20 : 200); i++) {
    const t = performance.now()
    kept(file)
    minifyTimes.push(performance.now() - t)
  }
  record("-", "minifying the 20 KB run file", summarize(minifyTimes).median, "ms (median)")

  for (const board of boards(ctx.quick)) {
    const scope = Effect.runSync(Scope.make())
    const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
      Effect.runPromise(
        Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "Error")),
      )
    try {
      const device = await run(board.open)
      const manager = await run(makeDeviceSessionManager(device))
      const small = board.name === "qemu-microbit"
      const series = async (what: string, work: Effect.Effect<unknown, unknown>) => {
        // Once each way first: the connection's first session probes the board's capabilities.
        await run(measure(device, false, work))
        await run(measure(device, true, work))
        const samples: Record<"plain" | "minified", Sample[]> = { plain: [], minified: [] }
        // Alternated, so that neither way gains from running after the other.
        for (let i = 0; i < board.runs; i++) {
          samples.plain.push(await run(measure(device, false, work)))
          samples.minified.push(await run(measure(device, true, work)))
        }
        for (const way of ["plain", "minified"] as const) {
          const done = samples[way].filter((s) => s.failure === undefined)
          const failed = samples[way].find((s) => s.failure !== undefined)?.failure
          const label = way === "plain" ? "as written" : "minified"
          const bytes = summarize(samples[way].map((s) => s.bytes)).median
          record(board.name, `${what}, ${label}: bytes sent`, bytes, "B")
          if (done.length > 0) {
            record(
              board.name,
              `${what}, ${label}: time`,
              summarize(done.map((s) => s.ms)).median,
              "ms (median)",
            )
          }
          if (failed !== undefined) {
            record(
              board.name,
              `${what}, ${label}: failed (${failed})`,
              samples[way].length - done.length,
              "runs",
            )
          }
        }
      }
      await series("demo's setup and first task calls", demoFirstCalls(manager, !small))
      const code = runFile(board.runFileBytes)
      await series(`run file of ${Buffer.byteLength(code)} B`, runTheFile(device, code))
    } catch (error) {
      ctx.log(`${board.name}: ${error instanceof Error ? error.message : String(error)}`)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}

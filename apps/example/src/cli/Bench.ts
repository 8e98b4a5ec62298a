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

/** Payload bounds of the transfer measures: a few exchanges at least, a minute at 115200 baud at most. */
const MIN_PAYLOAD = 1024
const MAX_PAYLOAD = 64 * 1024
/** The payload is at most this share of the free heap (the board holds it in read pieces, the host's copy of it too). */
const HEAP_SHARE = 1 / 8
/**
 * The payload is at most this share of the free flash where the board says (`os.statvfs`): an
 * atomic write on a board without rename holds the file twice, plus the commit's margin.
 */
const FLASH_SHARE = 1 / 4

/**
 * How big the transfer measures' payload is, sized to the board: an eighth of its free heap, within
 * 1 KB and 64 KB, and no more than a quarter of its free flash when known. A micro:bit (about 5 KB
 * free heap, no statvfs, 15 KB of flash) gets 1 KB: twice that, and the margin, fits its flash.
 *
 * @example
 * benchPayloadBytes(5000, undefined) // 1024
 * benchPayloadBytes(200_000, 1_000_000) // 25000
 */
export const benchPayloadBytes = (freeMemory: number, freeFlash: number | undefined): number => {
  const byHeap = Math.max(MIN_PAYLOAD, Math.min(MAX_PAYLOAD, Math.floor(freeMemory * HEAP_SHARE)))
  return freeFlash === undefined ? byHeap : Math.max(0, Math.min(byHeap, Math.floor(freeFlash * FLASH_SHARE)))
}

/** Repetitions of the round-trip measures (their median is printed) and of the transfers (each moves the payload). */
const ROUND_TRIPS = 50
const TRANSFERS = 3

/** One line of the bench: a figure, or why it was not measured. */
interface BenchRow {
  readonly layer: string
  readonly measure: string
  readonly value: number | null
  readonly unit: string
  readonly skipped?: string
}

/**
 * Why a measure could not run on this board: it ran out of memory (or flash). The row then says so
 * instead of a figure; any other failure ends the bench.
 *
 * @example
 * benchSkipReason(new BoardMemoryError({ operation: "write", path: "/b", chunkBytes: 256, reason: "" })) // "the board ran out of memory ..."
 */
export const benchSkipReason = (error: unknown): string | undefined => {
  const e = error as { _tag?: string; exceptionType?: string; message?: string }
  if (e._tag === "BoardMemoryError" || (e._tag === "PythonError" && e.exceptionType === "MemoryError"))
    return "the board ran out of memory (soft-reset it, `belay soft-reset`, for a clean heap)"
  if (e._tag === "NotEnoughSpaceError" || e._tag === "NoSpaceError")
    return "not enough room on the board's filesystem (`belay ls`, `belay rm` to free some)"
  return undefined
}

/** Latency and throughput of every layer on the chosen board, sized to it. */
export const runBench = (json: boolean) =>
  Effect.gen(function* () {
    const device = yield* DeviceCommunication
    const manager = yield* DeviceSessionManager
    const rows: BenchRow[] = []
    /** Measure one row; a board without the memory or flash for it gets a row that says so. */
    const measure = <E, R>(
      layer: string,
      measure: string,
      unit: string,
      value: Effect.Effect<number, E, R>,
    ) =>
      value.pipe(
        Effect.map((v): BenchRow => ({ layer, measure, value: v, unit })),
        Effect.catchIf(
          (error) => benchSkipReason(error) !== undefined,
          (error) =>
            Effect.succeed<BenchRow>({
              layer,
              measure,
              value: null,
              unit,
              skipped: benchSkipReason(error) ?? "",
            }),
        ),
        Effect.map((row) => rows.push(row)),
      )
    yield* device.exec("pass")
    yield* measure(
      "transport",
      "trivial exec round trip (median)",
      "ms",
      timed(ROUND_TRIPS, device.exec("pass")),
    )
    yield* manager.executeInNewSession((session) =>
      Effect.gen(function* () {
        const caps = session.deviceContext.capabilities
        yield* measure(
          "executors",
          "cached task call (median)",
          "ms",
          Effect.andThen(echo.call(session, 1), timed(ROUND_TRIPS, echo.call(session, 7))),
        )
        const fs = boardFileSystem(session)
        const info = yield* fs.info
        const freeFlash = info.diskUsage ? (yield* fs.diskUsage("/")).freeBytes : undefined
        const size = benchPayloadBytes(caps.freeMemory, freeFlash)
        const data = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff)
        const target = info.directories ? "/belay_bench.bin" : "belay_bench.bin"
        const kb = size >= 1024 ? `${Math.round(size / 1024)} KB` : `${size} B`
        yield* measure(
          "filesystem",
          `upload ${kb} (atomic, verified)`,
          "KB/s",
          Effect.map(timed(TRANSFERS, fs.write(target, data)), (ms) => size / 1024 / (ms / 1000)),
        )
        yield* measure(
          "filesystem",
          `download ${kb}`,
          "KB/s",
          Effect.map(timed(TRANSFERS, fs.readBytes(target)), (ms) => size / 1024 / (ms / 1000)),
        )
        if (yield* fs.exists(target)) yield* fs.remove(target)
      }),
    )
    yield* measure(
      "core",
      "session create + end, warm (median)",
      "ms",
      timed(
        ROUND_TRIPS,
        Effect.flatMap(manager.createSession(), (s) => Effect.ignore(s.end)),
      ),
    )
    if (json) return printJson({ link: device.description, rows })
    write(`Benchmarks on ${device.description}\n`)
    for (const r of rows) {
      const figure =
        r.value === null
          ? `skipped: ${r.skipped}`
          : `${r.value.toFixed(r.value < 10 ? 3 : 1).padStart(10)} ${r.unit}`
      write(`${r.layer.padEnd(11)} ${r.measure.padEnd(42)} ${figure}\n`)
    }
  })

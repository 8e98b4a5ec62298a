import { DeviceCommunication } from "@belay/transport"
import { Effect } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  BelayLive,
  latencyHistogram,
  latencyStatistics,
  measureLatency,
  percentile,
  type Samples,
} from "../src/index.js"

// Round-trip statistics as properties over arbitrary samples, against their definitions; and the
// measure on the virtual board and the micro:bit.

/** Round trips as they come: non-negative milliseconds, a few to a few hundred of them. */
const samplesArb = fc
  .array(fc.double({ min: 0, max: 1e4, noNaN: true, noDefaultInfinity: true }), {
    minLength: 1,
    maxLength: 300,
  })
  .map((xs) => xs as unknown as Samples)

const close = (a: number, b: number, scale: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(scale))

describe("latencyStatistics", () => {
  it("known values: Python's statistics module gives the same", () => {
    expect(latencyStatistics([2, 4, 4, 4, 5, 5, 7, 9])).toEqual({
      count: 8,
      min: 2,
      max: 9,
      mean: 5,
      median: 4.5,
      stdDev: Math.sqrt(32 / 7),
      p99: 9,
    })
    expect(latencyStatistics([3])).toEqual({
      count: 1,
      min: 3,
      max: 3,
      mean: 3,
      median: 3,
      stdDev: 0,
      p99: 3,
    })
    expect(latencyStatistics([5, 1, 3]).median).toBe(3)
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1) as unknown as Samples
    expect(latencyStatistics(hundred).p99).toBe(99)
    expect(percentile(hundred, 100)).toBe(100)
    expect(percentile(hundred, 1)).toBe(1)
  })

  it("every figure lies between min and max; count is the number of samples; the order does not matter", () => {
    fc.assert(
      fc.property(samplesArb, (samples) => {
        const s = latencyStatistics(samples)
        expect(s.count).toBe(samples.length)
        expect(s.min).toBe(Math.min(...samples))
        expect(s.max).toBe(Math.max(...samples))
        for (const v of [s.mean, s.median, s.p99]) {
          expect(v).toBeGreaterThanOrEqual(s.min)
          expect(v).toBeLessThanOrEqual(s.max)
        }
        expect(s.stdDev).toBeGreaterThanOrEqual(0)
        const reversed = latencyStatistics([...samples].reverse() as unknown as Samples)
        expect(reversed.median).toBe(s.median)
        expect(reversed.p99).toBe(s.p99)
        expect(close(reversed.mean, s.mean, s.max)).toBe(true)
      }),
    )
  })

  it("the median has half the samples at or below it and half at or above it", () => {
    fc.assert(
      fc.property(samplesArb, (samples) => {
        const { median } = latencyStatistics(samples)
        expect(samples.filter((x) => x <= median).length * 2).toBeGreaterThanOrEqual(samples.length)
        expect(samples.filter((x) => x >= median).length * 2).toBeGreaterThanOrEqual(samples.length)
      }),
    )
  })

  it("p99 is the nearest-rank percentile: a sample, with 99% of them at or below it and fewer strictly below", () => {
    fc.assert(
      fc.property(samplesArb, (samples) => {
        const { p99 } = latencyStatistics(samples)
        const rank = Math.ceil(0.99 * samples.length)
        expect(samples).toContain(p99)
        expect(samples.filter((x) => x <= p99).length).toBeGreaterThanOrEqual(rank)
        expect(samples.filter((x) => x < p99).length).toBeLessThan(rank)
      }),
    )
  })

  it("mean and standard deviation match their definitions; shifting the samples shifts the mean, not the spread", () => {
    fc.assert(
      fc.property(samplesArb, fc.double({ min: -1000, max: 1000, noNaN: true }), (samples, shift) => {
        const s = latencyStatistics(samples)
        const n = samples.length
        const mean = samples.reduce((a, x) => a + x, 0) / n
        expect(Math.abs(s.mean - mean)).toBeLessThanOrEqual(1e-9 * Math.max(1, s.max))
        const variance = n > 1 ? samples.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1) : 0
        expect(Math.abs(s.stdDev - Math.sqrt(variance))).toBeLessThanOrEqual(1e-6 * Math.max(1, s.max))
        const moved = latencyStatistics(samples.map((x) => x + shift) as unknown as Samples)
        expect(Math.abs(moved.mean - (s.mean + shift))).toBeLessThanOrEqual(
          1e-6 * Math.max(1, s.max, Math.abs(shift)),
        )
        expect(Math.abs(moved.stdDev - s.stdDev)).toBeLessThanOrEqual(
          1e-6 * Math.max(1, s.max, Math.abs(shift)),
        )
      }),
    )
  })

  it("equal samples have no spread", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e4, noNaN: true }), fc.integer({ min: 1, max: 50 }), (x, n) => {
        const s = latencyStatistics(Array.from({ length: n }, () => x) as unknown as Samples)
        expect(s).toEqual({ count: n, min: x, max: x, mean: x, median: x, stdDev: 0, p99: x })
      }),
    )
  })
})

describe("latencyHistogram", () => {
  it("tiles min..max with equal bins that count every sample once, in the bin that holds it", () => {
    fc.assert(
      fc.property(
        samplesArb,
        fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
        (samples, bins) => {
          const histogram = latencyHistogram(samples, bins)
          const min = Math.min(...samples)
          const max = Math.max(...samples)
          expect(histogram.reduce((a, b) => a + b.count, 0)).toBe(samples.length)
          expect(histogram[0]?.from).toBe(min)
          expect(histogram.at(-1)?.to).toBe(max)
          if (max > min)
            expect(histogram.length).toBe(bins ?? Math.min(16, Math.ceil(Math.log2(samples.length)) + 1))
          else expect(histogram.length).toBe(1)
          for (let i = 1; i < histogram.length; i++) expect(histogram[i]?.from).toBe(histogram[i - 1]?.to)
          histogram.forEach((bin, i) => {
            const last = i === histogram.length - 1
            const inside = samples.filter((x) => x >= bin.from && (last ? x <= bin.to : x < bin.to)).length
            expect(inside).toBe(bin.count)
          })
        },
      ),
    )
  })

  it("known values", () => {
    expect(latencyHistogram([1, 2, 2, 3], 2)).toEqual([
      { from: 1, to: 2, count: 1 },
      { from: 2, to: 3, count: 3 },
    ])
    expect(latencyHistogram([7, 7, 7])).toEqual([{ from: 7, to: 7, count: 3 }])
  })
})

const measureOn = (device: string, count: number, integrity?: "checked" | "unchecked") =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const measured = yield* measureLatency({ count, ...(integrity !== undefined && { integrity }) })
        const sent = (yield* Effect.flatMap(DeviceCommunication, (d) => d.metrics)).bytesOut
        return { measured, sent }
      }).pipe(Effect.provide(BelayLive({ device }))),
    ),
  )

describe("measureLatency", () => {
  it("times count exchanges of exec('pass') on the virtual board, checked by default or unchecked", async () => {
    const { measured } = await measureOn("virtual", 40)
    expect(measured).toMatchObject({
      exchange: 'exec("pass")',
      integrity: "default",
      link: expect.any(String),
    })
    expect(measured.samples).toHaveLength(40)
    expect(measured.statistics).toEqual(latencyStatistics(measured.samples))
    expect(measured.samples.every((x) => x > 0)).toBe(true)
    const unchecked = await measureOn("virtual", 40, "unchecked")
    expect(unchecked.measured.integrity).toBe("unchecked")
    // The checked exchange carries its checks: more bytes each way than the bare one.
    expect(unchecked.sent).toBeLessThan((await measureOn("virtual", 40, "checked")).sent)
  }, 60_000)

  it("times exchanges on the micro:bit (MicroPython 1.9.2, plain raw REPL)", async () => {
    const { measured } = await measureOn("qemu:microbit", 10, "unchecked")
    expect(measured.samples).toHaveLength(10)
    expect(measured.statistics.count).toBe(10)
    expect(measured.statistics.min).toBeGreaterThan(0)
  }, 120_000)
})

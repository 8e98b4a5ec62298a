import { latencyHistogram, type Samples } from "@belay/extensions"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { bar, histogramLines } from "../src/cli/Latency.js"
import { belayCommand, qemuMicrobitForBlock, stdoutJson } from "./belayProcess.js"

// `belay latency`: the histogram's drawing as properties (80 columns, colour only when asked), and
// the command as a user runs it on the virtual board and on the emulated micro:bit.

const ESC = "\x1b"
/** What a terminal shows of a line: its colour codes take no columns. */
const visible = (line: string) => line.replace(/\x1b\[[0-9;]*m/g, "")

const samplesArb = fc
  .array(fc.double({ min: 0, max: 5000, noNaN: true, noDefaultInfinity: true }), {
    minLength: 1,
    maxLength: 2000,
  })
  .map((xs) => xs as unknown as Samples)

describe("the histogram's drawing", () => {
  it("bars in eighths of a cell", () => {
    expect(bar(0)).toBe("")
    expect(bar(1 / 8)).toBe("▏")
    expect(bar(2.5)).toBe("██▌")
    expect(bar(3)).toBe("███")
  })

  it("fits the width, one line per bin; bars grow with the count; a bin with samples always shows", () => {
    fc.assert(
      fc.property(samplesArb, fc.integer({ min: 30, max: 200 }), (samples, width) => {
        const bins = latencyHistogram(samples)
        const lines = histogramLines(bins, { width, color: false })
        expect(lines).toHaveLength(bins.length)
        const bars = lines.map((line) => /│([█▉▊▋▌▍▎▏]*) /.exec(line)?.[1] ?? "")
        lines.forEach((line, i) => {
          expect([...line].length).toBeLessThanOrEqual(width)
          expect(line).not.toContain(ESC)
          expect(line.endsWith(` ${bins[i]?.count}`)).toBe(true)
          expect(bars[i] === "").toBe(bins[i]?.count === 0)
        })
        const eighths = (b: string) =>
          [...b].reduce((n, c) => n + (c === "█" ? 8 : 8 - "█▉▊▋▌▍▎▏".indexOf(c)), 0)
        for (let i = 0; i < bins.length; i++)
          for (let j = 0; j < bins.length; j++)
            if ((bins[i]?.count ?? 0) > (bins[j]?.count ?? 0))
              expect(eighths(bars[i] ?? "")).toBeGreaterThanOrEqual(eighths(bars[j] ?? ""))
      }),
    )
  })

  it("colour only when asked, and it takes no columns", () => {
    fc.assert(
      fc.property(samplesArb, (samples) => {
        const bins = latencyHistogram(samples)
        const plain = histogramLines(bins, { width: 80, color: false })
        const painted = histogramLines(bins, { width: 80, color: true })
        expect(painted.map(visible)).toEqual(plain)
        expect(painted.some((line) => line.includes(ESC))).toBe(true)
      }),
    )
  })
})

const cli = belayCommand("belay-latency-")

/** The statistics of a --json run, checked against its own samples and histogram. */
const checkJson = (json: Record<string, unknown>, count: number) => {
  const samples = json.samples as Array<number>
  expect(samples).toHaveLength(count)
  expect(json).toMatchObject({ exchange: 'exec("pass")', unit: "ms", count })
  expect(json.min).toBe(Math.min(...samples))
  expect(json.max).toBe(Math.max(...samples))
  for (const key of ["median", "mean", "p99"]) {
    expect(json[key]).toBeGreaterThanOrEqual(json.min as number)
    expect(json[key]).toBeLessThanOrEqual(json.max as number)
  }
  const histogram = json.histogram as Array<{ count: number }>
  expect(histogram.reduce((n, b) => n + b.count, 0)).toBe(count)
}

describe("belay latency", () => {
  it("on the virtual board: the figures, a histogram in 80 columns without colour off a terminal, --json, --unchecked", async () => {
    const text = await cli.run(["latency", "-n", "30", "--device", "virtual"])
    expect(text.stderr).toBe("")
    expect(text.code).toBe(0)
    const lines = text.stdout.trimEnd().split("\n")
    expect(lines[0]).toBe('30 round trips of exec("pass"), checked, on virtual')
    expect(lines[1]).toMatch(
      /^ {2}min \d+\.\d+ ms {3}median \d+\.\d+ ms {3}mean \d+\.\d+ ms {3}max \d+\.\d+ ms$/,
    )
    expect(lines[2]).toMatch(/^ {2}std dev \d+\.\d+ ms {3}p99 \d+\.\d+ ms$/)
    const rows = lines.slice(4)
    expect(rows.length).toBeGreaterThan(0)
    expect(rows.reduce((n, row) => n + Number(/ (\d+)$/.exec(row)?.[1]), 0)).toBe(30)
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(80)
    expect(text.stdout).not.toContain(ESC)

    const json = await cli.run(["latency", "-n", "25", "--json", "--device", "virtual"])
    expect(json.code).toBe(0)
    checkJson(stdoutJson(json), 25)
    expect(stdoutJson(json).integrity).toBe("checked")
    const bare = await cli.run(["latency", "-n", "10", "--json", "--unchecked", "--device", "virtual"])
    expect(stdoutJson(bare).integrity).toBe("unchecked")

    const zero = await cli.run(["latency", "-n", "0", "--device", "virtual"])
    expect(zero.code).toBe(2)
    expect(zero.stderr).toContain("-n takes a whole number of round trips from 1 to 100000")
  })

  describe("on the QEMU micro:bit", () => {
    const qemu = qemuMicrobitForBlock()
    it("times round trips on the real firmware (plain raw REPL)", async () => {
      const json = await cli.run(["latency", "-n", "10", "--json", "--device", `serial:${qemu.ptyPath()}`], {
        timeoutMs: 120_000,
      })
      expect(json.code, json.stderr).toBe(0)
      checkJson(stdoutJson(json), 10)
      const text = await cli.run(
        ["latency", "-n", "5", "--unchecked", "--device", `serial:${qemu.ptyPath()}`],
        {
          timeoutMs: 120_000,
        },
      )
      expect(text.code, text.stderr).toBe(0)
      expect(text.stdout).toContain('5 round trips of exec("pass"), unchecked, on serial:')
    })
  })
})

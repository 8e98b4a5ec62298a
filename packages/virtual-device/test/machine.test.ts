import { mkdtemp, rm } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { parseRawReply, RAW_BANNER, withBoard } from "./helpers.ts"

// The virtual board's `machine` module, spoken to over the raw REPL as a host would.

/** Run code at the raw prompt; its stdout, or the test fails with the board's traceback. */
const run = async (board: Parameters<Parameters<typeof withBoard>[1]>[0], code: string) => {
  const { stdout, traceback } = parseRawReply(await board.rawExec(code))
  expect(traceback).toBe("")
  return stdout
}

describe("machine on the virtual board", () => {
  it(
    "RTC().datetime() follows the host's clock; a set clock keeps its offset across soft and hard resets",
    { timeout: 30_000 },
    () =>
      withBoard({}, async (board) => {
        await board.enterRaw()
        // Unset, the clock is the host's (UTC): the same year as the host's clock.
        const unset = await run(board, "import machine\nprint(machine.RTC().datetime()[0])")
        expect(Number(unset.trim())).toBe(new Date().getUTCFullYear())
        // 2 January 2000 was a Sunday: the board works the weekday out itself (Monday is 0).
        expect(
          await run(
            board,
            "machine.RTC().datetime((2000, 1, 2, 0, 3, 4, 5, 0))\nprint(machine.RTC().datetime()[:6])",
          ),
        ).toBe("(2000, 1, 2, 6, 3, 4)\r\n")
        await Effect.runPromise(board.link.softReset)
        await board.until(RAW_BANNER)
        expect(await run(board, "import machine\nprint(machine.RTC().datetime()[:3])")).toBe(
          "(2000, 1, 2)\r\n",
        )
        await board.send("machine.reset()\x04")
        await board.until(">>> ")
        await board.send("\r\x01")
        await board.until(RAW_BANNER)
        expect(await run(board, "import machine\nprint(machine.RTC().datetime()[:3])")).toBe(
          "(2000, 1, 2)\r\n",
        )
      }),
  )

  it(
    "RTC().datetime(t) as the firmware's: exactly 8 ints, weekday worked out, subseconds in microseconds, bad dates refused",
    { timeout: 30_000 },
    () =>
      withBoard({}, async (board) => {
        await board.enterRaw()
        // 29 February 2024 was a Thursday (3); the weekday given (6) is not used. The read comes
        // within the same code, so the clock moved on by at most the ticks counted around it.
        const set = await run(
          board,
          [
            "import machine, time",
            "r = machine.RTC()",
            "t0 = time.ticks_ms()",
            "r.datetime((2024, 2, 29, 6, 23, 59, 58, 250000))",
            "v = r.datetime()",
            "print(v[:7], (v[6] - 58) * 1000 + v[7] // 1000 - 250, time.ticks_diff(time.ticks_ms(), t0))",
          ].join("\n"),
        )
        const match = /^\(2024, 2, 29, 3, 23, 59, (\d+)\) (-?\d+) (\d+)\r\n$/.exec(set)
        expect(match, set).not.toBeNull()
        const [, , movedMs, elapsedMs] = (match ?? []).map(Number)
        expect(movedMs).toBeGreaterThanOrEqual(0)
        expect(movedMs).toBeLessThanOrEqual((elapsedMs ?? 0) + 1)
        // A list does as well as a tuple.
        expect(await run(board, "r.datetime([2030, 1, 1, 0, 0, 0, 0, 0])\nprint(r.datetime()[:4])")).toBe(
          "(2030, 1, 1, 1)\r\n",
        )
        const refusal = async (tuple: string) =>
          run(board, `try:\n r.datetime(${tuple})\n print('set')\nexcept Exception as e:\n print(repr(e))`)
        expect(await refusal("(2024, 1, 1, 0, 0, 0, 0)")).toBe(
          "ValueError('requested length 8 but object has length 7',)\r\n",
        )
        expect(await refusal("(2024, 1, 1, 0, 0, 0, 0, 0, 0)")).toBe(
          "ValueError('requested length 8 but object has length 9',)\r\n",
        )
        expect(await refusal("(2024, 1, 1, 0, 0, 0.5, 0, 0)")).toBe(
          'TypeError("can\'t convert float to int",)\r\n',
        )
        expect(await refusal("(2024, 1, 1, 0, 0, 0, 0, 1.5)")).toBe(
          'TypeError("can\'t convert float to int",)\r\n',
        )
        for (const bad of [
          "(2024, 13, 1, 0, 0, 0, 0, 0)",
          "(2023, 2, 29, 0, 0, 0, 0, 0)",
          "(2024, 4, 31, 0, 0, 0, 0, 0)",
          "(2024, 1, 1, 0, 24, 0, 0, 0)",
          "(2024, 1, 1, 0, 0, 60, 0, 0)",
          "(2024, 1, 1, 0, 0, 0, 60, 0)",
          "(2024, 1, 1, 0, 0, 0, 0, 1000000)",
          "(2024, 0, 1, 0, 0, 0, 0, 0)",
        ])
          expect(await refusal(bad), bad).toBe("OSError(22,)\r\n")
        // A refused set leaves the clock as it was.
        expect(await run(board, "print(r.datetime()[:3])")).toBe("(2030, 1, 1)\r\n")
        // init() takes the documented form without a weekday.
        expect(await run(board, "r.init((2031, 5, 6, 7, 8, 9))\nprint(r.datetime()[:7])")).toBe(
          "(2031, 5, 6, 1, 7, 8, 9)\r\n",
        )
      }),
  )

  it(
    "reset() is the reset button: output and closed files kept, RAM gone, banner, boot.py and main.py run",
    { timeout: 30_000 },
    () =>
      withBoard({}, async (board) => {
        await board.enterRaw()
        await run(
          board,
          "open('boot.py', 'w').write('print(\"boot ran\")\\n')\nopen('main.py', 'w').write('print(\"main ran\")\\n')",
        )
        await board.send(
          "kept = 1\nopen('late.txt', 'w').write('written')\nprint('before')\nimport machine\nmachine.reset()\nprint('after')\x04",
        )
        const reply = await board.until(">>> ")
        expect(reply).toMatch(
          /^OKbefore\r\nboot ran\r\nmain ran\r\nMicroPython v1\.27\.0[^\r]*\r\nType "help\(\)"/,
        )
        expect(reply).not.toContain("after")
        await board.send("\r\x01")
        await board.until(RAW_BANNER)
        expect(await run(board, "print('kept' in globals(), open('late.txt').read())")).toBe(
          "False written\r\n",
        )
        const stats = await Effect.runPromise(board.link.stats)
        expect(stats.hardResets).toBe(1)
      }),
  )

  it("soft_reset() soft-resets the board, in the REPL it was in", { timeout: 30_000 }, () =>
    withBoard({}, async (board) => {
      await board.enterRaw()
      await board.send("gone = 1\nimport machine\nmachine.soft_reset()\x04")
      // As SystemExit in the raw REPL does on a board: both EOF markers, then the soft reboot.
      expect(await board.until(RAW_BANNER)).toBe(`OK\x04\x04MPY: soft reboot\r\n${RAW_BANNER}`)
      expect(await run(board, "print('gone' in globals())")).toBe("False\r\n")
    }),
  )

  it("unique_id() is the same for the same flash folder, and differs for another; freq() answers", {
    timeout: 30_000,
  }, async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), "vboard-machine-"))
    try {
      const idOf = async (flashDir: string) => {
        let id = ""
        await withBoard({ flashDir }, async (board) => {
          await board.enterRaw()
          id = await run(board, "import machine\nprint(machine.unique_id().hex(), machine.freq() > 0)")
        })
        return id
      }
      const first = await idOf(path.join(home, "a"))
      expect(first).toMatch(/^[0-9a-f]{16} True\r\n$/)
      expect(await idOf(path.join(home, "a"))).toBe(first)
      expect(await idOf(path.join(home, "b"))).not.toBe(first)
    } finally {
      await rm(home, { recursive: true, force: true })
    }
  })
})

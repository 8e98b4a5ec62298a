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

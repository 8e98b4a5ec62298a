import { makeDeviceCommunication } from "@belay/transport"
import { makeFaultInjector } from "@belay/transport/testing"
import { Deferred, Effect, Exit, Fiber, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"
import { RAW_BANNER, withBoard } from "./helpers.ts"

// `VirtualBoardLink.softReset`: the reset a fault campaign aims at a running exchange, as
// `machine.soft_reset()` in running code or Ctrl-D at the prompt would do.

describe("softReset on the virtual board", () => {
  it(
    "stops running code, forgets RAM, keeps the flash, and the board answers again",
    { timeout: 30_000 },
    () =>
      Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const link = yield* openVirtualBoard()
            const comm = yield* makeDeviceCommunication(link, {
              replyTimeoutMs: 5000,
              integrity: "unchecked",
            })
            yield* comm.exec("open('keep.txt', 'w').write('kept')\nmarker = 1")
            const started = yield* Deferred.make<void>()
            const running = yield* Stream.runForEach(
              comm.execStream("import time\nprint('started')\nwhile True:\n    time.sleep(0.01)"),
              () => Deferred.succeed(started, undefined),
            ).pipe(Effect.flip, Effect.forkChild)
            yield* Deferred.await(started)
            yield* link.softReset
            const stopped = yield* Fiber.join(running)
            const markerKept = yield* comm.exec("print('marker' in globals())")
            const file = yield* comm.exec("print(open('keep.txt').read())")
            return {
              stopped,
              markerKept,
              file,
              files: yield* link.files,
              stats: yield* link.stats,
              generation: yield* comm.generation,
            }
          }),
        ),
      ).then((result) => {
        expect(result.stopped._tag).toBe("BoardResetError")
        expect(result.markerKept).toBe("False\r\n")
        expect(result.file).toBe("kept\r\n")
        expect(Buffer.from(result.files.get("/keep.txt")!).toString()).toBe("kept")
        expect(result.stats.softResets).toBe(1)
        expect(result.stats.hardResets).toBe(0)
        expect(result.generation).toBe(1)
      }),
  )

  it(
    "comes back in the REPL the board was in: raw stays raw, friendly stays friendly",
    { timeout: 30_000 },
    () =>
      withBoard({}, async (board) => {
        await board.enterRaw()
        await board.rawExec("open('boot.py', 'w').write('print(\"boot ran\")\\n')\nremembered = 1")
        await Effect.runPromise(board.link.softReset)
        expect(await board.until(RAW_BANNER)).toBe(`MPY: soft reboot\r\nboot ran\r\n${RAW_BANNER}`)
        expect(await board.rawExec("print('remembered' in globals())")).toBe("OKFalse\r\n\x04\x04>")
        await board.send("\r\x02")
        await board.until(">>> ")
        await Effect.runPromise(board.link.softReset)
        const reply = await board.until(">>> ")
        expect(reply.startsWith("MPY: soft reboot\r\nboot ran\r\nMicroPython v1.27.0")).toBe(true)
      }),
  )

  it(
    "a fault injector aims soft resets at running code; the board answers once it stops",
    { timeout: 60_000 },
    () =>
      Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const board = yield* openVirtualBoard()
            const injector = yield* makeFaultInjector(board, {
              seed: 1,
              resets: { rate: 1, phases: ["running"], kinds: ["soft"], perform: () => board.softReset },
            })
            const comm = yield* makeDeviceCommunication(yield* injector.connect, {
              replyTimeoutMs: 3000,
              integrity: "unchecked",
            })
            const outcomes: string[] = []
            for (let i = 0; i < 5; i++) {
              const exit = yield* Effect.exit(comm.exec("import time\ntime.sleep(0.2)\nprint('done')"))
              outcomes.push(Exit.isSuccess(exit) ? exit.value : String(exit.cause.reasons.map((r) => r._tag)))
              if (Exit.isFailure(exit)) yield* Effect.ignore(comm.interrupt)
            }
            yield* injector.setEnabled(false)
            const after = yield* comm.exec("print('back')")
            return { outcomes, after, counts: yield* injector.counts, stats: yield* board.stats }
          }),
        ),
      ).then((result) => {
        expect(result.after).toBe("back\r\n")
        expect(result.counts.byKind["reset-soft"]).toBe(5)
        expect(result.stats.softResets).toBe(5)
        // The reset lands while the code sleeps: it never prints "done".
        expect(result.outcomes.filter((o) => o.includes("done"))).toEqual([])
      }),
  )
})

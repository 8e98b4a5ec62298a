import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { executorContext, py, Task, ThreadTask } from "../src/index.js"
import { type OpenBoard, openWith } from "./boards.js"

// The thread runtime on real MicroPython. The WebAssembly build has no _thread, so a stand-in
// that runs the function at once, in the caller's thread, is installed before the capability
// probe (which then reports threads). It exercises everything Belay sends for threads: the
// runtime, the start, the status and stop exchanges, exception capture with its traceback.

const STAND_IN = py`
  import sys
  class _belay_test_thread:
      @staticmethod
      def start_new_thread(f, a):
          f(*a)
  sys.modules['_thread'] = _belay_test_thread
`

const finishing = ThreadTask.make({
  name: "finishing",
  source: py`
    finishing_seen = []
    def finishing(stopping, label):
        finishing_seen.append([label, stopping()])
  `,
  args: [Schema.String],
})
const failing = ThreadTask.make({
  name: "failing",
  source: py`
    def failing(stopping):
        raise ValueError('sensor gone')
  `,
})
const seen = Task.make({ name: "finishing_read", source: "def finishing_read():\n    return finishing_seen" })

describe("board threads on the virtual board (with a synchronous _thread stand-in)", () => {
  let board: OpenBoard
  beforeAll(async () => {
    board = await openWith(
      Effect.gen(function* () {
        const device = yield* makeDeviceCommunication(yield* openVirtualBoard())
        yield* device.exec(STAND_IN.text)
        return { device }
      }),
    )
  }, 60_000)
  afterAll(() => board?.close(), 60_000)

  it("starts a thread with its arguments and the stop check, and sees it finish", async () => {
    const result = await board.run(
      board.manager.executeInNewSession((session) =>
        Effect.gen(function* () {
          const thread = yield* finishing.start(session, "a'b")
          const status = yield* thread.status
          yield* thread.join({ timeout: "5 seconds" })
          return {
            status,
            seen: yield* seen.call(session),
            threads: executorContext(session).activeThreads(),
          }
        }),
      ),
    )
    expect(result.status._tag).toBe("Finished")
    expect(result.seen).toEqual([["a'b", false]])
    expect(result.threads).toEqual([])
  }, 60_000)

  it("reports the thread's exception, with its traceback, when the session ends", async () => {
    const error = await board.run(
      Effect.gen(function* () {
        const session = yield* board.manager.createSession()
        yield* failing.start(session)
        return yield* Effect.flip(session.end)
      }),
    )
    const cause = error.failures[0]?.error as {
      _tag: string
      exceptionType: string
      pythonMessage: string
      traceback: string
    }
    expect(cause._tag).toBe("ThreadFailedError")
    expect(cause.exceptionType).toBe("ValueError")
    expect(cause.pythonMessage).toBe("sensor gone")
    expect(cause.traceback).toContain("failing")
  }, 60_000)

  it("join reports the exception", async () => {
    const error = await board.run(
      board.manager.executeInNewSession((session) =>
        Effect.flatMap(failing.start(session), (thread) =>
          Effect.flip(thread.join({ timeout: "5 seconds" })),
        ),
      ),
    )
    expect(error._tag).toBe("ThreadFailedError")
  }, 60_000)
})

import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { makeDeviceSessionManager } from "../src/index.js"

// The WebAssembly port has no `machine.Timer`; this board-side timer keeps the same contract:
// `init` puts it in the board's list of running timers, `deinit` takes it out.
const TIMER_MODULE = `
class Timer:
    running = []
    def __init__(self, period):
        self.period = period
        Timer.running.append(self)
    def deinit(self):
        if self in Timer.running:
            Timer.running.remove(self)
`

const onVirtualBoard = <A, E>(
  body: (manager: Effect.Success<ReturnType<typeof makeDeviceSessionManager>>) => Effect.Effect<A, E>,
) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const link = yield* openVirtualBoard()
        const device = yield* makeDeviceCommunication(link)
        yield* device.exec(TIMER_MODULE)
        const manager = yield* makeDeviceSessionManager(device)
        return yield* body(manager)
      }),
    ),
  )

describe("sessions on the virtual board", () => {
  it("a session that starts a board timer and then fails leaves no timer running (checked on the board)", async () => {
    const result = await onVirtualBoard((manager) =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(
          manager.executeInSession((session) =>
            Effect.gen(function* () {
              yield* session.acquire(
                session.device.exec("t = Timer(100)"),
                () => session.device.exec("t.deinit()"),
                { resourceType: "DeviceTimer", estimatedCost: 50 },
              )
              const during = yield* session.device.eval("len(Timer.running)")
              return yield* Effect.fail({ during })
            }),
          ),
        )
        const after = yield* manager.device.eval("len(Timer.running)")
        return { exit, after, stats: yield* manager.sessionStats }
      }),
    )
    expect(Exit.isFailure(result.exit)).toBe(true)
    if (Exit.isFailure(result.exit)) expect(JSON.stringify(result.exit.cause)).toContain('"during":"1"')
    expect(result.after).toBe("0")
    expect(result.stats.activeSessionCount).toBe(0)
  })

  it("detects the virtual board's capabilities in one exchange", async () => {
    const caps = await onVirtualBoard((manager) =>
      Effect.map(manager.createSession(), (s) => s.deviceContext.capabilities),
    )
    expect(caps.platform).toBe("webassembly")
    expect(caps.version).toBe("1.27.0")
    expect(caps.rawPaste).toBe(true)
    expect(caps.hashAlgorithms).toContain("sha256")
    expect(caps.binascii).toBe(true)
    expect(caps.statvfs).toBe(true)
    expect(caps.osFunctions).toEqual(expect.arrayContaining(["rename", "mkdir", "stat"]))
  })

  it("a soft reset of the board ends the session's lost-on-reset resources", async () => {
    const result = await onVirtualBoard((manager) =>
      Effect.gen(function* () {
        const session = yield* manager.createSession()
        yield* session.resources.track("Timer", session.device.exec("t.deinit()"), { lostOnReset: true })
        yield* manager.device.softReset
        yield* Effect.sleep("1 millis").pipe(
          Effect.repeat({ until: () => session.boardResets > 0 }),
          Effect.timeout("5 seconds"),
        )
        return session.resources.getResourceStats()
      }),
    )
    expect(result.totalResources).toBe(0)
  })
})

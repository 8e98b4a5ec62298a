import { makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { startQemuMicrobit } from "@belay/virtual-device"
import { Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { makeDeviceSessionManager } from "../src/index.js"

// Sessions against real MicroPython 1.9.2 firmware on the emulated micro:bit. Never skipped.

const onMicrobit = <A, E>(
  body: (manager: Effect.Success<ReturnType<typeof makeDeviceSessionManager>>) => Effect.Effect<A, E>,
) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const qemu = yield* startQemuMicrobit()
        const link = yield* openSerialLink({ path: qemu.ptyPath })
        const comm = yield* makeDeviceCommunication(link)
        const manager = yield* makeDeviceSessionManager(comm)
        return yield* body(manager)
      }),
    ),
  )

describe("sessions on the QEMU micro:bit", () => {
  it("detects the small board's capabilities in one exchange", async () => {
    const result = await onMicrobit((manager) =>
      Effect.gen(function* () {
        const session = yield* manager.createSession()
        const metrics = yield* session.device.metrics
        return { caps: session.deviceContext.capabilities, exchanges: metrics.exchanges }
      }),
    )
    expect(result.exchanges).toBe(1)
    expect(result.caps.platform).toBe("microbit")
    expect(result.caps.version).toBe("1.9.2")
    expect(result.caps.rawPaste).toBe(false)
    expect(result.caps.threads).toBe(false)
    expect(result.caps.hashAlgorithms).toEqual([])
    expect(result.caps.binascii).toBe(false)
    expect(result.caps.json).toBe(false)
    expect(result.caps.statvfs).toBe(false)
    expect(result.caps.osFunctions).toEqual(expect.arrayContaining(["listdir", "remove", "size"]))
    expect(result.caps.osFunctions).not.toContain("rename")
    expect(result.caps.freeMemory).toBeGreaterThan(1000)
    expect(result.caps.machine).toContain("micro:bit")
  }, 60_000)

  it("runs a failed operation's board-side cleanup on the board", async () => {
    const result = await onMicrobit((manager) =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(
          manager.executeInSession((session) =>
            Effect.gen(function* () {
              yield* session.acquire(
                session.device.exec("import microbit\nmicrobit.display.show('B')\nheld = 1"),
                () => session.device.exec("microbit.display.clear()\nheld = 0"),
                { resourceType: "Display" },
              )
              return yield* session.device.exec("raise ValueError('operation failed')")
            }),
          ),
        )
        const held = yield* manager.device.eval("held")
        return { exit, held }
      }),
    )
    expect(Exit.isFailure(result.exit)).toBe(true)
    expect(result.held).toBe("0")
  }, 60_000)
})

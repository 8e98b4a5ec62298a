import { type DeviceSessionManagerShape, makeDeviceSessionManager } from "@belay/core"
import { type DeviceCommunicationShape, makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { startQemuMicrobit } from "@belay/virtual-device"
import { Effect, Exit, Scope } from "effect"

/** A board opened for a whole test file, closed in `afterAll`. */
export interface OpenBoard {
  readonly device: DeviceCommunicationShape
  readonly manager: DeviceSessionManagerShape
  /** Run an effect against the board (its own scope). */
  readonly run: <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Promise<A>
  readonly close: () => Promise<void>
  /** Extra facts tests may need (the QEMU pty path). */
  readonly ptyPath?: string
}

export const openWith = async (
  open: Effect.Effect<{ device: DeviceCommunicationShape; ptyPath?: string }, unknown, Scope.Scope>,
): Promise<OpenBoard> => {
  const scope = Effect.runSync(Scope.make())
  const opened = await Effect.runPromise(
    Scope.provide(
      Effect.gen(function* () {
        const { device, ptyPath } = yield* open
        const manager = yield* makeDeviceSessionManager(device)
        return { device, manager, ptyPath }
      }),
      scope,
    ),
  )
  return {
    device: opened.device,
    manager: opened.manager,
    ...(opened.ptyPath === undefined ? {} : { ptyPath: opened.ptyPath }),
    run: (effect) => Effect.runPromise(Effect.scoped(effect)),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void)),
  }
}

/**
 * Plain-raw pacing the emulated micro:bit takes without dropping bytes: its UART ring buffer
 * overflows on 256-byte bursts (measured here: 24 of 30 1.3 KB programs arrived damaged with the
 * transport's default 256 bytes / 10 ms; none of 60 with 32 bytes / 3 ms).
 */
export const qemuPacing = { plainRawChunkSize: 32, plainRawChunkDelayMs: 3 }

/** The QEMU micro:bit (MicroPython 1.9.2), over its serial pseudo-terminal. */
export const openQemuBoard = (): Promise<OpenBoard> =>
  openWith(
    Effect.gen(function* () {
      const qemu = yield* startQemuMicrobit()
      const link = yield* openSerialLink({ path: qemu.ptyPath })
      const device = yield* makeDeviceCommunication(link, qemuPacing)
      return { device, ptyPath: qemu.ptyPath }
    }),
  )

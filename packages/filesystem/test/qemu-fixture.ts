import { makeDeviceSessionManager } from "@belay/core"
import { type DeviceCommunicationShape, makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { startQemuMicrobit } from "@belay/virtual-device"
import { Effect, Schedule } from "effect"

/**
 * An emulated micro:bit (MicroPython 1.9.2), its connection (the transport's default pacing of
 * plain raw writes) and a session manager. The emulated UART drops bytes when the host machine is
 * busy, as a real small board does when input comes too fast: this package detects damaged code
 * and sends it again; core asks its capability probe again (four times in all), and the session
 * is tried again here when even that was not enough.
 */
export const qemuBoard = (wrap: (device: DeviceCommunicationShape) => DeviceCommunicationShape = (d) => d) =>
  Effect.gen(function* () {
    const qemu = yield* startQemuMicrobit()
    const link = yield* openSerialLink({ path: qemu.ptyPath })
    const raw = yield* makeDeviceCommunication(link)
    const device = wrap(raw)
    const manager = yield* makeDeviceSessionManager(device)
    const session = manager
      .createSession()
      .pipe(Effect.retry({ times: 3, schedule: Schedule.spaced("50 millis") }))
    return { qemu, raw, device, manager, session }
  })

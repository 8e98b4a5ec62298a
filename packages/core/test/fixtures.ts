import { makeDeviceCommunication, type RawReplOptions } from "@belay/transport"
import { type FakeBoardOptions, type FakeRun, makeFakeBoard } from "@belay/transport/testing"
import { Effect, type Scope } from "effect"
import { frameProbeAnswer } from "../src/DeviceCapabilities.js"
import { makeDeviceSessionManager } from "../src/index.js"
import type { SessionManagementOptions } from "../src/SessionManagementOptions.js"

export const PROBE_ANSWER = frameProbeAnswer(
  "{'impl': 'micropython', 'ver': '1.27.0', 'plat': 'fake', 'mach': 'fake board with test CPU', " +
    "'mods': ['_thread', 'binascii', 'machine'], 'hash': ['sha256'], 'os': ['listdir', 'stat', 'rename'], " +
    "'uid': 'e66038b713', 'free': 123456}",
)

export const fastProtocol: RawReplOptions = {
  replyTimeoutMs: 800,
  enterRawTimeoutMs: 1500,
  interruptTimeoutMs: 1000,
  drainQuietMs: 2,
  plainRawChunkDelayMs: 0,
  // A scripted board runs no Python: plain exec goes to it as it is.
  integrity: "unchecked",
}

/** A fake board that answers the capability probe and hands other code to `run`. */
export const boardWithManager = (
  run: (code: string) => FakeRun = () => ({}),
  managerOptions: Partial<SessionManagementOptions> = {},
  boardOptions: FakeBoardOptions = {},
) =>
  Effect.gen(function* () {
    const board = yield* makeFakeBoard({
      ...boardOptions,
      run: (code) => (code.includes("_belay_probe") ? { stdout: PROBE_ANSWER } : run(code)),
    })
    const device = yield* makeDeviceCommunication(board.link, fastProtocol)
    const manager = yield* makeDeviceSessionManager(device, managerOptions)
    const userPrograms = () => board.programs.filter((p) => !p.includes("_belay_probe"))
    return { board, device, manager, userPrograms }
  })

export const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect))

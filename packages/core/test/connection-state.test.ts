import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { cachedCapabilities, forgetCapabilities, makeDeviceSessionManager, rawDevice } from "../src/index.js"
import { boardWithManager, run } from "./fixtures.js"

describe("state of the board connection", () => {
  it("a wrapper spreading the device is a board of its own for sessions, and shares what is known of the connection", async () => {
    const result = await run(
      Effect.gen(function* () {
        const { device, manager } = yield* boardWithManager()
        const wrapped: typeof device = { ...device, exec: (code, options) => device.exec(code, options) }
        const other = yield* makeDeviceSessionManager(wrapped)
        const session = yield* manager.createSession()
        const wrappedSession = yield* other.createSession()
        const known = cachedCapabilities(wrapped) !== undefined
        forgetCapabilities(session.device)
        return {
          rawOfView: rawDevice(session.device) === device,
          rawOfWrappedView: rawDevice(wrappedSession.device) === wrapped,
          distinctViews: session.device !== wrappedSession.device,
          known,
          forgotten: cachedCapabilities(device) === undefined,
        }
      }),
    )
    expect(result).toEqual({
      rawOfView: true,
      rawOfWrappedView: true,
      distinctViews: true,
      known: true,
      forgotten: true,
    })
  })
})

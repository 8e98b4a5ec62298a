import { DeviceCommunication } from "@belay/transport"
import { Effect } from "effect"
import { expect, it } from "vitest"
import { BelayLive, readBoardClock, syncTime } from "../src/index.js"

// The micro:bit's MicroPython 1.9.2 has a machine module without RTC: reading or setting its
// clock, and syncing it on connect, are refused with the typed capability error, and the board
// answers normally afterwards (nothing was left half done).

it("the micro:bit has no machine.RTC: read, sync and sync-on-connect are refused, the board still answers", async () => {
  const outcome = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const read = yield* Effect.flip(readBoardClock())
        const sync = yield* Effect.flip(syncTime({ zone: "utc" }))
        const answer = yield* Effect.flatMap(DeviceCommunication, (d) => d.eval("1 + 1"))
        const globals = yield* Effect.flatMap(DeviceCommunication, (d) => d.eval("'_bc' in globals()"))
        return { read, sync, answer, globals }
      }).pipe(Effect.provide(BelayLive({ device: "qemu:microbit" }))),
    ),
  )
  expect(outcome.read).toMatchObject({
    _tag: "CapabilityMissingError",
    operation: "reading the board's clock",
  })
  expect(outcome.sync.message).toBe(
    "setting the board's clock needs machine.RTC with datetime(), which this board does not have",
  )
  expect(outcome.answer).toBe("2")
  expect(outcome.globals).toBe("False")
  const onConnect = await Effect.runPromise(
    Effect.flip(
      Effect.scoped(
        Effect.asVoid(DeviceCommunication).pipe(
          Effect.provide(BelayLive({ device: "qemu:microbit", syncClock: "local" })),
        ),
      ),
    ),
  )
  expect(onConnect).toMatchObject({ _tag: "CapabilityMissingError", missing: "machine.RTC with datetime()" })
}, 120_000)

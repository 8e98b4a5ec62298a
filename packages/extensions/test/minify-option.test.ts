/**
 * Whether Python travels minified: on by default, off with `minify: false` (from code, and
 * through `connect`) or `BELAY_MINIFY=0`; the option given in code wins over the environment.
 */
import { MinifyPython } from "@belay/transport"
import { ConfigProvider, Effect } from "effect"
import { describe, expect, it } from "vitest"
import { BelayLive, type BelayOptions, connect } from "../src/index.js"

/** What the code run with the stack sees of the setting. */
const seen = (options: Partial<BelayOptions>, env: Record<string, string> = {}) =>
  Effect.runPromise(
    MinifyPython.use(Effect.succeed).pipe(
      Effect.provide(BelayLive({ device: "virtual", ...options })),
      Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env })),
    ),
  )

describe("the minify option", () => {
  it("is on by default, off from code or BELAY_MINIFY, and code wins over the environment", async () => {
    expect(await seen({})).toBe(true)
    expect(await seen({ minify: false })).toBe(false)
    expect(await seen({}, { BELAY_MINIFY: "0" })).toBe(false)
    expect(await seen({}, { BELAY_MINIFY: "false" })).toBe(false)
    expect(await seen({}, { BELAY_MINIFY: "1" })).toBe(true)
    expect(await seen({ minify: true }, { BELAY_MINIFY: "0" })).toBe(true)
  }, 60_000)

  it("reaches what runs through connect()", async () => {
    await using off = await connect({ device: "virtual", minify: false })
    expect(await off.run(MinifyPython.use(Effect.succeed))).toBe(false)
    await using on = await connect("virtual")
    expect(await on.run(MinifyPython.use(Effect.succeed))).toBe(true)
  }, 60_000)
})

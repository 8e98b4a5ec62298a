import { ConfigProvider, Duration, Effect } from "effect"
import { describe, expect, it } from "vitest"
import { ByteSizeConfig, DurationConfig, parseByteSize, parseDurationMillis } from "../src/ConfigUnits.js"

describe("durations and sizes in configuration", () => {
  it("reads units, and a bare number as milliseconds or bytes", () => {
    expect(parseDurationMillis("3s")).toBe(3000)
    expect(parseDurationMillis("3000ms")).toBe(3000)
    expect(parseDurationMillis("3000")).toBe(3000)
    expect(parseDurationMillis("1.5 minutes")).toBe(90_000)
    expect(parseDurationMillis("30 seconds")).toBe(30_000)
    expect(parseDurationMillis("3 parsecs")).toBeUndefined()
    expect(parseDurationMillis("-1s")).toBeUndefined()
    expect(parseByteSize("4096")).toBe(4096)
    expect(parseByteSize("64KB")).toBe(65_536)
    expect(parseByteSize("16 MiB")).toBe(16 * 1024 * 1024)
    expect(parseByteSize("1.5")).toBeUndefined()
    expect(parseByteSize("lots")).toBeUndefined()
  })

  it("a bad value fails with what was expected, naming the variable", async () => {
    const read = <A>(config: Effect.Effect<A, unknown>, env: Record<string, string>) =>
      Effect.runPromiseExit(
        config.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))),
      )
    const good = await read(DurationConfig("T"), { T: "2s" })
    expect(good._tag === "Success" && Duration.toMillis(good.value)).toBe(2000)
    const bad = await read(ByteSizeConfig("S"), { S: "big" })
    expect(bad._tag).toBe("Failure")
    expect(String(bad._tag === "Failure" && bad.cause)).toContain(
      "S must be a size such as 4096, 64KB or 16MB",
    )
  })
})

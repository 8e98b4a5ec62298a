import { ConfigProvider, Duration, Effect } from "effect"
import { describe, expect, it } from "vitest"
import { defaultSessionManagementOptions, loadSessionManagementOptions } from "../src/index.js"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord(env))

describe("SessionManagementOptions from Config", () => {
  it("has the documented defaults", async () => {
    const options = await Effect.runPromise(loadSessionManagementOptions().pipe(withEnv({})))
    expect(options).toEqual(defaultSessionManagementOptions)
    expect(Duration.toMinutes(options.defaultSessionTimeout)).toBe(30)
    expect(options.maxConcurrentSessions).toBe(10)
    expect(options.enableSessionMetrics).toBe(true)
    expect(options.enableResourceTracking).toBe(true)
    expect(Duration.toSeconds(options.resourceCleanupTimeout)).toBe(30)
  })

  it("reads environment variables, and code overrides them", async () => {
    const options = await Effect.runPromise(
      loadSessionManagementOptions({ enableSessionMetrics: false }).pipe(
        withEnv({
          BELAY_SESSION_TIMEOUT: "5 minutes",
          BELAY_MAX_SESSIONS: "3",
          BELAY_SESSION_LIMIT: "wait",
          BELAY_SESSION_METRICS: "true",
          BELAY_CLEANUP_TIMEOUT: "2 seconds",
        }),
      ),
    )
    expect(Duration.toMinutes(options.defaultSessionTimeout)).toBe(5)
    expect(options.maxConcurrentSessions).toBe(3)
    expect(options.onSessionLimit).toBe("wait")
    expect(options.enableSessionMetrics).toBe(false)
    expect(Duration.toSeconds(options.resourceCleanupTimeout)).toBe(2)
  })

  it("rejects a malformed value with a typed config error", async () => {
    const error = await Effect.runPromise(
      Effect.flip(loadSessionManagementOptions().pipe(withEnv({ BELAY_MAX_SESSIONS: "many" }))),
    )
    expect(String(error)).toMatch(/BELAY_MAX_SESSIONS/)
  })
})

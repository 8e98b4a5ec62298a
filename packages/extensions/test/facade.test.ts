import { spawnSync } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import path from "node:path"
import { DeviceSessionManager } from "@belay/core"
import { DeviceCommunication, makeDeviceCommunication } from "@belay/transport"
import { makeFakeBoard } from "@belay/transport/testing"
import { ConfigProvider, Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { BelayError, BelayLive, checkHealth, connect } from "../src/index.js"

describe("BelayLive: the whole stack as one layer", () => {
  it("builds link, protocol and sessions from a connection string", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const manager = yield* DeviceSessionManager
        return yield* manager.executeInSession((s) =>
          Effect.map(s.device.eval("sum(range(10))"), (v) => ({
            v,
            platform: s.deviceContext.capabilities.platform,
          })),
        )
      }).pipe(Effect.provide(BelayLive({ device: "virtual" }))),
    )
    expect(result).toEqual({ v: "45", platform: "webassembly" })
  })

  it("takes the device and session options from Config (BELAY_DEVICE, BELAY_MAX_SESSIONS)", async () => {
    const env = ConfigProvider.fromEnvRecord({
      BELAY_DEVICE: "virtual?rawPaste=false",
      BELAY_MAX_SESSIONS: "1",
    })
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const manager = yield* DeviceSessionManager
        const device = yield* DeviceCommunication
        yield* manager.createSession()
        const limited = yield* Effect.flip(manager.createSession())
        const metrics = yield* device.metrics
        return {
          limited: limited._tag,
          // The board refuses raw-paste (the connection string's option): its exchanges went plain raw.
          rawPasteExchanges: metrics.rawPasteExchanges,
          plainRaw: metrics.plainRawExchanges > 0,
          max: manager.options.maxConcurrentSessions,
        }
      }).pipe(Effect.provide(BelayLive()), Effect.provide(Layer.succeed(ConfigProvider.ConfigProvider, env))),
    )
    expect(result).toEqual({ limited: "SessionLimitError", rawPasteExchanges: 0, plainRaw: true, max: 1 })
  })

  it("a bad connection string fails the layer with a typed error", async () => {
    const error = await Effect.runPromise(
      Effect.flip(Effect.provide(Effect.asVoid(DeviceSessionManager), BelayLive({ device: "tcp://board" }))),
    )
    expect(error._tag).toBe("ConnectionStringError")
  })
})

describe("health check", () => {
  it("reports latency and free memory of a board that answers", async () => {
    const report = await Effect.runPromise(
      checkHealth().pipe(Effect.provide(BelayLive({ device: "virtual" }))),
    )
    expect(report.ok).toBe(true)
    expect(report.freeMemory).toBeGreaterThan(0)
    expect(report.latencyMs).toBeGreaterThan(0)
  })

  it("reports a board that does not answer within the bound, without failing", async () => {
    const report = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const board = yield* makeFakeBoard({ run: () => ({ hang: true, ignoreInterrupt: true }) })
          const comm = yield* makeDeviceCommunication(board.link, { interruptTimeoutMs: 200 })
          return yield* checkHealth({ timeout: "100 millis" }).pipe(
            Effect.provideService(DeviceCommunication, comm),
          )
        }),
      ),
    )
    expect(report.ok).toBe(false)
    expect(report.error).toMatch(/did not return|did not answer/)
  })
})

describe("the Promise facade", () => {
  it("runs code, sessions with cleanup, and disposes with await using", async () => {
    let leftover: string
    {
      await using belay = await connect("virtual")
      expect(await belay.exec("print('hi')")).toBe("hi\n")
      expect(await belay.eval("[1, 'two']")).toBe("[1, 'two']")
      const inside = await belay.session(async (s) => {
        await s.acquire("held = [1, 2, 3]", "del held", "Held")
        expect(s.resources().totalResources).toBe(1)
        return s.eval("len(held)")
      })
      expect(inside).toBe("3")
      leftover = await belay.eval("'held' in globals()")
      expect((await belay.stats()).activeSessionCount).toBe(0)
      expect((await belay.capabilities()).platform).toBe("webassembly")
    }
    expect(leftover).toBe("False")
  })

  it("turns typed failures into BelayError with the tag, and cleans up a session whose body threw", async () => {
    const belay = await connect({ device: "virtual" })
    try {
      const error = await belay.exec("raise ValueError('nope')").catch((e: unknown) => e)
      expect(error).toBeInstanceOf(BelayError)
      expect(error).toBeInstanceOf(Error)
      expect((error as BelayError).tag).toBe("PythonError")
      expect((error as BelayError).message).toContain("ValueError")
      const thrown = await belay
        .session(async (s) => {
          await s.acquire("temp = 1", "del temp")
          throw new Error("body failed")
        })
        .catch((e: unknown) => e)
      expect(String(thrown)).toContain("body failed")
      expect(await belay.eval("'temp' in globals()")).toBe("False")
    } finally {
      await belay.close()
      await belay.close()
    }
    await expect(belay.exec("1")).rejects.toMatchObject({ tag: "BelayClosed" })
  })

  it("refuses a connection that cannot open, as a BelayError", async () => {
    await expect(connect("serial:/dev/does-not-exist")).rejects.toMatchObject({ tag: "LinkOpenError" })
  })
})

describe("the Promise facade: tasks and files", () => {
  it("calls typed tasks and moves files", async () => {
    const { Task, py } = await import("@belay/executors")
    const { Schema } = await import("effect")
    await using belay = await connect("virtual")
    const add = belay.task(
      Task.make({
        name: "add",
        source: py`
          def add(a, b):
              return a + b
        `,
        args: [Schema.Number, Schema.Number],
        result: Schema.Number,
      }),
    )
    expect(await add(1, 2)).toBe(3)
    expect(await add(40, 2)).toBe(42)
    await belay.fs.write("/hello.txt", "hi there")
    expect(await belay.fs.readText("/hello.txt")).toBe("hi there")
    expect((await belay.fs.list("/")).map((e) => e.path)).toContain("/hello.txt")
    await belay.fs.remove("/hello.txt")
    expect(await belay.fs.exists("/hello.txt")).toBe(false)
    const missing = await belay.fs.readText("/nope.txt").catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(BelayError)
  })
})

describe("the Promise facade is quiet", () => {
  // A fresh process, as an application meets the library: what reaches its console.
  const run = async (env: NodeJS.ProcessEnv) => {
    const dir = await mkdtemp(path.join(import.meta.dirname, ".quiet-"))
    const script = path.join(dir, "app.mjs")
    await writeFile(
      script,
      `import { connect } from "@belay/extensions"
const belay = await connect("virtual")
await belay.session((s) => s.exec("x = 1"))
await belay.close()
`,
    )
    try {
      return spawnSync(process.execPath, [script], { encoding: "utf8", env })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }

  it("logs nothing by default, and what BELAY_LOG_LEVEL asks for", async () => {
    const { BELAY_LOG_LEVEL: _, ...env } = process.env
    expect(await run(env)).toMatchObject({ status: 0, stdout: "", stderr: "" })
    const info = await run({ ...env, BELAY_LOG_LEVEL: "Info" })
    expect(info.status).toBe(0)
    expect(`${info.stdout}${info.stderr}`).toContain("Session created")
  })
})

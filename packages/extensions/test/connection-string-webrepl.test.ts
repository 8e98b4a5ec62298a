import { Redacted, Result } from "effect"
import { describe, expect, it } from "vitest"
import { parseConnectionString } from "../src/ConnectionString.js"

describe("ws:// and wss:// connection strings", () => {
  it("name a board's WebREPL, on the firmware's port unless given", () => {
    expect(Result.getOrThrow(parseConnectionString("ws://192.168.4.1"))).toEqual({
      _tag: "WebRepl",
      url: "ws://192.168.4.1:8266/",
      password: undefined,
    })
    expect(Result.getOrThrow(parseConnectionString("wss://proxy.example:9443/board"))).toMatchObject({
      _tag: "WebRepl",
      url: "wss://proxy.example:9443/board",
    })
  })

  it("take ?password= as a redacted value, kept out of the URL", () => {
    const connection = Result.getOrThrow(parseConnectionString("ws://board.local:8266/?password=hunter2"))
    expect(connection._tag === "WebRepl" && connection.url).toBe("ws://board.local:8266/")
    const password = connection._tag === "WebRepl" ? connection.password : undefined
    expect(password !== undefined && Redacted.value(password)).toBe("hunter2")
    expect(String(password)).not.toContain("hunter2")
    expect(JSON.stringify(connection)).not.toContain("hunter2")
  })

  it("refuse other options without showing a password given with them", () => {
    const result = parseConnectionString("ws://board.local/?password=hunter2&baud=115200")
    expect(Result.isFailure(result)).toBe(true)
    const error = Result.isFailure(result) ? result.failure : undefined
    expect(error?.message).toMatch(/unknown option "baud"/)
    expect(error?.message).not.toContain("hunter2")
    expect(error?.input).not.toContain("hunter2")
  })

  it("refuse a URL with no host", () => {
    expect(Result.isFailure(parseConnectionString("ws://"))).toBe(true)
  })
})

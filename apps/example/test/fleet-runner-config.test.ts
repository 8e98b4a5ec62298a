/** A fleet runner's config file: read and checked, and merged with the runner's flags. */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { UsageError } from "../src/cli/Failure.js"
import { readRunnerConfig, runnerBoards } from "../src/cli/FleetRunnerConfig.js"

const dir = mkdtempSync(path.join(tmpdir(), "belay-runner-config-"))
let n = 0
const file = (text: string) => {
  const at = path.join(dir, `config-${n++}.json`)
  writeFileSync(at, text)
  return at
}
const refusal = (text: string) => {
  try {
    readRunnerConfig(file(text))
  } catch (error) {
    return error as Error & { _tag: string }
  }
  throw new Error(`expected ${text} to be refused`)
}

describe("a fleet runner's config file", () => {
  it("reads every setting, each optional", () => {
    const config = readRunnerConfig(
      file(
        JSON.stringify({
          name: "shelf1",
          host: "10.0.0.11",
          port: 34500,
          databaseUrl: "postgres://belay:pw@db:5432/belay",
          boards: { pico: "id:E66038B713849D31", sim: "virtual" },
        }),
      ),
    )
    expect(config).toEqual({
      name: "shelf1",
      host: "10.0.0.11",
      port: 34500,
      databaseUrl: "postgres://belay:pw@db:5432/belay",
      boards: { pico: "id:E66038B713849D31", sim: "virtual" },
    })
    expect(readRunnerConfig(file("{}"))).toEqual({
      name: undefined,
      host: undefined,
      port: undefined,
      databaseUrl: undefined,
      boards: {},
    })
  })

  it("refuses, saying why, what it cannot use", () => {
    expect(refusal('{"board": {"b0": "a0"}}').message).toContain('a key "board" that it does not know')
    expect(refusal('{"port": 70000}').message).toContain('"port" that is not a whole number from 1 to 65535')
    expect(refusal('{"port": "34431"}').message).toContain('"port"')
    expect(refusal('{"name": ""}').message).toContain('"name" that is not a non-empty string')
    expect(refusal('{"boards": ["a0"]}').message).toContain('"boards" that are not an object')
    expect(refusal('{"boards": {"b0": 3}}').message).toContain('board "b0" whose connection')
    expect(refusal("[1]").message).toContain("is not a JSON object")
    expect(refusal("{ name: shelf1 }").message).toContain("is not JSON")
    // A usage error (exit 2), tagged as the config file's.
    for (const error of [refusal("[1]"), refusal('{"port": 0}')]) {
      expect(error).toBeInstanceOf(UsageError)
      expect(error._tag).toBe("ConfigFileError")
    }
    expect(() => readRunnerConfig(path.join(dir, "missing.json"))).toThrow(
      /cannot read the runner's config file/,
    )
  })

  it("serves the file's boards, then the flags', a flag's board replacing the file's of that name", () => {
    expect(
      runnerBoards({ pico: "a0", sim: "virtual" }, [
        ["sim", "virtual?name=s"],
        ["esp", "u0"],
      ]),
    ).toEqual([
      { name: "pico", connection: "a0" },
      { name: "sim", connection: "virtual?name=s" },
      { name: "esp", connection: "u0" },
    ])
    expect(runnerBoards({}, [])).toEqual([])
  })
})

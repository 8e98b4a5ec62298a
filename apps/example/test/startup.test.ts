import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import path from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Console from "effect/Console"
import * as Command from "effect/cli/Command"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { type FastCommand, recognize } from "../src/cli/FastPath.js"
import { makeCli, renderOutput } from "../src/main.js"

// The start-up shortcuts give what the full argument parser gives: the fast path's reading of a
// command line, and the stored help and version text.

const bin = path.resolve(import.meta.dirname, "../bin/belay.cjs")
/** What the bundle's build stored (the build runs before the tests). */
const stored = () =>
  JSON.parse(readFileSync(path.resolve(import.meta.dirname, "../dist/bundle/output.json"), "utf8")) as {
    plain: Record<string, string>
  }

/** What the full parser hands `exec`/`eval` for `argv`, or undefined when it runs neither. */
const parsed = async (argv: ReadonlyArray<string>) => {
  let seen: { command: string; device: string; operand: string } | undefined
  const cli = makeCli({
    exec: (device, operand) => Effect.sync(() => (seen = { command: "exec", device, operand })),
    eval: (device, operand) => Effect.sync(() => (seen = { command: "eval", device, operand })),
  })
  await Effect.runPromiseExit(
    Command.runWith(cli, { version: "test" })(argv).pipe(
      Effect.provide(NodeServices.layer),
      Effect.provideService(Console.Console, { ...globalThis.console, log: () => {}, error: () => {} }),
    ),
  )
  return seen
}

const asParsed = (fast: FastCommand) => ({
  command: fast.command,
  // Not given: empty, which the command resolves (BELAY_DEVICE, the config file, auto) when it connects.
  device: fast.device ?? "",
  operand: fast.operand,
})

describe("the fast path reads a command line as the full parser does", () => {
  const recognized: Array<Array<string>> = [
    ["exec", "pass"],
    ["exec", "print(1)", "--device", "serial:/dev/ttyACM0"],
    ["exec", "print(1)", "-d", "virtual"],
    ["--device", "exec:micropython", "exec", "x = 1"],
    ["eval", "1 + 1", "--device=virtual"],
    ["eval", "[1, 2]", "--json"],
    ["exec", "print(2)", "--unchecked"],
    ["exec", "--json", "print(3)"],
    ["exec", "for i in range(3): print(i)", "--device", "virtual", "--json", "--unchecked"],
  ]
  for (const argv of recognized) {
    it(`recognizes ${JSON.stringify(argv)}`, async () => {
      const fast = recognize(argv)
      expect(fast).toBeDefined()
      expect(asParsed(fast as FastCommand)).toEqual(await parsed(argv))
    })
  }

  const left: Array<Array<string>> = [
    [],
    ["exec"],
    ["exec", "--help"],
    ["exec", "-h"],
    ["exec", "a", "b"],
    ["exec", "-1"],
    ["exec", "print(1)", "--json", "true"],
    ["exec", "print(1)", "--no-json"],
    ["exec", "print(1)", "--log-level", "debug"],
    ["exec", "print(1)", "--device", "list"],
    ["exec", "print(1)", "-d"],
    ["exec", "print(1)", "--", "x"],
    ["run", "main.py"],
    ["fs", "ls"],
    ["--version"],
  ]
  for (const argv of left) {
    it(`leaves ${JSON.stringify(argv)} to the full parser`, () => {
      expect(recognize(argv)).toBeUndefined()
    })
  }
})

describe("stored output", () => {
  const run = (args: ReadonlyArray<string>) =>
    spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "" } })

  it("--version prints the package's version, as the parser would", async () => {
    const { version } = (await import("../package.json", { with: { type: "json" } })).default
    const result = run(["--version"])
    expect(result.status).toBe(0)
    expect(result.stdout).toBe(`belay v${version}\n`)
    expect(result.stdout).toBe(await renderOutput(["--version"], false))
    expect(stored().plain["--version"]).toBe(result.stdout)
  })

  for (const args of [[], ["--help"], ["exec", "--help"], ["fs", "-h"], ["fs", "put", "--help"]]) {
    it(`belay ${args.join(" ")} prints the parser's help`, async () => {
      const result = run(args)
      expect(result.status).toBe(0)
      const command = args.filter((a) => !a.startsWith("-"))
      expect(result.stdout).toBe(await renderOutput([...command, "--help"], false))
      expect(result.stdout).toContain("USAGE")
      expect(stored().plain[command.join(" ")]).toBe(result.stdout)
    })
  }
})

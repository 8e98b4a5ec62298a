/**
 * The `belay` command's entry point, kept small: `--version` and help print text stored when the
 * bundle was built; `exec` and `eval` in their plain forms run without the argument parser; every
 * other command line goes to the full parser. Nothing else is imported until it is needed.
 */
import { readFileSync } from "node:fs"
import * as nodeModule from "node:module"
import { recognize } from "./cli/FastPath.js"

// Node 22.1 and later keep the compiled bundle on disk between runs (a no-op where absent).
;(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.()

/** What `renderOutput` printed at build time, by command line, with and without colors. */
interface StoredOutput {
  readonly plain: Readonly<Record<string, string>>
  readonly colors: Readonly<Record<string, string>>
}

/** The file the bundle's build writes next to this module. */
const STORED_OUTPUT = new URL("./output.json", import.meta.url)

/** The key of a command line whose output is stored: `--version`, or a command path asking for help. */
const storedKey = (args: ReadonlyArray<string>): string | undefined => {
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-v")) return "--version"
  if (args.length === 0) return ""
  const last = args[args.length - 1]
  const path = args.slice(0, -1)
  if ((last === "--help" || last === "-h") && path.every((a) => !a.startsWith("-"))) return path.join(" ")
  return undefined
}

const storedOutput = (args: ReadonlyArray<string>): string | undefined => {
  const key = storedKey(args)
  if (key === undefined) return undefined
  try {
    const stored = JSON.parse(readFileSync(STORED_OUTPUT, "utf8")) as StoredOutput
    // As the parser decides: colors on a terminal, unless NO_COLOR is set.
    const table = process.stdout.isTTY === true && !process.env.NO_COLOR ? stored.colors : stored.plain
    return Object.hasOwn(table, key) ? table[key] : undefined
  } catch {
    // Not built with the bundle (running from source): the parser prints it.
    return undefined
  }
}

const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const stored = storedOutput(args)
  if (stored !== undefined) {
    process.stdout.write(stored)
    return 0
  }
  const command = recognize(args)
  if (command !== undefined) {
    const { runFast } = await import("./cli/Fast.js")
    return runFast(command)
  }
  const { main } = await import("./main.js")
  return main(args)
}

process.exitCode = await run(process.argv.slice(2))

/**
 * The bundle's entry (bin/belay.cjs imports it for every command line whose output was not
 * stored at build time): `exec` and `eval` in their plain forms run without the argument parser;
 * every other command line goes to the full parser. Nothing else is imported until it is needed.
 */
import { recognize } from "./cli/FastPath.js"

const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const command = recognize(args)
  if (command !== undefined) {
    const { runFast } = await import("./cli/Fast.js")
    return runFast(command)
  }
  const { main } = await import("./main.js")
  return main(args)
}

process.exitCode = await run(process.argv.slice(2))

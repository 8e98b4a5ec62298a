/**
 * The bundle's entry (bin/belay.cjs loads it for every command line whose output was not stored
 * at build time, and calls {@link run}): `exec` and `eval` in their plain forms run without the
 * argument parser; every other command line goes to the full parser. Nothing else is evaluated
 * until it is needed (the bundle initializes a dynamically imported module when it is imported).
 */
import { opensInProcessVirtualBoard } from "./cli/DeviceArgument.js"
import { recognize } from "./cli/FastPath.js"

/**
 * Run one `belay` command line (without node and the script); resolves with its exit code.
 *
 * @example
 * process.exitCode = await run(["exec", "print(1)"])
 */
export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  // The in-process virtual board's interpreter (`virtual?keep=false`) takes longer to start (a
  // thread, then MicroPython) than the rest of the command takes to load: started first, the two
  // overlap. The kept virtual board (the default) runs in a process of its own.
  if (opensInProcessVirtualBoard(args, process.env))
    (await import("@belay/virtual-device/warm-up")).warmUpVirtualBoard()
  // `exec` and `eval` in their plain forms (only they load the fast path's module).
  if (recognize(args) !== undefined) {
    const { fastCommandOf, runFast } = await import("./cli/Fast.js")
    const command = fastCommandOf(args)
    if (command !== undefined) return runFast(command)
  }
  const { main } = await import("./main.js")
  return main(args)
}

/**
 * What the parser prints for `args` (help or the version): the build stores it for bin/belay.cjs.
 *
 * @example
 * await renderOutput(["--version"], false) // "0.1.0\n"
 */
export const renderOutput = async (args: ReadonlyArray<string>, colors: boolean): Promise<string> => {
  const main = await import("./main.js")
  return main.renderOutput(args, colors)
}

/**
 * The entry of `belay-cli-exec.cjs`: the fast path of `exec` and `eval` alone, so that those
 * commands load a script without the argument parser and the other commands. `bin/belay.cjs`
 * runs the full script (`bin.ts`) when this one answers that the command line is not its own.
 */
import { opensInProcessVirtualBoard } from "./cli/DeviceArgument.js"
import { recognize } from "./cli/FastPath.js"

/**
 * Run `args` (without node and the script) when the fast path takes them (`exec` and `eval` in
 * their plain forms, on one board); else undefined, having done nothing.
 *
 * @example
 * const code = await run(["exec", "print(1)"]) // undefined for ["ls"]
 */
export const run = async (args: ReadonlyArray<string>): Promise<number | undefined> => {
  if (recognize(args) === undefined) return undefined
  const { fastCommandOf, runFast } = await import("./cli/Fast.js")
  const command = fastCommandOf(args)
  if (command === undefined) return undefined
  // The in-process virtual board's interpreter (`virtual?keep=false`) takes longer to start (a
  // thread, then MicroPython) than the rest of the command takes to load: started first, the two
  // overlap. The kept virtual board (the default) runs in a process of its own.
  if (opensInProcessVirtualBoard(args, process.env))
    (await import("@belay/virtual-device/warm-up")).warmUpVirtualBoard()
  return runFast(command)
}

import type * as Effect from "effect/Effect"
import { evalExpression, execCode } from "./Exec.js"
import { type FastCommand, recognize } from "./FastPath.js"
import { chooseBoards, readCliConfig, UNSET_DEVICE } from "./Flags.js"
import { runToExitCode } from "./Run.js"

/**
 * `args` as a command line the fast path runs: `exec` or `eval` in their plain forms (see
 * `recognize`), on one board; undefined for any other, which the full command runs (a device that
 * names several boards runs on each of them there).
 *
 * @example
 * const command = fastCommandOf(["exec", "pass"])
 * process.exitCode = command === undefined ? await main(args) : await runFast(command)
 */
export const fastCommandOf = (args: ReadonlyArray<string>): FastCommand | undefined => {
  const command = recognize(args)
  return command === undefined || namesSeveral(command.device ?? UNSET_DEVICE) ? undefined : command
}

/**
 * Run a command line the fast path takes (see {@link fastCommandOf}), as the full parser would
 * have run it.
 *
 * @example
 * process.exitCode = await runFast({ command: "exec", operand: "pass", device: undefined, json: false, unchecked: false })
 */
export const runFast = (command: FastCommand): Promise<number> => {
  const device = command.device ?? UNSET_DEVICE
  // Read by the board's options (`BELAY_INTEGRITY`) when the command connects.
  if (command.unchecked) process.env.BELAY_INTEGRITY = "unchecked"
  const work: Effect.Effect<void, unknown> =
    command.command === "exec"
      ? execCode(device, command.operand)
      : evalExpression(device, command.operand, command.json)
  return runToExitCode(work, undefined, { json: command.json })
}

/** Whether the device flag (or, unset, what is configured) names several boards. */
const namesSeveral = (flag: string): boolean => {
  try {
    return chooseBoards(flag, readCliConfig()) !== undefined
  } catch {
    // A config file that cannot be read: the command reports it, as it always did.
    return false
  }
}

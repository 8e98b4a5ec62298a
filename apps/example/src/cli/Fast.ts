import type * as Effect from "effect/Effect"
import { evalExpression, execCode } from "./Exec.js"
import type { FastCommand } from "./FastPath.js"
import { chooseBoards, readCliConfig, UNSET_DEVICE } from "./Flags.js"
import { runToExitCode } from "./Run.js"

/**
 * Run a command line recognized (`recognize` in FastPath.ts) by the fast path, as the full parser would have run it.
 *
 * @example
 * process.exitCode = await runFast({ command: "exec", operand: "pass", device: undefined, json: false, unchecked: false }, ["exec", "pass"])
 */
export const runFast = async (command: FastCommand, args: ReadonlyArray<string>): Promise<number> => {
  const device = command.device ?? UNSET_DEVICE
  // Several boards (`--device a0,a1`, or a configured list): the full command's run on each.
  if (namesSeveral(device)) return (await import("../main.js")).main(args)
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

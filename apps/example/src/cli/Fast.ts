import type * as Effect from "effect/Effect"
import { evalExpression, execCode } from "./Exec.js"
import type { FastCommand } from "./FastPath.js"
import { UNSET_DEVICE } from "./Flags.js"
import { runToExitCode } from "./Run.js"

/**
 * Run a command line recognized (`recognize` in FastPath.ts) by the fast path, as the full parser would have run it.
 *
 * @example
 * process.exitCode = await runFast({ command: "exec", operand: "pass", device: undefined, json: false, unchecked: false })
 */
export const runFast = (command: FastCommand): Promise<number> => {
  // Read by the board's options (`BELAY_INTEGRITY`) when the command connects.
  if (command.unchecked) process.env.BELAY_INTEGRITY = "unchecked"
  const device = command.device ?? UNSET_DEVICE
  const work: Effect.Effect<void, unknown> =
    command.command === "exec"
      ? execCode(device, command.operand)
      : evalExpression(device, command.operand, command.json)
  return runToExitCode(work, undefined, { json: command.json })
}

/**
 * The argument forms of the commands people run most (`exec CODE`, `eval EXPRESSION`), recognized
 * without the full argument parser, so those commands start without loading it (it and the
 * platform services it needs cost more start-up time than the whole exchange with a board).
 * Deliberately narrow: anything beyond the plain forms (another flag, `--flag=value` other than
 * `--device=`, a negation, a boolean literal after a boolean flag, `--`, an operand starting with `-`, `--device
 * list`) is left to the full parser, which then gives the same result or its own error.
 */
import { fleetBoardOf } from "./FleetDevice.js"

/** A recognized `exec` or `eval` command line. */
export interface FastCommand {
  readonly command: "exec" | "eval"
  /** The code or expression. */
  readonly operand: string
  /** `--device`, when given. */
  readonly device: string | undefined
  readonly json: boolean
  readonly unchecked: boolean
}

const COMMANDS = new Set(["exec", "eval"])

/** The words the full parser takes as a boolean flag's value (`--json yes`). */
const BOOLEAN_LITERALS = new Set(["true", "yes", "on", "1", "y", "false", "no", "off", "0", "n"])

/**
 * `argv` (without node and the script) as a {@link FastCommand}, or undefined when the full parser
 * must read it.
 *
 * @example
 * recognize(["exec", "print(1)", "-d", "virtual"]) // { command: "exec", operand: "print(1)", device: "virtual", json: false, unchecked: false }
 * recognize(["exec", "--help"]) // undefined
 */
export const recognize = (argv: ReadonlyArray<string>): FastCommand | undefined => {
  let command: "exec" | "eval" | undefined
  let operand: string | undefined
  let device: string | undefined
  let json = false
  let unchecked = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const next = argv[i + 1]
    if (arg === "--device" || arg === "-d") {
      if (device !== undefined || next === undefined || next.startsWith("-")) return undefined
      device = next
      i++
    } else if (arg.startsWith("--device=")) {
      if (device !== undefined) return undefined
      device = arg.slice("--device=".length)
    } else if (arg === "--json" || arg === "--unchecked") {
      // The full parser reads a boolean literal after a boolean flag as its value.
      if (next !== undefined && BOOLEAN_LITERALS.has(next)) return undefined
      if (arg === "--json") json = true
      else unchecked = true
    } else if (arg.startsWith("-")) {
      return undefined
    } else if (command === undefined) {
      if (!COMMANDS.has(arg)) return undefined
      command = arg as "exec" | "eval"
    } else if (operand === undefined) {
      operand = arg
    } else {
      return undefined
    }
  }
  if (command === undefined || operand === undefined || device === "list" || device === "") return undefined
  // A fleet board (named here, in BELAY_DEVICE or the config file) goes through the full parser,
  // whose exec and eval know the fleet.
  if (fleetBoardOf(device ?? "") !== undefined) return undefined
  return { command, operand, device, json, unchecked }
}

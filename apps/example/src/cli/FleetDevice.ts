/**
 * Whether a command's device is a fleet board (`fleet:<runner>/<board>`), as `--device`,
 * `BELAY_DEVICE` or the config file name it. Small on purpose: the fast path and the file
 * commands ask it before loading anything of the fleet.
 */
import { commandWords } from "./DeviceArgument.js"
import { chooseDevice, readCliConfig, UNSET_DEVICE } from "./Flags.js"

/**
 * Whether `device` names a board of the fleet (`fleet:<runner>/<board>`), its link lent or not.
 *
 * @example
 * isFleetDevice("fleet:shelf1/b0") // true
 */
export const isFleetDevice = (device: string): boolean => device.startsWith("fleet:")

/** `link=lent` in a fleet device's query. */
const LENT = /\?(?:[^#]*&)?link=lent(?:&|$)/

/**
 * Whether `device` is a fleet board whose link is lent to the whole command
 * (`fleet:<id>?link=lent`): every command then runs over that one connection, as on a board of
 * this computer, rather than as calls through the board's runner.
 *
 * @example
 * isLentFleetDevice("fleet:shelf1/b0?link=lent") // true
 * isLentFleetDevice("fleet:shelf1/b0") // false
 */
export const isLentFleetDevice = (device: string): boolean => isFleetDevice(device) && LENT.test(device)

/**
 * The fleet device with its link lent to the whole command.
 *
 * @example
 * lentFleetDevice("fleet:shelf1/b0") // "fleet:shelf1/b0?link=lent"
 */
export const lentFleetDevice = (device: string): string =>
  isLentFleetDevice(device) ? device : `${device}${device.includes("?") ? "&" : "?"}link=lent`

/**
 * The fleet board a command's device names, as `--device`, `BELAY_DEVICE` or the config file (an
 * alias included) give it, lent or not; undefined when it is not a fleet board (or the config is
 * unreadable: the board's own path reports that).
 *
 * @example
 * fleetBoardOf("") // "fleet:shelf1/b0" when BELAY_DEVICE=fleet:shelf1/b0
 */
export const fleetBoardOf = (device: string): string | undefined => {
  if (isFleetDevice(device)) return device
  if (device !== UNSET_DEVICE && !/^[A-Za-z0-9_-]+$/.test(device)) return undefined
  try {
    const chosen = chooseDevice(device, readCliConfig()).device
    return isFleetDevice(chosen) ? chosen : undefined
  } catch {
    return undefined
  }
}

/**
 * The fleet board a command's device names when the command goes through the fleet's calls (its
 * link not lent): undefined for any other device, and for `fleet:<id>?link=lent`.
 *
 * @example
 * fleetDeviceOf("fleet:shelf1/b0") // "fleet:shelf1/b0"
 * fleetDeviceOf("fleet:shelf1/b0?link=lent") // undefined: the command runs over the lent link
 */
export const fleetDeviceOf = (device: string): string | undefined => {
  const fleet = fleetBoardOf(device)
  return fleet === undefined || isLentFleetDevice(fleet) ? undefined : fleet
}

/**
 * The commands that go through the fleet's calls on a fleet board (`fs`'s subcommands by their
 * own names); every other one borrows the board's link for the command.
 */
const THROUGH_FLEET_CALLS = new Set([
  ...["exec", "eval", "run", "info", "soft-reset", "rtc", "latency", "sleep"],
  ...["ls", "cat", "cp", "rm", "mkdir", "rmdir", "touch", "tree", "df", "sha256sum", "edit"],
  ...["put", "get", "sync", "clean"],
  // Commands that never open the device.
  ...["ports", "qemu", "virtual", "fleet"],
])

/**
 * Whether a command line needs a fleet board's link lent to it, rather than the fleet's calls
 * (a REPL, a mount, a hard reset, an install, `run --no-follow`...): then a chain with it runs
 * every command over the lent link.
 *
 * @example
 * needsLentLink(["mount", "src"]) // true
 * needsLentLink(["exec", "print(1)"]) // false
 */
export const needsLentLink = (line: ReadonlyArray<string>): boolean => {
  const { name } = commandWords(line)
  if (name === undefined) return false
  if (name === "run" && line.includes("--no-follow")) return true
  if (name === "latency" && line.includes("--unchecked")) return true
  return !THROUGH_FLEET_CALLS.has(name)
}

/**
 * Whether a command's device is a fleet board (`fleet:<runner>/<board>`), as `--device`,
 * `BELAY_DEVICE` or the config file name it. Small on purpose: the fast path and the file
 * commands ask it before loading anything of the fleet.
 */
import { UsageError } from "./Failure.js"
import { chooseDevice, readCliConfig, UNSET_DEVICE } from "./Flags.js"

/**
 * Whether `device` names a board of the fleet (`fleet:<runner>/<board>`).
 *
 * @example
 * isFleetDevice("fleet:shelf1/b0") // true
 */
export const isFleetDevice = (device: string): boolean => device.startsWith("fleet:")

/**
 * The fleet board a command's device names, as `--device`, `BELAY_DEVICE` or the config file (an
 * alias included) give it; undefined when it is not a fleet board (or the config is unreadable:
 * the board's own path reports that).
 *
 * @example
 * fleetDeviceOf("") // "fleet:shelf1/b0" when BELAY_DEVICE=fleet:shelf1/b0
 */
export const fleetDeviceOf = (device: string): string | undefined => {
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
 * What a command that does not go through the fleet says when it is given a fleet board.
 *
 * @example
 * notThroughTheFleet("fleet:shelf1/b0").message
 * // "fleet:shelf1/b0 is a fleet board, and this command does not go through the fleet yet"
 */
export const notThroughTheFleet = (device: string): UsageError =>
  new UsageError(
    `${device} is a fleet board, and this command does not go through the fleet yet`,
    "exec, eval, run, info, soft-reset, rtc, latency and the file commands ls, cat, cp, rm and fs do; for this one, reserve the board (belay fleet reserve) and run belay on its runner's host",
  )

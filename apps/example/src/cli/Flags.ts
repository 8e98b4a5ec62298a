/**
 * The device when `--device` is not given: `BELAY_DEVICE`, else the virtual board.
 *
 * @example
 * defaultDevice() // "virtual"
 */
export const defaultDevice = (): string => process.env.BELAY_DEVICE || "virtual"

/**
 * What the board script (`bin/virtual-board.mjs`, the kept board's process) and the code that
 * starts it agree on, in a module of its own so that a starter loads nothing of the board.
 */

/** The line the script prints on stderr once the board is up. */
export const READY_LINE = "belay-virtual-board ready"

/** Environment variable with the board options as JSON (used by `openVirtualBoardPty`). */
export const OPTIONS_ENV = "BELAY_VBOARD_OPTIONS"

/**
 * `@belay/virtual-device`: MicroPython boards for tests and demos, with no hardware: the virtual
 * board (MicroPython's WebAssembly build behind firmware that speaks the serial protocol) and an
 * emulated BBC micro:bit under QEMU.
 *
 * @since 0.1.0
 */

// The emulated micro:bit kept running between processes (the CLI's qemu:microbit).
export {
  type KeptQemuMicrobit,
  type KeptQemuMicrobitOptions,
  type KeptQemuMicrobitStatus,
  keptQemuMicrobits,
  stopKeptQemuMicrobits,
  useKeptQemuMicrobit,
} from "./keptQemu.js"
// The virtual board kept running between processes (the CLI's virtual), served on a local TCP port.
export {
  type KeptVirtualBoard,
  type KeptVirtualBoardOptions,
  type KeptVirtualBoardSettings,
  type KeptVirtualBoardStatus,
  keptVirtualBoards,
  stopKeptVirtualBoards,
  useKeptVirtualBoard,
  VirtualBoardStartError,
  VirtualBoardStateError,
} from "./keptVirtual.js"
// The virtual board in this process, as a byte link.
export { openVirtualBoard, UsbDriveError, type VirtualBoardLink } from "./openVirtualBoard.js"
export type { VirtualBoardOptions } from "./options.js"
export type { VirtualBoardAssets } from "./platform/types.js"
// The virtual board on a pseudo-terminal, for code that opens serial ports.
export { type OpenVirtualBoardPtyOptions, openVirtualBoardPty, virtualBoardScript } from "./pty.js"
// The emulated micro:bit.
export {
  defaultMicrobitFirmwarePath,
  isQemuMicrobitAvailable,
  type QemuMicrobit,
  type QemuMicrobitOptions,
  QemuStartError,
  startQemuMicrobit,
} from "./qemu.js"
export { keptQemuStateDir, QemuStateError } from "./runtimeFolder.js"
// The board itself, for embedding it behind another kind of link.
export { VirtualBoard, type VirtualBoardCallbacks, type VirtualBoardStats } from "./VirtualBoard.js"
export { warmUpVirtualBoard } from "./warmUp.js"

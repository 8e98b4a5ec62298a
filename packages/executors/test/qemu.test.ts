import { describeBoard } from "./boardSuite.js"
import { openQemuBoard } from "./boards.js"

// Real MicroPython 1.9.2 firmware on the emulated micro:bit (9 KB heap, single-precision
// floats, no _thread). Never skipped: CI installs QEMU.
describeBoard("the QEMU micro:bit", openQemuBoard, {
  floats: "single",
  threads: false,
  propertyRuns: 60,
  maxLength: 6,
  resetBetweenTests: true,
})

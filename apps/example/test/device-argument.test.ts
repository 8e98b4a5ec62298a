import { describe, expect, it } from "vitest"
import { lastDeviceArgument, opensVirtualBoard } from "../src/cli/DeviceArgument.js"

describe("the device a command line names, before anything loads", () => {
  it("is the last --device, -d or --device= given, anywhere in a chain", () => {
    expect(lastDeviceArgument(["exec", "x=1", "-d", "a0", "+", "eval", "x"])).toBe("a0")
    expect(lastDeviceArgument(["ls", "--device=virtual", "--device", "u0"])).toBe("u0")
    expect(lastDeviceArgument(["ls", "--device"])).toBeUndefined()
    expect(lastDeviceArgument(["ls"])).toBeUndefined()
  })

  it("opens the virtual board: a virtual device given or set, or the demo with none; never ports, qemu or help", () => {
    expect(opensVirtualBoard(["exec", "pass", "--device", "virtual"], {})).toBe(true)
    expect(opensVirtualBoard(["ls", "-d", "virtual?flash=/tmp/f"], {})).toBe(true)
    expect(opensVirtualBoard(["ls"], { BELAY_DEVICE: "virtual" })).toBe(true)
    expect(opensVirtualBoard(["ls", "-d", "a0"], { BELAY_DEVICE: "virtual" })).toBe(false)
    expect(opensVirtualBoard(["demo"], {})).toBe(true)
    expect(opensVirtualBoard(["demo", "--device", "serial:/dev/ttyACM0"], {})).toBe(false)
    expect(opensVirtualBoard(["ports"], { BELAY_DEVICE: "virtual" })).toBe(false)
    expect(opensVirtualBoard(["qemu", "stop"], { BELAY_DEVICE: "virtual" })).toBe(false)
    expect(opensVirtualBoard(["exec", "--help"], { BELAY_DEVICE: "virtual" })).toBe(false)
    expect(opensVirtualBoard(["exec", "pass"], { BELAY_DEVICE: "" })).toBe(false)
    expect(opensVirtualBoard([], { BELAY_DEVICE: "virtual" })).toBe(false)
  })
})

import { describe, expect, it } from "vitest"
import { lastDeviceArgument, opensInProcessVirtualBoard } from "../src/cli/DeviceArgument.js"

describe("the device a command line names, before anything loads", () => {
  it("is the last --device, -d or --device= given, anywhere in a chain", () => {
    expect(lastDeviceArgument(["exec", "x=1", "-d", "a0", "+", "eval", "x"])).toBe("a0")
    expect(lastDeviceArgument(["ls", "--device=virtual", "--device", "u0"])).toBe("u0")
    expect(lastDeviceArgument(["ls", "--device"])).toBeUndefined()
    expect(lastDeviceArgument(["ls"])).toBeUndefined()
  })

  it("opens the virtual board in this process only with keep=false; never for ports, qemu, virtual or help", () => {
    expect(opensInProcessVirtualBoard(["exec", "pass", "--device", "virtual?keep=false"], {})).toBe(true)
    expect(opensInProcessVirtualBoard(["ls", "-d", "virtual?dir=/tmp/f&keep=0"], {})).toBe(true)
    expect(opensInProcessVirtualBoard(["ls"], { BELAY_DEVICE: "virtual?keep=no" })).toBe(true)
    // The kept board (the CLI's default) runs in a process of its own.
    expect(opensInProcessVirtualBoard(["exec", "pass", "--device", "virtual"], {})).toBe(false)
    expect(opensInProcessVirtualBoard(["ls", "-d", "virtual?keep=true"], {})).toBe(false)
    expect(opensInProcessVirtualBoard(["ls", "-d", "virtual?keeper=false"], {})).toBe(false)
    expect(opensInProcessVirtualBoard(["demo"], {})).toBe(false)
    expect(opensInProcessVirtualBoard(["ls", "-d", "a0"], { BELAY_DEVICE: "virtual?keep=false" })).toBe(false)
    expect(opensInProcessVirtualBoard(["demo", "--device", "serial:/dev/ttyACM0"], {})).toBe(false)
    expect(opensInProcessVirtualBoard(["ports"], { BELAY_DEVICE: "virtual?keep=false" })).toBe(false)
    expect(opensInProcessVirtualBoard(["qemu", "stop"], { BELAY_DEVICE: "virtual?keep=false" })).toBe(false)
    expect(opensInProcessVirtualBoard(["virtual", "stop"], { BELAY_DEVICE: "virtual?keep=false" })).toBe(
      false,
    )
    expect(opensInProcessVirtualBoard(["exec", "--help"], { BELAY_DEVICE: "virtual?keep=false" })).toBe(false)
    expect(opensInProcessVirtualBoard(["exec", "pass"], { BELAY_DEVICE: "" })).toBe(false)
    expect(opensInProcessVirtualBoard([], { BELAY_DEVICE: "virtual?keep=false" })).toBe(false)
  })
})

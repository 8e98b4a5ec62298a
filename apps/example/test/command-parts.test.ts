import path from "node:path"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { baseName, boardArgument, namesDirectory, operand } from "../src/cli/BoardOperand.js"
import { chainDevice, splitChain } from "../src/cli/Chain.js"
import { landing } from "../src/cli/Copy.js"
import { treeLines } from "../src/cli/FileActions.js"
import { offsetText } from "../src/cli/Machine.js"
import { portsTable } from "../src/cli/Ports.js"

// The pure parts of the mpremote-style commands: how operands, chains, trees and clock tuples read.

describe("cp operands and board path arguments", () => {
  it("':' marks a board path; ':' alone is the working directory", () => {
    expect(operand(":lib/a.py")).toEqual({ board: true, path: "lib/a.py" })
    expect(operand(":")).toEqual({ board: true, path: "" })
    expect(operand("a.py")).toEqual({ board: false, path: "a.py" })
    expect(boardArgument(":main.py")).toBe("main.py")
    expect(boardArgument("main.py")).toBe("main.py")
  })

  it("a path names a directory by its form: empty, '.', '..', a trailing separator", () => {
    for (const p of ["", ".", "..", "lib/", "a/.", "a/.."]) expect(namesDirectory(p)).toBe(true)
    for (const p of ["lib", "a.py", ".hidden", "a/..b"]) expect(namesDirectory(p)).toBe(false)
    expect(namesDirectory("dir\\", "\\")).toBe(true)
    expect(baseName("src/lib/")).toBe("lib")
    expect(baseName("/")).toBe("")
  })
})

describe("chains", () => {
  it("split at each '+', keeping empty commands for the parser to refuse", () => {
    expect(splitChain(["exec", "x=1", "+", "eval", "x"])).toEqual([
      ["exec", "x=1"],
      ["eval", "x"],
    ])
    expect(splitChain(["ls"])).toEqual([["ls"]])
    expect(splitChain(["ls", "+"])).toEqual([["ls"], []])
    expect(splitChain(["exec", "print('+')"])).toEqual([["exec", "print('+')"]])
  })

  it("run on the device named anywhere in the chain (the last one given), else the default", () => {
    expect(
      chainDevice([
        ["exec", "x=1", "-d", "serial:/dev/a"],
        ["eval", "x"],
      ]),
    ).toBe("serial:/dev/a")
    expect(
      chainDevice([
        ["exec", "x=1", "--device=virtual"],
        ["eval", "x", "--device", "qemu:microbit"],
      ]),
    ).toBe("qemu:microbit")
    // Unset: the board is chosen once for the chain (BELAY_DEVICE, the config file, auto).
    expect(chainDevice([["ls"]])).toBe("")
  })
})

describe("tree drawing", () => {
  it("draws nested entries, sorted, under the root given", () => {
    const entries = [
      { path: "/app/main.py", type: "file" as const, size: 1 },
      { path: "/app/lib", type: "dir" as const, size: 0 },
      { path: "/app/lib/b.py", type: "file" as const, size: 1 },
      { path: "/app/lib/a.py", type: "file" as const, size: 1 },
    ]
    expect(treeLines("/app", entries)).toEqual(["├── lib", "│   ├── a.py", "│   └── b.py", "└── main.py"])
    expect(treeLines("/", [{ path: "/x", type: "file", size: 0 }])).toEqual(["└── x"])
    expect(treeLines("/empty", [])).toEqual([])
  })
})

describe("the board's clock", () => {
  it("its offset from this computer's, in ms with the sign in words", () => {
    expect(offsetText(3.25, 0.4)).toBe("3.3 ms ahead of this computer (±0.4 ms)")
    expect(offsetText(-12.04, 0.5)).toBe("12.0 ms behind this computer (±0.5 ms)")
    expect(offsetText(-0.2, 0.5)).toBe("the same as this computer's, -0.2 ms (±0.5 ms)")
    expect(offsetText(-90_000, 0.4)).toBe("90000.0 ms (about 1.5 minutes) behind this computer (±0.4 ms)")
    expect(offsetText(2 * 365.25 * 86_400_000, 1)).toMatch(/^63115200000\.0 ms \(about 2\.0 years\) ahead of/)
  })
})

describe("board files copied to the host", () => {
  it("land under the host directory by their path under the board directory, or are refused", () => {
    expect(Effect.runSync(landing("backup", "/lib", "/lib/a/b.py"))).toBe(path.join("backup", "a", "b.py"))
    expect(Effect.runSync(landing("backup", "/", "/main.py"))).toBe(path.join("backup", "main.py"))
    for (const [root, boardPath] of [
      ["/lib", "/other/x.py"],
      ["/lib", "/lib/../x.py"],
      ["/lib", "/lib//x.py"],
      ["/", "/./x"],
      ["/lib", "/lib/a\u0000b"],
    ] as const) {
      const refused = Effect.runSync(Effect.flip(landing("backup", root, boardPath)))
      expect(refused._tag).toBe("PathTraversalError")
    }
  })
})

describe("the ports table", () => {
  it("shows the fields --device usb: matches on, a dash where a port does not say", () => {
    expect(portsTable([])).toBe("no serial ports found\n")
    expect(
      portsTable([
        {
          path: "/dev/ttyACM0",
          vendorId: "2e8a",
          productId: "0005",
          serialNumber: "E6614C311B7E6F35",
          manufacturer: "MicroPython",
          locationId: "1-1.4:1.0",
          likelyMicroPython: true,
        },
        { path: "/dev/ttyS0", likelyMicroPython: false },
      ]).split("\n"),
    ).toEqual([
      "port          vid:pid    serial            manufacturer  location",
      "/dev/ttyACM0  2e8a:0005  E6614C311B7E6F35  MicroPython   1-1.4:1.0  likely MicroPython",
      "/dev/ttyS0    -          -                 -             -",
      "",
    ])
  })
})

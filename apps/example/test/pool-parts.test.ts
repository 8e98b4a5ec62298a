import { describe, expect, it } from "vitest"
import { talksToBoard } from "../src/cli/DeviceArgument.js"
import { eachFileLines } from "../src/cli/Each.js"
import { chooseBoards } from "../src/cli/Flags.js"
import { boardFileName, jsonOf, refusalOnSeveral } from "../src/cli/Pool.js"

const config = { device: undefined, aliases: { pico: "id:E661", sim: "virtual?name=s", rack: "a0,a1,pico" } }

describe("which boards a device flag names", () => {
  it("one board: undefined (the single-board path, unchanged)", () => {
    for (const flag of ["a0", "virtual", "usb:vid=2e8a,pid=0005", "pico", "exec:tool a,b"])
      expect(chooseBoards(flag, config)).toBeUndefined()
  })

  it("a list, auto-all, or an alias of a list: each entry keyed as written, aliases resolved", () => {
    expect(chooseBoards("pico,sim,a0", config)).toEqual([
      { key: "pico", device: "id:E661" },
      { key: "sim", device: "virtual?name=s" },
      { key: "a0", device: "a0" },
    ])
    expect(chooseBoards("rack", config)).toEqual([
      { key: "a0", device: "a0" },
      { key: "a1", device: "a1" },
      { key: "pico", device: "id:E661" },
    ])
    expect(chooseBoards("auto-all", config)).toEqual([{ key: "auto-all", device: "auto-all" }])
  })

  it("unset: BELAY_DEVICE, then the config file's device", () => {
    const saved = process.env.BELAY_DEVICE
    try {
      process.env.BELAY_DEVICE = "a0,a1"
      expect(chooseBoards("", config)?.map((b) => b.key)).toEqual(["a0", "a1"])
      delete process.env.BELAY_DEVICE
      expect(chooseBoards("", { ...config, device: "rack" })?.map((b) => b.key)).toEqual(["a0", "a1", "pico"])
      expect(chooseBoards("", config)).toBeUndefined()
    } finally {
      if (saved === undefined) delete process.env.BELAY_DEVICE
      else process.env.BELAY_DEVICE = saved
    }
  })
})

describe("what runs on several boards", () => {
  it("commands that never open a board run once, as before", () => {
    expect(talksToBoard([["ports"]])).toBe(false)
    expect(talksToBoard([["--device", "a0,a1", "virtual", "status"]])).toBe(false)
    expect(
      talksToBoard([
        ["sleep", "1"],
        ["exec", "pass"],
      ]),
    ).toBe(true)
    expect(talksToBoard([["-d", "a0,a1", "ls"]])).toBe(true)
  })

  it("refuses repl, mount, edit, fs edit, board-to-host copies without {board}, installs that write the project's files", () => {
    const refused = [
      [["repl"]],
      [["-d", "a0,a1", "mount", "./src", "exec", "x"]],
      [["edit", "main.py"]],
      [
        ["exec", "x = 1"],
        ["fs", "edit", "main.py"],
      ],
      [["cp", ":log.txt", "."]],
      [["cp", "-r", ":lib", ":a.py", "backup"]],
      [["fs", "get", "log.txt", "logs/"]],
      [["install"]],
      [["install", "--target", "/lib"]],
      [["install", "aioble", "--save"]],
    ]
    for (const lines of refused) expect(refusalOnSeveral(lines), JSON.stringify(lines)).toBeDefined()
    const allowed = [
      [
        ["exec", "x = 1"],
        ["eval", "x"],
      ],
      [["cp", "main.py", ":"]],
      [["cp", ":a.py", ":b.py"]],
      [["cp", ":log.txt", "logs/{board}.txt"]],
      [["fs", "get", "log.txt", "logs/{board}/"]],
      [["fs", "put", "main.py", "/"]],
      [["install", "--frozen"]],
      [["install", "--dry-run", "--target", "/lib"]],
      [["install", "aioble", "--index", "./index"]],
    ]
    for (const lines of allowed) expect(refusalOnSeveral(lines), JSON.stringify(lines)).toBeUndefined()
  })

  it("a board's key as a file name", () => {
    expect(boardFileName("/dev/ttyACM0")).toBe("dev_ttyACM0")
    expect(boardFileName("virtual?name=a")).toBe("virtual_name_a")
    expect(boardFileName("tcp:10.0.0.2:2323")).toBe("tcp_10.0.0.2_2323")
    expect(boardFileName("///")).toBe("board")
  })
})

describe("a board's --json output as one value", () => {
  it("one JSON value, several lines as an array, nothing as null, text as a string", () => {
    expect(jsonOf('{"a":1}\n')).toEqual({ a: 1 })
    expect(jsonOf("1\n[2]\n")).toEqual([1, [2]])
    expect(jsonOf("")).toBeNull()
    expect(jsonOf("hello\n")).toBe("hello\n")
  })
})

describe("an each file", () => {
  it("one command per line, comments and blank lines skipped, + chains and a leading belay allowed", () => {
    expect(eachFileLines(`# setup\n  exec "x = 1"\n\nbelay eval x + ls /\n\t# end\n`)).toEqual([
      ["exec", "x = 1"],
      ["eval", "x"],
      ["ls", "/"],
    ])
  })

  it("refuses an empty file, an empty command, each inside each, a bad quote, naming the line", () => {
    expect(() => eachFileLines("# only\n", "f.txt")).toThrow("f.txt holds no command")
    expect(() => eachFileLines("exec x +\n", "f.txt")).toThrow("f.txt, line 1: an empty command")
    expect(() => eachFileLines("ls\neach other.txt\n", "f.txt")).toThrow(
      "f.txt, line 2: each cannot run each",
    )
    expect(() => eachFileLines("exec 'x\n", "f.txt")).toThrow("f.txt, line 1: unterminated quote")
  })
})

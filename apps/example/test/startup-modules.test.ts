import { mkdir, readFile, rm } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { belayCommand, signalGroup, startPtyBoard } from "./belayProcess.js"

// What `belay exec` loads on a board behind a serial port: not the links it does not use (a
// process's streams, TCP), whose Node modules cost milliseconds of every command's start. (`net`
// loads all the same once the command prints: Node's stdout is a socket when it is a pipe or a
// terminal.)

const cli = belayCommand("belay-startup-modules-")
const recorder = path.resolve(import.meta.dirname, "fixtures/record-builtins.cjs")

describe("the Node modules a command loads", () => {
  let board: Awaited<ReturnType<typeof startPtyBoard>>
  let dir: string
  beforeAll(async () => {
    dir = path.join(os.tmpdir(), `belay-startup-modules-${process.pid}`)
    await mkdir(dir, { recursive: true })
    board = await startPtyBoard(dir)
  })
  afterAll(async () => {
    if (board) signalGroup(board.child, "SIGTERM")
    await rm(dir, { recursive: true, force: true })
  })

  const builtinsOf = async (args: ReadonlyArray<string>) => {
    const file = path.join(dir, `builtins-${args[0]}-${args.length}`)
    const result = await cli.run(args, {
      env: { NODE_OPTIONS: `--require ${recorder}`, BELAY_TEST_BUILTINS_FILE: file },
    })
    expect(result).toMatchObject({ code: 0, stderr: "" })
    return { stdout: result.stdout, builtins: (await readFile(file, "utf8")).split("\n") }
  }

  it("exec and eval on a serial board do not load child_process; on an exec: board they do", async () => {
    for (const args of [
      ["exec", "print(6*7)", "--device", `serial:${board.link}`],
      ["eval", "6*7", "--device", `serial:${board.link}`],
    ]) {
      const { stdout, builtins } = await builtinsOf(args)
      expect(stdout).toBe("42\n")
      expect(builtins).toContain("fs")
      expect(builtins).not.toContain("child_process")
    }
    const { virtualBoardScript } = await import("@belay/virtual-device")
    const processBoard = await builtinsOf([
      "exec",
      "print(6*7)",
      "--device",
      `exec:${process.execPath} ${virtualBoardScript()}`,
    ])
    expect(processBoard.stdout).toBe("42\n")
    expect(processBoard.builtins).toContain("child_process")
  })

  it("an exec that prints nothing on a serial board loads no stream and no perf_hooks: the port is read through its binding, stdout is never set up", async () => {
    const { stdout, builtins } = await builtinsOf(["exec", "x = 1", "--device", `serial:${board.link}`])
    expect(stdout).toBe("")
    expect(builtins).toContain("fs")
    expect(builtins).not.toContain("stream")
    expect(builtins).not.toContain("net")
    // The clocks of the protocol read process.hrtime, not the global performance.
    expect(builtins).not.toContain("perf_hooks")
  })
})

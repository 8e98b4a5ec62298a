import { mkdtemp, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { SerialPort } from "serialport"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { belayCommand, qemuMicrobitForBlock, signalGroup, sleep, startPtyBoard } from "./belayProcess.js"

// Signals and closed pipes end the belay command the way interruption ends an Effect: the board
// gets Ctrl-C, the session cleans up, then the process exits with the shell's code for the signal.
// The in-process virtual board dies with the CLI, so these tests use boards that outlive it: the
// virtual board behind a pseudo-terminal (socat) and the QEMU micro:bit. Whether the board stopped
// is seen on the board's own line after the CLI has gone: a running loop keeps printing there.

const cli = belayCommand("belay-signals-")
const start = cli.start
const belay = cli.run

// An endless loop printing a numbered line every 20 ms.
const loop = "import time\ni = 0\nwhile True:\n    print('tick', i)\n    i += 1\n    time.sleep_ms(20)\n"

/**
 * What the board prints on its line while nobody else listens, for `ms` milliseconds: a loop
 * still running shows its ticks here.
 */
const listen = (port: string, ms = 1500) =>
  new Promise<string>((resolve, reject) => {
    const serial = new SerialPort({ path: port, baudRate: 115200 }, (error) => {
      if (error) return reject(error)
      setTimeout(() => serial.close(() => resolve(heard)), ms)
    })
    let heard = ""
    serial.on("data", (d: Buffer) => (heard += d.toString("latin1")))
  })

/** Start belay with stdout read until `enough` says so, then closed (as `| head -1` does). */
const startClosingReader = (args: string[], enough: (stdout: string) => boolean) => {
  const run = start(args)
  let read = ""
  run.child.stdout?.on("data", (d) => {
    read += d
    if (enough(read)) run.child.stdout?.destroy()
  })
  return run
}

const noStackTrace = (stderr: string) => {
  expect(stderr).not.toMatch(/\n\s+at /)
  expect(stderr).not.toContain("EPIPE")
}

/** The checks every board gets: SIGINT stops a loop on the board, the next command works, a closed stdout stops quietly. */
const commonChecks = (board: () => { device: string; port: string }) => {
  it("SIGINT during run of an endless loop: exit 130, the loop stopped on the board, the next command works", async () => {
    const { device, port } = board()
    const file = path.join(cli.home(), "loop.py")
    await writeFile(file, loop)

    // Control: killed outright (no finalizers), the CLI leaves the loop running on the board.
    const killed = start(["run", file, "--device", device])
    await killed.until("tick 3")
    killed.child.kill("SIGKILL")
    expect((await killed.finished).signal).toBe("SIGKILL")
    expect(await listen(port)).toContain("tick")

    const run = start(["run", file, "--device", device])
    await run.until("tick 3")
    run.child.kill("SIGINT")
    const result = await run.finished
    expect(result.code).toBe(130)
    expect(result.stderr).toBe("")
    expect(await listen(port)).not.toContain("tick")

    const next = await belay(["exec", "print(7)", "--device", device], { timeoutMs: 10_000 })
    expect(next).toMatchObject({ code: 0, stdout: "7\n" })
  })

  it("SIGTERM exits 143 and SIGHUP 129, each after stopping the loop on the board", async () => {
    const { device, port } = board()
    const file = path.join(cli.home(), "loop.py")
    await writeFile(file, loop)
    for (const [signal, code] of [
      ["SIGTERM", 143],
      ["SIGHUP", 129],
    ] as const) {
      const run = start(["run", file, "--device", device])
      await run.until("tick 3")
      run.child.kill(signal)
      const result = await run.finished
      expect(result.code).toBe(code)
      expect(result.stderr).toBe("")
      expect(await listen(port)).not.toContain("tick")
    }
    expect(await belay(["exec", "print(7)", "--device", device], { timeoutMs: 10_000 })).toMatchObject({
      code: 0,
      stdout: "7\n",
    })
  })

  it("a reader that closes after the first line: exec and run end quietly with 141, the board stopped and usable", async () => {
    const { device, port } = board()
    const exec = startClosingReader(["exec", "for i in range(100000): print(i)", "--device", device], (s) =>
      s.includes("\n"),
    )
    const execResult = await exec.finished
    expect([141, 0]).toContain(execResult.code)
    expect(execResult.stderr).toBe("")
    noStackTrace(execResult.stderr)

    const file = path.join(cli.home(), "loop.py")
    await writeFile(file, loop)
    const run = startClosingReader(["run", file, "--device", device], (s) => s.includes("\n"))
    const runResult = await run.finished
    expect(runResult.code).toBe(141)
    expect(runResult.stderr).toBe("")
    expect(await listen(port)).not.toContain("tick")

    expect(await belay(["exec", "print(7)", "--device", device], { timeoutMs: 10_000 })).toMatchObject({
      code: 0,
      stdout: "7\n",
    })
  })
}

describe("signals and closed pipes, virtual board on a pseudo-terminal", () => {
  let board: Awaited<ReturnType<typeof startPtyBoard>>
  let device: string
  beforeAll(async () => {
    board = await startPtyBoard(await mkdtemp(path.join(os.tmpdir(), "belay-pty-")))
    device = `serial:${board.link}`
  })
  afterAll(async () => {
    if (!board) return
    signalGroup(board.child, "SIGCONT")
    signalGroup(board.child, "SIGTERM")
    await rm(path.dirname(board.link), { recursive: true, force: true })
  })

  commonChecks(() => ({ device, port: board.link }))

  it("fs cat of a large file to a reader that closes after 10 bytes: quiet, 141 or 0, the board usable", async () => {
    const local = path.join(cli.home(), "big.txt")
    await writeFile(local, "0123456789abcdef\n".repeat(20_000))
    expect((await belay(["fs", "put", local, "/big.txt", "--device", device])).code).toBe(0)
    const cat = startClosingReader(["fs", "cat", "/big.txt", "--device", device], (s) => s.length >= 10)
    const result = await cat.finished
    expect([141, 0]).toContain(result.code)
    expect(result.stderr).toBe("")
    noStackTrace(result.stderr)
    const ls = await belay(["fs", "ls", "--json", "--device", device])
    expect(JSON.parse(ls.stdout)).toContainEqual(expect.objectContaining({ path: "/big.txt", size: 340_000 }))
    expect((await belay(["fs", "rm", "/big.txt", "--device", device])).code).toBe(0)
  })

  it("SIGINT during fs put: exit 130, and the upload's temporary file is removed from the board", async () => {
    const local = path.join(cli.home(), "huge.bin")
    await writeFile(local, Buffer.alloc(3_000_000, 0x5a))
    const put = start(["fs", "put", local, "/huge.bin", "--device", device], {
      env: { BELAY_LOG_LEVEL: "Debug" },
    })
    await put.until("BoardTempFile", "stderr")
    put.child.kill("SIGINT")
    const result = await put.finished
    expect(result.code).toBe(130)
    expect(result.stderr).toMatch(/Session ended[^\n]*reason: 'interrupted', cleanupFailures: 0/)
    const ls = await belay(["fs", "ls", "-r", "--json", "--device", device])
    expect(ls.code).toBe(0)
    expect(JSON.parse(ls.stdout)).toEqual([])
  })

  it("a board that stops answering cannot hold the process: the bound ends it with 130; a second SIGINT ends it at once", async () => {
    const local = path.join(cli.home(), "huge.bin")
    await writeFile(local, Buffer.alloc(3_000_000, 0x5a))

    // The board freezes mid-upload: cleanup waits on it until the bound gives up.
    const put = start(["fs", "put", local, "/huge.bin", "--device", device], {
      env: { BELAY_LOG_LEVEL: "Debug" },
    })
    await put.until("BoardTempFile", "stderr")
    signalGroup(board.child, "SIGSTOP")
    put.child.kill("SIGINT")
    const bounded = await put.finished
    signalGroup(board.child, "SIGCONT")
    expect(bounded.code).toBe(130)
    expect(bounded.stderr).toContain("the board did not stop within")

    // The same again, with a second SIGINT: the process exits without waiting for the bound.
    const again = start(["fs", "put", local, "/huge.bin", "--device", device], {
      env: { BELAY_LOG_LEVEL: "Debug" },
    })
    await again.until("BoardTempFile", "stderr")
    signalGroup(board.child, "SIGSTOP")
    again.child.kill("SIGINT")
    // Let the first signal land (two at once may arrive as one); the finalizers are still waiting.
    await sleep(500)
    expect(again.child.exitCode).toBe(null)
    again.child.kill("SIGINT")
    const second = await again.finished
    signalGroup(board.child, "SIGCONT")
    expect(second.code).toBe(130)
    expect(second.stderr).not.toContain("the board did not stop within")

    // Thawed, the board answers the next command.
    expect(await belay(["exec", "print(7)", "--device", device], { timeoutMs: 10_000 })).toMatchObject({
      code: 0,
      stdout: "7\n",
    })
  })
})

describe("signals and closed pipes, QEMU micro:bit through --device serial:/dev/pts/N", () => {
  const qemu = qemuMicrobitForBlock()
  let device: string
  let port: string
  beforeAll(() => {
    port = qemu.ptyPath()
    device = `serial:${port}`
  })

  commonChecks(() => ({ device, port }))
})

import { readFileSync } from "node:fs"
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises"
import path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { belayCommand, stdoutJson } from "./belayProcess.js"

// `--device exec-pty:<command>`: a board behind a program that refuses to start unless its stdin
// is a terminal (as `ssh -t` or `docker run -it` do). The fixture serves the virtual board with its
// flash in a folder, so files outlive each command; each command starts the program afresh.

const cli = belayCommand("belay-links-exec-")
const belay = cli.run
const fixture = path.resolve(import.meta.dirname, "fixtures/tty-only-board.mjs")

let device = ""
let pidFile = ""
beforeAll(async () => {
  const boardDir = path.join(cli.home(), "board")
  await mkdir(boardDir, { recursive: true })
  pidFile = path.join(boardDir, "board.pid")
  device = `exec-pty:${process.execPath} ${fixture} ${path.join(boardDir, "flash")}`
})

/** True while `pid` runs (a zombie counts as gone). */
const alive = (pid: number) => {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z")
  } catch {
    return false
  }
}

/** The board program of the last command: it must be gone once the command has ended. */
const lastBoardGone = async () => {
  const pid = Number(readFileSync(pidFile, "utf8"))
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20))
  return !alive(pid)
}

describe.runIf(process.platform === "linux")("belay on a program that needs a terminal (exec-pty:)", () => {
  it("on pipes (exec:) the program refuses to start; exec-pty: gives it a terminal", async () => {
    const onPipes = await belay(["eval", "1 + 1", "--device", device.replace(/^exec-pty:/, "exec:")])
    expect(onPipes.code).toBe(3)
    expect(onPipes.stderr).toContain("stdin is not a terminal")
    const onPty = await belay(["eval", "1 + 1", "--device", device])
    expect(onPty).toMatchObject({ code: 0, stdout: "2\n" })
    expect(await lastBoardGone()).toBe(true)
  })

  it("without util-linux's script, exec-pty: stops with PtyUnavailableError, exit 2, saying what to install", async () => {
    const noScript = await cli.run(["eval", "1", "--device", "exec-pty:/bin/cat", "--json"], {
      env: { PATH: path.join(cli.home(), "board") },
    })
    expect(noScript.code).toBe(2)
    expect(stdoutJson(noScript)).toMatchObject({ error: "PtyUnavailableError", exitCode: 2 })
    expect(stdoutJson(noScript).message).toContain("apt-get install bsdutils")
  })

  it("a MicroPython unix build on a terminal runs its REPL as it is: exec-pty: adds no -i", async () => {
    // A stand-in for the unix build, which runs its REPL when stdin is a terminal: records its
    // arguments, then runs the tty-only board.
    const script = path.join(cli.home(), "board", "micropython")
    const args = path.join(cli.home(), "board", "args")
    await writeFile(
      script,
      `#!/bin/sh\necho "$@" > ${JSON.stringify(args)}\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(fixture)} ${JSON.stringify(path.join(cli.home(), "board", "flash"))}\n`,
    )
    await chmod(script, 0o755)
    expect(await belay(["eval", "6 * 7", "--device", `exec-pty:${script} -X heapsize=1M`])).toMatchObject({
      code: 0,
      stdout: "42\n",
    })
    expect((await readFile(args, "utf8")).trim()).toBe("-X heapsize=1M")
  })

  it("fs put then fs get of all 256 byte values, in separate processes, round-trips them exactly", async () => {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const local = path.join(cli.home(), "every.bin")
    const back = path.join(cli.home(), "back.bin")
    await writeFile(local, every)
    expect((await belay(["fs", "put", local, "/every.bin", "--device", device])).code).toBe(0)
    expect(await lastBoardGone()).toBe(true)
    expect((await belay(["fs", "get", "/every.bin", back, "--device", device])).code).toBe(0)
    expect(await readFile(back)).toEqual(every)
  })

  it("raw-paste carries code longer than its window", async () => {
    const info = await belay(["info", "--json", "--device", device])
    expect(stdoutJson(info).capabilities).toMatchObject({ rawPaste: true, rawPasteWindow: 256 })
    // About 2 KB of code: eight windows of raw-paste, each credited by the board.
    const lines = Array.from({ length: 100 }, (_, i) => `v${i} = ${i} * 2  # a line of padding`)
    const code = `${lines.join("\n")}\nprint(sum([${lines.map((_, i) => `v${i}`).join(", ")}]))`
    expect(code.length).toBeGreaterThan(2000)
    expect(await belay(["exec", code, "--device", device])).toMatchObject({ code: 0, stdout: "9900\n" })
  })

  it("Ctrl-C reaches the board as a byte: SIGINT during a loop raises KeyboardInterrupt there (a cooked terminal would kill the program)", async () => {
    const code = [
      "try:",
      "    print('looping')",
      "    while True:",
      "        pass",
      "except KeyboardInterrupt:",
      "    f = open('interrupted.txt', 'w')",
      "    f.write('yes')",
      "    f.close()",
    ].join("\n")
    const run = cli.start(["exec", code, "--device", device])
    await run.until("looping")
    run.child.kill("SIGINT")
    const result = await run.finished
    expect(result.code).toBe(130)
    expect(result.stderr).not.toContain("did not stop")
    expect(await lastBoardGone()).toBe(true)
    expect(await belay(["fs", "cat", "interrupted.txt", "--device", device])).toMatchObject({
      code: 0,
      stdout: "yes",
    })
  })
})

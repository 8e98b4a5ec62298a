import { mkdir, rm, writeFile } from "node:fs/promises"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { belayCommand, stdoutJson } from "./belayProcess.js"

// Coverage of the CLI's commands by whole-process tests, per board: V the virtual board as
// `--device virtual` gives it (kept running between commands, in a process of its own, reached
// over a local TCP connection; `virtual?keep=false` runs it in the CLI's process; links-virtual
// covers the keeping), P the virtual board behind a pseudo-terminal (outlives the command), M the QEMU micro:bit (MicroPython 1.9.2: flat filesystem, no machine.RTC, no
// os.statvfs), X a process board (`--device exec:`; no MicroPython unix build is installed, so the
// virtual board's script on the child's stdio). "refused" means the test pins the refusal: exit 1
// and a message saying why. Files: cli, cmd (commands), hon (honest), sig (signals), crash
// (crash-cleanup), ev (this file), em (e2e-microbit), ex (e2e-exec), lat (latency).
//
// command                      | V                  | P          | M                         | X
// -----------------------------+--------------------+------------+---------------------------+---------
// cp ':', ':' alone, skip, -f  | cmd                |            | cmd (skip), em (-f, :a :b)| ex
// cp directory targets, -r     | cmd                |            | em (-r refused)           | ex
// ls, cat, touch, sha256sum    | cmd, cli           |            | cmd, em                   | ex
// rm, rm -r                    | cmd                |            | cmd, em (-r below / refused)| ex
// mkdir (parents), rmdir       | cmd                |            | cmd, em (refused)         | ex
// tree                         | cmd                |            | cmd (root), em (dir refused)| ex
// df                           | cmd                |            | em (refused)              | ex
// edit                         | cmd                |            | em                        | ex
// soft-reset                   | cmd                |            | cmd, cli                  | ex
// reset                        | cmd, ev (refused)  |            | cmd                       | ex
// rtc, rtc --set, --utc, syncClock | cmd, ev (refused) |         | em (refused)              | ex
// latency (-n, --json)         | lat                |            | lat                       |
// sleep                        | cmd                |            | em                        | ex
// run                          | cli                | sig        | cli                       | ex
// run --no-follow              | ev                 | cmd        | em                        | ex
// repl --capture --inject-code | cmd                |            | em                        | ex
// fs <cmd> and top-level forms | cmd, cli, ev       |            | cli, em                   | ex
// + chains                     | cmd                |            | cmd, em                   | ex
// exec, eval                   | cli, hon           | sig        | cli                       | hon, ex
// info                         | cli                |            | cli                       | ex
// fs put, get                  | cli, cmd           | sig, crash | cli, crash                | ex
// fs sync                      | cli, hon           |            | cli                       | ex
// fs clean                     | ev                 | crash      | em                        | ex
// cwd-relative board paths     | cmd                |            | cmd (the root is the cwd) | ex
// --json errors                | hon, ev            |            | cli, em                   | ex
// exit codes 1 / 2 / 3         | cli, hon, ev       | sig (130..)| cli, em (1, 2)            | ex
//
// Exit code 3 (the link, a board not answering) is the link's, not the board's: cli and hon pin it
// for serial ports, ex for processes that are not boards, sig for a board that stops answering.
//
// The network links (`tcp:`, `ws://` WebREPL, `rfc2217:` through ser2net) each run every command
// of the table above, with exit code 3 both for a server that is not there and for a connection
// dropped mid-run: e2e-network-commands; exec, eval, info, cp/ls/cat, fs sync, a second client
// and a server killed mid-upload: e2e-network (tcp, rfc2217) and e2e-webrepl (ws, with the
// password cases).

const cli = belayCommand("belay-e2e-virtual-")
const belay = cli.run

/** A host directory of the test's own, made empty. */
const hostDir = async (name: string) => {
  const dir = path.join(cli.home(), name)
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  return dir
}

describe("the fs forms of the file commands, on the virtual board", () => {
  it("fs cp, fs tree, fs df, fs sha256sum, fs rmdir and fs cat in one chain", async () => {
    const dir = await hostDir("fs-forms")
    const local = path.join(dir, "a.txt")
    await writeFile(local, "abc")
    const chain = await belay([
      "fs",
      "mkdir",
      "/ff/empty",
      "+",
      "fs",
      "cp",
      local,
      ":/ff/",
      "+",
      "fs",
      "tree",
      "/ff",
      "+",
      "fs",
      "rmdir",
      "/ff/empty",
      "+",
      "fs",
      "sha256sum",
      "/ff/a.txt",
      "+",
      "fs",
      "cat",
      "/ff/a.txt",
      "+",
      "fs",
      "df",
      "--json",
    ])
    expect(chain.stderr).toBe("")
    expect(chain.code).toBe(0)
    const lines = chain.stdout.split("\n")
    expect(lines.slice(0, 5)).toEqual([
      `${local} -> :/ff/a.txt: 3 B copied and verified`,
      ":/ff",
      "├── a.txt",
      "└── empty",
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  /ff/a.txt",
    ])
    const usage = JSON.parse((lines[5] ?? "").replace(/^abc/, ""))
    expect(usage.usedBytes + usage.freeBytes).toBe(usage.totalBytes)
    expect((await belay(["rm", "-r", "/ff"])).code).toBe(0)
  })
})

describe("what the other virtual-board tests leave out", () => {
  it("run --no-follow returns while the script runs; the next chained command interrupts it", async () => {
    const script = path.join(await hostDir("no-follow"), "forever.py")
    await writeFile(
      script,
      "import time\nf = open('nf.txt', 'w')\nf.write('ran')\nf.close()\nprint('not followed')\nwhile True:\n    time.sleep_ms(10)\n",
    )
    const chain = await belay([
      "run",
      script,
      "--no-follow",
      "+",
      "sleep",
      "0.2",
      "+",
      "cat",
      "nf.txt",
      "+",
      "rm",
      "nf.txt",
    ])
    expect(chain).toMatchObject({ code: 0, stdout: "ran" })
    expect(chain.stderr).toContain(`${script} started on the board; its output is not followed`)
  })

  it("fs clean removes a temporary file whose upload can no longer finish, and says so", async () => {
    const chain = await belay([
      "exec",
      "open('/.belay-zz9-1.tmp', 'w').write('partial')",
      "+",
      "fs",
      "clean",
      "+",
      "fs",
      "clean",
      "--json",
    ])
    expect(chain).toMatchObject({
      code: 0,
      stdout:
        'removed /.belay-zz9-1.tmp\n1 temporary file(s) removed, 0 kept (uploads in progress)\n{"removed":[],"kept":[]}\n',
    })
  })

  it("reset and rtc on a board without machine: a refusal that says why (exit 1), as text and JSON", async () => {
    // Forget the built-in module: `import machine` then finds nothing, as on a port without one.
    // On a board of each command's own (keep=false): the kept board would stay without it.
    const forget = ["exec", "import sys; del sys.modules['machine']", "-d", "virtual?keep=false", "+"]
    const reset = await belay([...forget, "reset"])
    expect(reset.code).toBe(1)
    expect(reset.stderr).toContain("this board's MicroPython has no machine.reset, so belay cannot reset it")
    expect(reset.stderr).toContain("no module named 'machine'")
    const rtc = await belay([...forget, "rtc", "--set", "--json"])
    expect(rtc.code).toBe(1)
    expect(stdoutJson(rtc)).toMatchObject({ error: "CapabilityMissingError", exitCode: 1 })
    expect(stdoutJson(rtc).message).toBe(
      "setting the board's clock needs machine.RTC with datetime(), which this board does not have",
    )
  })

  it("file commands' failures under --json: a board-side refusal 1, usage 2", async () => {
    const notEmpty = await belay(["mkdir", "/je/a", "+", "rmdir", "/je", "--json"])
    expect(notEmpty.code).toBe(1)
    expect(stdoutJson(notEmpty)).toMatchObject({ exitCode: 1 })
    expect(stdoutJson(notEmpty).message).toMatch(/not empty/)
    const hostToHost = await belay(["cp", path.join(cli.home(), "x"), path.join(cli.home(), "y"), "--json"])
    expect(hostToHost.code).toBe(2)
    expect(stdoutJson(hostToHost)).toMatchObject({ exitCode: 2 })
    const noR = await belay(["cp", ":/je", path.join(cli.home(), "je"), "--json"])
    expect(noR.code).toBe(2)
    expect(stdoutJson(noR).message).toContain("copy it with -r")
    expect((await belay(["rm", "-r", "/je"])).code).toBe(0)
  })
})

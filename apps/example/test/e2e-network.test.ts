import { randomBytes } from "node:crypto"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { connect, type Socket } from "node:net"
import os from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { belayCommand, signalGroup, sleep, startPtyBoard, stdoutJson } from "./belayProcess.js"
import { type NetworkServer, startRelay, startSer2net, startTcpBoard } from "./networkBoards.js"

// Every command over the network, all on 127.0.0.1: `tcp:` to `belay-virtual-board --tcp`, and
// `rfc2217:` to Debian's ser2net serving the virtual board's pseudo-terminal. Then what goes wrong
// on a network: a second client, the server gone, the connection dropped in the middle of an upload.

const cli = belayCommand("belay-net-")
const belay = (args: string[]) => cli.run(args, { timeoutMs: 120_000 })

const temporaries = (names: ReadonlyArray<string>) => names.filter((n) => /^\.belay-.*\.tmp$/.test(n))

/** The board's root listing, by `exec` (no file operation: nothing is cleaned on the way). */
const rootNames = async (device: string) => {
  const result = await belay(["exec", "import os\nprint(repr(os.listdir('/')))", "--device", device])
  expect(result.code, result.stderr).toBe(0)
  return JSON.parse(result.stdout.trim().replace(/'/g, '"')) as string[]
}

/** A client holding the server's one connection until `release`. */
const holdConnection = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port })
    socket.once("connect", () => resolve(socket))
    socket.once("error", reject)
  })

/** The board answers again once the server has seen the holding client leave (asked a bounded number of times). */
const servedAgain = async (device: string) => {
  let again = await belay(["exec", "print(1)", "--device", device])
  for (let i = 0; i < 10 && again.stderr.includes("Port already in use"); i++) {
    await sleep(100)
    again = await belay(["exec", "print(1)", "--device", device])
  }
  expect(again.code, again.stderr).toBe(0)
}

/** exec, eval, cp, ls, cat and fs sync against `device()`. */
const everyCommand = (device: () => string) => {
  it("exec and eval", async () => {
    const exec = await belay(["exec", "print(6 * 7)", "--device", device()])
    expect(exec.code, exec.stderr).toBe(0)
    expect(exec.stdout.trim()).toBe("42")
    const evaluated = await belay(["eval", "[1, 2] * 2", "--device", device()])
    expect(evaluated.code, evaluated.stderr).toBe(0)
    expect(evaluated.stdout.trim()).toBe("[1, 2, 1, 2]")
  })

  it("cp, ls and cat, with every byte value", async () => {
    const local = path.join(cli.home(), "all.bin")
    const content = Buffer.concat([
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      randomBytes(20_000),
    ])
    await writeFile(local, content)
    const cp = await belay(["cp", local, ":/all.bin", "--device", device()])
    expect(cp.code, cp.stderr).toBe(0)
    const ls = stdoutJson(await belay(["ls", "--json", "--device", device()]))
    expect(ls).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: "/all.bin", size: content.length })]),
    )
    const back = path.join(cli.home(), "back.bin")
    expect((await belay(["cp", ":/all.bin", back, "--device", device()])).code).toBe(0)
    expect(Buffer.compare(await readFile(back), content)).toBe(0)
    await writeFile(path.join(cli.home(), "note.txt"), "over the network\n")
    expect(
      (await belay(["cp", path.join(cli.home(), "note.txt"), ":/note.txt", "--device", device()])).code,
    ).toBe(0)
    const cat = await belay(["cat", "/note.txt", "--device", device()])
    expect(cat.code, cat.stderr).toBe(0)
    expect(cat.stdout).toBe("over the network\n")
  })

  it("fs sync uploads a tree once, then finds nothing to do", async () => {
    const tree = await mkdtemp(path.join(cli.home(), "tree-"))
    await mkdir(path.join(tree, "lib"))
    await writeFile(path.join(tree, "main.py"), "print('main')\n")
    await writeFile(path.join(tree, "lib", "util.py"), "X = 1\n")
    const first = await belay(["fs", "sync", tree, "/app", "--json", "--device", device()])
    expect(first.code, first.stderr).toBe(0)
    expect(stdoutJson(first).uploaded).toHaveLength(2)
    const second = await belay(["fs", "sync", tree, "/app", "--json", "--device", device()])
    expect(second.code, second.stderr).toBe(0)
    expect(stdoutJson(second).uploaded).toEqual([])
    const run = await belay([
      "exec",
      "import sys\nsys.path.append('/app/lib')\nimport util\nprint(util.X)",
      "--device",
      device(),
    ])
    expect(run.stdout.trim()).toBe("1")
  })
}

/**
 * An upload of 2 MB through the server `through()` gives, which is SIGKILLed once the upload has
 * its temporary file on the board: the command fails (it does not hang), and the next connection
 * (`afterwards()`) finds the old file (put first on `before`) intact and no temporary file.
 */
const droppedUpload = async (
  before: string,
  through: () => Promise<{ server: NetworkServer; device: string }>,
  afterwards: () => Promise<string>,
) => {
  const old = randomBytes(1000)
  const oldFile = path.join(cli.home(), "old.bin")
  await writeFile(oldFile, old)
  expect((await belay(["fs", "put", oldFile, "/big.bin", "--device", before])).code).toBe(0)
  const big = path.join(cli.home(), "big.bin")
  await writeFile(big, randomBytes(2 * 1024 * 1024))
  const { server, device: dropped } = await through()
  const put = cli.start(["fs", "put", big, "/big.bin", "--device", dropped], {
    env: { BELAY_LOG_LEVEL: "Debug" },
  })
  await put.until("BoardTempFile", "stderr")
  await sleep(300)
  await server.stop("SIGKILL")
  const failed = await put.finished
  expect(failed.code).not.toBe(0)
  expect(failed.stderr).toMatch(/LinkLostError|was lost|closed the connection|reset the connection/)

  const device = await afterwards()
  // What the dropped upload left: a half-written temporary file beside the old file.
  expect(temporaries(await rootNames(device))).toHaveLength(1)
  // The next connection's first file operation removes it.
  const ls = await belay(["fs", "ls", "--json", "--device", device])
  expect(ls.code, ls.stderr).toBe(0)
  expect(stdoutJson(ls)).toEqual(
    expect.arrayContaining([expect.objectContaining({ path: "/big.bin", size: 1000 })]),
  )
  expect(temporaries(await rootNames(device))).toEqual([])
  const back = path.join(cli.home(), "old-back.bin")
  expect((await belay(["fs", "get", "/big.bin", back, "--device", device])).code).toBe(0)
  expect(Buffer.compare(await readFile(back), old)).toBe(0)
}

describe("tcp: to belay-virtual-board --tcp", () => {
  let board: NetworkServer
  const device = () => `tcp:127.0.0.1:${board.port}`
  beforeAll(async () => {
    board = await startTcpBoard()
  })
  afterAll(async () => {
    await board?.stop()
  })

  everyCommand(device)

  it("a second client is refused with the server's words while the first holds the board", async () => {
    const first = await holdConnection(board.port)
    try {
      const second = await belay(["exec", "print(1)", "--device", device()])
      expect(second.code).not.toBe(0)
      expect(second.stderr).toContain("Port already in use")
    } finally {
      first.destroy()
    }
    await servedAgain(device())
  })

  it("a connection dropped mid-upload: old file intact, no temporary file after the next connection", async () => {
    let relay: NetworkServer | undefined
    try {
      await droppedUpload(
        device(),
        async () => {
          // A relay of one connection in front of the board: killing it drops the connection, the board stays up.
          relay = await startRelay(board.port)
          return { server: relay, device: `tcp:127.0.0.1:${relay.port}` }
        },
        async () => device(),
      )
    } finally {
      await relay?.stop()
    }
  })

  it("the server gone: a refused connection, said plainly", async () => {
    const gone = await startTcpBoard()
    await gone.stop()
    const result = await belay(["exec", "print(1)", "--device", `tcp:127.0.0.1:${gone.port}`])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain("connection refused")
    expect(result.stderr).toContain(`127.0.0.1:${gone.port}`)
    expect(result.stderr).toContain("is the server running")
  })
})

describe("rfc2217: through ser2net to the virtual board on a pseudo-terminal", () => {
  let pty: Awaited<ReturnType<typeof startPtyBoard>>
  let ser2net: NetworkServer
  const device = () => `rfc2217:127.0.0.1:${ser2net.port}?baud=115200`
  beforeAll(async () => {
    pty = await startPtyBoard(await mkdtemp(path.join(os.tmpdir(), "belay-net-pty-")))
    ser2net = await startSer2net(pty.link)
  })
  afterAll(async () => {
    await ser2net?.stop()
    if (!pty) return
    signalGroup(pty.child, "SIGTERM")
    await rm(path.dirname(pty.link), { recursive: true, force: true })
  })

  everyCommand(device)

  it("a second client is refused by ser2net, and the message says so", async () => {
    const first = await holdConnection(ser2net.port)
    try {
      const second = await belay(["exec", "print(1)", "--device", device()])
      expect(second.code).not.toBe(0)
      expect(second.stderr).toContain("Port already in use")
    } finally {
      first.destroy()
    }
    await servedAgain(device())
  })

  it("ser2net killed mid-upload: old file intact, no temporary file after the next connection", async () => {
    await droppedUpload(
      device(),
      async () => ({ server: ser2net, device: device() }),
      async () => {
        ser2net = await startSer2net(pty.link, ser2net.port)
        return device()
      },
    )
  })
})

import { spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { belayCommand, sleep, stdoutJson } from "./belayProcess.js"

// The CLI over WebREPL: `--device ws://127.0.0.1:PORT` against `belay-virtual-board --webrepl`
// (a board process of the test's own, serving the firmware's login, frames and file transfer,
// with its flash in a folder), as a person with a network board runs it. The password reaches the
// CLI through BELAY_WEBREPL_PASSWORD, the config file or `?password=`, and is never printed.

const PASSWORD = "s3cretpw"
const cli = belayCommand("belay-e2e-webrepl-")
/** Run to the end with the password in the environment, unless the test says otherwise. */
const belay = (args: string[], env: NodeJS.ProcessEnv = { BELAY_WEBREPL_PASSWORD: PASSWORD }) =>
  cli.run(args, { env, timeoutMs: 120_000 })
const READY_TIMEOUT_MS = 30_000

/** `belay-virtual-board --webrepl 127.0.0.1:0`, its password from the environment (not its command line). */
const startWebReplBoard = async (flashDir: string) => {
  const { virtualBoardScript } = await import("@belay/virtual-device")
  const child = spawn(
    process.execPath,
    [virtualBoardScript(), "--webrepl", "127.0.0.1:0", "--flash-dir", flashDir],
    {
      env: { ...process.env, BELAY_WEBREPL_PASSWORD: PASSWORD },
      stdio: ["ignore", "ignore", "pipe"],
    },
  )
  let stderr = ""
  child.stderr?.on("data", (d) => (stderr += d))
  for (let i = 0; i < READY_TIMEOUT_MS / 50 && !/ready ws:\/\/\S+:\d+/.test(stderr); i++) {
    if (child.exitCode !== null) break
    await sleep(50)
  }
  const url = /ready (ws:\/\/\S+:\d+)/.exec(stderr)?.[1]
  if (url === undefined) throw new Error(`no WebREPL board: ${stderr}`)
  return { child, url, stderr: () => stderr }
}

/**
 * A TCP relay in front of the board that drops every connection once `cutAfterBytes` bytes went
 * from the client to the board (a network that fails in the middle of an upload).
 */
const startRelay = async (port: number, cutAfterBytes: number) => {
  const sockets = new Set<net.Socket>()
  let sent = 0
  const cut = () => {
    for (const s of sockets) s.resetAndDestroy()
  }
  const server = net.createServer((client) => {
    const board = net.connect(port, "127.0.0.1")
    for (const s of [client, board]) {
      sockets.add(s)
      s.on("close", () => sockets.delete(s))
      s.on("error", () => {})
    }
    client.on("data", (chunk: Buffer) => {
      sent += chunk.length
      if (sent < cutAfterBytes) board.write(chunk)
      else cut()
    })
    board.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))
  return {
    url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

const temporaries = (names: ReadonlyArray<string>) => names.filter((n) => /^\.belay-.*\.tmp$/.test(n))

describe("the CLI over WebREPL, virtual board", () => {
  let board: Awaited<ReturnType<typeof startWebReplBoard>>
  let flashDir: string
  beforeAll(async () => {
    flashDir = await mkdtemp(path.join(os.tmpdir(), "belay-webrepl-flash-"))
    board = await startWebReplBoard(flashDir)
  })
  afterAll(async () => {
    board?.child.kill("SIGTERM")
    await rm(flashDir, { recursive: true, force: true })
  })
  const device = () => board.url

  it("exec, eval and info --json, with the password kept out of what is printed", async () => {
    const exec = await belay(["exec", "print('hi', 6 * 7)", "--device", device()])
    expect(exec).toMatchObject({ code: 0, stdout: "hi 42\n" })
    const evaluated = await belay(["eval", "[1 + 2, 'x' * 3]", "--device", device()])
    expect(evaluated).toMatchObject({ code: 0, stdout: "[3, 'xxx']\n" })
    const info = await belay(["info", "--json", "--device", device()])
    expect(info.code).toBe(0)
    expect(stdoutJson(info)).toMatchObject({ link: device(), health: { ok: true } })
    for (const result of [exec, evaluated, info])
      expect(result.stdout + result.stderr).not.toContain(PASSWORD)
  })

  it("cp, ls and cat; fs sync uploads a folder, then nothing the second time", async () => {
    const local = path.join(cli.home(), "hello.txt")
    await writeFile(local, "hello over the network\n")
    expect((await belay(["cp", local, ":hello.txt", "--device", device()])).code).toBe(0)
    const ls = await belay(["ls", "--json", "--device", device()])
    expect(stdoutJson(ls)).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: "/hello.txt", size: 23 })]),
    )
    expect(await belay(["cat", "hello.txt", "--device", device()])).toMatchObject({
      code: 0,
      stdout: "hello over the network\n",
    })

    const app = path.join(cli.home(), "app")
    await mkdir(path.join(app, "lib"), { recursive: true })
    await writeFile(path.join(app, "main.py"), "print('main')\n")
    await writeFile(path.join(app, "lib", "util.py"), "X = 1\n")
    const first = await belay(["fs", "sync", app, "/app", "--json", "--device", device()])
    expect(first.code).toBe(0)
    const second = await belay(["fs", "sync", app, "/app", "--json", "--device", device()])
    expect(second.code).toBe(0)
    expect(
      stdoutJson(first)
        .uploaded.map((u: { path: string }) => u.path)
        .sort(),
    ).toEqual(["/app/lib/util.py", "/app/main.py"])
    expect(stdoutJson(second)).toMatchObject({ uploaded: [], bytesUploaded: 0 })
    expect(await belay(["cat", "/app/lib/util.py", "--device", device()])).toMatchObject({
      stdout: "X = 1\n",
    })
  })

  it("fs put of a large file goes through the WebREPL file transfer, verified; a small one through the raw REPL", async () => {
    const data = randomBytes(300 * 1024)
    const large = path.join(cli.home(), "large.bin")
    await writeFile(large, data)
    const debug = { BELAY_WEBREPL_PASSWORD: PASSWORD, BELAY_LOG_LEVEL: "Debug" }
    const put = await belay(["fs", "put", large, "/large.bin", "--device", device()], debug)
    expect(put.code).toBe(0)
    expect(put.stderr).toMatch(/uploading through the WebREPL file transfer/)
    const small = path.join(cli.home(), "small.txt")
    await writeFile(small, "small\n")
    const smallPut = await belay(["fs", "put", small, "/small.txt", "--device", device()], debug)
    expect(smallPut.code).toBe(0)
    expect(smallPut.stderr).not.toMatch(/uploading through the WebREPL file transfer/)
    const sums = await belay(["sha256sum", "/large.bin", "--device", device()])
    expect(sums.stdout.split(" ")[0]).toBe(createHash("sha256").update(data).digest("hex"))
    const back = path.join(cli.home(), "large-back.bin")
    expect((await belay(["fs", "get", "/large.bin", back, "--device", device()])).code).toBe(0)
    expect(Buffer.compare(await readFile(back), data)).toBe(0)
  })

  it("a wrong password: exit 2 and a message saying where the password comes from, without it", async () => {
    const wrong = "not-it-42"
    for (const json of [false, true]) {
      const result = await belay(["exec", "print(1)", "--device", device(), ...(json ? ["--json"] : [])], {
        BELAY_WEBREPL_PASSWORD: wrong,
      })
      expect(result.code).toBe(2)
      const shown = result.stdout + result.stderr
      expect(shown).toMatch(/refused the WebREPL password \(Access denied\)/)
      expect(shown).toMatch(/BELAY_WEBREPL_PASSWORD/)
      expect(shown).not.toContain(wrong)
      expect(shown).not.toContain(PASSWORD)
    }
  })

  it("no password anywhere and no terminal: exit 2, saying how to give one", async () => {
    const result = await belay(["exec", "print(1)", "--device", device()], { BELAY_WEBREPL_PASSWORD: "" })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/asks for a WebREPL password and none was given/)
  })

  it("the password from the config file, and from ?password= with one warning that does not show it", async () => {
    const configDir = path.join(cli.home(), "config", "belay")
    await mkdir(configDir, { recursive: true })
    await writeFile(path.join(configDir, "config.json"), JSON.stringify({ webReplPassword: PASSWORD }))
    try {
      const fromConfig = await belay(["exec", "print('config')", "--device", device()], {
        BELAY_WEBREPL_PASSWORD: "",
      })
      expect(fromConfig).toMatchObject({ code: 0, stdout: "config\n" })
    } finally {
      await rm(path.join(configDir, "config.json"))
    }
    const inString = await belay(
      ["exec", "print('a')", "+", "eval", "2", "--device", `${device()}/?password=${PASSWORD}`],
      { BELAY_WEBREPL_PASSWORD: "" },
    )
    expect(inString.code).toBe(0)
    expect(inString.stdout).toBe("a\n2\n")
    expect(inString.stderr.match(/password in the connection string/g)?.length).toBe(1)
    expect(inString.stdout + inString.stderr).not.toContain(PASSWORD)
  })

  it("on a terminal with no password given, belay asks for it without echoing it", async () => {
    // `script` (util-linux) runs the command on a pseudo-terminal of its own and relays our stdin.
    const bin = path.resolve(import.meta.dirname, "../bin/belay.cjs")
    const command = `${process.execPath} ${bin} exec 'print(6 * 7)' --device ${device()}`
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      env: {
        ...process.env,
        BELAY_WEBREPL_PASSWORD: "",
        XDG_CONFIG_HOME: path.join(cli.home(), "no-config"),
      },
      stdio: ["pipe", "pipe", "pipe"],
    })
    let output = ""
    child.stdout.on("data", (d) => (output += d))
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
    for (let i = 0; i < READY_TIMEOUT_MS / 50 && !output.includes("WebREPL password for"); i++)
      await sleep(50)
    expect(output).toContain(`WebREPL password for ${device()}: `)
    child.stdin.write(`${PASSWORD}\r`)
    expect(await exited).toBe(0)
    expect(output).toContain("42")
    expect(output).not.toContain(PASSWORD)
  })

  it("a second client is turned away while one is connected, and the first one is told", async () => {
    const { openWebReplLink } = await import("@belay/transport/webrepl")
    const { Effect, Exit, Redacted, Scope, Stream } = await import("effect")
    const scope = Effect.runSync(Scope.make())
    const first = await Effect.runPromise(
      Scope.provide(openWebReplLink({ url: device(), password: Redacted.make(PASSWORD) }), scope),
    )
    let seen = ""
    Effect.runFork(
      Stream.runForEach(first.received, (chunk) =>
        Effect.sync(() => (seen += new TextDecoder().decode(chunk))),
      ),
    )
    try {
      const second = await belay(["exec", "print(1)", "--device", device()])
      expect(second.code).toBe(3)
      expect(second.stderr).toMatch(/another WebREPL client is probably connected/)
      for (let i = 0; i < 100 && !seen.includes("rejected"); i++) await sleep(20)
      expect(seen).toMatch(/Concurrent WebREPL connection from \('127\.0\.0\.1', \d+\) rejected/)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
    expect(await belay(["exec", "print('after')", "--device", device()])).toMatchObject({
      code: 0,
      stdout: "after\n",
    })
  })

  it("the connection dropped mid-upload: exit 3, the old file intact, no temporary file after the next connection", async () => {
    const old = randomBytes(1000)
    const oldFile = path.join(cli.home(), "old.bin")
    await writeFile(oldFile, old)
    expect((await belay(["fs", "put", oldFile, "/big.bin", "--device", device()])).code).toBe(0)
    const big = path.join(cli.home(), "big.bin")
    await writeFile(big, randomBytes(1024 * 1024))

    // Cut half-way through the file's bytes: inside the WebREPL put of the temporary file.
    const relay = await startRelay(Number(new URL(device()).port), 512 * 1024)
    try {
      const result = await belay(["fs", "put", big, "/big.bin", "--device", relay.url], {
        BELAY_WEBREPL_PASSWORD: PASSWORD,
        BELAY_LOG_LEVEL: "Debug",
      })
      expect(result.stderr).toMatch(/uploading through the WebREPL file transfer/)
      expect(result.code).toBe(3)
      expect(result.stderr).toMatch(/LinkLostError|was lost|closed the connection/)
    } finally {
      await relay.close()
    }
    // The board stayed up; its flash has the old file, and the temporary file the cut put left
    // (listed by exec: no file operation, so nothing is cleaned on the way) ...
    const rootNames = async () => {
      const names = await belay(["exec", "import os\nprint(' '.join(os.listdir('/')))", "--device", device()])
      expect(names.code).toBe(0)
      return names.stdout.trim().split(" ")
    }
    expect(temporaries(await rootNames()).length).toBe(1)
    // ... is removed by the next connection's first file operation.
    const ls = await belay(["fs", "ls", "--json", "--device", device()])
    expect(ls.code).toBe(0)
    expect(stdoutJson(ls)).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: "/big.bin", size: 1000 })]),
    )
    expect(temporaries(await rootNames())).toEqual([])
    const back = path.join(cli.home(), "back.bin")
    expect((await belay(["fs", "get", "/big.bin", back, "--device", device()])).code).toBe(0)
    expect(Buffer.compare(await readFile(back), old)).toBe(0)
  })
})

describe("the CLI over WebREPL, no board", () => {
  it("a board that is gone: exit 3 and a message that names WebREPL", async () => {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))
    const port = (server.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const result = await belay(["exec", "print(1)", "--device", `ws://127.0.0.1:${port}`])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/connection refused: is WebREPL running on the board/)
  })
})

import { type ChildProcess, spawn } from "node:child_process"
import { connect, type Socket } from "node:net"
import { makeDeviceCommunication, openTcpLink } from "@belay/transport"
import { Effect, Schedule } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { READY_LINE } from "../src/cli.ts"
import { virtualBoardScript } from "../src/pty.ts"
import { PORT_IN_USE, tcpOption, tcpServeOptions } from "../src/tcpServer.ts"

/** A raw client: what it received so far, and a bounded wait for its connection to end. */
const client = (port: number) =>
  new Promise<{ socket: Socket; text: () => string; closed: Promise<void> }>((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port })
    let text = ""
    socket.on("data", (chunk) => (text += chunk.toString("latin1")))
    const closed = new Promise<void>((done) => socket.once("close", () => done()))
    socket.once("connect", () => resolve({ socket, text: () => text, closed }))
    socket.once("error", reject)
  })

const exec = (port: number, code: string) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const link = yield* openTcpLink({ host: "127.0.0.1", port })
        const device = yield* makeDeviceCommunication(link, { integrity: "unchecked" })
        return yield* device.exec(code)
      }),
    ),
  )

describe("belay-virtual-board --tcp", () => {
  let child: ChildProcess
  let port = 0
  beforeAll(async () => {
    child = spawn(process.execPath, [virtualBoardScript(), "--tcp", "127.0.0.1:0"], {
      stdio: ["ignore", "ignore", "pipe"],
    })
    let stderr = ""
    child.stderr?.on("data", (d) => (stderr += d))
    const deadline = Date.now() + 30_000
    while (!stderr.includes("\n") && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 20))
    }
    const ready = new RegExp(`^${READY_LINE} on tcp:127\\.0\\.0\\.1:(\\d+)$`, "m").exec(stderr)
    if (ready === null) throw new Error(`no ready line: ${stderr}`)
    port = Number(ready[1])
    expect(port).toBeGreaterThan(0)
  })
  afterAll(async () => {
    if (child.exitCode !== null) return
    const gone = new Promise((r) => child.once("exit", r))
    child.kill("SIGTERM")
    await gone
  })

  it("port 0 picks a free port, printed on the ready line; the board runs code over it", async () => {
    expect(await exec(port, "print(6 * 7)")).toBe("42\r\n")
  })

  it("keeps the board between clients: what one client defined, the next one sees", async () => {
    await exec(port, "kept = 'still here'")
    expect(await exec(port, "print(kept)")).toBe("still here\r\n")
  })

  it("refuses a second client as ser2net does, and keeps serving the first", {
    timeout: 30_000,
  }, async () => {
    const first = await client(port)
    const second = await client(port)
    await second.closed
    expect(second.text()).toBe(PORT_IN_USE)
    // The first connection still reaches the board: Ctrl-B leaves the raw REPL the last client left it in.
    first.socket.write("\r\x03\x02")
    const deadline = Date.now() + 10_000
    while (!first.text().includes(">>> ") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20))
    expect(first.text()).toContain(">>> ")
    first.socket.destroy()
    await first.closed
    // The slot is free again once the server has seen the first client leave.
    const again = await Effect.runPromise(
      Effect.promise(() =>
        exec(port, "print(1)").then(
          (out) => out,
          (error: unknown) => `failed: ${String(error)}`,
        ),
      ).pipe(
        Effect.repeat({
          until: (out) => !out.includes(PORT_IN_USE.trim()),
          schedule: Schedule.spaced(50),
          times: 20,
        }),
      ),
    )
    expect(again).toBe("1\r\n")
  })
})

describe("the --tcp option", () => {
  it("reads host:port, an IPv6 address in brackets, and refuses the rest", () => {
    expect(tcpOption(["--tcp", "127.0.0.1:0"])).toEqual({ host: "127.0.0.1", port: 0 })
    expect(tcpOption(["--no-raw-paste", "--tcp=[::1]:2217"])).toEqual({ host: "::1", port: 2217 })
    expect(tcpOption(["--no-raw-paste"])).toBe(undefined)
    for (const bad of ["8266", "host:", "host:70000", ":80"]) {
      expect(() => tcpOption(["--tcp", bad])).toThrow(/--tcp takes host:port/)
    }
  })

  it("reads --queue-clients and --idle-exit <seconds>, and refuses an idle time that is not positive", () => {
    expect(tcpServeOptions(["--tcp", "127.0.0.1:0"])).toEqual({})
    expect(tcpServeOptions(["--queue-clients", "--idle-exit", "1.5"])).toEqual({
      queueClients: true,
      idleExitMs: 1500,
    })
    for (const bad of ["0", "-3", "soon", "Infinity"])
      expect(() => tcpServeOptions(["--idle-exit", bad])).toThrow(/--idle-exit takes a positive number/)
  })
})

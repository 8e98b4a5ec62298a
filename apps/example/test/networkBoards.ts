/**
 * Boards on the network for the whole-process tests, all on 127.0.0.1: the virtual board served
 * by `belay-virtual-board --tcp`, a relay in front of it that a test can kill (a connection
 * dropped while the board stays up), and Debian's `ser2net` serving a pseudo-terminal board over
 * telnet RFC 2217 with a configuration file of ours in a temporary folder.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, realpathSync } from "node:fs"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { freePort, listensOn } from "../../../scripts/testing/ports.js"
import { sleep } from "./belayProcess.js"

export { freePort }

/** How often a wait looks again. */
const POLL_MS = 50
/** Bound on a server coming up (a virtual board under load takes a few seconds to start). */
const START_TIMEOUT_MS = 30_000
/** Bound on a server going away once signalled, before SIGKILL. */
const STOP_TIMEOUT_MS = 3000

/** Waits until `child` listens on `port`; false when it exits or the bound passes first. */
const waitForPort = async (port: number, child: ChildProcess): Promise<boolean> => {
  for (let i = 0; i < START_TIMEOUT_MS / POLL_MS; i++) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return false
    if (await listensOn(child.pid, port)) return true
    await sleep(POLL_MS)
  }
  return false
}

/** Signal a child we started and wait for it to be gone (SIGKILL after a bound). */
export const stopChild = async (child: ChildProcess, signal: NodeJS.Signals = "SIGTERM") => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  child.kill(signal)
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS)
  await gone
  clearTimeout(timer)
}

/** A network server the test started: its port and how to stop it. */
export interface NetworkServer {
  readonly child: ChildProcess
  readonly port: number
  readonly stderr: () => string
  readonly stop: (signal?: NodeJS.Signals) => Promise<void>
}

/** `belay-virtual-board --tcp 127.0.0.1:0`, with the port it printed on its ready line. */
export const startTcpBoard = async (args: ReadonlyArray<string> = []): Promise<NetworkServer> => {
  const { virtualBoardScript } = await import("@belay/virtual-device")
  const child = spawn(process.execPath, [virtualBoardScript(), "--tcp", "127.0.0.1:0", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  })
  let stderr = ""
  child.stderr.on("data", (d) => (stderr += d))
  for (let i = 0; i < START_TIMEOUT_MS / POLL_MS && !/ready on tcp:/.test(stderr); i++) {
    if (child.exitCode !== null) break
    await sleep(POLL_MS)
  }
  const port = Number(/ready on tcp:127\.0\.0\.1:(\d+)/.exec(stderr)?.[1])
  if (!Number.isInteger(port)) {
    await stopChild(child)
    throw new Error(`belay-virtual-board --tcp did not start: ${stderr}`)
  }
  return { child, port, stderr: () => stderr, stop: (signal) => stopChild(child, signal) }
}

/**
 * A `socat` relay on a port the OS picks (read from socat's "listening on" notice, so no other
 * program can take the port between choosing and binding it) to `targetPort`: killing it drops
 * the connection, the board stays up.
 */
export const startRelay = async (targetPort: number): Promise<NetworkServer> => {
  const child = spawn(
    "socat",
    ["-d", "-d", "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr", `TCP:127.0.0.1:${targetPort}`],
    { stdio: ["ignore", "ignore", "pipe"] },
  )
  let stderr = ""
  child.stderr.on("data", (d) => (stderr += d))
  const listeningOn = () => /listening on AF=2 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]
  for (let i = 0; i < START_TIMEOUT_MS / POLL_MS && listeningOn() === undefined; i++) {
    if (child.exitCode !== null || child.signalCode !== null) break
    await sleep(POLL_MS)
  }
  const port = Number(listeningOn())
  if (!Number.isInteger(port)) {
    await stopChild(child)
    throw new Error(`socat did not start listening: ${stderr}`)
  }
  return { child, port, stderr: () => stderr, stop: (signal) => stopChild(child, signal) }
}

/** Attempts at a free port for `ser2net`, which stays up saying nothing when its port was taken meanwhile. */
const SER2NET_ATTEMPTS = 3

/**
 * Debian's `ser2net` (4.x) serving `device` (a pseudo-terminal) on 127.0.0.1 with telnet RFC 2217,
 * in the foreground (`-n`), with our configuration file and pid file in a temporary folder.
 * `port` picks the port (the same one again after a restart); default a free one, and another
 * if a different program took that one before `ser2net` bound it.
 */
export const startSer2net = async (device: string, port?: number): Promise<NetworkServer> => {
  const attempts = port === undefined ? SER2NET_ATTEMPTS : 1
  let output = ""
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const chosen = port ?? (await freePort())
    const dir = await mkdtemp(path.join(os.tmpdir(), "belay-ser2net-"))
    const config = path.join(dir, "ser2net.yaml")
    await writeFile(
      config,
      [
        "connection: &board",
        `  accepter: telnet(rfc2217),tcp,127.0.0.1,${chosen}`,
        `  connector: serialdev,${realpathSync(device)},115200n81,local`,
        "",
      ].join("\n"),
    )
    // Debian puts it in /usr/sbin, which a non-root PATH often lacks.
    const ser2net = existsSync("/usr/sbin/ser2net") ? "/usr/sbin/ser2net" : "ser2net"
    const child = spawn(ser2net, ["-n", "-c", config, "-P", path.join(dir, "ser2net.pid")], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    output = ""
    child.stdout.on("data", (d) => (output += d))
    child.stderr.on("data", (d) => (output += d))
    child.once("exit", () => void rm(dir, { recursive: true, force: true }))
    if (await waitForPort(chosen, child)) {
      return { child, port: chosen, stderr: () => output, stop: (signal) => stopChild(child, signal) }
    }
    await stopChild(child)
  }
  throw new Error(`ser2net did not listen on 127.0.0.1 (${attempts} attempts): ${output}`)
}

/**
 * `belay-virtual-board --webrepl 127.0.0.1:0` with `password` from its environment (not its
 * command line), and the `ws://` address it printed on its ready line.
 */
export const startWebReplBoard = async (
  password: string,
  args: ReadonlyArray<string> = [],
): Promise<NetworkServer & { readonly url: string }> => {
  const { virtualBoardScript } = await import("@belay/virtual-device")
  const child = spawn(process.execPath, [virtualBoardScript(), "--webrepl", "127.0.0.1:0", ...args], {
    env: { ...process.env, BELAY_WEBREPL_PASSWORD: password },
    stdio: ["ignore", "ignore", "pipe"],
  })
  let stderr = ""
  child.stderr.on("data", (d) => (stderr += d))
  for (let i = 0; i < START_TIMEOUT_MS / POLL_MS && !/ready ws:\/\/\S+:\d+/.test(stderr); i++) {
    if (child.exitCode !== null) break
    await sleep(POLL_MS)
  }
  const url = /ready (ws:\/\/\S+:(\d+))/.exec(stderr)
  if (url?.[1] === undefined) {
    await stopChild(child)
    throw new Error(`belay-virtual-board --webrepl did not start: ${stderr}`)
  }
  return {
    child,
    url: url[1],
    port: Number(url[2]),
    stderr: () => stderr,
    stop: (signal) => stopChild(child, signal),
  }
}

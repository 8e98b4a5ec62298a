/**
 * Boards on the network for the whole-process tests, all on 127.0.0.1: the virtual board served
 * by `belay-virtual-board --tcp`, a relay in front of it that a test can kill (a connection
 * dropped while the board stays up), and Debian's `ser2net` serving a pseudo-terminal board over
 * telnet RFC 2217 with a configuration file of ours in a temporary folder.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { freePort } from "../../../scripts/testing/ports.js"
import { startSer2net as startSer2netOn, stopChild } from "../../../scripts/testing/ser2net.js"
import { sleep } from "./belayProcess.js"

export { freePort, stopChild }

/** How often a wait looks again. */
const POLL_MS = 50
/** Bound on a server coming up (a virtual board under load takes a few seconds to start). */
const START_TIMEOUT_MS = 30_000

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

/**
 * Debian's `ser2net` serving `device` (a pseudo-terminal) on 127.0.0.1 with telnet RFC 2217 (see
 * `scripts/testing/ser2net.ts`); `port` picks the port (the same one again after a restart).
 */
export const startSer2net = async (device: string, port?: number): Promise<NetworkServer> => {
  const server = await startSer2netOn(device, port)
  return { child: server.child, port: server.port, stderr: server.output, stop: server.stop }
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

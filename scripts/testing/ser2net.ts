/**
 * Debian's `ser2net` (4.x) for the tests: a serial device (a pseudo-terminal board) served on
 * 127.0.0.1 with telnet RFC 2217, as a lab shares a serial port, in the foreground (`-n`) with a
 * configuration file and pid file of ours in a temporary folder. The CLI's network tests and the
 * extensions' fault campaign start it through here.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, realpathSync } from "node:fs"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { freePort, listensOn } from "./ports.js"

/** How often a wait looks again. */
const POLL_MS = 50
/** Bound on ser2net listening (a loaded machine takes a while to start anything). */
const START_TIMEOUT_MS = 30_000
/** Bound on ser2net going away once signalled, before SIGKILL. */
const STOP_TIMEOUT_MS = 3000
/** Ports tried when none is given: ser2net stays up saying nothing when its port was taken meanwhile. */
const ATTEMPTS = 3

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Signal a child we started and wait for it to be gone (SIGKILL after a bound). */
export const stopChild = async (child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  child.kill(signal)
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS)
  await gone
  clearTimeout(timer)
}

/** Waits until `child` itself listens on `port`; false when it exits or the bound passes first. */
export const waitUntilListening = async (child: ChildProcess, port: number): Promise<boolean> => {
  for (let i = 0; i < START_TIMEOUT_MS / POLL_MS; i++) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return false
    if (await listensOn(child.pid, port)) return true
    await sleep(POLL_MS)
  }
  return false
}

/** A running ser2net: its port, what it printed, and how to stop it. */
export interface Ser2net {
  readonly child: ChildProcess
  readonly port: number
  readonly output: () => string
  readonly stop: (signal?: NodeJS.Signals) => Promise<void>
}

/**
 * `ser2net` serving `device` on 127.0.0.1. `port` picks the port (the same one again after a
 * restart); by default a free one, and another if a different program took that one before
 * ser2net bound it (it counts as up only once its own process listens on the port).
 */
export const startSer2net = async (device: string, port?: number): Promise<Ser2net> => {
  const attempts = port === undefined ? ATTEMPTS : 1
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
    const binary = existsSync("/usr/sbin/ser2net") ? "/usr/sbin/ser2net" : "ser2net"
    const child = spawn(binary, ["-n", "-c", config, "-P", path.join(dir, "ser2net.pid")], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    output = ""
    child.stdout.on("data", (d) => (output += d))
    child.stderr.on("data", (d) => (output += d))
    child.once("exit", () => void rm(dir, { recursive: true, force: true }))
    if (await waitUntilListening(child, chosen))
      return { child, port: chosen, output: () => output, stop: (signal) => stopChild(child, signal) }
    await stopChild(child)
  }
  throw new Error(`ser2net did not listen on 127.0.0.1 (${attempts} attempts): ${output}`)
}

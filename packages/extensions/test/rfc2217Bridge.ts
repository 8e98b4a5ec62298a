/**
 * A `ByteLink` behind Debian's `ser2net` with telnet RFC 2217, as a lab shares a serial port: the
 * board (in the test's process, whose resets the test drives) is served on a TCP port of
 * 127.0.0.1 (`serveLinkOverTcp`), `socat` turns that into a pseudo-terminal, and `ser2net` fronts
 * the pseudo-terminal on a port of its own with a configuration file in a temporary folder. Both
 * programs are stopped, and the folder removed, when the scope closes.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { ByteLink } from "@belay/transport"
import { Effect, type Scope } from "effect"
import { serveLinkOverTcp } from "./tcpBridge.js"

/** Bound on socat's pseudo-terminal and ser2net's port appearing. */
const START_TIMEOUT_MS = 15_000
const POLL_MS = 50

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

/** True once something listens on `port` (binding it fails). */
const taken = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer()
    probe.once("error", () => resolve(true))
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(false)))
  })

const until = async (ready: () => Promise<boolean> | boolean, what: string) => {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${START_TIMEOUT_MS} ms`)
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })

/** `ser2net` fronting `link` with RFC 2217 on 127.0.0.1; its port. */
export const serveLinkOverRfc2217 = (
  link: ByteLink,
): Effect.Effect<{ readonly port: number }, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const { port: tcpPort } = yield* serveLinkOverTcp(link)
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "belay-rfc2217-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true })),
    )
    const pty = join(dir, "pty")
    const socat = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn("socat", [`PTY,link=${pty},raw,echo=0`, `TCP:127.0.0.1:${tcpPort},nodelay`], {
          stdio: "ignore",
        }),
      ),
      (child) => Effect.promise(() => stop(child)),
    )
    yield* Effect.tryPromise({
      try: () => until(() => existsSync(pty) || socat.exitCode !== null, "socat's pseudo-terminal"),
      catch: (e) => e as Error,
    })
    const port = yield* Effect.promise(freePort)
    const config = join(dir, "ser2net.yaml")
    writeFileSync(
      config,
      [
        "connection: &board",
        `  accepter: telnet(rfc2217),tcp,127.0.0.1,${port}`,
        `  connector: serialdev,${realpathSync(pty)},115200n81,local`,
        "",
      ].join("\n"),
    )
    // Debian puts it in /usr/sbin, which a non-root PATH often lacks.
    const binary = existsSync("/usr/sbin/ser2net") ? "/usr/sbin/ser2net" : "ser2net"
    const ser2net = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(binary, ["-n", "-c", config, "-P", join(dir, "ser2net.pid")], { stdio: "ignore" }),
      ),
      (child) => Effect.promise(() => stop(child)),
    )
    yield* Effect.tryPromise({
      try: () =>
        until(async () => ser2net.exitCode !== null || (await taken(port)), `ser2net on port ${port}`),
      catch: (e) => e as Error,
    })
    if (ser2net.exitCode !== null)
      return yield* Effect.fail(new Error(`ser2net exited (${ser2net.exitCode})`))
    return { port }
  })

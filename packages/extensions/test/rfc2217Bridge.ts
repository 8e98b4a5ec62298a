/**
 * A `ByteLink` behind Debian's `ser2net` with telnet RFC 2217, as a lab shares a serial port: the
 * board (in the test's process, whose resets the test drives) is served on a TCP port of
 * 127.0.0.1 (`serveLinkOverTcp`), `socat` turns that into a pseudo-terminal, and `ser2net` fronts
 * the pseudo-terminal on a port of its own with a configuration file in a temporary folder. Both
 * programs are stopped, and the folder removed, when the scope closes.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { ByteLink } from "@belay/transport"
import { Effect, type Scope } from "effect"
import { freePort, listensOn } from "../../../scripts/testing/ports.js"
import { serveLinkOverTcp } from "./tcpBridge.js"

/** Bound on socat's pseudo-terminal and ser2net's port appearing. */
const START_TIMEOUT_MS = 15_000
const POLL_MS = 50
/** Ports tried for ser2net (see below). */
const SER2NET_ATTEMPTS = 3

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
    // Debian puts it in /usr/sbin, which a non-root PATH often lacks.
    const binary = existsSync("/usr/sbin/ser2net") ? "/usr/sbin/ser2net" : "ser2net"
    const config = join(dir, "ser2net.yaml")
    // ser2net stays up saying nothing when another program took its port before it bound it:
    // a port counts once ser2net itself listens on it, else another port is tried.
    for (let attempt = 1; attempt <= SER2NET_ATTEMPTS; attempt++) {
      const port = yield* Effect.promise(freePort)
      writeFileSync(
        config,
        [
          "connection: &board",
          `  accepter: telnet(rfc2217),tcp,127.0.0.1,${port}`,
          `  connector: serialdev,${realpathSync(pty)},115200n81,local`,
          "",
        ].join("\n"),
      )
      const ser2net = spawn(binary, ["-n", "-c", config, "-P", join(dir, "ser2net.pid")], { stdio: "ignore" })
      yield* Effect.addFinalizer(() => Effect.promise(() => stop(ser2net)))
      const listening = yield* Effect.promise(() =>
        until(
          async () => ser2net.exitCode !== null || (await listensOn(ser2net.pid ?? -1, port)),
          `ser2net on port ${port}`,
        ).then(
          () => ser2net.exitCode === null,
          () => false,
        ),
      )
      if (listening) return { port }
      yield* Effect.promise(() => stop(ser2net))
    }
    return yield* Effect.fail(new Error(`ser2net did not listen on 127.0.0.1 (${SER2NET_ATTEMPTS} attempts)`))
  })

/**
 * A `ByteLink` behind Debian's `ser2net` with telnet RFC 2217, as a lab shares a serial port: the
 * board (in the test's process, whose resets the test drives) is served on a TCP port of
 * 127.0.0.1 (`serveLinkOverTcp`), `socat` turns that into a pseudo-terminal, and `ser2net` fronts
 * the pseudo-terminal on a port of its own with a configuration file in a temporary folder. Both
 * programs are stopped, and the folder removed, when the scope closes.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { ByteLink } from "@belay/transport"
import { Effect, type Scope } from "effect"
import { startSer2net, stopChild } from "../../../scripts/testing/ser2net.js"
import { serveLinkOverTcp } from "./tcpBridge.js"

/** Bound on socat's pseudo-terminal appearing. */
const START_TIMEOUT_MS = 15_000
const POLL_MS = 50

const until = async (ready: () => Promise<boolean> | boolean, what: string) => {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${START_TIMEOUT_MS} ms`)
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

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
      (child) => Effect.promise(() => stopChild(child)),
    )
    yield* Effect.tryPromise({
      try: () => until(() => existsSync(pty) || socat.exitCode !== null, "socat's pseudo-terminal"),
      catch: (e) => e as Error,
    })
    // A port counts once ser2net itself listens on it (another is tried if one was taken).
    const ser2net = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => startSer2net(pty), catch: (e) => e as Error }),
      (server) => Effect.promise(() => server.stop()),
    )
    return { port: ser2net.port }
  })

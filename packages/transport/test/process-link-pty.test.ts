import { readFileSync } from "node:fs"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { Effect, Exit, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { openProcessLink } from "../src/ProcessLink.js"
import { PtyUnavailableError } from "../src/Pseudoterminal.js"

// A program on a raw pseudo-terminal (`pty: true`, the `exec-pty:` connection): it sees a
// terminal, every byte reaches it unchanged, and closing the link leaves nothing running.

/** A program that, like `ssh -t` or `docker run -it`, refuses to start unless stdin is a terminal; then it echoes. */
const TTY_ONLY_CAT = ["-c", "[ -t 0 ] || { echo 'stdin is not a terminal' >&2; exit 3; }; exec cat"]

const EVERY_BYTE = Uint8Array.from({ length: 256 }, (_, i) => i)

/** The first `n` bytes the link receives. */
const receive = (received: Stream.Stream<Uint8Array, unknown>, n: number) =>
  received.pipe(
    Stream.flatMap((chunk) => Stream.fromIterable(chunk)),
    Stream.take(n),
    Stream.runCollect,
    Effect.map((bytes) => Uint8Array.from(bytes)),
  )

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return !isZombie(pid)
  } catch {
    return false
  }
}
const isZombie = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z")
  } catch {
    return false
  }
}

let dir = ""
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "belay-pty-"))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe.runIf(process.platform === "linux")("openProcessLink with pty", () => {
  it("a program that needs a terminal fails on pipes and runs on a pseudo-terminal", async () => {
    const onPipes = await Effect.runPromiseExit(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openProcessLink({ command: "sh", args: TTY_ONLY_CAT })
          return yield* receive(link.received, 1)
        }),
      ),
    )
    expect(Exit.isFailure(onPipes)).toBe(true)
    expect(String(Exit.isFailure(onPipes) && onPipes.cause)).toContain("stdin is not a terminal")

    const echoed = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openProcessLink({ command: "sh", args: TTY_ONLY_CAT, pty: true })
          yield* link.write(new TextEncoder().encode("hello\r"))
          return new TextDecoder().decode(yield* receive(link.received, 6))
        }),
      ),
    )
    // Raw: the CR comes back as it went (no CR-to-LF on input, no LF-to-CRLF on output), and once (no echo).
    expect(echoed).toBe("hello\r")
  })

  it("all 256 byte values, Ctrl-C, Ctrl-D and CR among them, pass through unchanged both ways", async () => {
    const back = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openProcessLink({ command: "cat", pty: true })
          yield* link.write(EVERY_BYTE)
          return yield* receive(link.received, 256)
        }),
      ),
    )
    expect(back).toEqual(EVERY_BYTE)
  })

  it("closing the link stops the program and script, without waiting on them", async () => {
    const pidFile = path.join(dir, "program.pid")
    const scriptPid = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openProcessLink({
            command: "sh",
            args: ["-c", `echo $$ > ${pidFile}; exec cat`],
            pty: true,
            // A close that fell back to SIGKILL would take longer than the test allows.
            killTimeoutMs: 30_000,
          })
          yield* link.write(new TextEncoder().encode("x"))
          yield* receive(link.received, 1)
          return (yield* link.pid) as number
        }),
      ),
    )
    const programPid = Number(await readFile(pidFile, "utf8"))
    expect(programPid).toBeGreaterThan(0)
    expect(isAlive(scriptPid)).toBe(false)
    expect(isAlive(programPid)).toBe(false)
  }, 20_000)

  it("a program that is not there fails to open, as on pipes", async () => {
    const exit = await Effect.runPromiseExit(
      Effect.scoped(openProcessLink({ command: "no-such-program-here", pty: true })),
    )
    expect(String(Exit.isFailure(exit) && exit.cause)).toContain("command not found: no-such-program-here")
  })

  it("fails with PtyUnavailableError where script is not on PATH", async () => {
    const saved = process.env.PATH
    process.env.PATH = dir
    try {
      const exit = await Effect.runPromiseExit(Effect.scoped(openProcessLink({ command: "cat", pty: true })))
      expect(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail").toBe(true)
      const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error: unknown }).error : undefined
      expect(error).toBeInstanceOf(PtyUnavailableError)
      expect((error as PtyUnavailableError).message).toContain("apt-get install bsdutils")
    } finally {
      process.env.PATH = saved
    }
  })
})

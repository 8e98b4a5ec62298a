import { Effect, Exit, Stream } from "effect"
import { describe, expect, it } from "vitest"
import type { ByteLink } from "../src/ByteLink.js"
import type { LinkError } from "../src/errors.js"
import { openProcessLink } from "../src/ProcessLink.js"

const encode = (text: string) => new TextEncoder().encode(text)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** Everything a link received so far, and how its stream ended. */
interface Received {
  bytes: Uint8Array
  end: Exit.Exit<void, LinkError> | undefined
}

/** Consume `link.received` in the background (in the test's scope). */
const collect = (link: ByteLink) =>
  Effect.gen(function* () {
    const received: Received = { bytes: new Uint8Array(0), end: undefined }
    yield* Stream.runForEach(link.received, (chunk) =>
      Effect.sync(() => {
        const joined = new Uint8Array(received.bytes.length + chunk.length)
        joined.set(received.bytes)
        joined.set(chunk, received.bytes.length)
        received.bytes = joined
      }),
    ).pipe(
      Effect.exit,
      Effect.tap((exit) => Effect.sync(() => (received.end = exit))),
      Effect.forkScoped,
    )
    return received
  })

/** Poll until `condition` holds; fail with `what` after `ms`. */
const waitUntil = (what: string, condition: () => boolean, ms = 5000) =>
  Effect.gen(function* () {
    while (!condition()) yield* Effect.sleep(5)
  }).pipe(
    Effect.timeoutOrElse({
      duration: ms,
      orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)),
    }),
  )

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const failureOf = (received: Received) =>
  received.end !== undefined && Exit.isFailure(received.end)
    ? received.end.cause.reasons.find((reason) => reason._tag === "Fail")?.error
    : undefined

describe("openProcessLink", () => {
  it("echoes bytes through cat, all 256 byte values included", async () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const echoed = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openProcessLink({ command: "cat" })
          expect(link.description).toBe("exec:cat")
          const received = yield* collect(link)
          yield* link.write(encode("hello\n"))
          yield* link.write(all)
          yield* waitUntil("the echo", () => received.bytes.length >= 6 + 256)
          expect(yield* link.isOpen).toBe(true)
          return received.bytes
        }),
      ),
    )
    expect(decode(echoed.subarray(0, 6))).toBe("hello\n")
    expect(Array.from(echoed.subarray(6))).toEqual(Array.from(all))
  })

  it("fails the received stream with LinkLostError, exit code and stderr when the process exits", async () => {
    const received = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openProcessLink({
            command: "sh",
            args: ["-c", "printf 'last words'; echo 'something broke' >&2; exit 3"],
          })
          const received = yield* collect(link)
          yield* waitUntil("the end of the stream", () => received.end !== undefined)
          expect(yield* link.isOpen).toBe(false)
          const write = yield* Effect.flip(link.write(encode("x")))
          expect(write._tag).toBe("LinkLostError")
          return received
        }),
      ),
    )
    expect(decode(received.bytes)).toBe("last words")
    const error = failureOf(received)
    expect(error?._tag).toBe("LinkLostError")
    expect(error?.message).toContain("exited with code 3")
    expect(error?.message).toContain("something broke")
  })

  it("reports a process killed by a signal", async () => {
    const error = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openProcessLink({ command: "sh", args: ["-c", "kill -KILL $$"] })
          const received = yield* collect(link)
          yield* waitUntil("the end of the stream", () => received.end !== undefined)
          return failureOf(received)
        }),
      ),
    )
    expect(error?._tag).toBe("LinkLostError")
    expect(error?.message).toContain("SIGKILL")
  })

  it("fails with LinkOpenError when the command does not exist", async () => {
    const error = await Effect.runPromise(
      Effect.scoped(Effect.flip(openProcessLink({ command: "belay-no-such-command-xyz" }))),
    )
    expect(error._tag).toBe("LinkOpenError")
    expect(error.reason).toContain("command not found: belay-no-such-command-xyz")
  })

  it("fails with LinkOpenError when the working directory does not exist", async () => {
    const error = await Effect.runPromise(
      Effect.scoped(Effect.flip(openProcessLink({ command: "cat", cwd: "/nonexistent/belay-dir" }))),
    )
    expect(error._tag).toBe("LinkOpenError")
    expect(error.reason).toContain("/nonexistent/belay-dir")
  })

  it("passes arguments without a shell and merges the environment", async () => {
    const output = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openProcessLink({
            command: "sh",
            args: ["-c", 'printf "%s|%s|%s" "$1" "$BELAY_TEST" "$HOME"; exec sleep 5', "sh", "a b; $(no)"],
            env: { BELAY_TEST: "yes" },
          })
          const received = yield* collect(link)
          yield* waitUntil("the output", () => decode(received.bytes).split("|").length === 3)
          return decode(received.bytes)
        }),
      ),
    )
    expect(output).toBe(`a b; $(no)|yes|${process.env.HOME ?? ""}`)
  })

  it("restarts the process when it exits, with restartOnExit, and keeps the link open", async () => {
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          // Each incarnation prints a banner, then exits when it reads the line "reset".
          const link = yield* openProcessLink({
            command: "sh",
            args: [
              "-c",
              'echo "boot $$"; while read line; do [ "$line" = reset ] && exit 0; echo "got $line"; done',
            ],
            restartOnExit: true,
          })
          const received = yield* collect(link)
          yield* waitUntil("the first banner", () => /boot \d+\n/.test(decode(received.bytes)))
          const firstPid = yield* link.pid
          yield* link.write(encode("one\n"))
          yield* waitUntil("the first answer", () => decode(received.bytes).includes("got one\n"))
          yield* link.write(encode("reset\n"))
          yield* waitUntil(
            "the second banner",
            () => (decode(received.bytes).match(/boot \d+\n/g) ?? []).length === 2,
          )
          yield* waitUntil("the new pid", () => Effect.runSync(link.pid) !== undefined)
          const secondPid = yield* link.pid
          yield* link.write(encode("two\n"))
          yield* waitUntil("the second answer", () => decode(received.bytes).includes("got two\n"))
          return {
            text: decode(received.bytes),
            firstPid,
            secondPid,
            restarts: yield* link.restarts,
            open: yield* link.isOpen,
            ended: received.end !== undefined,
          }
        }),
      ),
    )
    expect(result.restarts).toBe(1)
    expect(result.open).toBe(true)
    expect(result.ended).toBe(false)
    expect(result.firstPid).toBeTypeOf("number")
    expect(result.secondPid).toBeTypeOf("number")
    expect(result.secondPid).not.toBe(result.firstPid)
    expect(result.text).toMatch(/^boot \d+\ngot one\nboot \d+\ngot two\n$/)
    expect(result.text).toContain(`boot ${result.secondPid}\n`)
  })

  it("gives up on a process that keeps exiting right after it starts", async () => {
    const error = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openProcessLink({
            command: "sh",
            args: ["-c", "echo crash >&2; exit 7"],
            restartOnExit: true,
            maxQuickRestarts: 2,
          })
          const received = yield* collect(link)
          yield* waitUntil("the end of the stream", () => received.end !== undefined)
          expect(yield* link.restarts).toBe(2)
          return failureOf(received)
        }),
      ),
    )
    expect(error?._tag).toBe("LinkLostError")
    expect(error?.message).toContain("keeps exiting")
    expect(error?.message).toContain("exited with code 7")
    expect(error?.message).toContain("crash")
  })

  it("kills the process when the scope closes, and the stream ends in order", async () => {
    let received: Received | undefined
    const pid = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openProcessLink({ command: "sleep", args: ["60"] })
          received = yield* collect(link)
          const pid = yield* link.pid
          expect(pid).toBeTypeOf("number")
          expect(isAlive(pid!)).toBe(true)
          return pid!
        }),
      ),
    )
    // The scope waited for the exit: the pid is gone now, not eventually.
    expect(isAlive(pid)).toBe(false)
    expect(received?.end === undefined || Exit.isSuccess(received.end)).toBe(true)
  })

  it("kills a process that ignores SIGTERM with SIGKILL after the bound", async () => {
    const pid = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openProcessLink({
            command: "sh",
            args: ["-c", "trap '' TERM; echo ready; while :; do :; done"],
            killTimeoutMs: 200,
          })
          const received = yield* collect(link)
          yield* waitUntil("ready", () => decode(received.bytes).includes("ready"))
          return (yield* link.pid)!
        }),
      ),
    )
    expect(isAlive(pid)).toBe(false)
  })

  it("fails writes after the scope closed with LinkClosedError", async () => {
    const link = await Effect.runPromise(Effect.scoped(openProcessLink({ command: "cat" })))
    const error = await Effect.runPromise(Effect.flip(link.write(encode("late"))))
    expect(error._tag).toBe("LinkClosedError")
    expect(await Effect.runPromise(link.isOpen)).toBe(false)
  })
})

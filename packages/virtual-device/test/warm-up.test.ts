import { spawnSync } from "node:child_process"
import path from "node:path"
import { describe, expect, it } from "vitest"

// warmUpVirtualBoard starts an interpreter on standby: a process that never opens a board must
// still exit on its own, and the next board opened takes the interpreter and works. Whole
// processes, from the built package (by its own name), as a program uses it.

const packageDir = path.resolve(import.meta.dirname, "..")
/** Bound on one process: a hang fails the test instead of stalling the run. */
const PROCESS_TIMEOUT_MS = 30_000

const node = (source: string) => {
  // CommonJS with import(): a worker thread inherits the process's flags, and --input-type is refused there.
  const result = spawnSync(
    process.execPath,
    ["-e", `(async () => {${source}})().catch((e) => { console.error(e); process.exitCode = 1 })`],
    {
      cwd: packageDir,
      encoding: "utf8",
      timeout: PROCESS_TIMEOUT_MS,
    },
  )
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr }
}

describe("warmUpVirtualBoard", () => {
  it("does not keep a process alive that never opens a board", () => {
    const result = node(`
      const { warmUpVirtualBoard } = await import("@belay/virtual-device/warm-up")
      warmUpVirtualBoard()
      warmUpVirtualBoard()
      console.log("warmed")
    `)
    expect(result.signal, result.stderr).toBeNull()
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toBe("warmed\n")
  })

  it("the board opened next takes the interpreter, and runs code", () => {
    const result = node(`
      const { warmUpVirtualBoard } = await import("@belay/virtual-device/warm-up")
      const { openVirtualBoard } = await import("@belay/virtual-device")
      const { Effect, Stream } = await import("effect")
      warmUpVirtualBoard()
      const text = new TextDecoder()
      let seen = ""
      const program = Effect.scoped(Effect.gen(function* () {
        const link = yield* openVirtualBoard({})
        yield* Stream.runForEach(link.received, (chunk) => Effect.sync(() => { seen += text.decode(chunk) })).pipe(Effect.forkScoped)
        yield* link.write(new TextEncoder().encode("\\r\\x03\\x03\\r\\x01"))
        yield* Effect.sleep("300 millis")
        yield* link.write(new TextEncoder().encode("print(6 * 7)\\x04"))
        for (let i = 0; i < 100 && !seen.includes("42"); i++) yield* Effect.sleep("50 millis")
      }))
      await Effect.runPromise(program)
      console.log(seen.includes("OK42") ? "ran" : JSON.stringify(seen))
    `)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toBe("ran\n")
  })
})

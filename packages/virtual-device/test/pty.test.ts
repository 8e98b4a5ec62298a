import { existsSync } from "node:fs"
import { Effect } from "effect"
import { SerialPort } from "serialport"
import { describe, expect, it } from "vitest"
import { openVirtualBoardPty } from "../src/pty.ts"

/** A serialport connection with bounded waits for what the board sends. */
const connect = async (path: string) => {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())))
  let text = ""
  const wakeups: Array<() => void> = []
  port.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1")
    for (const wake of wakeups.splice(0)) wake()
  })
  const until = async (marker: string, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs
    while (!text.includes(marker)) {
      const left = deadline - Date.now()
      if (left <= 0)
        throw new Error(`no ${JSON.stringify(marker)} within ${timeoutMs} ms; got ${JSON.stringify(text)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        wakeups.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    const end = text.indexOf(marker) + marker.length
    const taken = text.slice(0, end)
    text = text.slice(end)
    return taken
  }
  const write = (data: string) =>
    new Promise<void>((resolve, reject) =>
      port.write(Buffer.from(data, "latin1"), (error) =>
        error ? reject(error) : port.drain(() => resolve()),
      ),
    )
  const close = () => new Promise<void>((resolve) => port.close(() => resolve()))
  return { until, write, close }
}

describe("openVirtualBoardPty", () => {
  it("serves a board that serialport opens by path", { timeout: 30_000 }, async () => {
    const path = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const { path } = yield* openVirtualBoardPty({ rawPasteWindow: 128 })
          expect(existsSync(path)).toBe(true)
          yield* Effect.promise(async () => {
            const port = await connect(path)
            try {
              await port.write("\r\x03\r\x01")
              await port.until("raw REPL; CTRL-B to exit\r\n>")
              await port.write("print(1+1)\x04")
              expect(await port.until("\x04>")).toBe("OK2\r\n\x04\x04>")
              // Raw-paste through the pty, with the configured window.
              await port.write("\x05A\x01")
              expect(await port.until("\x01\x80\x00\x01")).toBe("R\x01\x80\x00\x01")
              await port.write("print('pasted')\x04")
              expect(await port.until("\x04>")).toBe("\x04pasted\r\n\x04\x04>")
              // Ctrl-C passes through the raw pty as a byte and stops running code.
              await port.write("while True:\n    pass\x04")
              await port.until("OK")
              await port.write("\x03")
              expect(await port.until("\x04>")).toContain("KeyboardInterrupt")
            } finally {
              await port.close()
            }
          })
          return path
        }),
      ),
    )
    // The scope closed: socat and the board are gone, and so is the link.
    expect(existsSync(path)).toBe(false)
  })

  it("fails with LinkOpenError when socat cannot be started", { timeout: 30_000 }, async () => {
    const error = await Effect.runPromise(
      Effect.scoped(Effect.flip(openVirtualBoardPty({ socat: "/nonexistent/socat", startTimeoutMs: 5000 }))),
    )
    expect(error._tag).toBe("LinkOpenError")
  })
})

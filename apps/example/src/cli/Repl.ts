import { DeviceCommunication } from "@belay/transport"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { print, writeError } from "./Output.js"

const CTRL_RIGHT_BRACKET = 0x1d

/** An interactive terminal to the board's friendly REPL; Ctrl-] leaves. */
export const runRepl = Effect.scoped(
  Effect.gen(function* () {
    const device = yield* DeviceCommunication
    const term = yield* device.terminal
    const leave = yield* Deferred.make<void>()
    const stdin = process.stdin
    const raw = stdin.isTTY === true
    if (raw) stdin.setRawMode(true)
    writeError(`connected to ${device.description}; Ctrl-] leaves\n`)
    const onData = (chunk: Buffer) => {
      const at = chunk.indexOf(CTRL_RIGHT_BRACKET)
      const bytes = at >= 0 ? chunk.subarray(0, at) : chunk
      if (bytes.length > 0) Effect.runFork(Effect.ignore(term.write(new Uint8Array(bytes))))
      if (at >= 0) Deferred.doneUnsafe(leave, Effect.void)
    }
    const onEnd = () => Deferred.doneUnsafe(leave, Effect.void)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        stdin.on("data", onData)
        stdin.on("end", onEnd)
        stdin.resume()
      }),
      () =>
        Effect.sync(() => {
          stdin.off("data", onData)
          stdin.off("end", onEnd)
          if (raw) stdin.setRawMode(false)
          // Done with the keyboard: a paused pipe would still keep the process alive.
          stdin.destroy()
        }),
    )
    // The prompt that leaving the raw REPL printed was read by the engine: ask for a fresh one.
    yield* term.write(Uint8Array.of(0x0d))
    yield* Stream.runForEach(term.output, (bytes) => print(bytes)).pipe(
      Effect.raceFirst(Deferred.await(leave)),
    )
    writeError("\nleft the REPL\n")
  }),
)

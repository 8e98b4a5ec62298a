import { createWriteStream } from "node:fs"
import { DeviceCommunication } from "@belay/transport"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { print, writeError } from "./Output.js"

const CTRL_RIGHT_BRACKET = 0x1d
/** Ctrl-J (line feed): types `injectCode` (Enter sends a carriage return, so Ctrl-J is free). */
const CTRL_J = 0x0a

/** Options of the REPL. */
export interface ReplOptions {
  /** A host file that receives a copy of everything the board prints (appended). */
  readonly capture?: string
  /** Code typed into the REPL each time Ctrl-J is pressed, followed by Enter. */
  readonly injectCode?: string
}

/**
 * An interactive terminal to the board's friendly REPL; Ctrl-] leaves. With `capture`, what the
 * board prints is also appended to that file; with `injectCode`, Ctrl-J types that code.
 *
 * @example
 * yield* onBoard(device, replSession({ capture: "session.log", injectCode: "import main" }))
 */
export const replSession = (options: ReplOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const device = yield* DeviceCommunication
      const term = yield* device.terminal
      const leave = yield* Deferred.make<void>()
      const stdin = process.stdin
      const raw = stdin.isTTY === true
      if (raw) stdin.setRawMode(true)
      writeError(`connected to ${device.description}; Ctrl-] leaves\n`)
      const injected = options.injectCode === undefined ? undefined : Buffer.from(`${options.injectCode}\r`)
      const onData = (chunk: Buffer) => {
        const at = chunk.indexOf(CTRL_RIGHT_BRACKET)
        let bytes = at >= 0 ? chunk.subarray(0, at) : chunk
        if (injected !== undefined && bytes.includes(CTRL_J)) {
          const parts: Array<Buffer> = []
          for (const byte of bytes) parts.push(byte === CTRL_J ? injected : Buffer.of(byte))
          bytes = Buffer.concat(parts)
        }
        if (bytes.length > 0) Effect.runFork(Effect.ignore(term.write(new Uint8Array(bytes))))
        if (at >= 0) Deferred.doneUnsafe(leave, Effect.void)
      }
      const capture =
        options.capture === undefined
          ? undefined
          : yield* Effect.acquireRelease(
              Effect.sync(() => createWriteStream(options.capture as string, { flags: "a" })),
              (stream) => Effect.callback<void>((resume) => void stream.end(() => resume(Effect.void))),
            )
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
      yield* Stream.runForEach(term.output, (bytes) => {
        capture?.write(bytes)
        return print(bytes)
      }).pipe(Effect.raceFirst(Deferred.await(leave)))
      writeError("\nleft the REPL\n")
    }),
  )

/** {@link replSession} with no capture and nothing to inject. */
export const runRepl = replSession({})

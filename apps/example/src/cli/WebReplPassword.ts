import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { CliConfig } from "./Flags.js"
import { writeError } from "./Output.js"

/** Ctrl-C and Ctrl-D typed at the prompt: give up. */
const ABORT_KEYS = new Set([0x03, 0x04])
const BACKSPACE_KEYS = new Set([0x08, 0x7f])

/** Ask for a password on the terminal without echoing it; `undefined` when the person gives up. */
const askOnTerminal = (question: string): Effect.Effect<string | undefined> =>
  Effect.callback<string | undefined>((resume) => {
    const stdin = process.stdin
    const wasRaw = stdin.isRaw
    writeError(question)
    stdin.setRawMode(true)
    stdin.resume()
    let typed = ""
    const done = (value: string | undefined) => {
      stdin.off("data", onData)
      stdin.setRawMode(wasRaw)
      stdin.pause()
      writeError("\n")
      resume(Effect.succeed(value))
    }
    const onData = (chunk: Buffer) => {
      for (const byte of chunk) {
        if (byte === 0x0d || byte === 0x0a) return done(typed)
        if (ABORT_KEYS.has(byte)) return done(undefined)
        if (BACKSPACE_KEYS.has(byte)) typed = typed.slice(0, -1)
        else typed += String.fromCharCode(byte)
      }
    }
    stdin.on("data", onData)
    return Effect.sync(() => {
      stdin.off("data", onData)
      stdin.setRawMode(wasRaw)
      stdin.pause()
    })
  })

/**
 * The WebREPL password for `device` when it is a `ws://`/`wss://` board that nothing else gives one
 * to: the config file's `webReplPassword`, else (on a terminal) a prompt. `undefined` when the
 * connection string or `BELAY_WEBREPL_PASSWORD` has it (the library reads those), or when there is
 * no terminal to ask on (then a board that asks for one fails with `WebReplLoginError`).
 *
 * @example
 * const password = yield* webReplPasswordFor("ws://192.168.4.1", readCliConfig())
 */
export const webReplPasswordFor = (
  device: string,
  config: CliConfig,
): Effect.Effect<Redacted.Redacted<string> | undefined> => {
  if (!/^wss?:\/\//i.test(device) || /[?&]password=/i.test(device) || process.env.BELAY_WEBREPL_PASSWORD)
    return Effect.succeed(undefined)
  if (config.webReplPassword !== undefined) return Effect.succeed(Redacted.make(config.webReplPassword))
  if (!process.stdin.isTTY || !process.stderr.isTTY) return Effect.succeed(undefined)
  const shown = device.replace(/\?.*$/, "")
  return Effect.map(askOnTerminal(`WebREPL password for ${shown}: `), (typed) =>
    typed === undefined || typed === "" ? undefined : Redacted.make(typed),
  )
}

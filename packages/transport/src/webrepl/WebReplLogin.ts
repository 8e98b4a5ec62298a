import { Data } from "effect"

/**
 * What the firmware sends while a WebREPL client logs in (MicroPython's `extmod/modwebrepl.c`):
 * a prompt, then one of two answers to the line typed after it. The firmware compares the typed
 * line (ended by `\r` or `\n`, at most 10 characters kept) with the password set by
 * `webrepl_setup`, which is 4 to 9 characters long.
 */
export const PASSWORD_PROMPT = "Password: "
/** The firmware's answer to the right password; the REPL's `>>> ` follows it. */
export const CONNECTED_ANSWER = "\r\nWebREPL connected\r\n"
/** The firmware's answer to a wrong password; it then closes the connection. */
export const DENIED_ANSWER = "\r\nAccess denied\r\n"
/**
 * Passwords longer than this cannot be set on the firmware (`webrepl.password` refuses them).
 *
 * @example
 * if (password.length > MAX_PASSWORD_CHARS) console.warn("no board can have this password")
 * @since 0.1.0
 */
export const MAX_PASSWORD_CHARS = 9

/**
 * Logging in to a board's WebREPL failed: no password was given, the board refused it, or the
 * board did not log the client in at all.
 *
 * @example
 * Effect.catchTag("WebReplLoginError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class WebReplLoginError extends Data.TaggedError("WebReplLoginError")<{
  /** Where the link goes, without any password: `ws://192.168.4.1:8266`. */
  readonly link: string
  /** `missing-password`: none was given; `wrong-password`: the board answered `Access denied`. */
  readonly kind: "missing-password" | "wrong-password"
}> {
  override get message() {
    return this.kind === "missing-password"
      ? `${this.link} asks for a WebREPL password and none was given: set BELAY_WEBREPL_PASSWORD or "webReplPassword" in belay's config file (belay also asks on a terminal), or give the connection's password option`
      : `${this.link} refused the WebREPL password (Access denied): check BELAY_WEBREPL_PASSWORD or "webReplPassword" in the config file; the board's password is the one set with \`import webrepl_setup\` (4 to 9 characters)`
  }
}

/**
 * The client side of the login, fed with what the board sends; no I/O of its own, so that the
 * link and the tests drive it the same way.
 *
 * - `prompt`: the board asked for the password.
 * - `connected`: the board logged the client in; `rest` is what followed the answer (the REPL's
 *   `>>> `, and whatever the board printed after it).
 * - `denied`: the board refused the password.
 * - `waiting`: not enough bytes yet.
 */
export type LoginStep =
  | { readonly _tag: "waiting" }
  | { readonly _tag: "prompt" }
  | { readonly _tag: "connected"; readonly rest: Uint8Array }
  | { readonly _tag: "denied" }

const latin1 = new TextDecoder("latin1")

/** Bytes as one char each, so that indexes into the text are indexes into the bytes. */
const asText = (bytes: Uint8Array) => latin1.decode(bytes)

/**
 * Tracks the login exchange over the bytes the board sends, however they are split into frames.
 */
export class LoginReader {
  private seen = new Uint8Array(0)
  private prompted = false

  /** Add bytes from the board; says what the exchange has come to. */
  feed(bytes: Uint8Array): LoginStep {
    const joined = new Uint8Array(this.seen.length + bytes.length)
    joined.set(this.seen)
    joined.set(bytes, this.seen.length)
    this.seen = joined
    const text = asText(joined)
    const connected = text.indexOf(CONNECTED_ANSWER)
    if (connected >= 0) {
      this.seen = new Uint8Array(0)
      return { _tag: "connected", rest: joined.slice(connected + CONNECTED_ANSWER.length) }
    }
    if (text.includes(DENIED_ANSWER)) return { _tag: "denied" }
    if (!this.prompted && text.includes(PASSWORD_PROMPT)) {
      this.prompted = true
      return { _tag: "prompt" }
    }
    return { _tag: "waiting" }
  }
}

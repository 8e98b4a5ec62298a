import { Effect, Stream } from "effect"
import { openVirtualBoard, type VirtualBoardLink } from "../src/openVirtualBoard.ts"
import type { VirtualBoardOptions } from "../src/options.ts"

export const RAW_BANNER = "raw REPL; CTRL-B to exit\r\n>"

/** Bytes as a latin1 string: one character per byte, so control bytes stay visible. */
export const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
export const bytes = (text: string) => new Uint8Array(Buffer.from(text, "latin1"))

/**
 * A conversation with a board: what it sent that the test has not looked at yet, and bounded
 * waits for more. Waits are woken by arriving bytes, not by polling.
 */
export class Conversation {
  private text = ""
  private ended: string | undefined
  private wakeups: Array<() => void> = []

  constructor(readonly link: VirtualBoardLink) {}

  /** @internal fed by the receiving fiber */
  feed(chunk: Uint8Array) {
    this.text += latin1(chunk)
    this.wake()
  }

  /** @internal the received stream ended */
  end(reason: string) {
    this.ended = reason
    this.wake()
  }

  private wake() {
    for (const wake of this.wakeups.splice(0)) wake()
  }

  /** Write to the board (through the link, so the line's speed limit applies). */
  send(data: string | Uint8Array): Promise<void> {
    return Effect.runPromise(this.link.write(typeof data === "string" ? bytes(data) : data))
  }

  /** What arrived and was not taken yet (and take it). */
  take(): string {
    const text = this.text
    this.text = ""
    return text
  }

  /** Look at what arrived without taking it. */
  peek(): string {
    return this.text
  }

  /** Wait until `check` finds something in what arrived, bounded by `timeoutMs`. */
  async waitFor<A>(check: (text: string) => A | undefined, what: string, timeoutMs: number): Promise<A> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = check(this.text)
      if (found !== undefined) return found
      if (this.ended !== undefined) {
        throw new Error(
          `the link ended (${this.ended}) waiting for ${what}; got ${JSON.stringify(this.text)}`,
        )
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.text)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.wakeups.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** Wait for `marker`, then take and return everything up to and including it. */
  async until(marker: string, timeoutMs = 10_000): Promise<string> {
    const end = await this.waitFor(
      (text) => {
        const at = text.indexOf(marker)
        return at < 0 ? undefined : at + marker.length
      },
      JSON.stringify(marker),
      timeoutMs,
    )
    const taken = this.text.slice(0, end)
    this.text = this.text.slice(end)
    return taken
  }

  /** Wait until at least `n` bytes arrived, take and return exactly `n`. */
  async exactly(n: number, timeoutMs = 10_000): Promise<string> {
    await this.waitFor((text) => (text.length >= n ? true : undefined), `${n} bytes`, timeoutMs)
    const taken = this.text.slice(0, n)
    this.text = this.text.slice(n)
    return taken
  }

  /** Send code in plain raw mode (at the raw prompt) and return the board's reply up to `>`. */
  async rawExec(code: string, timeoutMs = 10_000): Promise<string> {
    await this.send(`${code}\x04`)
    const reply = await this.until("\x04>", timeoutMs)
    return reply
  }

  /** From power-on: wait for the banner, then enter the raw REPL. */
  async enterRaw(): Promise<void> {
    await this.until(">>> ")
    await this.send("\r\x01")
    await this.until(RAW_BANNER)
  }
}

/** Power on a board with `options`, talk to it in `body`, power it off. */
export const withBoard = (options: VirtualBoardOptions, body: (board: Conversation) => Promise<void>) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const link = yield* openVirtualBoard(options)
        const conversation = new Conversation(link)
        yield* Stream.runForEach(link.received, (chunk) => Effect.sync(() => conversation.feed(chunk))).pipe(
          Effect.exit,
          Effect.tap((exit) => Effect.sync(() => conversation.end(exit._tag))),
          Effect.forkScoped,
        )
        yield* Effect.tryPromise({ try: () => body(conversation), catch: (error) => error })
      }),
    ),
  )

/** Split a plain-raw reply `OK<stdout>\x04<traceback>\x04>` into its parts. */
export const parseRawReply = (reply: string): { stdout: string; traceback: string } => {
  const match = /^OK([^\x04]*)\x04([^\x04]*)\x04>$/s.exec(reply)
  if (match === null) throw new Error(`not a raw REPL reply: ${JSON.stringify(reply)}`)
  return { stdout: match[1]!, traceback: match[2]! }
}

/**
 * `run --no-follow FILE`: start a script on the board and leave it running, as mpremote's
 * `run --no-follow` does. The checked exchanges wait for the code's end, so this goes through the
 * board's terminal instead: the raw REPL (Ctrl-A), the code paced in small pieces (a raw REPL
 * without raw-paste has no flow control), Ctrl-D, then the board's `OK`, which says it has the
 * whole script and runs it. Nothing is sent after that: the next command's connection interrupts
 * the script (Ctrl-C) if it is still running. Imported when `run --no-follow` runs.
 */
import { DeviceCommunication } from "@belay/transport"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"

/** What the raw REPL prints when it is entered. */
const RAW_PROMPT = "raw REPL; CTRL-B to exit\r\n>"
/** Bytes per piece of code, and the pause after each: the pace of a plain raw REPL on the smallest boards. */
const PIECE_BYTES = 128
const PIECE_PAUSE = Duration.millis(10)
/** How often the board's output is looked at while waiting for a prompt or `OK`. */
const LOOK_EVERY = Duration.millis(10)
/** Bound on each wait for the board (its raw prompt, then `OK`). */
const ANSWER_BOUND = Duration.seconds(5)

/**
 * The board did not answer as the raw REPL does.
 *
 * @example
 * new DetachedStartError({ message: "the board did not answer with OK after the script" })
 */
export class DetachedStartError extends Data.TaggedError("DetachedStartError")<{
  readonly message: string
}> {}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Start `code` on the board and return once the board has it (its `OK`), without reading what the
 * code prints.
 *
 * @example
 * yield* onBoard(device, startDetached("import main"))
 */
export const startDetached = (code: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const device = yield* DeviceCommunication
      const term = yield* device.terminal
      let seen = ""
      yield* Effect.forkScoped(
        Stream.runForEach(term.output, (bytes) =>
          Effect.sync(() => (seen += decoder.decode(bytes, { stream: true }))),
        ),
      )
      const waitFor = (text: string, from: number, what: string) =>
        Effect.suspend(() => (seen.indexOf(text, from) >= 0 ? Effect.void : Effect.fail("not yet"))).pipe(
          Effect.retry(Schedule.spaced(LOOK_EVERY)),
          Effect.timeoutOrElse({
            duration: ANSWER_BOUND,
            orElse: () =>
              Effect.fail(
                new DetachedStartError({
                  message: `the board did not answer with ${what} (it printed ${JSON.stringify(seen.slice(-80))})`,
                }),
              ),
          }),
        )
      let at = seen.length
      yield* term.write(Uint8Array.of(0x0d, 0x01))
      yield* waitFor(RAW_PROMPT, at, "the raw REPL's prompt")
      const bytes = encoder.encode(code)
      for (let i = 0; i < bytes.length; i += PIECE_BYTES) {
        yield* term.write(bytes.subarray(i, i + PIECE_BYTES))
        yield* Effect.sleep(PIECE_PAUSE)
      }
      at = seen.length
      yield* term.write(Uint8Array.of(0x04))
      yield* waitFor("OK", at, "OK after the script")
    }),
  )

/**
 * The raw REPL protocol engine of one link: entering and leaving the raw REPL, one exchange
 * (raw-paste with its flow control, or plain raw in paced chunks, then stdout, the traceback and
 * the prompt), interrupts, soft resets, and resets seen in what the board sends. One concept kept
 * in one module over 400 lines: its methods are the steps of one state machine and share its
 * state (where the board's REPL is, raw-paste support, pipelining, the count of resets) with the
 * link, the buffer and the bounds. Its settings are in `RawReplOptions.ts`, how it recognises a
 * reset banner in `ResetBanner.ts`.
 */
import { Duration, Effect, PubSub } from "effect"
import type { ByteLink } from "./ByteLink.js"
import { MAX_TIMER_MS } from "./CallBounds.js"
import { plainStdoutFraming, type StdoutFraming, type StdoutScan } from "./CheckedReplyReader.js"
import {
  BoardResetError,
  BoardStuckError,
  hexExcerpt,
  type LinkError,
  OutputLimitError,
  type ProtocolError,
  type ProtocolPhase,
  ProtocolTimeoutError,
  UnexpectedBytesError,
} from "./errors.js"
import { monotonicMs } from "./MonotonicClock.js"
import type { MetricsRecorder } from "./ProtocolMetrics.js"
import {
  type BoardResetEvent,
  type ProtocolCapabilities,
  type RawReplOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./RawReplOptions.js"
import type { ReceiveBuffer } from "./ReceiveBuffer.js"
import { damagedResetBanner, PRESS_ANY_KEY, RESET_AFTER_OUTPUT, RESET_IN_OUTPUT } from "./ResetBanner.js"

export { suffixDistance } from "./ResetBanner.js"
export type { BoardResetEvent, ProtocolCapabilities, RawReplOptions, ResolvedOptions }
export { damagedResetBanner, resolveOptions }

const enc = new TextEncoder()
const tracebackDecoder = new TextDecoder()
const CTRL_A = 0x01
const CTRL_D = 0x04
const RAW_PASTE_REQUEST = Uint8Array.of(0x05, 0x41, CTRL_A)
const RAW_BANNER = /raw REPL; CTRL-B to exit\r*\n>/
const SOFT_REBOOT = /soft reboot\r*\n/
const FRIENDLY_PROMPT = /\r\n>>> $/
/** The raw REPL's banner, or CircuitPython waiting for a key before its REPL (see `enterRaw`). */
const RAW_BANNER_OR_KEY = new RegExp(`${RAW_BANNER.source}|${PRESS_ANY_KEY.source}`)
/** A boot banner and the friendly prompt, MicroPython's or CircuitPython's. */
const FRIENDLY_BOOT = /(?:MicroPython v|Adafruit CircuitPython )[^\r\n]*\r*\n[\s\S]*>>> $/
/** CircuitPython's friendly banner. */
const CIRCUITPYTHON_BANNER = /Adafruit CircuitPython \d/
/** CircuitPython running a file after a reset: `code.py output:` (or code.txt, main.py, main.txt). */
const CODE_OUTPUT = /(?:code|main)\.(?:py|txt) output:\r*\n/
/** The key pressed at CircuitPython's `Press any key to enter the REPL` (not Ctrl-D: that reloads). */
const ANY_KEY = Uint8Array.of(0x0d)

/**
 * Signs in a plain raw request's traceback that it reached the board other than as sent: it did
 * not compile, or a checked request's check refused it.
 */
const PLAIN_RAW_DAMAGE = /_belay_request_damaged|SyntaxError|IndentationError/
/** The longest pause between plain raw chunks that damage can bring: 32 B per 48 ms, about 670 B/s. */
const PLAIN_RAW_SLOWEST_PAUSE_MS = 48

/** The most recent bytes a wait for a pattern looks at (banners and prompts are far shorter). */
const PATTERN_WINDOW = 4096

/**
 * The least time, in ms, the line must stay quiet after the banner of a first entry, and to wait
 * for a raw-paste answer after a banner, whatever the banner's round trip was: covers a scheduler's
 * jitter on the host. Old boards (no raw-paste) pay the second twice per link (see
 * {@link RAW_PASTE_NOES_BELIEVED}), then once every {@link RAW_PASTE_RECHECK_EXCHANGES} exchanges.
 */
const LATE_ANSWER_MIN_MS = 5
/**
 * How many "no"s in a row to a raw-paste request (a refusal, or an old board's banner) make the
 * engine take the board for one without raw-paste. One is not enough: a request damaged on the
 * way (`\x05B\x01` is refused honestly by a board that takes raw-paste) looks the same.
 */
const RAW_PASTE_NOES_BELIEVED = 2
/** Plain raw exchanges after which a board taken for one without raw-paste is asked again. */
const RAW_PASTE_RECHECK_EXCHANGES = 64
/** The most stdout bytes handed on at a time. */
const STDOUT_STEP = 64 * 1024
/** A traceback longer than this is not one: the reply is taken as garbage. */
const TRACEBACK_LIMIT = 1024 * 1024

/** ASCII rendering of bytes for pattern matching (control bytes kept as is). */
export const asciiText = (bytes: Uint8Array): string => {
  let out = ""
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[])
  }
  return out
}

/** What one exchange produced, before interpretation. */
export interface ExchangeOutput {
  readonly traceback: string
  readonly mode: "raw-paste" | "raw"
}

/**
 * The raw REPL state machine on one link. Not thread safe on its own: the caller holds the
 * connection's lock for every method.
 * @internal
 */
export class RawReplEngine {
  private currentState: "unknown" | "raw" | "friendly" = "unknown"
  rawPaste: boolean | undefined
  rawPasteWindow: number | undefined
  /** "No"s in a row to raw-paste requests since the board last took one (see {@link noteRawPasteNo}). */
  private rawPasteNoes = 0
  /** Plain raw exchanges left before a board taken for one without raw-paste is asked again. */
  private rawPasteRecheckIn = 0
  generation = 0
  /**
   * True only right after a raw-paste exchange that ended cleanly at the raw prompt: the next
   * exchange may send its raw-paste request and code in one write. Any change of `state` (entering
   * the raw REPL, a reset, a failure, the terminal) clears it.
   */
  private pipelineReady = false

  /** Whether the raw REPL was entered on this link before (see `enterRaw`). */
  private everEntered = false
  /** How long the board took to answer Ctrl-A with its banner, last time (ms). */
  private bannerRoundTripMs = 0
  /**
   * Set by a quick first entry whose quiet check is left to what comes next (see `enterRaw`): the
   * time (`monotonicMs()`) until which the line must stay quiet after the banner. The first
   * exchange sends its raw-paste request within that time and takes its answer as the only bytes
   * allowed there; anything else confirms the entry first. Any change of `state` clears it.
   */
  private entryQuietUntil: number | undefined

  /** Where the board's REPL is, as far as the engine knows. Setting it ends pipelining. */
  get state(): "unknown" | "raw" | "friendly" {
    return this.currentState
  }

  set state(state: "unknown" | "raw" | "friendly") {
    this.currentState = state
    this.pipelineReady = false
    this.entryQuietUntil = undefined
  }

  constructor(
    readonly link: ByteLink,
    readonly buffer: ReceiveBuffer,
    readonly options: ResolvedOptions,
    readonly metrics: MetricsRecorder,
    readonly resetHub: PubSub.PubSub<BoardResetEvent>,
  ) {
    if (options.rawPaste === "never") this.rawPaste = false
  }

  /** After a failed exchange the board may be anywhere: the next one starts by entering raw REPL. */
  readonly forgetState: Effect.Effect<void> = Effect.sync(() => {
    this.state = "unknown"
  })

  write(bytes: Uint8Array): Effect.Effect<void, LinkError> {
    this.metrics.bytesOut += bytes.length
    return this.link.write(bytes)
  }

  /**
   * Wait until `find` returns a value, bounded by `timeoutMs`. `find` runs now, then each time
   * bytes arrive (in the call that pushes them): one callback and one timer per wait, no fiber.
   */
  waitFor<A>(
    phase: ProtocolPhase,
    timeoutMs: number,
    find: () => A | undefined,
  ): Effect.Effect<A, ProtocolTimeoutError | LinkError> {
    return Effect.suspend(() => {
      // What is already in the buffer needs no timer (most replies arrive in one piece).
      const found = find()
      if (found !== undefined) return Effect.succeed(found)
      if (this.buffer.closed !== undefined) return Effect.fail(this.buffer.closed)
      return this.waitForArrival(phase, timeoutMs, find)
    })
  }

  private waitForArrival<A>(
    phase: ProtocolPhase,
    timeoutMs: number,
    find: () => A | undefined,
  ): Effect.Effect<A, ProtocolTimeoutError | LinkError> {
    const buffer = this.buffer
    return Effect.callback<A, ProtocolTimeoutError | LinkError>((resume) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const settle = (outcome: Effect.Effect<A, ProtocolTimeoutError | LinkError>) => {
        buffer.unlisten(onArrival)
        if (timer !== undefined) clearTimeout(timer)
        resume(outcome)
      }
      const onArrival = () => {
        let found: A | undefined
        try {
          found = find()
        } catch (defect) {
          settle(Effect.die(defect))
          return
        }
        if (found !== undefined) settle(Effect.succeed(found))
        else if (buffer.closed !== undefined) settle(Effect.fail(buffer.closed))
      }
      buffer.listen(onArrival)
      if (Number.isFinite(timeoutMs))
        timer = setTimeout(
          () => {
            timer = undefined
            settle(
              Effect.fail(
                new ProtocolTimeoutError({ phase, timeoutMs, received: hexExcerpt(buffer.view()) }),
              ),
            )
          },
          Math.min(timeoutMs, MAX_TIMER_MS),
        )
      return Effect.sync(() => {
        buffer.unlisten(onArrival)
        if (timer !== undefined) clearTimeout(timer)
      })
    })
  }

  /** Wait until the buffer holds a match of `pattern` (ASCII view), consume through it, return the match. */
  waitForPattern(
    phase: ProtocolPhase,
    timeoutMs: number,
    pattern: RegExp,
  ): Effect.Effect<RegExpExecArray, ProtocolTimeoutError | LinkError> {
    return Effect.map(
      this.waitFor(phase, timeoutMs, () => {
        // Only the end of what came can hold the pattern (a banner, a prompt): bytes before it are
        // dropped, so a board talking garbage costs no more than the window, whatever it sends.
        if (this.buffer.size > PATTERN_WINDOW) this.buffer.skip(this.buffer.size - PATTERN_WINDOW)
        return pattern.exec(asciiText(this.buffer.view())) ?? undefined
      }),
      (match) => {
        this.buffer.skip(match.index + match[0].length)
        return match
      },
    )
  }

  /** Let the line go quiet (bounded), then forget what came. */
  drain(maxMs: number, quietMs = this.options.drainQuietMs): Effect.Effect<void, LinkError> {
    const untilQuiet: Effect.Effect<void, LinkError> = Effect.suspend(() => {
      const before = this.metrics.bytesIn
      return Effect.andThen(Effect.sleep(Duration.millis(quietMs)), () =>
        this.buffer.closed !== undefined
          ? Effect.fail(this.buffer.closed)
          : this.metrics.bytesIn === before
            ? Effect.void
            : untilQuiet,
      )
    })
    return Effect.andThen(
      Effect.timeoutOrElse(untilQuiet, { duration: Duration.millis(maxMs), orElse: () => Effect.void }),
      Effect.sync(() => this.buffer.clear()),
    )
  }

  /**
   * Interrupt whatever runs, then enter the raw REPL. With `reason: "recover"` the failure to
   * get the prompt back is reported as a stuck board. With `deferEntryCheck`, a quick first entry
   * (see below) leaves its quiet check to whatever comes next (`ensureRaw` or the first exchange,
   * which overlaps it with its raw-paste request). With `afterNoise`, the entry is made the slow
   * way at once, as after a quick entry whose line did not stay quiet.
   */
  enterRaw(
    reason: "connect" | "recover",
    how: { readonly deferEntryCheck?: boolean; readonly afterNoise?: boolean } = {},
  ): Effect.Effect<void, ProtocolTimeoutError | BoardStuckError | LinkError> {
    return Effect.suspend(() => {
      const bound = reason === "recover" ? this.options.interruptTimeoutMs : this.options.enterRawTimeoutMs
      const perAttempt = Math.max(200, Math.min(1500, bound / 2))
      const started = Date.now()
      this.state = "unknown"
      if (reason === "recover") this.metrics.interrupts++
      let attempts = how.afterNoise === true ? 1 : 0
      let quietUntil: number | undefined
      const attempt: Effect.Effect<void, ProtocolTimeoutError | LinkError> = Effect.gen(
        { self: this },
        function* () {
          attempts++
          // Two Ctrl-Cs 5 ms apart, so that a program that catches the first is stopped by the
          // second; then, once the line has gone quiet (`drainQuietMs` or more), Ctrl-A: the quiet
          // keeps an earlier banner still on its way from being taken for the answer. The first
          // entry on a link just opened (its input flushed) sends all of it in one write and checks
          // afterwards instead, in less time: the line must stay quiet after the banner for twice
          // the banner's round trip (LATE_ANSWER_MIN_MS at least), else the entry is made again the
          // slow way, as it is when a program swallowed the one interrupt it got (no banner).
          const quick = reason === "connect" && attempts === 1 && !this.everEntered
          let asked: number
          if (quick) {
            asked = monotonicMs()
            yield* this.write(enc.encode("\r\x03\x03\r\x01"))
          } else {
            yield* this.write(enc.encode("\r\x03"))
            yield* Effect.sleep(Duration.millis(5))
            yield* this.write(enc.encode("\x03"))
            yield* this.drain(Math.min(500, perAttempt / 2))
            asked = monotonicMs()
            yield* this.write(enc.encode("\r\x01"))
          }
          const remaining = bound - (Date.now() - started)
          const answer = yield* this.waitForPattern(
            "enter-raw",
            Math.max(50, Math.min(perAttempt, remaining)),
            RAW_BANNER_OR_KEY,
          )
          if (answer[0].startsWith("Press")) {
            // CircuitPython's code.py ended (a Ctrl-C of ours stopped it, and its USB serial dropped
            // the rest of that write) and it waits for a key: the next attempt's first byte is one.
            if (Date.now() - started >= bound)
              return yield* new ProtocolTimeoutError({
                phase: "enter-raw",
                timeoutMs: bound,
                received: hexExcerpt(this.buffer.view()),
              })
            return yield* attempt
          }
          const bannerAt = monotonicMs()
          this.bannerRoundTripMs = bannerAt - asked
          if (!quick) return
          const quietMs = Math.max(LATE_ANSWER_MIN_MS, 2 * this.bannerRoundTripMs)
          if (how.deferEntryCheck === true) quietUntil = bannerAt + quietMs
          else if (!(yield* this.staysQuiet(quietMs))) yield* attempt
        },
      )
      const loop: Effect.Effect<void, ProtocolTimeoutError | LinkError> = Effect.catchTag(
        attempt,
        "ProtocolTimeoutError",
        (e) => (Date.now() - started < bound ? loop : Effect.fail(e)),
      )
      return Effect.gen({ self: this }, function* () {
        yield* Effect.catchTag(
          loop,
          "ProtocolTimeoutError",
          (e): Effect.Effect<never, ProtocolTimeoutError | BoardStuckError> =>
            reason === "recover"
              ? Effect.fail(new BoardStuckError({ waitedMs: Date.now() - started, received: e.received }))
              : Effect.fail(
                  new ProtocolTimeoutError({ phase: "enter-raw", timeoutMs: bound, received: e.received }),
                ),
        )
        // A slow board may still answer an earlier attempt's Ctrl-A: let the line go quiet so a late
        // banner is not taken for the reply to the next exchange.
        if (attempts > 1)
          yield* this.drain(Math.max(200, perAttempt), Math.max(50, this.options.drainQuietMs))
        this.state = "raw"
        this.everEntered = true
        this.entryQuietUntil = quietUntil
      })
    })
  }

  ensureRaw(
    deferEntryCheck = false,
  ): Effect.Effect<void, ProtocolTimeoutError | BoardStuckError | LinkError> {
    if (this.state !== "raw") return this.enterRaw("connect", { deferEntryCheck })
    return deferEntryCheck || this.entryQuietUntil === undefined ? Effect.void : this.confirmEntry()
  }

  /**
   * The quiet check a quick entry left for later: the line must stay quiet until
   * `entryQuietUntil`, else the entry is made again the slow way.
   */
  private confirmEntry(): Effect.Effect<void, ProtocolTimeoutError | BoardStuckError | LinkError> {
    return Effect.suspend(() => {
      const until = this.entryQuietUntil
      if (until === undefined) return Effect.void
      this.entryQuietUntil = undefined
      return Effect.flatMap(this.noNoiseUntil(until, this.anyByte), (quiet) =>
        quiet ? Effect.void : this.enterRaw("connect", { afterNoise: true }),
      )
    })
  }

  /**
   * Send `code` and read the reply. `onStdout` receives stdout bytes as they arrive.
   * The caller holds the lock and has called `ensureRaw`.
   */
  exchange(
    code: Uint8Array,
    onStdout: (bytes: Uint8Array) => Effect.Effect<void, ProtocolError>,
    framing: StdoutFraming = plainStdoutFraming,
  ): Effect.Effect<ExchangeOutput, ProtocolError> {
    // Combinators rather than generators on this path: it runs once per call.
    return Effect.suspend(() => {
      let send: Effect.Effect<"raw-paste" | "raw", ProtocolError>
      if (this.entryQuietUntil !== undefined) send = this.sendAfterQuickEntry(code)
      else if (this.canPipeline()) {
        this.pipelineReady = false
        send = this.sendPipelinedRawPaste(code)
      } else send = this.sendNegotiated(code)
      return Effect.flatMap(send, (mode) => this.readReply(mode, onStdout, framing))
    }).pipe(Effect.onError(this.forgetStateOnError))
  }

  private readonly forgetStateOnError = () => this.forgetState

  /** Without pipelining: ask for raw-paste (unless known refused), else plain raw mode. */
  private sendNegotiated(code: Uint8Array): Effect.Effect<"raw-paste" | "raw", ProtocolError> {
    return Effect.gen({ self: this }, function* () {
      if (this.asksRawPaste() && (yield* this.negotiateRawPaste())) {
        yield* this.sendRawPaste(code, 0)
        return "raw-paste" as const
      }
      yield* this.sendPlainRaw(code)
      return "raw" as const
    })
  }

  /**
   * The first exchange after a quick entry whose quiet check was left to it (see `enterRaw`): the
   * raw-paste request goes at once, its answer being the only bytes the quiet line may carry (the
   * answer's round trip overlaps the quiet, rather than following it). The code goes once the
   * quiet time has passed with nothing else: as it did after the check, but one round trip sooner.
   * A raw REPL banner for an answer is read as `negotiateRawPaste` reads it (an old board's, or a
   * late one with the answer behind it). Anything else since the banner (more than the answer, a
   * refusal other than `R\x00>`) and the entry is made again the slow way (which also ends a
   * raw-paste the request may have begun, nothing of the code having been sent), then the
   * exchange negotiates as usual.
   */
  private sendAfterQuickEntry(code: Uint8Array): Effect.Effect<"raw-paste" | "raw", ProtocolError> {
    return Effect.gen({ self: this }, function* () {
      if (this.rawPaste === false || this.buffer.size > 0) {
        // Nothing to overlap (raw-paste is off), or something came already: the entry's own check.
        yield* this.confirmEntry()
        return yield* this.sendNegotiated(code)
      }
      const until = this.entryQuietUntil ?? 0
      this.entryQuietUntil = undefined
      yield* this.write(RAW_PASTE_REQUEST)
      const answer = yield* this.waitFor("raw-paste-negotiate", this.options.replyTimeoutMs, this.earlyAnswer)
      if (answer.kind === "banner") {
        if (yield* this.readRawPasteAnswer()) {
          yield* this.sendRawPaste(code, 0)
          return "raw-paste" as const
        }
        yield* this.sendPlainRaw(code)
        return "raw" as const
      }
      // Past the answer, only the first window grant (0x01, after an acceptance) may come.
      const allowed = answer.length + (answer.kind === "accepted" ? 1 : 0)
      const noise = () =>
        this.buffer.size > allowed ||
        (this.buffer.size > answer.length && this.buffer.view()[answer.length] !== CTRL_A)
          ? true
          : undefined
      if (answer.kind === "noise" || !(yield* this.noNoiseUntil(until, noise))) {
        yield* this.enterRaw("connect", { afterNoise: true })
        return yield* this.sendNegotiated(code)
      }
      this.buffer.skip(answer.length)
      if (answer.kind === "refused") {
        this.noteRawPasteNo()
        yield* this.sendPlainRaw(code)
        return "raw" as const
      }
      this.noteRawPasteTaken(answer.window)
      yield* this.sendRawPaste(code, 0)
      return "raw-paste" as const
    })
  }

  /**
   * The answer to a raw-paste request, read strictly from the first byte on: `R\x01` and a
   * window (the grant after it is left for the sender), `R\x00>`, the start of a raw REPL banner,
   * or noise (anything else, or more than the answer). Undefined while it may still come whole.
   */
  private readonly earlyAnswer = ():
    | { readonly kind: "accepted"; readonly window: number; readonly length: 4 }
    | { readonly kind: "refused"; readonly length: 3 }
    | { readonly kind: "banner"; readonly length: 0 }
    | { readonly kind: "noise"; readonly length: 0 }
    | undefined => {
    const view = this.buffer.view()
    if (view.length === 0) return undefined
    if (view[0] === 0x72 /* r */) {
      if (view.length < 2) return undefined
      return view[1] === 0x61 /* a */ ? { kind: "banner", length: 0 } : { kind: "noise", length: 0 }
    }
    if (view[0] !== 0x52 /* R */) return { kind: "noise", length: 0 }
    if (view.length < 2) return undefined
    if (view[1] === 0x01) {
      if (view.length < 4) return undefined
      const window = view[2]! | (view[3]! << 8)
      if (window === 0 || view.length > 5 || (view.length === 5 && view[4] !== CTRL_A))
        return { kind: "noise", length: 0 }
      return { kind: "accepted", window, length: 4 }
    }
    if (view[1] !== 0x00) return { kind: "noise", length: 0 }
    if (view.length < 3) return undefined
    return view[2] === 0x3e /* > */ && view.length === 3
      ? { kind: "refused", length: 3 }
      : { kind: "noise", length: 0 }
  }

  /** Stdout, traceback and prompt, once the code is sent. */
  private readReply(
    mode: "raw-paste" | "raw",
    onStdout: (bytes: Uint8Array) => Effect.Effect<void, ProtocolError>,
    framing: StdoutFraming,
  ): Effect.Effect<ExchangeOutput, ProtocolError> {
    return Effect.flatMap(this.readStdoutOpen(onStdout, framing), () =>
      Effect.flatMap(this.readTraceback(), (traceback) =>
        Effect.map(this.readPrompt(), (atPrompt): ExchangeOutput => {
          if (mode === "raw") this.notePlainRawReply(traceback)
          // Set after `readPrompt`, which may have changed `state` (a reset right after the code).
          if (atPrompt && mode === "raw-paste" && this.state === "raw") this.pipelineReady = true
          return { traceback, mode }
        }),
      ),
    )
  }

  /**
   * The raw-paste request and the code may go in one write when the previous exchange was a
   * raw-paste one that ended cleanly at the raw prompt and nothing has arrived since (a reset
   * banner would be there). Even if the board did reset unseen, code pipelined into a friendly
   * REPL does not run: paste mode (`\x05`) takes `A\x01...` as the source, a SyntaxError.
   */
  private canPipeline(): boolean {
    return (
      this.pipelineReady &&
      this.state === "raw" &&
      this.rawPaste === true &&
      this.rawPasteWindow !== undefined &&
      this.buffer.size === 0
    )
  }

  /**
   * After the traceback comes `>`. Anything else means the board reset right after the code
   * ended: the result stands, but the board's RAM state is gone, so the reset is recorded.
   */
  private readPrompt(): Effect.Effect<boolean, ProtocolError> {
    return Effect.flatMap(
      this.waitFor("prompt", this.options.replyTimeoutMs, this.firstByte),
      (first): Effect.Effect<boolean, ProtocolError> => {
        if (first === 0x3e /* > */) {
          this.buffer.skip(1)
          return Effect.succeed(true)
        }
        return this.readResetAfterOutput()
      },
    )
  }

  private readonly firstByte = (): number | undefined => this.buffer.view()[0]

  /** Not `>` after the traceback: a reset banner must follow; record the reset. */
  private readResetAfterOutput(): Effect.Effect<boolean, ProtocolError> {
    return Effect.gen({ self: this }, function* () {
      const reset = yield* this.waitFor("prompt", this.options.replyTimeoutMs, () => {
        const text = asciiText(this.buffer.view())
        for (const [i, pattern] of RESET_AFTER_OUTPUT.entries()) {
          const match = pattern.exec(text)
          if (match)
            return {
              kind: i === 0 ? ("soft" as const) : ("hard" as const),
              end: match.index + match[0].length,
            }
        }
        return undefined
      }).pipe(
        Effect.catchTag("ProtocolTimeoutError", () =>
          Effect.fail(
            new UnexpectedBytesError({
              phase: "prompt",
              expected: "> (raw prompt)",
              received: hexExcerpt(this.buffer.view()),
            }),
          ),
        ),
      )
      this.buffer.skip(reset.end)
      yield* this.noteReset(reset.kind, false, reset.kind === "soft" ? "raw" : "friendly")
      return false
    })
  }

  /**
   * Whether this exchange asks for raw-paste: unless the board is taken for one without it, and
   * then once every {@link RAW_PASTE_RECHECK_EXCHANGES} exchanges (a "no" believed wrongly costs
   * that many slow exchanges at most; a board that has no raw-paste, one round trip per as many).
   */
  private asksRawPaste(): boolean {
    if (this.rawPaste !== false) return true
    if (this.options.rawPaste === "never") return false
    if (this.rawPasteRecheckIn > 0) {
      this.rawPasteRecheckIn--
      return false
    }
    return true
  }

  /** The board took raw-paste, with this window: it does raw-paste, whatever it answered before. */
  private noteRawPasteTaken(window: number): void {
    this.rawPaste = true
    this.rawPasteWindow = window
    this.rawPasteNoes = 0
  }

  /**
   * The board answered a raw-paste request "no" (refused, or an old board's banner): this
   * exchange goes plain raw. The board is taken for one without raw-paste only after
   * {@link RAW_PASTE_NOES_BELIEVED} "no"s in a row: a single one may be the honest answer to a
   * request damaged on the way, and believing it would send every later request plain raw (slow,
   * and slower still on a noisy link, see {@link notePlainRawReply}).
   */
  private noteRawPasteNo(): void {
    this.rawPasteNoes++
    if (this.rawPasteNoes >= RAW_PASTE_NOES_BELIEVED) {
      this.rawPaste = false
      this.rawPasteRecheckIn = RAW_PASTE_RECHECK_EXCHANGES
    }
  }

  /** `\x05A\x01`: true when the board takes raw-paste, false when it refuses or is too old. */
  private negotiateRawPaste(): Effect.Effect<boolean, ProtocolError> {
    return Effect.andThen(this.write(RAW_PASTE_REQUEST), this.readRawPasteAnswer())
  }

  /**
   * The board's answer to `\x05A\x01`. Accepted: the window is read, the initial window grant is
   * left for the sender. Refused or not known: read up to the raw prompt; from then on the
   * connection uses plain raw mode.
   */
  private readRawPasteAnswer(): Effect.Effect<boolean, ProtocolError> {
    const replyTimeoutMs = this.options.replyTimeoutMs
    return Effect.flatMap(
      this.waitFor("raw-paste-negotiate", replyTimeoutMs, this.firstTwoBytes),
      (head): Effect.Effect<boolean, ProtocolError> => {
        if (head[0] === 0x52 /* R */ && head[1] === 0x01) {
          this.buffer.skip(2)
          return Effect.map(
            this.waitFor("raw-paste-negotiate", replyTimeoutMs, this.takeTwoBytes),
            (header) => {
              this.noteRawPasteTaken(header[0]! | (header[1]! << 8))
              return true
            },
          )
        }
        if (head[0] === 0x52 && head[1] === 0x00) {
          // The board knows the command and refuses it: `R\x00` and, at once, its raw prompt. The
          // same two bytes start an acceptance whose `\x01` was lost on the line when the window's
          // low byte is 0 (a 256-byte window: `R\x01\x00\x01\x01`): that board runs the code sent
          // with the request, so anything but the prompt after `R\x00` is a damaged answer (the
          // code may run), never a refusal (which would send the code again in plain raw mode).
          return Effect.flatMap(
            this.waitFor("raw-paste-negotiate", replyTimeoutMs, this.thirdByte),
            (third): Effect.Effect<boolean, ProtocolError> => {
              if (third !== 0x3e /* > */) {
                return Effect.fail(
                  new UnexpectedBytesError({
                    phase: "raw-paste-negotiate",
                    expected: "R\\x00> (raw-paste refused) or R\\x01 (accepted)",
                    received: hexExcerpt(this.buffer.view()),
                  }),
                )
              }
              this.buffer.skip(3)
              this.noteRawPasteNo()
              return Effect.succeed(false)
            },
          )
        }
        if (head[0] === 0x72 /* r */ && head[1] === 0x61 /* a */) {
          // An old board took `\x05A` as code and `\x01` as "enter raw REPL": it prints the banner
          // again, and nothing after it. A banner that was still on its way when the raw REPL was
          // entered is followed by the real answer: wait for it a little (twice the banner's round
          // trip, at least LATE_ANSWER_MIN_MS) before taking the board for an old one.
          return Effect.flatMap(this.waitForPattern("raw-paste-negotiate", replyTimeoutMs, RAW_BANNER), () =>
            Effect.flatMap(this.waitForLateAnswer(), (late) => {
              if (late) return this.readRawPasteAnswer()
              this.noteRawPasteNo()
              return Effect.succeed(false)
            }),
          )
        }
        return Effect.fail(
          new UnexpectedBytesError({
            phase: "raw-paste-negotiate",
            expected: "R\\x01 (raw-paste accepted), R\\x00 (refused) or a raw REPL banner (old board)",
            received: hexExcerpt(this.buffer.view()),
          }),
        )
      },
    )
  }

  /** Whether nothing arrives for `ms`. */
  private staysQuiet(ms: number): Effect.Effect<boolean, LinkError> {
    return this.noNoiseUntil(monotonicMs() + ms, this.anyByte)
  }

  private readonly anyByte = (): true | undefined => (this.buffer.size > 0 ? true : undefined)

  /** Whether `noise` finds nothing in the buffer from now until `until` (`monotonicMs()`). */
  private noNoiseUntil(until: number, noise: () => true | undefined): Effect.Effect<boolean, LinkError> {
    return Effect.suspend(() => {
      const rest = until - monotonicMs()
      if (rest <= 0) return Effect.succeed(noise() === undefined)
      return this.waitFor("enter-raw", rest, noise).pipe(
        Effect.as(false),
        Effect.catchTag("ProtocolTimeoutError", () => Effect.succeed(true)),
      )
    })
  }

  /** Whether a raw-paste answer (`R`) arrives within the late-answer window after a banner. */
  private waitForLateAnswer(): Effect.Effect<boolean, LinkError> {
    return Effect.map(
      this.staysQuiet(Math.max(LATE_ANSWER_MIN_MS, 2 * this.bannerRoundTripMs)),
      (quiet) => !quiet && this.buffer.view()[0] === 0x52 /* R */,
    )
  }

  private readonly thirdByte = (): number | undefined =>
    this.buffer.size >= 3 ? this.buffer.view()[2] : undefined

  private readonly firstTwoBytes = (): Uint8Array | undefined =>
    this.buffer.size >= 2 ? this.buffer.view().slice(0, 2) : undefined

  private readonly takeTwoBytes = (): Uint8Array | undefined =>
    this.buffer.size >= 2 ? this.buffer.consume(2) : undefined

  /**
   * One round trip instead of two: `\x05A\x01`, the first window of code and, when the code fits
   * in it, the closing `\x04`, in one write; then the answer, the rest under flow control, the
   * echo. Should the board refuse raw-paste after all, it is at its raw prompt with the pipelined
   * code in its line buffer (after `R\x00`, or after the banner an old board prints for `\x01`,
   * which also clears the line): the rest of the code and `\x04` make it a plain raw exchange,
   * read as one.
   */
  private sendPipelinedRawPaste(code: Uint8Array): Effect.Effect<"raw-paste" | "raw", ProtocolError> {
    return Effect.suspend(() => {
      const first = Math.min(this.rawPasteWindow ?? 128, code.length)
      const whole = first === code.length
      const out = new Uint8Array(RAW_PASTE_REQUEST.length + first + (whole ? 1 : 0))
      out.set(RAW_PASTE_REQUEST)
      out.set(code.subarray(0, first), RAW_PASTE_REQUEST.length)
      if (whole) out[out.length - 1] = CTRL_D
      return Effect.andThen(
        this.write(out),
        Effect.flatMap(
          this.readRawPasteAnswer(),
          (accepted): Effect.Effect<"raw-paste" | "raw", ProtocolError> => {
            if (!accepted)
              return Effect.as(
                whole ? this.readRawOk() : this.sendPlainRaw(code.subarray(first)),
                "raw" as const,
              )
            return Effect.as(
              whole ? this.readRawPasteEcho() : this.sendRawPaste(code, first),
              "raw-paste" as const,
            )
          },
        ),
      )
    })
  }

  /** Raw-paste data under flow control, from `alreadySent` (bytes written with the request). */
  private sendRawPaste(code: Uint8Array, alreadySent: number): Effect.Effect<void, ProtocolError> {
    return Effect.gen({ self: this }, function* () {
      const window = this.rawPasteWindow ?? 128
      let credit = window - alreadySent
      let sent = alreadySent
      let aborted = false
      // Reads window grants (0x01) and an early end (0x04) from the board.
      const takeControl = (): UnexpectedBytesError | undefined => {
        const view = this.buffer.view()
        let i = 0
        for (; i < view.length; i++) {
          const b = view[i]
          if (b === CTRL_A) credit += window
          else if (b === CTRL_D) {
            aborted = true
            i++
            break
          } else {
            this.buffer.skip(i)
            return new UnexpectedBytesError({
              phase: "raw-paste-window",
              expected: "\\x01 (window) or \\x04 (end)",
              received: hexExcerpt(this.buffer.view()),
            })
          }
        }
        this.buffer.skip(i)
        return undefined
      }
      while (sent < code.length && !aborted) {
        const unexpected = takeControl()
        if (unexpected !== undefined) return yield* Effect.fail(unexpected)
        if (aborted) break
        if (credit <= 0) {
          yield* this.waitFor("raw-paste-window", this.options.replyTimeoutMs, () =>
            this.buffer.size > 0 ? true : undefined,
          )
          continue
        }
        const n = Math.min(credit, code.length - sent)
        if (sent + n === code.length && credit > n) {
          // The last of the code and the end of data in one write, within the window: one write
          // (and, on a serial port, one drain) fewer.
          const last = new Uint8Array(n + 1)
          last.set(code.subarray(sent))
          last[n] = CTRL_D
          yield* this.write(last)
          return yield* this.readRawPasteEcho()
        }
        yield* this.write(code.subarray(sent, sent + n))
        sent += n
        credit -= n
      }
      // End of data (or acknowledgement of the board's early end).
      yield* this.write(Uint8Array.of(CTRL_D))
      if (!aborted) yield* this.readRawPasteEcho()
    })
  }

  /**
   * The board echoes 0x04 once it has read everything; late window grants may come first. After
   * an early end (the board's own 0x04, then our 0x04) the reply that follows reads the same way.
   */
  private readRawPasteEcho(): Effect.Effect<void, ProtocolError> {
    return Effect.flatMap(
      this.waitFor("raw-paste-echo", this.options.replyTimeoutMs, this.findEcho),
      (bad): Effect.Effect<void, ProtocolError> => {
        if (!bad.ok) {
          this.buffer.skip(bad.at)
          return Effect.fail(
            new UnexpectedBytesError({
              phase: "raw-paste-echo",
              expected: "\\x04 (end of data acknowledged)",
              received: hexExcerpt(this.buffer.view()),
            }),
          )
        }
        this.buffer.skip(bad.at + 1)
        return Effect.void
      },
    )
  }

  /** The echoed 0x04 past any late window grants (`ok`), or the first other byte. */
  private readonly findEcho = (): { readonly at: number; readonly ok: boolean } | undefined => {
    const view = this.buffer.view()
    for (let i = 0; i < view.length; i++) {
      if (view[i] === CTRL_D) return { at: i, ok: true }
      if (view[i] !== CTRL_A) return { at: i, ok: false }
    }
    return undefined
  }

  /** The pause between plain raw chunks, once damage lengthened it (see {@link notePlainRawReply}). */
  private slowedPlainRawPauseMs: number | undefined

  /** The pause between plain raw chunks now, in ms. */
  get plainRawPauseMs(): number {
    return this.slowedPlainRawPauseMs ?? this.options.plainRawChunkDelayMs
  }

  /**
   * A plain raw request that reached the board damaged (its traceback says it did not compile, or
   * its check refused it) most often lost bytes to a small board's receive buffer, which plain raw
   * mode cannot pace by the board's answer as raw-paste does: the requests after it on this link go
   * at half the pace, down to {@link PLAIN_RAW_SLOWEST_PAUSE_MS} between chunks. A link configured
   * with no pause (a board with no UART) stays so. A person's own SyntaxError slows the link too,
   * which costs only time.
   */
  private notePlainRawReply(traceback: string): void {
    const pause = this.plainRawPauseMs
    if (pause <= 0 || !PLAIN_RAW_DAMAGE.test(traceback)) return
    this.slowedPlainRawPauseMs = Math.min(PLAIN_RAW_SLOWEST_PAUSE_MS, pause * 2)
  }

  private sendPlainRaw(code: Uint8Array): Effect.Effect<void, ProtocolError> {
    return Effect.gen({ self: this }, function* () {
      const size = Math.max(1, this.options.plainRawChunkSize)
      const pause = this.plainRawPauseMs
      for (let at = 0; at < code.length; at += size) {
        if (at > 0 && pause > 0) {
          yield* Effect.sleep(Duration.millis(pause))
        }
        yield* this.write(code.subarray(at, at + size))
      }
      yield* this.write(Uint8Array.of(CTRL_D))
      yield* this.readRawOk()
    })
  }

  /** `OK`: the board took the plain raw code and runs it. */
  private readRawOk(): Effect.Effect<void, ProtocolError> {
    return Effect.gen({ self: this }, function* () {
      const ok = yield* this.waitFor("raw-ok", this.options.replyTimeoutMs, () => {
        // A late raw REPL banner (the answer to an earlier Ctrl-A) may come before the OK: skip it.
        const text = asciiText(this.buffer.view().subarray(0, 64))
        if (text.startsWith("raw REPL")) {
          const stale = RAW_BANNER.exec(text)
          if (stale === null || stale.index !== 0) return undefined
          this.buffer.skip(stale[0].length)
        }
        return this.buffer.size >= 2 ? this.buffer.view().slice(0, 2) : undefined
      })
      if (ok[0] !== 0x4f /* O */ || ok[1] !== 0x4b /* K */) {
        return yield* new UnexpectedBytesError({
          phase: "raw-ok",
          expected: "OK",
          received: hexExcerpt(this.buffer.view()),
        })
      }
      this.buffer.skip(2)
    })
  }

  /**
   * True while the running code's stdout is being read: the code runs, and what is written to the
   * board now is its stdin (see `OutputInterceptor.ts`). False before the code starts and from the
   * end of its stdout on, when a byte written would reach the REPL instead.
   */
  get readingStdout(): boolean {
    return this.stdoutOpen
  }

  private stdoutOpen = false

  private readStdoutOpen(
    onStdout: (bytes: Uint8Array) => Effect.Effect<void, ProtocolError>,
    framing: StdoutFraming,
  ): Effect.Effect<void, ProtocolError> {
    return Effect.suspend(() => {
      this.stdoutOpen = true
      return Effect.ensuring(this.readStdout(onStdout, framing), this.closeStdout)
    })
  }

  private readonly closeStdout = Effect.sync(() => {
    this.stdoutOpen = false
  })

  /**
   * Stream stdout until its end (the first 0x04 unless `framing` says otherwise), watching for a
   * reset banner in the output. Bytes are consumed as they arrive, so the buffer holds at most
   * what `framing` holds back to decide.
   */
  private readStdout(
    onStdout: (bytes: Uint8Array) => Effect.Effect<void, ProtocolError>,
    framing: StdoutFraming,
  ): Effect.Effect<void, ProtocolError> {
    let tail = ""
    let held = -1
    const dropped = this.buffer.dropped
    let settleAfterMs: number | undefined
    let settled: StdoutScan | undefined
    const settle = framing.settle
    const waitForMore = Effect.suspend(() => {
      if (settleAfterMs === undefined || settle === undefined) {
        // The output so far ends like a boot banner that came damaged (so the exact patterns
        // missed it): a board that reset sits silent at its prompt, and only the call's own bound
        // (which may be long, or none) would end this wait. When the line stays quiet for a reply's
        // bound, the board reset; when more comes, that was output.
        const unread = this.buffer.view()
        const end =
          unread.length > 0 ? tail + asciiText(unread.subarray(Math.max(0, unread.length - 512))) : tail
        const kind = damagedResetBanner(end)
        if (kind === undefined) return this.buffer.changed
        return Effect.timeoutOrElse(Effect.as(this.buffer.changed, false), {
          duration: Duration.millis(this.options.replyTimeoutMs),
          orElse: () => Effect.succeed(true),
        }).pipe(
          Effect.flatMap((quiet) =>
            quiet
              ? Effect.andThen(
                  // Where the board's REPL is cannot be told from a damaged banner: the next
                  // exchange enters the raw REPL afresh.
                  this.noteReset(kind, false, "unknown"),
                  Effect.fail(new BoardResetError({ phase: "stdout", banner: end.slice(-200) })),
                )
              : Effect.void,
          ),
        )
      }
      // Held bytes that may be the end: more bytes decide, or the line staying quiet does.
      return Effect.timeoutOrElse(Effect.as(this.buffer.changed, false), {
        duration: Duration.millis(settleAfterMs),
        orElse: () => Effect.succeed(true),
      }).pipe(
        Effect.flatMap((quiet) =>
          Effect.sync(() => {
            if (quiet) settled = settle(this.buffer.view())
          }),
        ),
      )
    })
    const loop: Effect.Effect<void, ProtocolError> = Effect.suspend(() => {
      if (this.buffer.dropped !== dropped)
        return Effect.fail(new OutputLimitError({ limitBytes: this.buffer.maxBytes, kind: "unread" }))
      const size = this.buffer.size
      // Nothing new since the framing held its bytes back: wait for more.
      if (settled === undefined && (size === 0 || size === held)) return Effect.andThen(waitForMore, loop)
      // At most STDOUT_STEP bytes handed on at a time: a board that floods output gives the
      // caller (and its bounded queue) small pieces, never the whole backlog in one copy. Bytes
      // held back at the end of a step are looked at again with everything that waits.
      const view = this.buffer.view()
      let scanned = settled ?? framing.scan(view.subarray(0, STDOUT_STEP))
      if (settled === undefined && !scanned.end && scanned.consumed < Math.min(STDOUT_STEP, view.length)) {
        // Held back at the end of the step while more waits: decide with all of it.
        const first = scanned.consumed
        const rest = framing.scan(view.subarray(first))
        scanned = { ...rest, consumed: first + rest.consumed }
      }
      settled = undefined
      const { consumed, end } = scanned
      // Quiet for a whole reply's bound, at least: a board (or a loaded host) pausing between two
      // writes of the code's own output must not read as the end of the reply.
      settleAfterMs =
        scanned.settleAfterMs === undefined
          ? undefined
          : Math.max(scanned.settleAfterMs, this.options.replyTimeoutMs)
      // The framing holds bytes back to decide (wait for more), or the step ended (go on).
      const stepped = !end && consumed === STDOUT_STEP && size > STDOUT_STEP
      held = end || consumed === size || stepped ? -1 : size - consumed
      const chunk = this.buffer.consume(consumed)
      if (end) {
        this.buffer.skip(1)
        this.stdoutOpen = false
        return chunk.length > 0 ? onStdout(chunk) : Effect.void
      }
      if (chunk.length > 0) {
        tail = (tail + asciiText(chunk.subarray(Math.max(0, chunk.length - 512)))).slice(-512)
        const reset = RESET_IN_OUTPUT.findIndex((p) => p.test(tail))
        if (reset >= 0)
          return Effect.andThen(onStdout(chunk), this.boardReset(reset === 0 ? "soft" : "hard", tail))
        return Effect.andThen(onStdout(chunk), loop)
      }
      return loop
    })
    return loop
  }

  private boardReset(kind: "soft" | "hard", banner: string): Effect.Effect<never, BoardResetError> {
    return Effect.andThen(this.noteReset(kind, false, kind === "soft" ? "raw" : "friendly"), () =>
      Effect.fail(new BoardResetError({ phase: "stdout", banner })),
    )
  }

  /** Record a reset: new generation, tell subscribers. */
  noteReset(kind: "soft" | "hard", requested: boolean, state: RawReplEngine["state"]): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.state = state
      this.generation++
      this.metrics.resets++
      return Effect.asVoid(
        PubSub.publish(this.resetHub, { kind, requested, generation: this.generation, at: new Date() }),
      )
    })
  }

  private readTraceback(): Effect.Effect<string, ProtocolError> {
    this.tracebackScanned = 0
    return Effect.map(
      Effect.catchDefect(this.waitFor("traceback", this.options.replyTimeoutMs, this.findEnd), (defect) =>
        defect instanceof UnexpectedBytesError ? Effect.fail(defect) : Effect.die(defect),
      ),
      this.takeTraceback,
    )
  }

  /** Where the traceback ends; each call looks only at bytes it has not looked at yet. */
  private tracebackScanned = 0
  private readonly findEnd = (): number | undefined => {
    const at = this.buffer.indexOfByte(CTRL_D, this.tracebackScanned)
    if (at >= 0) {
      this.tracebackScanned = 0
      return at
    }
    this.tracebackScanned = this.buffer.size
    if (this.buffer.size > TRACEBACK_LIMIT) {
      this.tracebackScanned = 0
      throw new UnexpectedBytesError({
        phase: "traceback",
        expected: `a traceback ended by \\x04 within ${TRACEBACK_LIMIT} bytes`,
        received: hexExcerpt(this.buffer.view()),
      })
    }
    return undefined
  }

  private readonly takeTraceback = (at: number): string => {
    const bytes = this.buffer.consume(at)
    this.buffer.skip(1)
    return bytes.length === 0 ? "" : tracebackDecoder.decode(bytes)
  }

  /** Ctrl-D at the raw prompt: a soft reset. Waits for the board to come back to the raw prompt. */
  softReset(): Effect.Effect<void, ProtocolError> {
    return Effect.gen({ self: this }, function* () {
      yield* this.ensureRaw()
      this.buffer.clear()
      yield* this.write(Uint8Array.of(CTRL_D))
      // Some boards go back to the raw prompt, others (a unix build restarted by its link)
      // come back with a boot banner and the friendly prompt. CircuitPython before 7.1 runs its
      // code.py after a soft reset even in the raw REPL (stopped here with Ctrl-C, as it may never
      // end), then waits for a key before it is back at the raw prompt.
      const started = Date.now()
      let stopped = false
      let pressed = false
      let match: { readonly kind: "raw" | "friendly" | "code" | "key"; readonly end: number }
      for (;;) {
        const waited = Date.now() - started
        match = yield* this.waitFor(
          "soft-reset",
          Math.max(50, this.options.enterRawTimeoutMs - waited),
          () => {
            const text = asciiText(this.buffer.view())
            const raw = SOFT_REBOOT.exec(text) ? RAW_BANNER.exec(text) : null
            if (raw) return { kind: "raw" as const, end: raw.index + raw[0].length }
            const friendly = FRIENDLY_BOOT.exec(text)
            if (friendly) return { kind: "friendly" as const, end: friendly.index + friendly[0].length }
            if (!pressed && PRESS_ANY_KEY.test(text)) return { kind: "key" as const, end: 0 }
            if (!stopped && CODE_OUTPUT.test(text)) return { kind: "code" as const, end: 0 }
            return undefined
          },
        )
        if (match.kind === "code") {
          stopped = true
          yield* this.write(Uint8Array.of(0x03))
        } else if (match.kind === "key") {
          pressed = stopped = true
          yield* this.write(ANY_KEY)
        } else break
      }
      this.buffer.skip(match.end)
      yield* this.noteReset("soft", true, match.kind)
      if (match.kind !== "raw") yield* this.enterRaw("connect")
    }).pipe(Effect.onError(() => this.forgetState))
  }

  /** Leave the raw REPL for the friendly one (Ctrl-B). */
  leaveRaw(): Effect.Effect<void, ProtocolError> {
    return Effect.gen({ self: this }, function* () {
      yield* this.ensureRaw()
      yield* this.write(enc.encode("\r\x02"))
      const left = yield* this.waitFor("leave-raw", this.options.replyTimeoutMs, () => {
        const text = asciiText(this.buffer.view())
        const prompt = FRIENDLY_PROMPT.exec(text)
        if (prompt === null) return undefined
        return { end: prompt.index + prompt[0].length, text: text.slice(0, prompt.index) }
      })
      this.buffer.skip(left.end)
      // CircuitPython starts a fresh VM each time a REPL is entered: what the raw REPL held is gone.
      if (CIRCUITPYTHON_BANNER.test(left.text)) yield* this.noteReset("soft", true, "friendly")
      this.state = "friendly"
    }).pipe(Effect.onError(() => this.forgetState))
  }
}

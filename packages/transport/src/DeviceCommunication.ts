/**
 * The service of one board's conversation, `DeviceCommunication`: what a caller can do with a
 * board (run code plainly, checked or streamed, interrupt, reset, hand it to a terminal), and the
 * `BoardLink` service it is built from. Implemented by `makeDeviceCommunication`.
 */
import { Context, type Duration, Effect, Layer, type Scope, type Stream } from "effect"
import type { ByteLink } from "./ByteLink.js"
import type { LinkError, ProtocolError, PythonError } from "./errors.js"
import { makeDeviceCommunication } from "./makeDeviceCommunication.js"
import type { ProtocolMetrics } from "./ProtocolMetrics.js"
import type { BoardResetEvent, ProtocolCapabilities, RawReplOptions } from "./RawReplEngine.js"
import type { StateStore } from "./StateStore.js"

export { makeDeviceCommunication }

/**
 * Options of one `exec`-like call.
 *
 * @example
 * yield* comm.exec("long_job()", { timeout: "2 minutes" })
 * @since 0.1.0
 */
export interface ExecOptions {
  /** Bound on the whole call; defaults to the connection's `execTimeoutMs`. `Infinity` for none. */
  readonly timeout?: Duration.Input
  /**
   * `"checked"`: the request and the reply are checked end to end (see `CheckedOutput.ts`), so a
   * damaged byte gives a resend or a typed error, never altered code run or a wrong value.
   * `"unchecked"`: the code goes as it is, and stdout ends at the first `\x04` it prints: for a
   * link you trust, or for code that checks itself. Default: the connection's `integrity`
   * (`"checked"` unless set). `execBytes` is always unchecked.
   */
  readonly integrity?: "checked" | "unchecked"
  /** `exec`, `eval`: the most output collected before the code is stopped. Default: the connection's. */
  readonly maxOutputBytes?: number
}

/**
 * A friendly-REPL session for a person at a terminal. While it is open, no other exchange
 * runs on the board; closing its scope hands the board back to the raw REPL.
 *
 * @example
 * const term = yield* comm.terminal
 * yield* term.write(new TextEncoder().encode("help()\r"))
 * yield* Stream.runForEach(term.output, (b) => Effect.sync(() => process.stdout.write(b)))
 * @since 0.1.0
 */
export interface TerminalSession {
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, LinkError>
  /** What the board prints, as it comes. */
  readonly output: Stream.Stream<Uint8Array, LinkError>
}

/**
 * One board's conversation: run Python, read its output, interrupt it, reset it.
 * One exchange runs at a time; concurrent callers queue in arrival order.
 *
 * @example
 * const program = Effect.gen(function* () {
 *   const board = yield* DeviceCommunication
 *   const out = yield* board.exec("print(1 + 1)")       // "2\n" (checked: line ends as print wrote them)
 *   const value = yield* board.eval("[x * x for x in range(4)]") // "[0, 1, 4, 9]"
 * })
 *
 * @since 0.1.0
 */
export interface DeviceCommunicationShape {
  /** Where the board is, e.g. `serial:/dev/ttyACM0`. */
  readonly description: string
  /**
   * Run code; succeed with its stdout, fail with `PythonError` when it raises. Checked by default
   * (see {@link ExecOptions.integrity}): then what `print()` wrote comes with `\n` line ends, as
   * the code wrote it, and a `\x04` or `\x03` in the code or its output travels intact.
   */
  readonly exec: (code: string, options?: ExecOptions) => Effect.Effect<string, PythonError | ProtocolError>
  /** Run code as it is (unchecked); succeed with its stdout bytes, undecoded (for binary transfers). */
  readonly execBytes: (
    code: string | Uint8Array,
    options?: ExecOptions,
  ) => Effect.Effect<Uint8Array, PythonError | ProtocolError>
  /** Evaluate one expression and return its `repr()` text (checked by default: never a wrong value). */
  readonly eval: (
    expression: string,
    options?: ExecOptions,
  ) => Effect.Effect<string, PythonError | ProtocolError>
  /**
   * Run code and stream its stdout while it runs. Stopping the stream early interrupts the code on
   * the board (Ctrl-C) and waits for the prompt.
   */
  readonly execStream: (
    code: string,
    options?: ExecOptions,
  ) => Stream.Stream<string, PythonError | ProtocolError>
  /** Soft reset (Ctrl-D at the raw prompt): the board's RAM state is gone, its files stay. */
  readonly softReset: Effect.Effect<void, ProtocolError>
  /** Send Ctrl-C and wait for the raw prompt; fails with `BoardStuckError` when it does not come back. */
  readonly interrupt: Effect.Effect<void, ProtocolError>
  /** Hand the board to a person: friendly REPL passthrough for the lifetime of the scope. */
  readonly terminal: Effect.Effect<TerminalSession, ProtocolError, Scope.Scope>
  /** Resets the transport has seen, as they happen. */
  readonly resets: Stream.Stream<BoardResetEvent>
  /** Count of resets seen on this connection; a change means the board lost its RAM state. */
  readonly generation: Effect.Effect<number>
  readonly protocolCapabilities: Effect.Effect<ProtocolCapabilities>
  readonly metrics: Effect.Effect<ProtocolMetrics>
  /** Completes with the reason when the link closes or breaks; never completes while it is open. */
  readonly linkClosed: Effect.Effect<LinkError>
  /** Callers waiting for their turn on the board. */
  readonly queueLength: Effect.Effect<number>
  /**
   * State that lives as long as this connection (what was learnt of the board: its capabilities,
   * the code deployed on it, its transfer profile), under typed keys. Views of the device made
   * by spreading it (`{ ...device, exec }`, a session's device) share it. A reconnect makes a
   * new connection, with an empty store.
   */
  readonly connectionState: StateStore
}

/**
 * The service giving access to one board.
 *
 * @example
 * const layer = DeviceCommunication.layer().pipe(Layer.provide(BoardLink.layer(openSerialLink({ path }))))
 * @since 0.1.0
 */
export class DeviceCommunication extends Context.Service<DeviceCommunication, DeviceCommunicationShape>()(
  "@belay/transport/DeviceCommunication",
) {
  /** Build from the `BoardLink` service. */
  static layer(options?: RawReplOptions): Layer.Layer<DeviceCommunication, never, BoardLink> {
    return Layer.effect(
      DeviceCommunication,
      Effect.flatMap(BoardLink, (link: ByteLink) => makeDeviceCommunication(link, options)),
    )
  }
}

/**
 * The byte link to the board, as a service, so links and protocol compose as layers.
 *
 * @example
 * BoardLink.layer(openProcessLink({ command: "micropython" }))
 * @since 0.1.0
 */
export class BoardLink extends Context.Service<BoardLink, ByteLink>()("@belay/transport/BoardLink") {
  static layer<E, R>(
    open: Effect.Effect<ByteLink, E, R>,
  ): Layer.Layer<BoardLink, E, Exclude<R, Scope.Scope>> {
    return Layer.effect(BoardLink, open)
  }
}

/**
 * The settings of one connection's protocol (every wait on the board is bounded by one of them),
 * their defaults, and what the connection reports of the board: its resets and the mode it
 * negotiated.
 */
/**
 * Protocol settings of one connection. Every wait on the board is bounded by one of these.
 *
 * @example
 * makeDeviceCommunication(link, { rawPaste: "never", plainRawChunkSize: 64, plainRawChunkDelayMs: 5 })
 * @since 0.1.0
 */
export interface RawReplOptions {
  /** `"auto"` tries raw-paste and falls back to plain raw mode; `"never"` always uses plain raw mode. */
  readonly rawPaste?: "auto" | "never"
  /**
   * Plain raw mode writes code in chunks of this many bytes... (default 32). Plain raw mode is the
   * fallback for old firmware on small boards, whose UART FIFO is a few bytes deep: 256 B per 10 ms
   * (what other tools use) lost bytes on the emulated micro:bit under load; 32 B per 3 ms did not.
   */
  readonly plainRawChunkSize?: number
  /** ...with this pause between chunks (default 3 ms): about 10 KB/s, the pace of a 115200-baud line. */
  readonly plainRawChunkDelayMs?: number
  /** Bound on each protocol reply (`OK`, window grants, echo, prompt, traceback). Default 5000 ms. */
  readonly replyTimeoutMs?: number
  /** Bound on entering the raw REPL, interrupt and retries included. Default 10000 ms. */
  readonly enterRawTimeoutMs?: number
  /** Bound on getting the prompt back after Ctrl-C before the board counts as stuck. Default 3000 ms. */
  readonly interruptTimeoutMs?: number
  /** Default bound on one `exec` call, sending and output included. Default 60000 ms; `Infinity` for none. */
  readonly execTimeoutMs?: number
  /** How long the line must stay quiet when draining before the raw REPL banner. Default 20 ms. */
  readonly drainQuietMs?: number
  /**
   * `exec`, `eval` and `execStream` check their request and reply end to end (`"checked"`, the
   * default; see `CheckedOutput.ts`), or send code as it is (`"unchecked"`: for a link you trust,
   * or code that checks itself). Each call may say otherwise.
   */
  readonly integrity?: "checked" | "unchecked"
  /** The most output `exec` and `eval` collect before they stop the code and fail. Default 16 MB. */
  readonly maxOutputBytes?: number
  /** The most received bytes the host keeps waiting unread (a slow stream reader). Default 8 MB. */
  readonly maxUnreadBytes?: number
  /**
   * Enter the raw REPL as soon as the connection is made, rather than at the first exchange: the
   * board's answer (and the quiet checked after it) then overlaps whatever the program does before
   * its first call. Default false. Should that entry fail, the first exchange fails with its error.
   */
  readonly enterRawOnOpen?: boolean
}

/** @internal */
export type ResolvedOptions = Required<RawReplOptions>

export const resolveOptions = (options: RawReplOptions | undefined): ResolvedOptions => ({
  rawPaste: options?.rawPaste ?? "auto",
  plainRawChunkSize: options?.plainRawChunkSize ?? 32,
  plainRawChunkDelayMs: options?.plainRawChunkDelayMs ?? 3,
  replyTimeoutMs: options?.replyTimeoutMs ?? 5000,
  enterRawTimeoutMs: options?.enterRawTimeoutMs ?? 10000,
  interruptTimeoutMs: options?.interruptTimeoutMs ?? 3000,
  execTimeoutMs: options?.execTimeoutMs ?? 60000,
  drainQuietMs: options?.drainQuietMs ?? 20,
  integrity: options?.integrity ?? "checked",
  maxOutputBytes: options?.maxOutputBytes ?? 16 * 1024 * 1024,
  maxUnreadBytes: options?.maxUnreadBytes ?? 8 * 1024 * 1024,
  enterRawOnOpen: options?.enterRawOnOpen ?? false,
})

/**
 * A reset of the board seen by the transport: everything the board held in RAM is gone.
 *
 * @example
 * yield* Stream.runForEach(comm.resets, (r) => Effect.log(`board reset (${r.kind})`))
 * @since 0.1.0
 */
export interface BoardResetEvent {
  readonly kind: "soft" | "hard"
  /** True when we asked for it (`softReset`), false when the board reset on its own or after a stuck interrupt. */
  readonly requested: boolean
  /** Count of resets seen on this connection, this one included. */
  readonly generation: number
  readonly at: Date
}

/**
 * The mode the connection negotiated, as far as it knows.
 *
 * @example
 * const { rawPaste, rawPasteWindow } = yield* comm.protocolCapabilities
 * @since 0.1.0
 */
export interface ProtocolCapabilities {
  /** `undefined` until the first exchange tried it. */
  readonly rawPaste: boolean | undefined
  /** The board's raw-paste flow-control window in bytes, when raw-paste is in use. */
  readonly rawPasteWindow: number | undefined
  /**
   * The pause between plain raw chunks now, in ms: `plainRawChunkDelayMs`, doubled (up to 48 ms)
   * each time a plain raw request reached the board damaged (see `RawReplEngine`).
   */
  readonly plainRawPauseMs: number
}

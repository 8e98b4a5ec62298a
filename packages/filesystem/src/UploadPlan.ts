/**
 * The upload planner: which exchanges an upload sends, in what order, and how big each is, from
 * what is known of the board (free memory, the smallest exchange that ran out of memory, the link's
 * rate). Pure: no Effect, no I/O; `Upload` runs what it plans.
 *
 * The order: the first exchange opens the upload (and carries as much data as fits), the middle
 * ones carry data, the last one carries the rest of the data and closes it: `finish` (the board
 * hashes the file, compares and commits by rename, or keeps it in place) or, on a board without
 * `os.rename`, `verify` (the board hashes; the host compares, then commits by an on-board copy and
 * a finalize that checks the copy).
 * @internal
 */
import type { CommitMode } from "./BoardCode.js"
import { type EncodedChunk, encodeChunk, type UploadEncoding } from "./Encoding.js"

/** Smallest exchange worth sending; below it the board counts as out of memory. */
export const MIN_EXCHANGE_BYTES = 192

/** Settings that bound the size of one exchange. */
export interface SizingOptions {
  readonly maxChunkBytes: number
  readonly exchangeMs: number
  readonly linkBytesPerSecond: number | undefined
}

/** What is known of a board's room for code (a connection's profile has these fields). */
export interface BoardBudget {
  /** Latest `gc.mem_free()` seen. */
  readonly freeMemory: number
  /** Smallest exchange (code bytes) that ran out of memory; infinite until one did. */
  readonly failedCodeBytes: number
  /** Upload bytes per millisecond, measured; undefined until measured. */
  readonly rate: number | undefined
}

/** How the link takes code: raw-paste (compiled as it arrives, in windows) or plain raw REPL. */
export interface LinkProtocol {
  readonly rawPaste: boolean | undefined
  readonly rawPasteWindow: number | undefined
}

/** Raw-paste compiles as it reads: about three times the code in memory at the peak. */
const RAW_PASTE_MEMORY_FACTOR = 3
/** Plain raw mode buffers the whole program first (code, literal, bytes object): up to about five times, plus margin. */
const PLAIN_RAW_MEMORY_FACTOR = 6
/** After a MemoryError, exchanges stay under half of the smallest size that failed (the heap fragments). */
const FAILED_CODE_MARGIN = 2
/** A link-time bound never goes below this: shorter exchanges spend more in round trips than in data. */
const MIN_LINK_BUDGET = 2048
/** Round a budget down to whole raw-paste windows only when it spans more than this many (the rest is a partial window's cost). */
const MIN_WINDOWS_TO_ROUND = 4

/**
 * How many bytes of code one upload exchange may carry. Memory: a share of the free memory that
 * depends on the protocol, and under half of any size that ran out of memory. Link: at most
 * `exchangeMs` of transmission at the measured (or hinted) rate, so progress comes regularly and an
 * interruption is never far. Rounded down to whole raw-paste windows.
 *
 * @example
 * codeBudget({ freeMemory: 6000, failedCodeBytes: Infinity, rate: undefined },
 *   { rawPaste: false, rawPasteWindow: undefined }, { maxChunkBytes: 16384, exchangeMs: 2000, linkBytesPerSecond: undefined }) // 1000
 */
export const codeBudget = (board: BoardBudget, protocol: LinkProtocol, sizing: SizingOptions): number => {
  const rawPaste = protocol.rawPaste === true
  let budget = Math.floor(board.freeMemory / (rawPaste ? RAW_PASTE_MEMORY_FACTOR : PLAIN_RAW_MEMORY_FACTOR))
  budget = Math.min(budget, sizing.maxChunkBytes)
  if (Number.isFinite(board.failedCodeBytes))
    budget = Math.min(budget, Math.floor(board.failedCodeBytes / FAILED_CODE_MARGIN))
  const rate =
    board.rate ?? (sizing.linkBytesPerSecond === undefined ? undefined : sizing.linkBytesPerSecond / 1000)
  if (rate !== undefined)
    budget = Math.min(budget, Math.max(MIN_LINK_BUDGET, Math.floor(rate * sizing.exchangeMs)))
  const window = protocol.rawPasteWindow
  if (rawPaste && window !== undefined && window > 0 && budget > MIN_WINDOWS_TO_ROUND * window)
    budget -= budget % window
  return Math.max(MIN_EXCHANGE_BYTES, budget)
}

/** How an upload lands: `direct` when not atomic, else `rename` where the board has it, else `copy`. */
export const commitModeOf = (atomic: boolean, hasRename: boolean): CommitMode =>
  !atomic ? "direct" : hasRename ? "rename" : "copy"

/** What closes an upload's data in `mode`: the board commits (`finish`), or the host does after it (`verify`). */
export const closingOf = (mode: CommitMode): "finish" | "verify" => (mode === "copy" ? "verify" : "finish")

/** The exchanges after a `verify` reply the host found right: an on-board copy, then its check. */
export const COPY_COMMIT_EXCHANGES = ["copy", "finalize"] as const

/**
 * The smallest room (bytes of code) for data worth a chunk: less than this carries a handful of
 * bytes for an exchange's whole cost. An exchange after the opening always carries one (the upload
 * must move on), however small its room.
 */
export const MIN_CHUNK_ROOM = 16

/** Where an upload's data stands. */
export interface Progress {
  /** The opening exchange ran (the board holds the open file and the prefix is known). */
  readonly opened: boolean
  /** Data bytes the board has written. */
  readonly offset: number
}

/** The sizes (bytes of code) of an exchange's fixed parts, as they would be sent. */
export interface ExchangeParts {
  /** Of the opening (0 once opened). */
  readonly openBytes: number
  /** Of the closing (`finish` or `verify`), or 0 when it cannot be sent yet. */
  readonly closeBytes: number
  /** Of the code around one chunk's data. */
  readonly chunkWrapBytes: number
}

/** One exchange, as planned. */
export interface ExchangePlan {
  readonly open: boolean
  readonly chunk: EncodedChunk | undefined
  /** The exchange closes the upload (its data is complete with it). */
  readonly close: boolean
}

/**
 * Can the closing be sent in the upload's state? An append's closing names the prefix's size and
 * digest, which the opening reports: not before it ran.
 */
export const canClose = (operation: "write" | "append", progress: Progress): boolean =>
  progress.opened || operation === "write"

/**
 * The next exchange: open (when not opened), as much data as the budget leaves room for, and the
 * closing when the rest of the data fits with it.
 */
export const planExchange = (
  request: {
    readonly operation: "write" | "append"
    readonly encoding: UploadEncoding
    readonly data: Uint8Array
  },
  progress: Progress,
  budget: number,
  parts: ExchangeParts,
): ExchangePlan => {
  const open = !progress.opened
  const head = open ? parts.openBytes : 0
  const closable = canClose(request.operation, progress)
  const remaining = request.data.length - progress.offset
  if (remaining === 0) return { open, chunk: undefined, close: closable }
  const roomWithClose = budget - head - parts.closeBytes - parts.chunkWrapBytes
  if (closable && roomWithClose >= MIN_CHUNK_ROOM) {
    const chunk = encodeChunk(request.encoding, request.data, progress.offset, roomWithClose)
    // The encoding's smallest unit may not fit a small room: then the closing waits.
    if (chunk.consumed === remaining && chunk.expression.length <= roomWithClose)
      return { open, chunk, close: true }
  }
  const room = budget - head - parts.chunkWrapBytes
  if (room < MIN_CHUNK_ROOM && open) return { open, chunk: undefined, close: false }
  const chunk = encodeChunk(request.encoding, request.data, progress.offset, Math.max(MIN_CHUNK_ROOM, room))
  return { open, chunk, close: false }
}

/** A MemoryError of an exchange this long (or shorter) is not shrunk: the board is out of memory. */
export const SHRINKABLE_ABOVE = 2 * MIN_EXCHANGE_BYTES

/**
 * What a MemoryError for an exchange of `codeBytes` teaches: the smallest size known to fail, and
 * whether to send the exchange again smaller. Only when the board failed to compile it (nothing
 * ran), it carried data (which can shrink) and it was well above the smallest exchange.
 */
export const afterMemoryError = (
  failedCodeBytes: number,
  codeBytes: number,
  exchange: { readonly compiling: boolean; readonly chunk: boolean },
): { readonly failedCodeBytes: number; readonly shrink: boolean } => ({
  failedCodeBytes: Math.min(failedCodeBytes, codeBytes),
  shrink: exchange.compiling && exchange.chunk && codeBytes > SHRINKABLE_ABOVE,
})

/**
 * How many times one upload shrinks its exchanges after MemoryErrors: each shrink at least halves
 * the budget (see {@link codeBudget}), from at most `maxChunkBytes` down to the unshrinkable size.
 */
export const memoryShrinks = (sizing: Pick<SizingOptions, "maxChunkBytes">): number =>
  Math.max(1, Math.ceil(Math.log2(Math.max(sizing.maxChunkBytes, SHRINKABLE_ABOVE) / MIN_EXCHANGE_BYTES)) + 1)

/** The bound of every exchange: the slowest reply a short one gets (a board writing flash, collecting its heap). */
const EXCHANGE_BASE_MS = 30_000
/** Milliseconds allowed per byte of code: 500 bytes/s, below the slowest link in use (9600 baud carries 960). */
const MS_PER_CODE_BYTE = 2
/** Bytes a board reads and hashes per millisecond at least (4 KB/s, a slow board's flash). */
const HASHED_BYTES_PER_MS = 4

/** Time bound of an exchange of `codeBytes` of code that makes the board read and hash `hashedBytes`. */
export const exchangeTimeout = (codeBytes: number, hashedBytes: number): number =>
  EXCHANGE_BASE_MS + codeBytes * MS_PER_CODE_BYTE + hashedBytes / HASHED_BYTES_PER_MS

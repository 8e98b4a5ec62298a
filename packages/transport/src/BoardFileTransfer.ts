/**
 * A link's own way of moving files, beside the raw REPL: WebREPL's put and get (the firmware
 * runs them between the REPL's reads). The protocol engine offers it to the layers above in its
 * connection state, under {@link BoardFileTransferKey}, taking its turn with the exchanges.
 */
import type { Effect } from "effect"
import type { ByteLink } from "./ByteLink.js"
import type { LinkError } from "./errors.js"
import { StateKey } from "./StateStore.js"
import type { WebReplFileError } from "./webrepl/WebReplFiles.js"

/**
 * Whole-file put and get through the link itself. `put` truncates the file as it starts: write a
 * temporary name, check it, then rename it, for an atomic replacement.
 *
 * @example
 * const transfer = device.connectionState.getOrUndefined(BoardFileTransferKey)
 * if (transfer?.fits("/.belay-x.tmp")) yield* transfer.put("/.belay-x.tmp", bytes)
 * @since 0.1.0
 */
export interface BoardFileTransfer {
  /** What moves the files, for logs: `WebREPL file transfer`. */
  readonly description: string
  /** Whether `path` can be named to it (WebREPL: at most 63 bytes). */
  readonly fits: (path: string) => boolean
  readonly put: (path: string, data: Uint8Array) => Effect.Effect<void, LinkError | WebReplFileError>
  readonly get: (path: string) => Effect.Effect<Uint8Array, LinkError | WebReplFileError>
}

/**
 * Where a connection's {@link BoardFileTransfer} is, in `DeviceCommunication.connectionState`;
 * absent on links without one (serial ports, processes).
 *
 * @example
 * const transfer = device.connectionState.getOrUndefined(BoardFileTransferKey)
 * @since 0.1.0
 */
export const BoardFileTransferKey = StateKey<BoardFileTransfer>("@belay/transport/BoardFileTransfer")

/**
 * Present (`true`) in `DeviceCommunication.connectionState` when the connection's link carries
 * only UTF-8 text from the board (`ByteLink.textOnly`): code run over it must print no byte
 * sequence that is not UTF-8.
 *
 * @example
 * const textOnly = device.connectionState.getOrUndefined(TextOnlyLinkKey) === true
 * @since 0.1.0
 */
export const TextOnlyLinkKey = StateKey<true>("@belay/transport/TextOnlyLink")

/** The transfers of the links that have one, beside the link (no member on `ByteLink` for it). */
const transfers = new WeakMap<ByteLink, BoardFileTransfer>()

/** Say that `link` moves files with `transfer`. @internal */
export const registerFileTransfer = (link: ByteLink, transfer: BoardFileTransfer): void => {
  transfers.set(link, transfer)
}

/** The file transfer of `link`, if it has one. @internal */
export const fileTransferOf = (link: ByteLink): BoardFileTransfer | undefined => transfers.get(link)

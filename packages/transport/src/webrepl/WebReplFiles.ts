/**
 * The firmware's own file transfer over WebREPL (MicroPython's `extmod/modwebrepl.c`), in binary
 * frames beside the REPL's text frames: an 82-byte request header (`WA`, the operation, a 64-bit
 * offset the firmware ignores, a 32-bit size, the name's length, the name in a 64-byte field the
 * firmware reads as a C string), answered by `WB` and a 16-bit status.
 *
 * - put: the header, status, the file's bytes, status; the firmware opens the file with `wb` at
 *   once (an existing file is truncated there and then) and writes as the bytes come;
 * - get: the header, status, then per byte the client sends, a chunk (16-bit length and up to
 *   256 bytes), until an empty chunk; then status;
 * - version: the header, answered by three bytes (major, minor, micro).
 *
 * A name the firmware cannot open (a missing folder, a missing file to get) makes it drop the
 * connection rather than answer: that is a `LinkLostError` here. The board runs these between
 * the REPL's reads, so they go only while no code runs and nothing else is sent.
 */
import { Data, Effect } from "effect"
import type { LinkError } from "../errors.js"
import type { WebReplLink } from "./WebReplWire.js"

const HEADER_BYTES = 82
const NAME_FIELD_BYTES = 64
const PUT_FILE = 1
const GET_FILE = 2
const GET_VERSION = 3
/** How long one answer of the board may take before the operation is given up. */
const ANSWER_TIMEOUT_MS = 10_000
const encoder = new TextEncoder()

/**
 * A WebREPL file operation the board answered with something else than it should, or one that
 * cannot be sent (a name too long for the firmware's header).
 *
 * @example
 * Effect.catchTag("WebReplFileError", (e) => Console.error(e.message))
 * @since 0.1.0
 */
export class WebReplFileError extends Data.TaggedError("WebReplFileError")<{
  readonly operation: "put" | "get" | "version"
  readonly path: string | undefined
  readonly reason: string
}> {
  override get message() {
    return `WebREPL ${this.operation}${this.path === undefined ? "" : ` ${this.path}`}: ${this.reason}`
  }
}

/**
 * Names the firmware's header holds: at most 63 bytes of UTF-8 (the field is read as a C string).
 *
 * @example
 * if (!fitsWebReplHeader("/lib/module.py")) useTheRawRepl()
 * @since 0.1.0
 */
export const fitsWebReplHeader = (path: string): boolean => {
  const bytes = encoder.encode(path)
  return bytes.length < NAME_FIELD_BYTES && !bytes.includes(0)
}

/** The request header of `type` for `path` (`size`: a put's length). */
export const requestHeader = (type: number, path: string, size: number): Uint8Array => {
  const name = encoder.encode(path)
  const header = new Uint8Array(HEADER_BYTES)
  const view = new DataView(header.buffer)
  header[0] = 0x57 // W
  header[1] = 0x41 // A
  header[2] = type
  view.setUint32(12, size, true)
  view.setUint16(16, name.length, true)
  header.set(name, 18)
  return header
}

/**
 * What the board sends in binary frames, read as a byte stream however it is framed. One reader
 * per operation; it takes the link's binary frames while it lives.
 */
const withReader = <A, E>(
  link: WebReplLink,
  body: (read: (n: number) => Effect.Effect<Uint8Array, LinkError | WebReplFileError>) => Effect.Effect<A, E>,
  operation: WebReplFileError["operation"],
  path: string | undefined,
): Effect.Effect<A, E | LinkError | WebReplFileError> =>
  Effect.suspend(() => {
    let buffered = new Uint8Array(0)
    let ended: LinkError | undefined
    let wake: (() => void) | undefined
    link.onBinary({
      bytes: (bytes) => {
        const joined = new Uint8Array(buffered.length + bytes.length)
        joined.set(buffered)
        joined.set(bytes, buffered.length)
        buffered = joined
        wake?.()
      },
      ended: (error) => {
        ended = error
        wake?.()
      },
    })
    const read = (n: number): Effect.Effect<Uint8Array, LinkError | WebReplFileError> =>
      Effect.callback<Uint8Array, LinkError | WebReplFileError>((resume) => {
        const check = () => {
          if (buffered.length >= n) {
            const out = buffered.slice(0, n)
            buffered = buffered.slice(n)
            wake = undefined
            clearTimeout(timer)
            resume(Effect.succeed(out))
          } else if (ended !== undefined) {
            wake = undefined
            clearTimeout(timer)
            resume(Effect.fail(ended))
          }
        }
        const timer = setTimeout(() => {
          wake = undefined
          resume(
            Effect.fail(
              new WebReplFileError({
                operation,
                path,
                reason: `no answer from the board within ${ANSWER_TIMEOUT_MS} ms`,
              }),
            ),
          )
        }, ANSWER_TIMEOUT_MS)
        wake = check
        check()
        return Effect.sync(() => {
          wake = undefined
          clearTimeout(timer)
        })
      })
    return body(read).pipe(Effect.ensuring(Effect.sync(() => link.onBinary(undefined))))
  })

const expectStatus = (
  read: (n: number) => Effect.Effect<Uint8Array, LinkError | WebReplFileError>,
  operation: WebReplFileError["operation"],
  path: string,
) =>
  Effect.flatMap(read(4), (answer) => {
    if (answer[0] === 0x57 && answer[1] === 0x42 && answer[2] === 0 && answer[3] === 0) return Effect.void
    const code = (answer[2] ?? 0) | ((answer[3] ?? 0) << 8)
    const what =
      answer[0] === 0x57 && answer[1] === 0x42 ? `status ${code}` : "bytes that are not a WB status"
    return Effect.fail(new WebReplFileError({ operation, path, reason: `the board answered ${what}` }))
  })

const checkName = (operation: WebReplFileError["operation"], path: string) =>
  fitsWebReplHeader(path)
    ? Effect.void
    : Effect.fail(
        new WebReplFileError({ operation, path, reason: "the name is longer than the firmware's 63 bytes" }),
      )

/**
 * The MicroPython release the board runs, by the WebREPL version request.
 *
 * @example
 * const [major, minor, micro] = yield* webReplVersion(link)
 * @since 0.1.0
 */
export const webReplVersion = (
  link: WebReplLink,
): Effect.Effect<readonly [number, number, number], LinkError | WebReplFileError> =>
  withReader(
    link,
    (read) =>
      Effect.gen(function* () {
        yield* link.writeBinary(requestHeader(GET_VERSION, "", 0))
        const version = yield* read(3)
        return [version[0] ?? 0, version[1] ?? 0, version[2] ?? 0] as const
      }),
    "version",
    undefined,
  )

/**
 * Write `data` to `path` on the board with the firmware's put. The file is truncated as the
 * operation starts: write to a temporary name and rename it for an atomic replacement.
 *
 * @example
 * yield* webReplPutFile(link, "/.belay-tmp", bytes)
 * @since 0.1.0
 */
export const webReplPutFile = (
  link: WebReplLink,
  path: string,
  data: Uint8Array,
): Effect.Effect<void, LinkError | WebReplFileError> =>
  Effect.flatMap(checkName("put", path), () =>
    withReader(
      link,
      (read) =>
        Effect.gen(function* () {
          yield* link.writeBinary(requestHeader(PUT_FILE, path, data.length))
          yield* expectStatus(read, "put", path)
          yield* link.writeBinary(data)
          yield* expectStatus(read, "put", path)
        }),
      "put",
      path,
    ),
  )

/**
 * Read `path` from the board with the firmware's get.
 *
 * @example
 * const bytes = yield* webReplGetFile(link, "/main.py")
 * @since 0.1.0
 */
export const webReplGetFile = (
  link: WebReplLink,
  path: string,
): Effect.Effect<Uint8Array, LinkError | WebReplFileError> =>
  Effect.flatMap(checkName("get", path), () =>
    withReader(
      link,
      (read) =>
        Effect.gen(function* () {
          yield* link.writeBinary(requestHeader(GET_FILE, path, 0))
          yield* expectStatus(read, "get", path)
          const chunks: Uint8Array[] = []
          let total = 0
          for (;;) {
            yield* link.writeBinary(Uint8Array.of(0))
            const length = yield* read(2)
            const size = (length[0] ?? 0) | ((length[1] ?? 0) << 8)
            if (size === 0) break
            chunks.push(yield* read(size))
            total += size
          }
          yield* expectStatus(read, "get", path)
          const out = new Uint8Array(total)
          let at = 0
          for (const chunk of chunks) {
            out.set(chunk, at)
            at += chunk.length
          }
          return out
        }),
      "get",
      path,
    ),
  )

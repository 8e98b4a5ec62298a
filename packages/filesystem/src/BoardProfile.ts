import type { DeviceCapabilities } from "@belay/core"
import {
  type DeviceCommunicationShape,
  type ProtocolError,
  PythonError,
  type PythonValue,
  parsePythonLiteral,
  StateKey,
  TextOnlyLinkKey,
} from "@belay/transport"
import {
  classifyAttempt,
  fromCheckedRequest,
  indexOfBytes,
  isCompileMemoryError,
  resendWhileNothingRan,
} from "@belay/transport/internal"
import { Deferred, Effect, Result } from "effect"
import { type BoardDialect, ERRNO_NAMES, frameCheck, probeCode, py } from "./BoardCode.js"
import { chooseHashAlgorithm } from "./Checksum.js"
import { encodeChunk, escapeRawOutput, type UploadEncoding } from "./Encoding.js"
import { UnexpectedBoardReplyError } from "./errors.js"
import {
  type DeadTemporaryFiles,
  newOwnerToken,
  noteTemporaryFiles,
  parseRegistry,
} from "./TemporaryFiles.js"

export type ErrnoName = (typeof ERRNO_NAMES)[number]

/**
 * What the transfer probe found about a board and its link, once per connection.
 *
 * @example
 * const probe = yield* fs.transferProfile // { rawClean: true, errno: { ENOENT: 2, ... }, freeMemory: 7920 }
 *
 * @since 0.1.0
 */
export interface TransferProbe {
  /** A bytes literal with every byte value arrived intact: the `raw` encoding is safe. */
  readonly rawClean: boolean
  /**
   * The errno numbers the board's filesystem raises: its `errno` module's, the number a missing
   * file really raised, or Emscripten's table when that number shows MicroPython's WebAssembly port.
   */
  readonly errno: Readonly<Partial<Record<ErrnoName, number>>>
  readonly freeMemory: number
  /** `binascii` is built in (not a slow Python module): base64 is worth it. */
  readonly nativeBase64: boolean
  /** The board prints raw bytes intact (`sys.stdout.buffer`): downloads go unencoded. */
  readonly rawOutput: boolean
}

/** Linux numbers, used where the board's errno module does not say. */
const DEFAULT_ERRNO: Record<ErrnoName, number> = {
  ENOENT: 2,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  ENOSPC: 28,
  ENOTEMPTY: 39,
  EACCES: 13,
  EROFS: 30,
  EINVAL: 22,
  EIO: 5,
  EBUSY: 16,
}

/** Emscripten's numbers, raised by MicroPython's VfsPosix on the WebAssembly port. */
const EMSCRIPTEN_ERRNO: Record<ErrnoName, number> = {
  ENOENT: 44,
  EEXIST: 20,
  ENOTDIR: 54,
  EISDIR: 31,
  ENOSPC: 51,
  ENOTEMPTY: 55,
  EACCES: 2,
  EROFS: 69,
  EINVAL: 28,
  EIO: 29,
  EBUSY: 10,
}

/** The name of an `OSError` argument: a number (board table first, then Linux) or a message. */
export const errnoName = (value: unknown, probe: TransferProbe | undefined): ErrnoName | undefined => {
  if (typeof value === "number") {
    const table = probe?.errno ?? {}
    for (const name of ERRNO_NAMES) if (table[name] === value) return name
    for (const name of ERRNO_NAMES)
      if (DEFAULT_ERRNO[name] === value && table[name] === undefined) return name
    return undefined
  }
  if (typeof value === "string") {
    const text = value.trim()
    const upper = text.toUpperCase()
    for (const name of ERRNO_NAMES) if (upper === name || upper.endsWith(` ${name}`)) return name
    if (/not found|no such file/i.test(text)) return "ENOENT"
    if (/no space|full/i.test(text)) return "ENOSPC"
    const number = /^\[Errno (-?\d+)\]/.exec(text)?.[1] ?? (/^-?\d+$/.test(text) ? text : undefined)
    if (number !== undefined) return errnoName(Number(number), probe)
  }
  return undefined
}

/** The errno number in an OSError message (`[Errno 2] ENOENT`, `2`), if any. */
export const errnoNumber = (message: string): number | undefined => {
  const text = message.trim()
  const number = /^\[Errno (-?\d+)\]/.exec(text)?.[1] ?? (/^-?\d+$/.test(text) ? text : undefined)
  return number === undefined ? undefined : Number(number)
}

/** Per-connection state: the probe, what sizes worked, the measured link rate, name counters. */
export interface DeviceProfile {
  probe: TransferProbe | undefined
  probing:
    | Deferred.Deferred<TransferProbe, ProtocolError | PythonError | UnexpectedBoardReplyError>
    | undefined
  /** Latest `gc.mem_free()` seen. */
  freeMemory: number
  /** Smallest exchange (code bytes) that ran out of memory. */
  failedCodeBytes: number
  /** Upload bytes per millisecond, smoothed; undefined until measured. */
  rate: number | undefined
  seq: number
  /** This connection's owner token, in its temporary names (see `TemporaryFiles`). */
  readonly token: string
  /** Dead temporary files found and not removed yet (see `TemporaryFiles`). */
  deadTemporaryFiles: DeadTemporaryFiles | undefined
  /** Directories (board paths) whose temporary files this connection has looked at. */
  readonly scannedDirectories: Set<string>
  /**
   * The board has room to look at temporary files on the way (in the probe, in an upload's
   * opening exchange); a small board looks in an exchange of its own.
   */
  roomy: boolean
}

/** The transfer profile of a connection, kept as long as the connection. */
const DeviceProfileKey = StateKey<DeviceProfile>("@belay/filesystem/DeviceProfile")

/** @internal the profile of one connection */
export const profileOf = (
  device: DeviceCommunicationShape,
  capabilities: DeviceCapabilities,
): DeviceProfile => {
  return device.connectionState.getOrCreate(DeviceProfileKey, () => ({
    probe: undefined,
    probing: undefined,
    freeMemory: capabilities.freeMemory,
    failedCodeBytes: Number.POSITIVE_INFINITY,
    rate: undefined,
    seq: 0,
    token: newOwnerToken(),
    deadTemporaryFiles: undefined,
    scannedDirectories: new Set(),
    roomy: capabilities.freeMemory >= PROBE_SCAN_MIN_FREE,
  }))
}

/**
 * Forget what was learned about a connection (after a firmware update, say).
 *
 * @example
 * forgetTransferProfile(session.device)
 *
 * @since 0.1.0
 */
export const forgetTransferProfile = (device: DeviceCommunicationShape): void => {
  device.connectionState.delete(DeviceProfileKey)
}

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i)

const EXPECTED_RAW_OUTPUT = escapeRawOutput(ALL_BYTES)

/** The probe's literal over a text-only link: no raw bytes sent, none printed (see `python/probe.py`). */
const NO_RAW_LITERAL = new TextEncoder().encode("None")

/**
 * Does the probe's output hold every byte value, escaped, as the board wrote it? (Anywhere: a
 * board may order `print` and `sys.stdout.buffer` output differently.)
 */
const holdsRawOutput = (out: Uint8Array): boolean => indexOfBytes(out, EXPECTED_RAW_OUTPUT) >= 0

/** What the probe saw of temporary files: the root's temporary names and the registry. */
interface ProbeTemporaries {
  readonly names: ReadonlyArray<string>
  readonly registry: PythonValue | undefined
}

const parseProbe = (
  text: string,
  rawOutput: boolean,
): Result.Result<{ probe: TransferProbe; temporaries: ProbeTemporaries }, UnexpectedBoardReplyError> => {
  const lines = text.split(/\r?\n/)
  const at = lines.findLastIndex((l) => l.startsWith("{"))
  const line = at >= 0 ? lines[at]! : (text.trim().split(/\r?\n/).at(-1) ?? "")
  const fail = (reason: string) =>
    Result.fail(
      new UnexpectedBoardReplyError({ operation: "probe", path: "/", reason, reply: line.slice(0, 200) }),
    )
  // The dict line is framed: its trailer gives its byte count and 16-bit sum.
  const [count, sum] = frameCheck([new TextEncoder().encode(line)])
  if (at < 0 || lines[at + 1] !== `#${count}:${sum}`) return fail("reply frame check failed")
  const parsed = parsePythonLiteral(line)
  if (Result.isFailure(parsed)) return fail(parsed.failure.message)
  const value = parsed.success
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Map) {
    return fail("not a dict")
  }
  const record = value as Record<string, unknown>
  const errno: Partial<Record<ErrnoName, number>> = {}
  const numbers = Array.isArray(record.errno) ? record.errno : []
  if (record.enoent === EMSCRIPTEN_ERRNO.ENOENT) {
    // The filesystem raises Emscripten's numbers, whatever the errno module says.
    Object.assign(errno, EMSCRIPTEN_ERRNO)
  } else {
    ERRNO_NAMES.forEach((name, i) => {
      const n = numbers[i]
      if (typeof n === "number") errno[name] = n
    })
    if (typeof record.enoent === "number") errno.ENOENT = record.enoent
  }
  const free = record.free
  const names = Array.isArray(record.tmp) ? record.tmp.filter((n) => typeof n === "string") : []
  return Result.succeed({
    probe: {
      rawClean: record.raw === true,
      errno,
      freeMemory: typeof free === "number" ? free : typeof free === "bigint" ? Number(free) : 0,
      nativeBase64: record.b64 === true,
      rawOutput: record.out === true && rawOutput,
    },
    temporaries: { names, registry: record.reg as PythonValue | undefined },
  })
}

/**
 * Boards with this much free memory (or more) get the root's temporary files looked at in the
 * transfer probe. Below it (a micro:bit: about 7 KB) the probe is already as long as the board can
 * parse: the root is looked at by the first upload into it, like any other directory.
 */
export const PROBE_SCAN_MIN_FREE = 16_384

/**
 * Probe the connection once (concurrent callers share the probe; a failed probe is retried later).
 * On a board with room ({@link PROBE_SCAN_MIN_FREE}) the probe also reports the root's temporary
 * files: the dead ones are queued on the profile for removal (see `TemporaryFiles`).
 */
export const ensureProbe = (
  device: DeviceCommunicationShape,
  profile: DeviceProfile,
  flat: boolean,
): Effect.Effect<TransferProbe, ProtocolError | PythonError | UnexpectedBoardReplyError> =>
  Effect.suspend(() => {
    if (profile.probe !== undefined) return Effect.succeed(profile.probe)
    if (profile.probing !== undefined) return Deferred.await(profile.probing)
    const probing = Deferred.makeUnsafe<
      TransferProbe,
      ProtocolError | PythonError | UnexpectedBoardReplyError
    >()
    profile.probing = probing
    // Over a text-only link (a browser's WebREPL) no raw bytes either way: the literal is `None`,
    // which also keeps the board from printing its raw output (the link would break on it).
    const textOnly = device.connectionState.getOrUndefined(TextOnlyLinkKey) === true
    const literal = textOnly ? NO_RAW_LITERAL : encodeChunk("raw", ALL_BYTES, 0, 4096).expression
    const scan = profile.roomy
    const temporaries = scan ? { flat } : undefined
    // With the scan of what dead uploads left (a board with room), guarded: a damaged registry
    // lookup must not make another host's live upload look dead and its files removed. Sent again
    // while none of it ran; a heap that cannot compile the guarded form even once collected gets the
    // plain probe. Without the scan (a small board), plain: what damage there could do is answer
    // conservatively or wrong in a framed, checked reply, and the guarded form keeps about 1.4 KB of
    // a micro:bit's 9 KB heap for the rest of its boot (measured by `belay demo`).
    let attempts = 0
    const form = temporaries === undefined ? "plain" : "guarded"
    const guarded = resendWhileNothingRan(
      device,
      Effect.suspend(() => {
        attempts++
        return device.execBytes(probeCode(literal, temporaries, form))
      }),
      (e) => classifyAttempt(e, { form: "checked" }),
    ).pipe(
      Effect.mapError((e) => (e instanceof PythonError ? fromCheckedRequest(e, attempts) : e)),
      Effect.catchIf(
        (e) => isCompileMemoryError(e, true),
        () => device.execBytes(probeCode(literal, temporaries, "plain")),
      ),
    )
    return guarded.pipe(
      Effect.flatMap((out) =>
        Effect.fromResult(parseProbe(new TextDecoder().decode(out), !textOnly && holdsRawOutput(out))),
      ),
      Effect.map(({ probe: found, temporaries }) => {
        const probe = textOnly ? { ...found, rawClean: false, rawOutput: false } : found
        profile.probe = probe
        if (probe.freeMemory > 0) profile.freeMemory = probe.freeMemory
        if (!scan) return probe
        profile.scannedDirectories.add("/")
        noteTemporaryFiles(
          profile,
          temporaries.names.map((n) => `/${n}`),
          parseRegistry(temporaries.registry),
          (path) => (flat ? path.slice(1) : path),
        )
        return probe
      }),
      Effect.onExit((exit) =>
        Effect.andThen(
          Effect.sync(() => {
            profile.probing = undefined
          }),
          Deferred.done(probing, exit),
        ),
      ),
      Effect.withSpan("belay.fs.probe", { attributes: { link: device.description } }),
    )
  })

const tuple = (values: ReadonlyArray<number | string | undefined>) => {
  const unique = [...new Set(values.filter((v) => v !== undefined))]
  return `(${unique.map((v) => py(v)).join(",")},)`
}

/** Smallest and largest read piece on the board (see {@link dialectOf}). */
const MIN_PIECE = 128
const MAX_PIECE = 4096

/** What generated code may use on this board. */
export const dialectOf = (
  capabilities: DeviceCapabilities,
  probe: TransferProbe,
  free: number,
): BoardDialect => {
  const os = new Set(capabilities.osFunctions)
  // Read pieces: a power of two near 1/24 of free memory (a piece is read, hashed and perhaps
  // encoded at once: several copies live together), a few hundred bytes on a micro:bit, up to 4 KB.
  const piece = Math.max(MIN_PIECE, Math.min(MAX_PIECE, 2 ** Math.floor(Math.log2(Math.max(1, free / 24)))))
  return {
    flat: !os.has("mkdir"),
    os,
    hash: chooseHashAlgorithm(capabilities.hashAlgorithms),
    notFound: tuple([2, probe.errno.ENOENT, "file not found"]),
    exists: tuple([17, probe.errno.EEXIST]),
    enotdir: probe.errno.ENOTDIR ?? 20,
    eexist: probe.errno.EEXIST ?? 17,
    piece,
  }
}

/** The densest upload encoding this board and link take. */
export const chooseEncoding = (
  requested: UploadEncoding | "auto" | undefined,
  capabilities: DeviceCapabilities,
  probe: TransferProbe,
): UploadEncoding => {
  if (requested === "raw" && probe.rawClean) return "raw"
  if (requested === "base64" && capabilities.binascii) return "base64"
  if (requested === "repr") return "repr"
  if (probe.rawClean) return "raw"
  return capabilities.binascii && probe.nativeBase64 ? "base64" : "repr"
}

/** How big one exchange may be: decided by the upload planner. */
export { codeBudget, MIN_EXCHANGE_BYTES, type SizingOptions } from "./UploadPlan.js"

/**
 * The longest fixed exchange (an upload's opening, finish, commit or cleanup code, guarded) a
 * board is sent: a quarter of its free memory as last measured (with the measuring code loaded),
 * and at least 1200 bytes. Measured on the QEMU micro:bit (4.1 to 4.7 KB free by that measure,
 * about 6.5 KB at rest): exchanges of up to 1140 bytes went through (some after a collection and a
 * second try, as every exchange may), a 1326-byte commit ran out of memory on every try.
 */
export const fixedExchangeLimit = (profile: DeviceProfile): number =>
  Math.max(MIN_FIXED_EXCHANGE_BYTES, Math.floor(profile.freeMemory * FIXED_EXCHANGE_SHARE))

/** The smallest bound {@link fixedExchangeLimit} gives: what the micro:bit takes (see there). */
export const MIN_FIXED_EXCHANGE_BYTES = 1200
/** The share of free memory one fixed exchange may take: its text, parse and compile together. */
const FIXED_EXCHANGE_SHARE = 1 / 4

/** Exchanges smaller than this say more about latency than about the link's rate. */
const RATE_SAMPLE_MIN_BYTES = 4096
/** Weight of the newest sample in the rate's running average (the link may change: a hub, load). */
const RATE_NEW_WEIGHT = 0.5

/** Fold one exchange's measured rate into the profile (large exchanges only: small ones are latency). */
export const recordRate = (profile: DeviceProfile, bytes: number, ms: number): void => {
  if (bytes < RATE_SAMPLE_MIN_BYTES || ms <= 0) return
  const rate = bytes / ms
  profile.rate =
    profile.rate === undefined ? rate : profile.rate * (1 - RATE_NEW_WEIGHT) + rate * RATE_NEW_WEIGHT
}

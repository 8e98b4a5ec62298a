import {
  type DeviceCommunicationShape,
  PythonError,
  parsePythonLiteral,
  RequestDamagedError,
} from "@belay/transport"
import {
  COLLECT_GARBAGE,
  checkedTopLevelRequest,
  fromCheckedRequest,
  isCompileMemoryError,
} from "@belay/transport/internal"
import { Effect, Result } from "effect"
import { DeviceCapabilityError } from "./errors.js"
import { CAPABILITY_PROBE as PROBE } from "./python/embedded.js"

/**
 * Which firmware a board runs: MicroPython, or CircuitPython (Adafruit's fork, which differs in
 * its REPL's behaviour around resets, its read-only filesystem while USB mass storage is on, and
 * its modules: no `_thread`, no `machine`, `os` without `ilistdir`).
 *
 * @example
 * const flavor: BoardFlavor = flavorOf("circuitpython") // "circuitpython"
 *
 * @since 0.1.0
 */
export type BoardFlavor = "micropython" | "circuitpython"

/**
 * The flavor of a board from its `sys.implementation.name`: `circuitpython`, or MicroPython for
 * everything else (`micropython`, and ports that name themselves otherwise).
 *
 * @example
 * flavorOf("circuitpython") // "circuitpython"
 * flavorOf("micropython") // "micropython"
 *
 * @since 0.1.0
 */
export const flavorOf = (implementation: string): BoardFlavor =>
  implementation.trim().toLowerCase() === "circuitpython" ? "circuitpython" : "micropython"

/**
 * What a board can do, found in one round trip when the first session starts, and cached per board.
 *
 * @example
 * if (!caps.threads) console.log("no _thread on", caps.platform)
 *
 * @since 0.1.0
 */
export interface DeviceCapabilities {
  /** `sys.platform`, e.g. `rp2`, `esp32`, `microbit`, `webassembly`. */
  readonly platform: string
  /** `sys.implementation.name`, e.g. `micropython`. */
  readonly implementation: string
  /** MicroPython or CircuitPython, from `implementation`. */
  readonly flavor: BoardFlavor
  /** e.g. `1.27.0` */
  readonly version: string
  /** The board's own description, e.g. `Raspberry Pi Pico with RP2040`. */
  readonly machine: string
  readonly rawPaste: boolean
  readonly rawPasteWindow: number | undefined
  /** `_thread` is available. */
  readonly threads: boolean
  /** hashlib algorithms available, e.g. `["sha256", "sha1"]`; empty without hashlib. */
  readonly hashAlgorithms: ReadonlyArray<string>
  readonly binascii: boolean
  readonly json: boolean
  /** `os.statvfs` is available (disk free). */
  readonly statvfs: boolean
  /** The `machine` module is available. */
  readonly machineModule: boolean
  /** Functions the board's `os` module has (`listdir`, `stat`, `rename`, `mkdir`, ...). */
  readonly osFunctions: ReadonlyArray<string>
  /** `gc.mem_free()` right after a collection, at detection time. */
  readonly freeMemory: number
  /** `machine.unique_id()` as hex, where the board has one. */
  readonly uniqueId: string | undefined
  readonly detectedAt: Date
  /** True when detection failed and these are the minimal assumptions. */
  readonly fallback: boolean
}

/**
 * The board's identity: which link, which firmware, which board.
 *
 * @example
 * const { platform, version, uniqueId } = yield* session.deviceContext.deviceInfo
 *
 * @since 0.1.0
 */
export interface DeviceInfo {
  readonly link: string
  readonly platform: string
  readonly implementation: string
  readonly flavor: BoardFlavor
  readonly version: string
  readonly machine: string
  readonly uniqueId: string | undefined
}

/**
 * The capability probe as the board runs it: `python/capability_probe.py`, minified at build time.
 * It prints one repr line and a check line (`#<bytes>:<sum>`), and leaves nothing defined.
 */
export const CAPABILITY_PROBE: string = PROBE.code

/** Why a probe answer is refused when it arrived damaged (asked again). */
const DAMAGED_ANSWER = "the probe answer arrived damaged"

/**
 * The probe's answer as the board prints it: the dict's repr, then a check line with its UTF-8
 * length and 16-bit byte sum. For fake boards in tests.
 *
 * @example
 * frameProbeAnswer("{'impl': 'micropython', ...}") // the answer, then "#<bytes>:<sum>", each ending in \r\n
 */
export const frameProbeAnswer = (answer: string): string => {
  const { length, sum } = lengthAndSum(answer)
  return `${answer}\r\n#${length}:${sum}\r\n`
}

/** UTF-8 length and 16-bit byte sum of `text`, as the probe's check line gives them. */
const lengthAndSum = (text: string): { readonly length: number; readonly sum: number } => {
  const bytes = new TextEncoder().encode(text)
  return { length: bytes.length, sum: bytes.reduce((a, b) => a + b, 0) & 0xffff }
}

/** A damaged request or answer (the probe is read-only: ask again). */
const isDamaged = (error: DeviceCapabilityError): boolean =>
  error.cause instanceof RequestDamagedError ||
  (error.cause instanceof PythonError && error.cause.exceptionType === "SyntaxError") ||
  error.reason.startsWith(DAMAGED_ANSWER)

/**
 * Assumptions for a board that could not be probed: plain raw mode, nothing optional.
 *
 * @example
 * const caps = minimalCapabilities("serial:/dev/ttyUSB0")
 *
 * @since 0.1.0
 */
export const minimalCapabilities = (): DeviceCapabilities => ({
  platform: "unknown",
  implementation: "micropython",
  flavor: "micropython",
  version: "unknown",
  machine: "unknown",
  rawPaste: false,
  rawPasteWindow: undefined,
  threads: false,
  hashAlgorithms: [],
  binascii: false,
  json: false,
  statvfs: false,
  machineModule: false,
  osFunctions: ["listdir", "remove"],
  freeMemory: 0,
  uniqueId: undefined,
  detectedAt: new Date(),
  fallback: true,
})

const asString = (v: unknown, field: string): string => {
  if (typeof v !== "string") throw new Error(`field ${field} is not a string`)
  return v
}
const asStrings = (v: unknown, field: string): string[] => {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw new Error(`field ${field} is not a list of strings`)
  return v as string[]
}

/** Turn the probe's printed answer into capabilities. */
export const parseCapabilityProbe = (
  output: string,
  protocol: { rawPaste: boolean | undefined; rawPasteWindow: number | undefined },
): Result.Result<DeviceCapabilities, DeviceCapabilityError> => {
  // The answer line, then `#<bytes>:<sum>`: a byte lost, doubled or changed on the way (a
  // capability renamed, a module dropped from a list) is caught here, not believed.
  const lines = output.trim().split(/\r?\n/)
  const check = /^#(\d+):(\d+)$/.exec(lines.at(-1) ?? "")
  const line = lines.at(-2) ?? ""
  if (check === null) {
    return Result.fail(
      new DeviceCapabilityError({
        reason: `${DAMAGED_ANSWER} (no check line): ${(lines.at(-1) ?? "").slice(0, 120)}`,
      }),
    )
  }
  const { length, sum } = lengthAndSum(line)
  if (length !== Number(check[1]) || sum !== Number(check[2])) {
    return Result.fail(
      new DeviceCapabilityError({
        reason: `${DAMAGED_ANSWER} (${length}:${sum} received, ${check[1]}:${check[2]} sent): ${line.slice(0, 120)}`,
      }),
    )
  }
  const parsed = parsePythonLiteral(line)
  if (Result.isFailure(parsed)) {
    return Result.fail(
      new DeviceCapabilityError({
        reason: `unreadable probe answer: ${line.slice(0, 120)}`,
        cause: parsed.failure,
      }),
    )
  }
  const value = parsed.success
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Map) {
    return Result.fail(
      new DeviceCapabilityError({ reason: `probe answer is not a dict: ${line.slice(0, 120)}` }),
    )
  }
  const r = value as Record<string, unknown>
  try {
    const modules = asStrings(r.mods, "mods")
    const os = asStrings(r.os, "os")
    const free = r.free
    if (typeof free !== "number" && typeof free !== "bigint") throw new Error("field free is not a number")
    const implementation = asString(r.impl, "impl")
    return Result.succeed({
      platform: asString(r.plat, "plat"),
      implementation,
      flavor: flavorOf(implementation),
      version: asString(r.ver, "ver"),
      machine: asString(r.mach, "mach"),
      rawPaste: protocol.rawPaste === true,
      rawPasteWindow: protocol.rawPaste === true ? protocol.rawPasteWindow : undefined,
      threads: modules.includes("_thread"),
      hashAlgorithms: asStrings(r.hash, "hash"),
      binascii: modules.includes("binascii"),
      json: modules.includes("json"),
      statvfs: os.includes("statvfs"),
      machineModule: modules.includes("machine"),
      osFunctions: os,
      freeMemory: Number(free),
      uniqueId: typeof r.uid === "string" ? r.uid : undefined,
      detectedAt: new Date(),
      fallback: false,
    })
  } catch (error) {
    return Result.fail(new DeviceCapabilityError({ reason: (error as Error).message, cause: error }))
  }
}

/** The probe checks its own request and answer: the plain exchange carries them as they are. */
const UNCHECKED = { integrity: "unchecked" } as const

/**
 * Probe a board in one exchange.
 *
 * @example
 * const caps = yield* detectCapabilities(comm)
 *
 * @since 0.1.0
 */
export const detectCapabilities = (
  device: DeviceCommunicationShape,
): Effect.Effect<DeviceCapabilities, DeviceCapabilityError> =>
  Effect.gen(function* () {
    // The probe travels as a checked request (a damaged one runs nothing) and its answer carries
    // its own check; either damaged, it is asked again: it changes nothing on the board. A small
    // board whose heap has no room for the checked form (it holds the probe twice while compiling)
    // gets a collected heap, then the plain probe: its answer is still checked.
    const send = (code: string) =>
      Effect.mapError(device.exec(code, UNCHECKED), (error) =>
        error._tag === "PythonError" ? fromCheckedRequest(error, 1) : error,
      )
    const checked = send(checkedTopLevelRequest(CAPABILITY_PROBE))
    const output = yield* checked.pipe(
      Effect.catchIf(
        (e) => isCompileMemoryError(e),
        () => Effect.andThen(Effect.ignore(device.exec(COLLECT_GARBAGE, UNCHECKED)), checked),
      ),
      Effect.catchIf(
        (e) => isCompileMemoryError(e),
        () => device.exec(CAPABILITY_PROBE, UNCHECKED),
      ),
      Effect.mapError(
        (error) => new DeviceCapabilityError({ reason: `the probe failed: ${error.message}`, cause: error }),
      ),
    )
    const protocol = yield* device.protocolCapabilities
    return yield* Effect.fromResult(parseCapabilityProbe(output, protocol))
  }).pipe(
    Effect.retry({ times: 3, while: isDamaged }),
    Effect.withSpan("belay.capabilities.detect", { attributes: { link: device.description } }),
  )

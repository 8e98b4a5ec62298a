import { type DeviceSession, makeDeviceSessionManager } from "@belay/core"
import { frameProbeAnswer } from "@belay/core/internal"
import {
  type DeviceCommunicationShape,
  makeDeviceCommunication,
  parsePythonLiteral,
  type RawReplOptions,
} from "@belay/transport"
import { checkedTopLevelRequest } from "@belay/transport/internal"
import { type FakeBoardOptions, type FakeRun, makeFakeBoard } from "@belay/transport/testing"
import { loadMicroPython, type MicroPython } from "@micropython/micropython-webassembly-pyscript"
import { Effect, References, Result, type Scope } from "effect"
import { frameCheck } from "../src/BoardCode.js"
import { boardFileSystem, type FileSystemOptions } from "../src/index.js"

/**
 * Real MicroPython 1.27 (the WebAssembly build) as the Python executor behind the scripted fake
 * board: the byte protocol is the fake's (raw-paste, faults at chosen phases), the code runs for
 * real on a MEMFS filesystem. One interpreter per test file (instances cannot coexist in a process).
 */
let interpreter: Promise<{ mp: MicroPython; out: Uint8Array[] }> | undefined

const enc = new TextEncoder()
const toBytes = (d: Uint8Array | string) => (typeof d === "string" ? enc.encode(d) : d)
const crlf = (bytes: Uint8Array) => {
  const out: number[] = []
  for (const b of bytes) {
    if (b === 10) out.push(13)
    out.push(b)
  }
  return Uint8Array.from(out)
}

export const wasmInterpreter = () => {
  interpreter ??= (async () => {
    const out: Uint8Array[] = []
    const mp = await loadMicroPython({
      heapsize: 4 * 1024 * 1024,
      linebuffer: false,
      stdout: (d) => out.push(toBytes(d)),
    })
    return { mp, out }
  })()
  return interpreter
}

/** Run code like a board: stdout bytes (\n as \r\n), or the traceback. */
export const runOn = (mp: MicroPython, out: Uint8Array[], code: string): FakeRun => {
  out.length = 0
  const stdout = () => crlf(Uint8Array.from(out.flatMap((c) => [...c])))
  try {
    mp.runPython(code)
    return { stdout: stdout() }
  } catch (error) {
    const e = error as { name?: string; message?: string }
    if (e.name !== "PythonError") throw error
    return { stdout: stdout(), traceback: String(e.message).replace(/\n/g, "\r\n") }
  }
}

export const fastProtocol: RawReplOptions = {
  replyTimeoutMs: 2000,
  enterRawTimeoutMs: 2000,
  interruptTimeoutMs: 1000,
  drainQuietMs: 2,
  plainRawChunkDelayMs: 0,
}

/** What a board reset does to the interpreter: the RAM state (our globals) is gone. */
export const forgetGlobals = (mp: MicroPython) =>
  mp.runPython("for _k in [k for k in globals() if k.startswith('_b')]:\n del globals()[_k]\n")

export interface WasmBoard {
  readonly mp: MicroPython
  readonly device: DeviceCommunicationShape
  readonly programs: ReadonlyArray<string>
  /** Run Python on the interpreter directly (setup and checks), bypassing the link. */
  readonly py: (code: string) => string
}

/**
 * A fake board running real MicroPython, its connection, and a session manager on it. `wrap` puts
 * an instrumented device between the manager and the connection; `resetNextExchange` makes the
 * next exchange a soft reset instead of running its code (RAM state gone, files kept).
 */
export const wasmBoard = (
  boardOptions: Omit<FakeBoardOptions, "run" | "fault"> & {
    readonly intercept?: (code: string) => FakeRun | undefined
    readonly wrap?: (
      device: DeviceCommunicationShape,
      resetNextExchange: (when?: "before" | "after") => void,
    ) => DeviceCommunicationShape
  } = {},
) =>
  Effect.gen(function* () {
    const { mp, out } = yield* Effect.promise(() => wasmInterpreter())
    let resetPending: "before" | "after" | undefined
    /** The next exchange resets the board instead of running its code (or, `after`, once it ran). */
    const resetNextExchange = (when: "before" | "after" = "before") => {
      resetPending = when
    }
    const board = yield* makeFakeBoard({
      ...boardOptions,
      run: (code) =>
        resetPending === "before" ? {} : (boardOptions.intercept?.(code) ?? runOn(mp, out, code)),
      fault: (phase) => {
        if (phase !== "stdout" || resetPending === undefined) return undefined
        resetPending = undefined
        forgetGlobals(mp)
        return { _tag: "reset", kind: "soft" }
      },
    })
    const device = yield* makeDeviceCommunication(board.link, fastProtocol)
    const managed = boardOptions.wrap ? boardOptions.wrap(device, resetNextExchange) : device
    const manager = yield* makeDeviceSessionManager(managed)
    const py = (code: string) => {
      const r = runOn(mp, out, code)
      if ("traceback" in r && r.traceback) throw new Error(r.traceback)
      return new TextDecoder().decode(("stdout" in r && r.stdout) || new Uint8Array()).trim()
    }
    return { mp, device, manager, board, py, resetNextExchange }
  })

export const withFs = <A, E>(
  session: DeviceSession,
  options: FileSystemOptions | undefined,
  body: (fs: ReturnType<typeof boardFileSystem>) => Effect.Effect<A, E>,
) => body(boardFileSystem(session, options))

export const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")))

export const randomBytes = (n: number, seed = n): Uint8Array => {
  const out = new Uint8Array(n)
  let x = seed * 2654435761 + 1
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

/** The capability probe's answer of a micro:bit-like board: flat filesystem, no hashlib, no statvfs. */
export const PROBE_FLAT = frameProbeAnswer(
  "{'impl': 'micropython', 'ver': '1.9.2', 'plat': 'microbit', 'mach': 'fake micro:bit', 'mods': [], " +
    "'hash': [], 'os': ['listdir', 'remove', 'size', 'uname'], 'uid': None, 'free': 7000}",
)

/** The capability probe's answer of a board with directories and hashlib but no `os.rename`. */
export const PROBE_NO_RENAME = frameProbeAnswer(
  "{'impl': 'micropython', 'ver': '1.27.0', 'plat': 'norename', 'mach': 'fake board', 'mods': ['binascii'], " +
    "'hash': ['sha256'], 'os': ['listdir', 'ilistdir', 'stat', 'mkdir', 'rmdir', 'remove', 'statvfs'], " +
    "'uid': None, 'free': 200000}",
)

/**
 * Reply lines in a frame, as the board's `_bo` and trailer print them (with `\r\n`, as a board's
 * terminal does): what a board that lies consistently would send.
 */
export const framedLines = (lines: ReadonlyArray<string>): string => {
  const [count, sum] = frameCheck(lines.map((l) => enc.encode(l)))
  return [...lines, `#${count}:${sum}`].map((l) => `${l}\r\n`).join("")
}

/**
 * One guarded part of sent code (see `guardCode`): a checked request, its string literal. Both
 * forms of the call: `exec(*[...] or [...])` and `exec(([...] or [...])[0])`.
 */
const GUARDED_PART =
  /exec\((?:\*|\()\[_belay_q for _belay_q in \[('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")\] if len\(_belay_q\)==\d+ and sum\(bytes\(_belay_q,'utf-8'\)\)==\d+\] or \[_belay_request_damaged\]\)(?:\[0\]\))?\n/g

/**
 * `code` with `from` replaced by `to`, as a board that ran it differently would: inside a guarded
 * part, that part's check is rebuilt, so that the change is not taken for damage on the link.
 */
export const changeCode = (code: string, from: string | RegExp, to: string): string => {
  let changed = false
  const out = code.replace(GUARDED_PART, (part, literal: string) => {
    const parsed = parsePythonLiteral(literal)
    if (changed || Result.isFailure(parsed) || typeof parsed.success !== "string") return part
    const inner = parsed.success
    if (typeof from === "string" ? !inner.includes(from) : !from.test(inner)) return part
    changed = true
    return checkedTopLevelRequest(inner.replace(from, to))
  })
  return changed ? out : code.replace(from, to)
}

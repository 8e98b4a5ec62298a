/**
 * How a failed command ends: one exit-code table for every command, a message that says what to do
 * next, and, under `--json`, one JSON object instead of text.
 *
 * | code | meaning |
 * | ---- | ------- |
 * | 0 | success |
 * | 1 | a Python exception on the board, or the board refused (no such file, no space, no memory, a capability it lacks) |
 * | 2 | usage or configuration: a bad argument, flag, connection string, setting or config file; a local file that cannot be read |
 * | 3 | the link or the board not answering: a port that does not open, a link that closed, a timeout, a board that reset; also a failure belay did not expect |
 * | 129, 130, 143 | stopped by SIGHUP, SIGINT (Ctrl-C) or SIGTERM, after cleaning up |
 * | 141 | stdout's reader went away (EPIPE) |
 */
import * as Cause from "effect/Cause"
import { printJson, writeError } from "./Output.js"

/** Exit codes of the `belay` command (the table above). */
export const ExitCode = { ok: 0, python: 1, usage: 2, connection: 3 } as const

/** A usage problem found by a command itself (a local file missing, a bad argument). */
export class UsageError extends Error {
  readonly _tag = "UsageError"
  constructor(
    message: string,
    /** What to do about it, when the message alone does not say. */
    readonly hint?: string,
  ) {
    super(message)
  }
}

/** A failed command as a person (or, with `--json`, a program) is told about it. */
export interface Failure {
  /** The typed error's tag (`PythonError`, `LinkOpenError`, ...), or `Interrupted`, `Defect`. */
  readonly tag: string
  readonly message: string
  /** What to do next, when there is something to say beyond the message. */
  readonly hint: string | undefined
  readonly exitCode: number
  /** Already shown on stderr (the argument parser prints its own errors): only `--json` reports it again. */
  readonly shown?: boolean
}

const connectionTags = new Set([
  "LinkOpenError",
  "LinkClosedError",
  "LinkLostError",
  "ProtocolTimeoutError",
  "UnexpectedBytesError",
  "UnexpectedBoardReplyError",
  "BoardResetError",
  "BoardStuckError",
  "QemuStartError",
  "QemuStateError",
  "VirtualBoardStartError",
  "VirtualBoardStateError",
  "DeviceCapabilityError",
  "SessionError",
  "SessionLimitError",
  "SessionManagerStateError",
  "FramingError",
  "RequestDamagedError",
  "OutputDamagedError",
  "NoBoardFoundError",
  "DownloadError",
  "SerialPortMatchError",
  "FleetDatabaseError",
  "FleetRunnerUnreachableError",
  "FleetBoardGoneError",
  "FleetBoardReservedError",
  "FleetCallRepeatedError",
  "FleetRunnerStartError",
  "FleetBoardCallError",
  "BoardOpenTimeoutError",
])

const usageTags = new Set([
  "ConnectionStringError",
  "UsageError",
  "ArgumentEncodeError",
  "PythonLiteralEncodeError",
  "ConfigError",
  "ConfigFileError",
  "LocalFileError",
  "InvalidPathError",
  "PathTraversalError",
  "VirtualDeviceMissingError",
  "PtyUnavailableError",
  "WebReplLoginError",
  "InvalidSpecError",
  "ProjectError",
  "FleetBoardIdError",
  "BoardListError",
  "DuplicateBoardError",
  "BoardPoolOptionError",
])

const HELP_HINT = "`belay --help` lists the commands; `belay <command> --help` shows one with examples"

const hints: Record<string, string> = {
  FleetDatabaseError:
    "check BELAY_FLEET_DATABASE_URL (or --database-url); `scripts/postgres.sh start` starts a PostgreSQL server and prints its URL",
  FleetRunnerUnreachableError: "`belay fleet ls` shows which runners answer; restart the board's runner",
  FleetBoardGoneError: "`belay fleet ls` lists the boards the runners serve",
  FleetBoardReservedError:
    "`belay fleet ls` shows who holds it; its holder's commands carry BELAY_FLEET_RESERVATION=<token>",
  FleetBoardIdError: "`belay fleet ls` lists the board ids (<runner>/<board>)",
  LinkOpenError:
    "is the board plugged in, the path right and the port free (no other terminal open on it)? `belay ports` lists the ports; pick one with --device",
  LinkClosedError: "the link closed: check the cable and the board, then run the command again",
  LinkLostError: "the link was lost: check the cable and the board, then run the command again",
  ProtocolTimeoutError:
    "the board did not answer in time: press its reset button and try again, or allow longer with BELAY_EXEC_TIMEOUT (e.g. 30s)",
  BoardStuckError:
    "the board did not answer in time: press its reset button and try again, or allow longer with BELAY_EXEC_TIMEOUT (e.g. 30s)",
  BoardResetError: "the board reset during the command: run it again once the board has started",
  UnexpectedBytesError:
    "something else is talking on this port (a program on the board printing, another terminal): stop it and try again",
  QemuStartError:
    "the emulated micro:bit needs: apt-get install qemu-system-arm firmware-microbit-micropython",
  QemuStateError:
    "`belay qemu status` shows the kept emulators; `belay qemu stop` stops them and clears their state",
  VirtualBoardStartError:
    "`belay virtual status` shows the kept virtual boards; --device virtual?keep=false runs one in the command's own process",
  VirtualBoardStateError:
    "`belay virtual status` shows the kept virtual boards; `belay virtual stop` stops them and clears their state",
  PtyUnavailableError:
    "or run the program on pipes with exec:<command> (a MicroPython unix build works there with -i)",
  ConnectionStringError: "see `belay --help` for the --device forms, or `belay ports` for the ports",
  ConfigError: "fix or unset that environment variable",
  UsageError: HELP_HINT,
  FileNotFoundError: "`belay fs ls` shows what is on the board",
  NoSpaceError: "free room on the board first (`belay fs ls`, `belay fs rm`)",
  BoardMemoryError:
    "the board ran out of memory: soft-reset it (Ctrl-D in `belay repl`) or send less at once",
  NoBoardFoundError:
    "`belay ports` lists the ports with their serial numbers; name one with --device (a0, /dev/ttyUSB0, id:<serial number>)",
  SessionLimitError: "another command is using the board: wait for it, or stop it",
  DownloadError:
    "check the network and the index URL (--index); belay install --offline uses only what the cache (~/.cache/belay/packages) holds",
  HashMismatchError:
    "the server sent other bytes than the manifest or belay-lock.json names: nothing was installed; check the index or the lock file",
  PackageNotFoundError:
    "check the name and version, the index (--index), or the board's .mpy version (--no-mpy)",
  NotInstalledError: "`belay list` shows the packages installed (--target for another directory)",
  SerialPortMatchError:
    "`belay ports` shows each port's vid:pid, serial number, manufacturer and location; name the board by the fields that tell it apart: --device usb:vid=2e8a,pid=0005,serial=<serial number>",
}

/** A `tcp:`, `rfc2217:` or `ws://` link that failed: the serial hints (cable, `belay ports`) do not apply. */
const networkHint = (tag: string, error: unknown): string | undefined => {
  const link = String((error as { link?: unknown }).link)
  if (!/^(tcp|rfc2217|wss?):/.test(link)) return undefined
  if (tag === "LinkOpenError" && /^wss?:/.test(link))
    return "is the board on the network with WebREPL running (`import webrepl_setup`), the address and port right, and no other WebREPL client connected (the board serves one at a time)?"
  if (tag === "LinkOpenError")
    return "is the server running, the host and port right, and no other client connected (a serial server takes one at a time)?"
  if (tag === "LinkLostError" || tag === "LinkClosedError")
    return "the connection was lost: check the server and the network, then run the command again"
  return undefined
}

const tagOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : undefined

/** Effect's `ConfigError` prints as `ConfigError(SchemaError(...))`; a person wants the words inside. */
const configMessage = (error: { cause?: unknown }): string => {
  const cause = error.cause as { message?: unknown; toString(): string } | undefined
  const text = typeof cause?.message === "string" ? cause.message : String(cause)
  const at = /\n\s*at \["?([^"\]]+)"?\]/.exec(text)
  const reason = text.replace(/\n\s*at \[.*\]$/s, "").trim()
  return at ? `${at[1]}: ${reason}` : reason
}

/**
 * What to tell a person, and the exit code, for the failure that ended a command.
 *
 * @example
 * const { exitCode, message } = describeFailure(exit.cause)
 */
export const describeFailure = (cause: Cause.Cause<unknown>): Failure => {
  if (Cause.hasInterruptsOnly(cause))
    return { tag: "Interrupted", message: "interrupted", hint: undefined, exitCode: 130 }
  const failure = Cause.findErrorOption(cause)
  const error: unknown = failure._tag === "Some" ? failure.value : Cause.squash(cause)
  return describeError(error, failure._tag === "Some")
}

/**
 * {@link describeFailure} for one error (`expected`: a typed failure, not a defect).
 *
 * @example
 * describeError(new UsageError("cannot read x.py"), true).exitCode // 2
 */
export const describeError = (error: unknown, expected: boolean): Failure => {
  // A board of several that did not open: what stopped it, as if it had been the only board.
  if (tagOf(error) === "BoardUnavailableError")
    return describeError((error as { cause: unknown }).cause, true)
  const tag = tagOf(error)
  const message = error instanceof Error ? error.message : String(error)
  const own = error instanceof UsageError ? error.hint : undefined
  if (tag === "PythonError") {
    const traceback = (error as { traceback: string }).traceback
    return {
      tag,
      message: traceback.replace(/\r\n/g, "\n").trimEnd(),
      hint: undefined,
      exitCode: ExitCode.python,
    }
  }
  if (tag === "ConfigError")
    return {
      tag,
      message: configMessage(error as { cause?: unknown }),
      hint: hints[tag],
      exitCode: ExitCode.usage,
    }
  if (tag !== undefined && usageTags.has(tag))
    return { tag, message, hint: own ?? hints[tag], exitCode: ExitCode.usage }
  if (tag !== undefined && connectionTags.has(tag))
    return { tag, message, hint: networkHint(tag, error) ?? hints[tag], exitCode: ExitCode.connection }
  if (tag !== undefined && expected) return { tag, message, hint: hints[tag], exitCode: ExitCode.python }
  return {
    tag: "Defect",
    message: `unexpected failure: ${message}`,
    hint: "this is a bug in belay: please report it with the command line that caused it",
    exitCode: ExitCode.connection,
  }
}

/**
 * Tell about a failure: `belay: message` and the hint on stderr, or, with `json`, one line of JSON
 * on stdout (`{"error": tag, "message", "exitCode", "hint"}`), where a program reading `--json`
 * output already looks. A Python traceback is printed as it is.
 *
 * @example
 * reportFailure(describeFailure(cause), false)
 */
export const reportFailure = (failure: Failure, json: boolean): void => {
  if (json) {
    printJson({
      error: failure.tag,
      message: failure.message,
      exitCode: failure.exitCode,
      ...(failure.hint !== undefined ? { hint: failure.hint } : {}),
    })
    return
  }
  if (failure.shown === true) return
  const text = failure.tag === "PythonError" ? failure.message : `belay: ${failure.message}`
  writeError(`${text}${failure.hint !== undefined ? `\n  (${failure.hint})` : ""}\n`)
}

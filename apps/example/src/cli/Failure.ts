import { Cause } from "effect"

/** Exit codes of the `belay` command. */
export const ExitCode = { ok: 0, python: 1, usage: 2, connection: 3 } as const

/** A usage problem found by a command itself (a local file missing, a bad argument). */
export class UsageError extends Error {
  readonly _tag = "UsageError"
}

const connectionTags = new Set([
  "LinkOpenError",
  "LinkClosedError",
  "LinkLostError",
  "ProtocolTimeoutError",
  "UnexpectedBytesError",
  "BoardResetError",
  "BoardStuckError",
  "QemuStartError",
  "VirtualDeviceMissingError",
  "DeviceCapabilityError",
  "SessionError",
  "SessionLimitError",
  "SessionManagerStateError",
])

const usageTags = new Set(["ConnectionStringError", "UsageError", "ArgumentEncodeError"])

/** What to tell a person, and the exit code, for a failure. */
export const describeFailure = (cause: Cause.Cause<unknown>): { code: number; message: string } => {
  if (Cause.hasInterruptsOnly(cause)) return { code: 130, message: "interrupted" }
  const failure = Cause.findErrorOption(cause)
  const error: unknown = failure._tag === "Some" ? failure.value : Cause.squash(cause)
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : undefined
  const message = error instanceof Error ? error.message : String(error)
  if (tag === "PythonError") {
    const traceback = (error as { traceback: string }).traceback
    return { code: ExitCode.python, message: traceback.replace(/\r\n/g, "\n").trimEnd() }
  }
  if (tag !== undefined && usageTags.has(tag)) return { code: ExitCode.usage, message: `belay: ${message}` }
  if (tag !== undefined && connectionTags.has(tag)) {
    return { code: ExitCode.connection, message: `belay: ${message}${hintFor(tag)}` }
  }
  if (tag !== undefined) return { code: ExitCode.python, message: `belay: ${message}` }
  return { code: ExitCode.connection, message: `belay: unexpected failure: ${message}` }
}

const hintFor = (tag: string) => {
  switch (tag) {
    case "LinkOpenError":
      return "\n  (is the board plugged in, the path right, and the port free? try --device list)"
    case "ProtocolTimeoutError":
    case "BoardStuckError":
      return "\n  (the board did not answer in time; press its reset button or try again)"
    case "QemuStartError":
      return "\n  (the emulated micro:bit needs: apt-get install qemu-system-arm firmware-microbit-micropython)"
    default:
      return ""
  }
}

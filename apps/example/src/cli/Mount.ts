/**
 * `belay mount <local-dir> [--at /remote] [--writable] [--unsafe-links] <command> [+ <command> ...]`:
 * a host folder mounted on the board (see `mountHostFolder` in `@belay/filesystem`) while the
 * commands that follow run on one connection, then unmounted: `belay mount ./src exec "import app"`,
 * `belay mount ./src + run main.py`, `belay mount ./src + repl`. The edit-run loop: edit on the
 * host, run again, nothing copied to the board's flash.
 */
import { DeviceSessionManager } from "@belay/core"
import { mountHostFolder } from "@belay/filesystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import { boardLayer, logLevel } from "./Board.js"
import { chainDevice, withDevice } from "./Chain.js"
import { UsageError } from "./Failure.js"
import { chooseDevice, readCliConfig } from "./Flags.js"
import { isFleetDevice, lentFleetDevice } from "./FleetDevice.js"
import { writeError } from "./Output.js"

/** What `mount` was asked, and the command written on its own line. */
export interface MountRequest {
  readonly dir: string
  readonly at: string
  readonly writable: boolean
  readonly unsafeLinks: boolean
  /** The command after the folder on the mount's own line (`exec "..."`), if any. */
  readonly inline: ReadonlyArray<string>
}

const USAGE = 'belay mount <local-dir> [--at /remote] [--writable] [--unsafe-links] exec "import app"'

/**
 * Read `mount`'s own line: its flags (before the command that follows), the folder, the rest.
 *
 * @example
 * parseMountLine(["mount", "./src", "--writable", "exec", "import app"])
 * // { dir: "./src", at: "/remote", writable: true, unsafeLinks: false, inline: ["exec", "import app"] }
 */
export const parseMountLine = (line: ReadonlyArray<string>): MountRequest => {
  let dir: string | undefined
  let at = "/remote"
  let writable = false
  let unsafeLinks = false
  let i = 1
  for (; i < line.length; i++) {
    const arg = line[i] as string
    if (arg === "--writable") writable = true
    else if (arg === "--unsafe-links") unsafeLinks = true
    else if (arg === "--at") {
      const value = line[++i]
      if (value === undefined) throw new UsageError("--at needs a board path, e.g. --at /remote")
      at = value
    } else if (arg.startsWith("--at=")) at = arg.slice(5)
    else if (arg === "--device" || arg === "-d") i++
    else if (arg.startsWith("--device=") || arg === "--json" || arg === "--unchecked") {
    } else if (arg.startsWith("-")) throw new UsageError(`mount: unknown flag ${arg}`, USAGE)
    else if (dir === undefined) dir = arg
    else break
  }
  if (dir === undefined) throw new UsageError("mount needs a local folder", USAGE)
  return { dir, at, writable, unsafeLinks, inline: line.slice(i) }
}

/**
 * Run a command line that starts with `mount`: connect once, mount the folder in a session, run the
 * commands (the one on the mount's line, then those after each `+`) with `runLine`, unmount.
 *
 * @example
 * yield* runMount([["mount", "./src", "exec", "import app"]], runLine)
 */
export const runMount = <E, R>(
  lines: ReadonlyArray<ReadonlyArray<string>>,
  runLine: (argv: ReadonlyArray<string>) => Effect.Effect<void, E, R>,
) =>
  Effect.gen(function* () {
    const request = yield* Effect.try({
      try: () => parseMountLine(lines[0] ?? []),
      catch: (error) => (error instanceof UsageError ? error : new UsageError(String(error))),
    })
    const commands = [...(request.inline.length > 0 ? [request.inline] : []), ...lines.slice(1)]
    if (commands.length === 0 || commands.some((line) => line.length === 0))
      return yield* Effect.fail(new UsageError("mount needs a command to run with the folder mounted", USAGE))
    const memoMap = Layer.makeMemoMapUnsafe()
    return yield* Effect.scoped(
      Effect.gen(function* () {
        const { device: chosen } = yield* Effect.try({
          try: () => chooseDevice(chainDevice(lines), readCliConfig()),
          catch: (error) => (error instanceof UsageError ? error : new UsageError(String(error))),
        })
        // A fleet board's commands all run over its lent link, where the folder is mounted.
        const device = isFleetDevice(chosen) ? lentFleetDevice(chosen) : chosen
        const services = yield* Layer.buildWithMemoMap(boardLayer(device), memoMap, yield* Effect.scope)
        const manager = yield* Effect.provide(DeviceSessionManager, services)
        const session = yield* manager.createSession()
        yield* Effect.addFinalizer(() => Effect.ignore(session.end))
        const mount = yield* mountHostFolder(session, request.dir, {
          at: request.at,
          writable: request.writable,
          unsafeLinks: request.unsafeLinks,
        })
        writeError(`mounted ${mount.localDir} at ${mount.at}${mount.writable ? "" : " (read-only)"}\n`)
        yield* Effect.addFinalizer(() =>
          Effect.flatMap(mount.lost, (lost) =>
            Effect.sync(() => {
              if (lost) writeError(`the board reset: ${mount.localDir} is no longer mounted at ${mount.at}\n`)
            }),
          ),
        )
        for (const line of commands) yield* runLine(withDevice(line, device))
      }),
    ).pipe(
      Effect.provideService(Layer.CurrentMemoMap, memoMap),
      Effect.provideService(References.MinimumLogLevel, logLevel()),
    )
  })

/**
 * The board's files as the file commands see them: `@belay/filesystem`'s verified, atomic
 * operations in one session, and board paths resolved as a person types them (relative to the
 * board's working directory, read once per command and only when a relative path needs it).
 * Imported when a file command runs, never when the command line is parsed.
 */
import {
  type BoardFileSystem,
  boardFileSystem,
  type FileSystemError,
  InvalidPathError,
  joinBoardPath,
  resolveBoardPath,
} from "@belay/filesystem"
import * as Effect from "effect/Effect"
import { inSession, onBoard } from "./Board.js"
import { fleetDeviceOf } from "./FleetDevice.js"

/**
 * A command's view of the board's files.
 *
 * @example
 * const at = yield* files.resolve("lib/util.py") // "/work/lib/util.py" when the board's cwd is /work
 */
export interface CommandFiles {
  readonly fs: BoardFileSystem
  /** The board's working directory, normalized (asked once). */
  readonly cwd: Effect.Effect<string, FileSystemError>
  /** A board path as typed (no `:`), resolved against the working directory; empty is the working directory. */
  readonly resolve: (input: string) => Effect.Effect<string, FileSystemError>
  /**
   * Where a file named `name` lands when copied to the board path `input`: into it when it names
   * a directory by its form (`lib/`, `:`), or is one on the board; else `input` itself.
   */
  readonly target: (input: string, name: string) => Effect.Effect<string, FileSystemError>
}

/**
 * Run `body` with the files of `device`'s board, in one session that ends (cleaning up) with it.
 *
 * @example
 * yield* withFiles("virtual", (files) => Effect.flatMap(files.resolve("main.py"), files.fs.readText))
 */
export const withFiles = <A, E>(device: string, body: (files: CommandFiles) => Effect.Effect<A, E>) => {
  // A fleet board: each file operation goes to its runner (imported only then).
  const fleet = fleetDeviceOf(device)
  if (fleet !== undefined)
    return Effect.flatMap(
      Effect.promise(() => import("./FleetActions.js")),
      (f) => f.fleetWithFiles(fleet, body, commandFiles),
    )
  return onBoard(
    device,
    inSession((session) => Effect.flatMap(commandFiles(boardFileSystem(session)), body)),
  )
}

const commandFiles = (fs: BoardFileSystem) =>
  Effect.map(Effect.cached(fs.workingDirectory), (cwd): CommandFiles => {
    const resolve = (input: string) =>
      input === ""
        ? cwd
        : input.startsWith("/")
          ? resolved("/", input)
          : Effect.flatMap(cwd, (dir) => resolved(dir, input))
    const target = (input: string, name: string) =>
      Effect.gen(function* () {
        if (name === "")
          return yield* new InvalidPathError({ path: input, reason: "no file name to copy to" })
        const at = yield* resolve(input)
        const last = input.split("/").at(-1)
        if (input === "" || input.endsWith("/") || last === "." || last === "..")
          return joinBoardPath(at, name)
        const found = yield* fs.stat(at).pipe(
          Effect.catchTags({
            FileNotFoundError: () => Effect.succeed(undefined),
            NotADirectoryError: () => Effect.succeed(undefined),
          }),
        )
        return found?.type === "dir" ? joinBoardPath(at, name) : at
      })
    return { fs, cwd, resolve, target }
  })

const resolved = (cwd: string, input: string) => Effect.fromResult(resolveBoardPath(cwd, input))

/**
 * A fleet board's files, as `@belay/filesystem`'s `BoardFileSystem` offers them: each operation is
 * one `Files` call to the board's runner, which runs it on the board in a session of its own
 * (verified, atomic writes and all). File errors come back as the same tagged errors
 * (`FileNotFoundError`, `NotADirectoryError`, ...), rebuilt from the fields that crossed the wire.
 */
import {
  type BoardFileSystem,
  BoardFileSystemError,
  BoardLimitError,
  BoardMemoryError,
  DirectoryNotEmptyError,
  FileExistsError,
  FileNotFoundError,
  InvalidPathError,
  IsADirectoryError,
  NoSpaceError,
  NotADirectoryError,
  NotEnoughSpaceError,
  PartialWriteError,
  ReadOnlyFileSystemError,
  TransferVerificationError,
  UnexpectedBoardReplyError,
} from "@belay/filesystem"
import { Effect } from "effect"
import { FLEET_FILE_OPERATIONS, type FleetFileOperation } from "./BoardEntity.js"
import { FleetBoardCallError } from "./errors.js"
import { decodeJson } from "./internal.js"

type Widen<F, E2> = F extends (...args: infer A) => Effect.Effect<infer R, infer E>
  ? (...args: A) => Effect.Effect<R, E | E2>
  : F extends Effect.Effect<infer R, infer E>
    ? Effect.Effect<R, E | E2>
    : never

/**
 * A fleet board's files: the operations of `BoardFileSystem` that act on the board alone, each
 * failing with the file errors it has there or the fleet's call errors (`E`).
 *
 * @example
 * const entries = yield* fleet.board("shelf1/b0").files.list("/", { recursive: true })
 * @since 0.1.0
 */
export type FleetFileSystem<E> = { readonly [K in FleetFileOperation]: Widen<BoardFileSystem[K], E> }

/** File errors that cross the wire as themselves (each made from its plain fields). */
const FILE_ERRORS: Record<string, new (fields: never) => unknown> = {
  BoardFileSystemError,
  BoardLimitError,
  BoardMemoryError,
  DirectoryNotEmptyError,
  FileExistsError,
  FileNotFoundError,
  InvalidPathError,
  IsADirectoryError,
  NoSpaceError,
  NotADirectoryError,
  NotEnoughSpaceError,
  PartialWriteError,
  ReadOnlyFileSystemError,
  TransferVerificationError,
  UnexpectedBoardReplyError,
}

/** A board call's failure as the file error it was on the runner, when it was one. */
const asFileError = (error: unknown): unknown => {
  if (!(error instanceof FleetBoardCallError) || error.detail === undefined) return error
  const make = FILE_ERRORS[error.errorTag]
  if (make === undefined) return error
  try {
    return new make(JSON.parse(error.detail) as never)
  } catch {
    return error
  }
}

/** The operations that are values (effects), not functions. */
const VALUES: ReadonlyArray<FleetFileOperation> = ["info", "workingDirectory"]

/**
 * The files of a board reached through `send` (one `Files` call: the operation, its arguments as
 * JSON; its result as JSON).
 */
export const makeFleetFileSystem = <E>(
  send: (operation: FleetFileOperation, args: ReadonlyArray<unknown>) => Effect.Effect<string, E>,
): FleetFileSystem<E> => {
  const call = (operation: FleetFileOperation, args: ReadonlyArray<unknown>) =>
    send(operation, args).pipe(
      Effect.mapError((e) => asFileError(e) as E),
      Effect.map((text) => decodeJson(text)),
    )
  const files: Record<string, unknown> = {}
  for (const operation of FLEET_FILE_OPERATIONS)
    files[operation] = VALUES.includes(operation)
      ? call(operation, [])
      : (...args: ReadonlyArray<unknown>) => call(operation, args)
  return files as unknown as FleetFileSystem<E>
}

import { DeviceSessionManager, type SessionCreationError } from "@belay/core"
import { Context, Effect, Layer } from "effect"
import { type BoardFileSystem, boardFileSystem, type FileSystemOptions } from "./BoardFileSystem.js"

/**
 * File operations as a service over the session manager: each call runs in the manager's current
 * session, or in a new one that ends (removing its temporary files) with the call.
 *
 * @example
 * const program = Effect.gen(function* () {
 *   const files = yield* BoardFiles
 *   const text = yield* files.use((fs) => fs.readText("/main.py"))
 *   yield* files.use((fs) => fs.sync("./app", "/"))
 * })
 * program.pipe(Effect.provide(BoardFiles.layer().pipe(Layer.provide(managerLayer))))
 *
 * @since 0.1.0
 */
export interface BoardFilesShape {
  readonly options: FileSystemOptions
  /** Run `f` with the file operations of the current (or a new) session. */
  readonly use: <A, E, R>(
    f: (fs: BoardFileSystem) => Effect.Effect<A, E, R>,
  ) => Effect.Effect<A, E | SessionCreationError, R>
}

/**
 * The file-operations service, built on the `DeviceSessionManager` service.
 *
 * @example
 * const layer = BoardFiles.layer({ encoding: "auto" }).pipe(Layer.provide(DeviceSessionManager.layer()))
 * const text = Effect.flatMap(BoardFiles, (files) => files.use((fs) => fs.readText("/main.py")))
 *
 * @since 0.1.0
 */
export class BoardFiles extends Context.Service<BoardFiles, BoardFilesShape>()(
  "@belay/filesystem/BoardFiles",
) {
  /** Built on the `DeviceSessionManager` service. */
  static layer(options: FileSystemOptions = {}): Layer.Layer<BoardFiles, never, DeviceSessionManager> {
    return Layer.effect(
      BoardFiles,
      Effect.map(DeviceSessionManager, (manager) => ({
        options,
        use: (f) => manager.executeInSession((session) => f(boardFileSystem(session, options))),
      })),
    )
  }
}

import { existsSync } from "node:fs"
import path from "node:path"
import type { BoardFileSystem, SyncEvent } from "@belay/filesystem"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import { boardArgument } from "./BoardOperand.js"
import { fileCommands, noAtomicFlag, type Root } from "./Files.js"
import { formatBytes, printJson, progressBar, write } from "./Output.js"

/** What `fs sync` never uploads, besides what the local folder's ignore files list. */
const ALWAYS_IGNORED = [".git/", "__pycache__/", ".gitignore", ".belayignore"]

/** The ignore files of a local folder that `fs sync` honours, when present. */
const IGNORE_FILES = [".gitignore", ".belayignore"]

/** `fs sync`'s ignore options: the fixed patterns, `--exclude`'s, and the folder's ignore files. */
const syncIgnores = (localDir: string, exclude: ReadonlyArray<string>) => ({
  ignore: [...ALWAYS_IGNORED, ...exclude],
  ignoreFiles: IGNORE_FILES.filter((file) => existsSync(path.join(localDir, file))),
})

/** `belay fs ...`: files on the board; the file commands are also top-level shortcuts (see `Files.ts`). */
export const fsCommand = (root: Root) => {
  /** `body` with the board's files at `remote`, resolved against the board's working directory. */
  const withFs = <A, E>(remote: string, body: (fs: BoardFileSystem, at: string) => Effect.Effect<A, E>) =>
    Effect.gen(function* () {
      const { device } = yield* root
      // Imported when a file command runs, not when the command line is parsed.
      const { withFiles } = yield* Effect.promise(() => import("./BoardFiles.js"))
      return yield* withFiles(device, (files) =>
        Effect.flatMap(files.resolve(boardArgument(remote)), (at) => body(files.fs, at)),
      )
    })

  const copyAs = (sources: ReadonlyArray<string>, target: string, atomic = true) =>
    Effect.gen(function* () {
      const { device, json } = yield* root
      const { copy } = yield* Effect.promise(() => import("./Copy.js"))
      yield* copy({ device, json, sources, target, recursive: false, force: true, atomic })
    })

  const put = Command.make(
    "put",
    {
      local: Argument.String("local").pipe(Argument.withDescription("a host file")),
      remote: Argument.String("remote").pipe(
        Argument.withDescription(
          "a board path (relative to the board's working directory); a directory receives the file under its name",
        ),
      ),
      noAtomic: noAtomicFlag,
    },
    ({ local, remote, noAtomic }) => copyAs([local], `:${boardArgument(remote)}`, !noAtomic),
  ).pipe(
    Command.withDescription(
      "copy a host file to the board (atomic, verified), always (cp skips files already there)",
    ),
    Command.withExamples([
      { command: "belay fs put main.py /", description: "main.py into the root" },
      {
        command: "belay fs put --no-atomic big.bin /",
        description: "in place: a file with room on the board for one copy, not two",
      },
    ]),
  )

  const get = Command.make(
    "get",
    {
      remote: Argument.String("remote").pipe(Argument.withDescription("a board file")),
      local: Argument.String("local").pipe(
        Argument.withDescription(
          "a host path; a directory (or a path ending in /) receives the file under its name",
        ),
      ),
    },
    ({ remote, local }) => copyAs([`:${boardArgument(remote)}`], local),
  ).pipe(
    Command.withDescription("copy a board file to the host (verified), always"),
    Command.withExamples([{ command: "belay fs get data.csv ./logs/", description: "into ./logs/data.csv" }]),
  )

  const sync = Command.make(
    "sync",
    {
      localDir: Argument.String("localDir").pipe(Argument.withDescription("a folder on this computer")),
      remoteDir: Argument.String("remoteDir").pipe(
        Argument.withDescription(
          "the board directory to make match it (relative to the board's working directory)",
        ),
      ),
      delete: Flag.Boolean("delete").pipe(
        Flag.withDescription("also delete board files that the local folder does not have"),
        Flag.withDefault(false),
      ),
      dryRun: Flag.Boolean("dry-run").pipe(
        Flag.withDescription("say what would be uploaded or deleted, and change nothing"),
        Flag.withDefault(false),
      ),
      exclude: Flag.String("exclude").pipe(
        Flag.withDescription(
          "a gitignore pattern of local files not to upload (repeatable); .git/, __pycache__/ and what .gitignore and .belayignore list are never uploaded",
        ),
        Flag.atLeast(0),
      ),
      noAtomic: noAtomicFlag,
    },
    ({ localDir, remoteDir, delete: del, dryRun, exclude, noAtomic }) =>
      Effect.gen(function* () {
        const { json } = yield* root
        let bar: ReturnType<typeof progressBar> | undefined
        const onEvent = (e: SyncEvent) => {
          if (e.type === "upload") {
            bar?.done()
            bar = progressBar(`sync ${e.path}`)
          } else if (e.type === "progress") bar?.update(e.bytesDone, e.bytesTotal)
        }
        const report = yield* withFs(remoteDir, (fs, at) =>
          fs.sync(localDir, at, {
            delete: del,
            dryRun,
            atomic: !noAtomic,
            onEvent,
            ...syncIgnores(localDir, exclude),
          }),
        ).pipe(Effect.ensuring(Effect.sync(() => bar?.done())))
        if (json) return printJson(report)
        const verb = report.dryRun ? "would " : ""
        for (const d of report.createdDirectories) write(`${verb}mkdir ${d}\n`)
        for (const u of report.uploaded)
          write(`${verb}upload ${u.path} (${u.reason}, ${formatBytes(u.bytes)})\n`)
        for (const d of report.deleted) write(`${verb}delete ${d}\n`)
        write(
          `${report.uploaded.length} uploaded, ${report.unchanged.length} unchanged, ${report.deleted.length} deleted${report.dryRun ? " (dry run)" : ""}\n`,
        )
      }),
  ).pipe(
    Command.withDescription("make a board directory match a local one, uploading only what changed"),
    Command.withExamples([
      { command: "belay fs sync ./app /", description: "upload what changed in ./app to the board's root" },
      {
        command: "belay fs sync ./app /lib --delete --dry-run",
        description: "what a sync with --delete would do",
      },
    ]),
  )

  const clean = Command.make(
    "clean",
    {
      dir: Argument.String("dir").pipe(
        Argument.withDescription("the board directory to look in, with its subdirectories"),
        Argument.withDefault("/"),
      ),
    },
    ({ dir }) =>
      Effect.gen(function* () {
        const { json } = yield* root
        const report = yield* withFs(dir, (fs, at) => fs.cleanTemporaryFiles(at))
        if (json) return printJson(report)
        for (const p of report.removed) write(`removed ${p}\n`)
        for (const k of report.kept) write(`kept ${k.path} (${k.reason})\n`)
        write(
          `${report.removed.length} temporary file(s) removed, ${report.kept.length} kept (uploads in progress)\n`,
        )
      }),
  ).pipe(
    Command.withDescription(
      "remove the temporary files of uploads that can no longer finish (a killed host, a board reset) under a board directory",
    ),
    Command.withExamples([{ command: "belay fs clean", description: "everywhere on the board" }]),
  )

  return Command.make("fs").pipe(
    Command.withDescription("files on the board (each is also a top-level command: belay ls, belay cp ...)"),
    Command.withExamples([
      { command: "belay fs ls", description: "the board's working directory" },
      { command: "belay fs put main.py /", description: "copy main.py to the board's root" },
    ]),
    Command.withSubcommands([...fileCommands(root), put, get, sync, clean]),
  )
}

import { existsSync } from "node:fs"
import { readFile, writeFile } from "node:fs/promises"
import path from "node:path"
import type { BoardFileSystem, SyncEvent } from "@belay/filesystem"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import { inSession, onBoard } from "./Board.js"
import { UsageError } from "./Failure.js"
import { formatBytes, printJson, progressBar } from "./Output.js"

type Root = Command.Command<
  "belay",
  { readonly device: string; readonly json: boolean; readonly unchecked: boolean },
  { readonly device: string; readonly json: boolean; readonly unchecked: boolean },
  never,
  never
>

/** What `fs sync` never uploads, besides what the local folder's ignore files list. */
const ALWAYS_IGNORED = [".git/", "__pycache__/", ".gitignore", ".belayignore"]

/** The ignore files of a local folder that `fs sync` honours, when present. */
const IGNORE_FILES = [".gitignore", ".belayignore"]

/** `fs sync`'s ignore options: the fixed patterns, `--exclude`'s, and the folder's ignore files. */
const syncIgnores = (localDir: string, exclude: ReadonlyArray<string>) => ({
  ignore: [...ALWAYS_IGNORED, ...exclude],
  ignoreFiles: IGNORE_FILES.filter((file) => existsSync(path.join(localDir, file))),
})

/** `belay fs ...`: files on the board. */
export const fsCommand = (root: Root) => {
  const withFs = <A, E>(body: (fs: BoardFileSystem) => Effect.Effect<A, E>) =>
    Effect.gen(function* () {
      const { device } = yield* root
      // Imported when a file command runs, not when the command line is parsed.
      const { boardFileSystem } = yield* Effect.promise(() => import("@belay/filesystem"))
      return yield* onBoard(
        device,
        inSession((session) => body(boardFileSystem(session))),
      )
    })

  const ls = Command.make(
    "ls",
    {
      path: Argument.String("path").pipe(Argument.withDefault("/")),
      recursive: Flag.Boolean("recursive").pipe(Flag.withAlias("r"), Flag.withDefault(false)),
    },
    ({ path: dir, recursive }) =>
      Effect.gen(function* () {
        const { json } = yield* root
        const entries = yield* withFs((fs) => fs.list(dir, { recursive }))
        if (json) return printJson(entries)
        for (const e of entries) {
          process.stdout.write(
            `${e.type === "dir" ? "d" : "-"} ${String(e.size).padStart(8)}  ${e.path}${e.type === "dir" ? "/" : ""}\n`,
          )
        }
      }),
  ).pipe(Command.withDescription("list a board directory"))

  const cat = Command.make("cat", { path: Argument.String("path") }, ({ path: file }) =>
    Effect.gen(function* () {
      const bytes = yield* withFs((fs) => fs.readBytes(file))
      process.stdout.write(bytes)
    }),
  ).pipe(Command.withDescription("print a board file"))

  const put = Command.make(
    "put",
    { local: Argument.String("local"), remote: Argument.String("remote") },
    ({ local, remote }) =>
      Effect.gen(function* () {
        const { json } = yield* root
        const data = yield* Effect.tryPromise({
          try: () => readFile(local),
          catch: (e) => new UsageError(`cannot read ${local}: ${(e as Error).message}`),
        })
        const target = remote.endsWith("/") ? `${remote}${path.basename(local)}` : remote
        const bar = progressBar(`put ${target}`)
        const result = yield* withFs((fs) =>
          fs.write(target, new Uint8Array(data), {
            onProgress: (p) => bar.update(p.bytesDone, p.bytesTotal),
          }),
        ).pipe(Effect.ensuring(Effect.sync(() => bar.done())))
        if (json) printJson(result)
        else process.stdout.write(`${target}: ${formatBytes(result.size)} written and verified\n`)
      }),
  ).pipe(Command.withDescription("copy a local file to the board (atomic, verified)"))

  const get = Command.make(
    "get",
    { remote: Argument.String("remote"), local: Argument.String("local") },
    ({ remote, local }) =>
      Effect.gen(function* () {
        const bar = progressBar(`get ${remote}`)
        const bytes = yield* withFs((fs) =>
          fs.readBytes(remote, { onProgress: (p) => bar.update(p.bytesDone, p.bytesTotal) }),
        ).pipe(Effect.ensuring(Effect.sync(() => bar.done())))
        yield* Effect.tryPromise({
          try: () => writeFile(local, bytes),
          catch: (e) => new UsageError(`cannot write ${local}: ${(e as Error).message}`),
        })
      }),
  ).pipe(Command.withDescription("copy a board file to the host"))

  const rm = Command.make(
    "rm",
    { path: Argument.String("path"), recursive: Flag.Boolean("r").pipe(Flag.withDefault(false)) },
    ({ path: target, recursive }) => withFs((fs) => fs.remove(target, { recursive })),
  ).pipe(Command.withDescription("remove a board file (-r: a directory and all it holds)"))

  const mkdir = Command.make("mkdir", { path: Argument.String("path") }, ({ path: dir }) =>
    withFs((fs) => fs.mkdir(dir, { parents: true })),
  ).pipe(Command.withDescription("make a board directory (with parents)"))

  const sync = Command.make(
    "sync",
    {
      localDir: Argument.String("localDir"),
      remoteDir: Argument.String("remoteDir"),
      delete: Flag.Boolean("delete").pipe(Flag.withDefault(false)),
      dryRun: Flag.Boolean("dry-run").pipe(Flag.withDefault(false)),
      exclude: Flag.String("exclude").pipe(
        Flag.withDescription(
          "a gitignore pattern of local files not to upload (repeatable); .git/, __pycache__/ and what .gitignore and .belayignore list are never uploaded",
        ),
        Flag.atLeast(0),
      ),
    },
    ({ localDir, remoteDir, delete: del, dryRun, exclude }) =>
      Effect.gen(function* () {
        const { json } = yield* root
        let bar: ReturnType<typeof progressBar> | undefined
        const onEvent = (e: SyncEvent) => {
          if (e.type === "upload") {
            bar?.done()
            bar = progressBar(`sync ${e.path}`)
          } else if (e.type === "progress") bar?.update(e.bytesDone, e.bytesTotal)
        }
        const report = yield* withFs((fs) =>
          fs.sync(localDir, remoteDir, { delete: del, dryRun, onEvent, ...syncIgnores(localDir, exclude) }),
        ).pipe(Effect.ensuring(Effect.sync(() => bar?.done())))
        if (json) return printJson(report)
        const verb = report.dryRun ? "would " : ""
        for (const d of report.createdDirectories) process.stdout.write(`${verb}mkdir ${d}\n`)
        for (const u of report.uploaded)
          process.stdout.write(`${verb}upload ${u.path} (${u.reason}, ${formatBytes(u.bytes)})\n`)
        for (const d of report.deleted) process.stdout.write(`${verb}delete ${d}\n`)
        process.stdout.write(
          `${report.uploaded.length} uploaded, ${report.unchanged.length} unchanged, ${report.deleted.length} deleted${report.dryRun ? " (dry run)" : ""}\n`,
        )
      }),
  ).pipe(Command.withDescription("make a board directory match a local one, uploading only what changed"))

  const clean = Command.make(
    "clean",
    { dir: Argument.String("dir").pipe(Argument.withDefault("/")) },
    ({ dir }) =>
      Effect.gen(function* () {
        const { json } = yield* root
        const report = yield* withFs((fs) => fs.cleanTemporaryFiles(dir))
        if (json) return printJson(report)
        for (const p of report.removed) process.stdout.write(`removed ${p}\n`)
        for (const k of report.kept) process.stdout.write(`kept ${k.path} (${k.reason})\n`)
        process.stdout.write(
          `${report.removed.length} temporary file(s) removed, ${report.kept.length} kept (uploads in progress)\n`,
        )
      }),
  ).pipe(
    Command.withDescription(
      "remove the temporary files of uploads that can no longer finish (a killed host, a board reset) under a board directory",
    ),
  )

  return Command.make("fs").pipe(
    Command.withDescription("files on the board"),
    Command.withSubcommands([ls, cat, put, get, rm, mkdir, sync, clean]),
  )
}

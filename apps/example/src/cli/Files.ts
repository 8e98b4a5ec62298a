/**
 * The file commands' arguments (`ls`, `cat`, `cp`, `rm`, `mkdir`, `rmdir`, `touch`, `tree`, `df`,
 * `sha256sum`, `edit`), each under `fs` and as a top-level shortcut (`belay ls` is `belay fs
 * ls`). Parsing them loads nothing more: what a command does is imported when it runs
 * (`FileActions.ts`, `Copy.ts`).
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import type { FileRequest } from "./FileActions.js"

/**
 * The root command's shared flags, as the file commands read them.
 *
 * @example
 * const { device, json } = yield* root
 */
export type Root = Command.Command<
  "belay",
  { readonly device: string; readonly json: boolean; readonly minify: boolean; readonly unchecked: boolean },
  { readonly device: string; readonly json: boolean; readonly minify: boolean; readonly unchecked: boolean },
  never,
  never
>

const PATH_HELP = "a board path (':' before it is optional); relative to the board's working directory"

const paths = (name = "path") =>
  Argument.String(name).pipe(Argument.withDescription(PATH_HELP), Argument.variadic({ min: 1 }))

const optionalPath = (what: string) =>
  Argument.String("path").pipe(
    Argument.withDescription(`${PATH_HELP}; default ${what}`),
    Argument.variadic({ max: 1 }),
  )

const actions = () => Effect.promise(() => import("./FileActions.js"))

/**
 * The file commands, made afresh for each parent (`fs`, and the top level).
 *
 * @example
 * Command.make("fs").pipe(Command.withSubcommands([...fileCommands(root)]))
 */
/**
 * `--no-atomic` of `cp`, `fs put` and `fs sync`: write board files in place instead of through a
 * verified temporary file (the library's `atomic: false` write option). True when given.
 *
 * @example
 * Command.make("put", { noAtomic: noAtomicFlag }, ({ noAtomic }) => copy({ ..., atomic: !noAtomic }))
 */
export const noAtomicFlag = Flag.Boolean("no-atomic").pipe(
  Flag.withDescription(
    "write each board file in place, not through a temporary file committed after its check: for a file with room on the board once but not twice (an atomic write on a board without rename, the micro:bit, needs about twice its size free). Still verified (length and hash), but a power cut, reset or kill mid-write leaves a partial file",
  ),
  Flag.withDefault(false),
)

export const fileCommands = (root: Root) => {
  const request = (given: ReadonlyArray<string>) =>
    Effect.map(root, ({ device, json }): FileRequest => ({ device, json, paths: given }))
  const run =
    <A>(body: (a: typeof import("./FileActions.js"), r: FileRequest) => Effect.Effect<A, unknown>) =>
    (given: ReadonlyArray<string>) =>
      Effect.flatMap(Effect.all([actions(), request(given)]), ([a, r]) => body(a, r))

  const ls = Command.make(
    "ls",
    {
      path: optionalPath("the working directory"),
      recursive: Flag.Boolean("recursive").pipe(
        Flag.withAlias("r"),
        Flag.withDescription("everything under the directory"),
        Flag.withDefault(false),
      ),
    },
    ({ path, recursive }) => run((a, r) => a.list(r, recursive))(path),
  ).pipe(
    Command.withDescription("list a board directory (the working directory by default), with sizes"),
    Command.withExamples([
      { command: "belay ls", description: "the board's working directory" },
      { command: "belay ls :lib -r --json", description: "everything under /lib, as JSON" },
    ]),
  )

  const cat = Command.make("cat", { path: paths() }, ({ path }) => run((a, r) => a.cat(r))(path)).pipe(
    Command.withDescription("print board files"),
    Command.withExamples([{ command: "belay cat boot.py", description: "print boot.py" }]),
  )

  const cp = Command.make(
    "cp",
    {
      operands: Argument.String("source... target").pipe(
        Argument.withDescription(
          "host paths, and board paths marked with ':' (':' alone: the working directory)",
        ),
        Argument.variadic({ min: 2 }),
      ),
      recursive: Flag.Boolean("recursive").pipe(
        Flag.withAlias("r"),
        Flag.withDescription("copy directories and what they hold"),
        Flag.withDefault(false),
      ),
      force: Flag.Boolean("force").pipe(
        Flag.withAlias("f"),
        Flag.withDescription("copy even files whose content is already there"),
        Flag.withDefault(false),
      ),
      noAtomic: noAtomicFlag,
    },
    ({ operands, recursive, force, noAtomic }) =>
      Effect.gen(function* () {
        const { device, json } = yield* root
        const { copy } = yield* Effect.promise(() => import("./Copy.js"))
        yield* copy({
          device,
          json,
          sources: operands.slice(0, -1),
          target: operands.at(-1) as string,
          recursive,
          force,
          atomic: !noAtomic,
        })
      }),
  ).pipe(
    Command.withDescription(
      "copy files between the host and the board (':' marks a board path); into a directory target under the same name; files already the same (size and hash) are skipped unless -f",
    ),
    Command.withExamples([
      { command: "belay cp main.py :", description: "main.py into the board's working directory" },
      { command: "belay cp :data.csv .", description: "a board file into the current host directory" },
      { command: "belay cp -r src :lib", description: "a host directory to /lib on the board" },
    ]),
  )

  const rm = Command.make(
    "rm",
    {
      path: paths(),
      recursive: Flag.Boolean("r").pipe(
        Flag.withDescription("a directory and everything in it"),
        Flag.withDefault(false),
      ),
    },
    ({ path, recursive }) => run((a, r) => a.remove(r, recursive))(path),
  ).pipe(
    Command.withDescription("remove board files (-r: directories and all they hold)"),
    Command.withExamples([{ command: "belay rm -r :lib", description: "remove /lib and everything in it" }]),
  )

  const mkdir = Command.make("mkdir", { path: paths() }, ({ path }) =>
    run((a, r) => a.makeDirectories(r))(path),
  ).pipe(
    Command.withDescription("make board directories, with their parents (an existing one is fine)"),
    Command.withExamples([{ command: "belay mkdir lib/drivers", description: "lib and lib/drivers" }]),
  )

  const rmdir = Command.make("rmdir", { path: paths() }, ({ path }) =>
    run((a, r) => a.removeDirectories(r))(path),
  ).pipe(
    Command.withDescription("remove empty board directories"),
    Command.withExamples([{ command: "belay rmdir :old", description: "remove the empty directory old" }]),
  )

  const touch = Command.make("touch", { path: paths() }, ({ path }) => run((a, r) => a.touch(r))(path)).pipe(
    Command.withDescription("create empty board files (a file already there is kept as it is)"),
    Command.withExamples([{ command: "belay touch :flag.txt", description: "create flag.txt if missing" }]),
  )

  const tree = Command.make("tree", { path: optionalPath("the working directory") }, ({ path }) =>
    run((a, r) => a.tree(r))(path),
  ).pipe(
    Command.withDescription("draw a board directory and everything under it"),
    Command.withExamples([{ command: "belay tree :/", description: "the whole board" }]),
  )

  const df = Command.make("df", { path: optionalPath("/") }, ({ path }) =>
    run((a, r) => a.diskFree(r))(path),
  ).pipe(
    Command.withDescription("size, used and free space of the board's filesystem (needs os.statvfs)"),
    Command.withExamples([{ command: "belay df", description: "space on the board" }]),
  )

  const sha256sum = Command.make("sha256sum", { path: paths() }, ({ path }) =>
    run((a, r) => a.sha256sum(r))(path),
  ).pipe(
    Command.withDescription(
      "SHA-256 of board files (computed on the board when it has hashlib.sha256, else from a verified download)",
    ),
    Command.withExamples([{ command: "belay sha256sum main.py", description: "main.py's SHA-256" }]),
  )

  const edit = Command.make("edit", { path: paths() }, ({ path }) => run((a, r) => a.edit(r))(path)).pipe(
    Command.withDescription(
      "edit board files in $VISUAL or $EDITOR (else vi); each is written back, verified, only if it changed",
    ),
    Command.withExamples([
      { command: "EDITOR=nano belay edit main.py", description: "edit main.py in nano" },
    ]),
  )

  return [ls, cat, cp, rm, mkdir, rmdir, touch, tree, df, sha256sum, edit] as const
}

/**
 * `belay install`, `belay uninstall` and `belay list`: MicroPython packages on the board
 * (`@belay/install`). Parsing them loads nothing more: what they do is imported when they run
 * (`InstallActions.ts`).
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import type { Root } from "./Files.js"

const actions = () => Effect.promise(() => import("./InstallActions.js"))

const targetFlag = Flag.String("target").pipe(
  Flag.withDescription(
    "the board directory packages go into (default: the project's micropython.target, else /lib; / on a board with a flat filesystem such as the micro:bit)",
  ),
  Flag.optional,
)

const dryRunFlag = Flag.Boolean("dry-run").pipe(
  Flag.withDescription(
    "say what would be uploaded or removed, and change nothing (neither the board nor the lock file)",
  ),
  Flag.withDefault(false),
)

const some = <A>(option: { readonly _tag: "Some"; readonly value: A } | { readonly _tag: "None" }) =>
  option._tag === "Some" ? option.value : undefined

/**
 * The package commands.
 *
 * @example
 * Command.withSubcommands([...installCommands(root)])
 */
export const installCommands = (root: Root) => {
  const install = Command.make(
    "install",
    {
      packages: Argument.String("package").pipe(
        Argument.withDescription(
          "an index package (name or name@version), github:org/repo[/path][@ref], gitlab:..., an http(s) URL of a package.json or a .py/.mpy file, or a local folder, manifest or file (./vendor/pkg); none: the project's declared dependencies (package.json's micropython.dependencies), through belay-lock.json",
        ),
        Argument.variadic({ min: 0 }),
      ),
      target: targetFlag,
      index: Flag.String("index").pipe(
        Flag.withDescription(
          "the package index, in mip's layout: a URL or a folder (default: the project's micropython.index, else https://micropython.org/pi/v2)",
        ),
        Flag.optional,
      ),
      noMpy: Flag.Boolean("no-mpy").pipe(
        Flag.withDescription("install .py source files, not the board's compiled .mpy files"),
        Flag.withDefault(false),
      ),
      save: Flag.Boolean("save").pipe(
        Flag.withDescription(
          "also declare the packages named in package.json's micropython.dependencies, and lock them",
        ),
        Flag.withDefault(false),
      ),
      frozen: Flag.Boolean("frozen").pipe(
        Flag.withDescription("install exactly the lock file; fail if it is missing or out of date (for CI)"),
        Flag.withDefault(false),
      ),
      offline: Flag.Boolean("offline").pipe(
        Flag.withDescription("use only the download cache (~/.cache/belay/packages), never the network"),
        Flag.withDefault(false),
      ),
      dryRun: dryRunFlag,
    },
    (flags) =>
      Effect.gen(function* () {
        const { device, json } = yield* root
        const { install } = yield* actions()
        yield* install(device, json, {
          specs: flags.packages,
          target: some(flags.target),
          index: some(flags.index),
          mpy: !flags.noMpy,
          save: flags.save,
          frozen: flags.frozen,
          offline: flags.offline,
          dryRun: flags.dryRun,
        })
      }),
  ).pipe(
    Command.withDescription(
      "install MicroPython packages on the board (mip's index and package.json manifests), uploading only files that differ",
    ),
    Command.withExamples([
      {
        command: "belay install",
        description: "the project's declared dependencies, as belay-lock.json locks them",
      },
      {
        command: "belay install aioble --save",
        description: "aioble from the index, declared in package.json",
      },
      { command: "belay install github:org/repo/sensors@v1.2", description: "a package from a repository" },
      { command: "belay install --dry-run", description: "what an install would upload" },
    ]),
  )

  const uninstall = Command.make(
    "uninstall",
    {
      name: Argument.String("name").pipe(Argument.withDescription("an installed package (see belay list)")),
      target: targetFlag,
      dryRun: dryRunFlag,
    },
    ({ name, target, dryRun }) =>
      Effect.gen(function* () {
        const { device, json } = yield* root
        const { uninstall } = yield* actions()
        yield* uninstall(device, json, name, some(target), dryRun)
      }),
  ).pipe(
    Command.withDescription(
      "remove an installed package's files from the board (those no other installed package has)",
    ),
    Command.withExamples([{ command: "belay uninstall sensors", description: "remove sensors from /lib" }]),
  )

  const list = Command.make("list", { target: targetFlag }, ({ target }) =>
    Effect.gen(function* () {
      const { device, json } = yield* root
      const { list } = yield* actions()
      yield* list(device, json, some(target))
    }),
  ).pipe(
    Command.withDescription("the packages installed on the board, with their versions and sources"),
    Command.withExamples([
      { command: "belay list --json", description: "as JSON, with every file and hash" },
    ]),
  )

  return [install, uninstall, list] as const
}

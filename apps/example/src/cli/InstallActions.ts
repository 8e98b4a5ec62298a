/**
 * What `belay install`, `uninstall` and `list` do, with `@belay/install` in one session on the
 * board. Imported when one of them runs.
 */
import { boardFileSystem } from "@belay/filesystem"
import {
  type InstallEvent,
  type InstallOptions,
  installedPackages,
  installPackages,
  readProject,
  uninstallPackage,
} from "@belay/install"
import * as Effect from "effect/Effect"
import { inSession, onBoard } from "./Board.js"
import { formatBytes, printJson, progressBar, write } from "./Output.js"

/** The board directory: `--target`, else the project's `micropython.target`, else `/lib`. */
const targetFor = (target: string | undefined) =>
  target !== undefined
    ? Effect.succeed(target)
    : Effect.map(readProject(process.cwd()), (project) => project?.target ?? "/lib")

/**
 * `belay install [package...]`.
 *
 * @example
 * yield* install("virtual", false, { specs: ["aioble"] })
 */
export const install = (
  device: string,
  json: boolean,
  options: Omit<InstallOptions, "target" | "index"> & {
    readonly target: string | undefined
    readonly index: string | undefined
  },
) =>
  Effect.gen(function* () {
    let bar: ReturnType<typeof progressBar> | undefined
    const onEvent = (event: InstallEvent) => {
      if (json || options.dryRun === true) return
      if (event.type === "upload") {
        bar?.done()
        bar = progressBar(`install ${event.path}`)
      }
    }
    const { target, index, ...rest } = options
    const result = yield* onBoard(
      device,
      inSession((session) =>
        installPackages(session, {
          ...rest,
          ...(target !== undefined && { target }),
          ...(index !== undefined && { index }),
          onEvent,
        }),
      ),
    ).pipe(Effect.ensuring(Effect.sync(() => bar?.done())))
    if (json) return printJson(result)
    const verb = result.dryRun ? "would " : ""
    for (const u of result.uploaded)
      write(`${verb}upload ${u.path} (${u.package}, ${formatBytes(u.bytes)})\n`)
    for (const r of result.removed) write(`${verb}remove ${r}\n`)
    const names = result.packages.map((p) => `${p.name}@${p.version}`).join(", ")
    const origin = result.from === "locked" ? "from belay-lock.json" : `resolved for .mpy ${result.mpy}`
    write(
      `${names || "nothing to install"} into ${result.target} (${origin}): ${result.uploaded.length} uploaded, ${result.unchanged.length} unchanged, ${result.removed.length} removed${result.dryRun ? " (dry run)" : ""}\n`,
    )
    if (result.lockFile !== undefined && result.from === "resolved") write(`locked in ${result.lockFile}\n`)
  })

/**
 * `belay uninstall NAME`.
 *
 * @example
 * yield* uninstall("virtual", false, "sensors", undefined, false)
 */
export const uninstall = (
  device: string,
  json: boolean,
  name: string,
  target: string | undefined,
  dryRun: boolean,
) =>
  Effect.gen(function* () {
    const at = yield* targetFor(target)
    const report = yield* onBoard(
      device,
      inSession((session) => uninstallPackage(boardFileSystem(session), name, { target: at, dryRun })),
    )
    if (json) return printJson(report)
    const verb = dryRun ? "would " : ""
    for (const r of report.removed) write(`${verb}remove ${r}\n`)
    for (const k of report.kept) write(`kept ${k} (another package has it)\n`)
    write(`${name} ${dryRun ? "would be " : ""}uninstalled from ${report.target}\n`)
  })

/**
 * `belay list`.
 *
 * @example
 * yield* list("virtual", true, undefined)
 */
export const list = (device: string, json: boolean, target: string | undefined) =>
  Effect.gen(function* () {
    const at = yield* targetFor(target)
    const packages = yield* onBoard(
      device,
      inSession((session) => installedPackages(boardFileSystem(session), at)),
    )
    if (json) return printJson(packages)
    if (packages.length === 0) write(`no packages installed in ${at}\n`)
    for (const p of packages) {
      const bytes = p.files.reduce((n, f) => n + f.size, 0)
      write(
        `${p.name.padEnd(20)} ${p.version.padEnd(10)} ${p.files.length} file(s), ${formatBytes(bytes)}  ${p.source}\n`,
      )
    }
  })

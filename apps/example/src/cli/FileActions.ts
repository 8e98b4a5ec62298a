/**
 * What the file commands other than `cp` do (`ls`, `cat`, `rm`, `mkdir`, `rmdir`, `touch`, `tree`,
 * `df`, `sha256sum`, `edit`), each with `@belay/filesystem`'s operations on paths resolved
 * against the board's working directory. Imported when one of them runs.
 */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { boardBaseName, type FileEntry } from "@belay/filesystem"
import * as Effect from "effect/Effect"
import { type CommandFiles, withFiles } from "./BoardFiles.js"
import { boardArgument } from "./BoardOperand.js"
import { UsageError } from "./Failure.js"
import { formatBytes, print, printJson, write } from "./Output.js"

/**
 * What every file command is given: the device, `--json`, and the board paths as typed.
 *
 * @example
 * const request: FileRequest = { device: "virtual", json: false, paths: [":lib"] }
 */
export interface FileRequest {
  readonly device: string
  readonly json: boolean
  readonly paths: ReadonlyArray<string>
}

const resolveAll = (files: CommandFiles, paths: ReadonlyArray<string>) =>
  Effect.forEach(paths, (p) => files.resolve(boardArgument(p)))

/** `path` as a one-entry listing when it is a file, else the listing's own error. */
const asFile = <E>(files: CommandFiles, path: string, error: E) =>
  Effect.flatMap(
    Effect.option(files.fs.stat(path)),
    (found): Effect.Effect<ReadonlyArray<FileEntry>, E> =>
      found._tag === "Some" && found.value.type === "file"
        ? Effect.succeed([found.value])
        : Effect.fail(error),
  )

/**
 * `ls [PATH]`: a board directory (the working directory by default), or one file.
 *
 * @example
 * yield* list({ device: "virtual", json: false, paths: ["lib"] }, false)
 */
export const list = (request: FileRequest, recursive: boolean) =>
  withFiles(request.device, (files) =>
    Effect.gen(function* () {
      const dir = yield* files.resolve(boardArgument(request.paths[0] ?? ""))
      // A file lists as itself (on a flat filesystem, listing below the root is refused first).
      const entries = yield* files.fs.list(dir, { recursive }).pipe(
        Effect.catchTags({
          NotADirectoryError: (error) => asFile(files, dir, error),
          CapabilityMissingError: (error) => asFile(files, dir, error),
        }),
      )
      if (request.json) return printJson(entries)
      for (const e of entries) {
        write(
          `${e.type === "dir" ? "d" : "-"} ${String(e.size).padStart(8)}  ${e.path}${e.type === "dir" ? "/" : ""}\n`,
        )
      }
    }),
  )

/**
 * `cat PATH...`: board files, as they are, to stdout.
 *
 * @example
 * yield* cat({ device: "virtual", json: false, paths: ["boot.py"] })
 */
export const cat = (request: FileRequest) =>
  withFiles(request.device, (files) =>
    Effect.forEach(
      request.paths,
      (p) =>
        Effect.flatMap(files.resolve(boardArgument(p)), (at) =>
          Effect.flatMap(files.fs.readBytes(at), print),
        ),
      { discard: true },
    ),
  )

/**
 * `rm [-r] PATH...`.
 *
 * @example
 * yield* remove({ device: "virtual", json: false, paths: ["lib"] }, true)
 */
export const remove = (request: FileRequest, recursive: boolean) =>
  withFiles(request.device, (files) =>
    Effect.flatMap(resolveAll(files, request.paths), (paths) =>
      Effect.forEach(paths, (p) => files.fs.remove(p, { recursive }), { discard: true }),
    ),
  )

/**
 * `mkdir PATH...`, with parents; an existing directory is fine.
 *
 * @example
 * yield* makeDirectories({ device: "virtual", json: false, paths: ["lib/drivers"] })
 */
export const makeDirectories = (request: FileRequest) =>
  withFiles(request.device, (files) =>
    Effect.flatMap(resolveAll(files, request.paths), (paths) =>
      Effect.forEach(paths, (p) => files.fs.mkdir(p, { parents: true }), { discard: true }),
    ),
  )

/**
 * `rmdir PATH...`: empty directories only.
 *
 * @example
 * yield* removeDirectories({ device: "virtual", json: false, paths: ["old"] })
 */
export const removeDirectories = (request: FileRequest) =>
  withFiles(request.device, (files) =>
    Effect.flatMap(resolveAll(files, request.paths), (paths) =>
      Effect.forEach(paths, files.fs.removeDirectory, { discard: true }),
    ),
  )

/**
 * `touch PATH...`: an empty file where there is none; an existing file is kept as it is.
 *
 * @example
 * yield* touch({ device: "virtual", json: false, paths: ["flag.txt"] })
 */
export const touch = (request: FileRequest) =>
  withFiles(request.device, (files) =>
    Effect.flatMap(resolveAll(files, request.paths), (paths) =>
      Effect.forEach(paths, files.fs.touch, { discard: true }),
    ),
  )

/**
 * The lines of a tree drawing of `entries` (a recursive listing of `root`), as `tree` draws one.
 *
 * @example
 * treeLines("/", [{ path: "/lib", type: "dir", size: 0 }, { path: "/lib/a.py", type: "file", size: 3 }])
 * // ["└── lib", "    └── a.py"]
 */
export const treeLines = (root: string, entries: ReadonlyArray<FileEntry>): Array<string> => {
  const children = new Map<string, Array<FileEntry>>()
  for (const e of entries) {
    const parent = e.path.slice(0, e.path.lastIndexOf("/")) || "/"
    children.set(parent, [...(children.get(parent) ?? []), e])
  }
  const lines: Array<string> = []
  const draw = (dir: string, prefix: string) => {
    const list = [...(children.get(dir) ?? [])].sort((a, b) => (a.path < b.path ? -1 : 1))
    list.forEach((e, i) => {
      const last = i === list.length - 1
      lines.push(`${prefix}${last ? "└── " : "├── "}${boardBaseName(e.path)}`)
      if (e.type === "dir") draw(e.path, `${prefix}${last ? "    " : "│   "}`)
    })
  }
  draw(root, "")
  return lines
}

/**
 * `tree [PATH]`: a board directory (the working directory by default) and everything under it.
 *
 * @example
 * yield* tree({ device: "virtual", json: false, paths: ["/"] })
 */
export const tree = (request: FileRequest) =>
  withFiles(request.device, (files) =>
    Effect.gen(function* () {
      const root = yield* files.resolve(boardArgument(request.paths[0] ?? ""))
      const entries = yield* files.fs.list(root, { recursive: true })
      if (request.json) return printJson(entries)
      write(`:${root}\n`)
      for (const line of treeLines(root, entries)) write(`${line}\n`)
    }),
  )

/**
 * `df [PATH]`: size, used and free space of the filesystem holding a board path (default `/`).
 *
 * @example
 * yield* diskFree({ device: "virtual", json: true, paths: [] })
 */
export const diskFree = (request: FileRequest) =>
  withFiles(request.device, (files) =>
    Effect.gen(function* () {
      const at = request.paths[0] === undefined ? "/" : yield* files.resolve(boardArgument(request.paths[0]))
      const usage = yield* files.fs.diskUsage(at)
      if (request.json) return printJson(usage)
      const percent = usage.totalBytes > 0 ? Math.round((usage.usedBytes / usage.totalBytes) * 100) : 0
      write(
        `${"path".padEnd(12)} ${"size".padStart(10)} ${"used".padStart(10)} ${"free".padStart(10)}  use%\n`,
      )
      write(
        `${usage.path.padEnd(12)} ${formatBytes(usage.totalBytes).padStart(10)} ${formatBytes(usage.usedBytes).padStart(10)} ${formatBytes(usage.freeBytes).padStart(10)}  ${percent}%\n`,
      )
    }),
  )

/**
 * `sha256sum PATH...`: each file's SHA-256, computed on the board when it has `hashlib.sha256`,
 * else on the host from a verified download (a micro:bit has only its own adler32).
 *
 * @example
 * yield* sha256sum({ device: "virtual", json: false, paths: ["main.py"] })
 */
export const sha256sum = (request: FileRequest) =>
  withFiles(request.device, (files) =>
    Effect.gen(function* () {
      const paths = yield* resolveAll(files, request.paths)
      const { hashAlgorithm } = yield* files.fs.info
      const sums: Array<{ path: string; sha256: string }> = []
      for (const p of paths) {
        const sha256 =
          hashAlgorithm === "sha256"
            ? (yield* files.fs.hash(p)).digest
            : createHash("sha256")
                .update(yield* files.fs.readBytes(p))
                .digest("hex")
        sums.push({ path: p, sha256 })
        if (!request.json) write(`${sha256}  ${p}\n`)
      }
      if (request.json) printJson(sums)
    }),
  )

/** The editor `edit` starts: `$VISUAL`, else `$EDITOR`, else `vi`. */
const editor = () => process.env.VISUAL || process.env.EDITOR || "vi"

/** Run the editor on `file` (through the shell, so `EDITOR="code --wait"` works), with the terminal. */
const runEditor = (file: string) =>
  Effect.callback<void, UsageError>((resume) => {
    const child = spawn(`${editor()} "$BELAY_EDIT_FILE"`, {
      shell: true,
      stdio: "inherit",
      env: { ...process.env, BELAY_EDIT_FILE: file },
    })
    child.on("error", (e) =>
      resume(Effect.fail(new UsageError(`cannot start the editor ${editor()}: ${e.message}`))),
    )
    child.on("exit", (code) =>
      resume(
        code === 0
          ? Effect.void
          : Effect.fail(
              new UsageError(`the editor ${editor()} exited with ${code}; the board file is unchanged`),
            ),
      ),
    )
  })

/**
 * `edit PATH...`: each board file in `$EDITOR` (a copy on the host, under its own name), written
 * back (atomic, verified) only when the editor changed it.
 *
 * @example
 * yield* edit({ device: "virtual", json: false, paths: ["main.py"] }) // with EDITOR set
 */
export const edit = (request: FileRequest) =>
  withFiles(request.device, (files) =>
    Effect.scoped(
      Effect.gen(function* () {
        const paths = yield* resolveAll(files, request.paths)
        const dir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(path.join(os.tmpdir(), "belay-edit-"))),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
        )
        for (const p of paths) {
          const before = yield* files.fs.readBytes(p)
          const local = path.join(dir, boardBaseName(p) || "file")
          yield* Effect.promise(() => writeFile(local, before))
          yield* runEditor(local)
          const after = new Uint8Array(yield* Effect.promise(() => readFile(local)))
          if (Buffer.compare(after, before) === 0) {
            write(`${p}: unchanged\n`)
            continue
          }
          const result = yield* files.fs.write(p, after)
          write(`${p}: ${formatBytes(result.size)} written and verified\n`)
        }
      }),
    ),
  )

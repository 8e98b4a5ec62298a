/**
 * The host side of sync and download: walking a local tree, reading and writing files.
 * @internal
 */
import { randomBytes } from "node:crypto"
import type { Dirent } from "node:fs"
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import path from "node:path"
import { Effect } from "effect"
import { LocalFileError } from "./errors.js"
import type { IgnoreMatcher } from "./Gitignore.js"

const reasonOf = (error: unknown) =>
  error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error)

export const local = <A>(
  operation: string,
  file: string,
  run: () => Promise<A>,
): Effect.Effect<A, LocalFileError> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => new LocalFileError({ operation, path: file, reason: reasonOf(cause), cause }),
  })

/** A local file found by the walk. */
export interface LocalFile {
  /** Relative, `/`-separated. */
  readonly rel: string
  readonly abs: string
  readonly size: number
}

/** What a local tree holds (ignored entries left out; symlinks are not followed). */
export interface LocalTree {
  readonly files: ReadonlyArray<LocalFile>
  /** Relative directories, parents before children. */
  readonly directories: ReadonlyArray<string>
  /** Symlinks and special files skipped. */
  readonly skipped: ReadonlyArray<string>
}

/** Walk `root` depth first, sorted by name, leaving out what `ignore` excludes. */
export const walkLocal = (root: string, ignore: IgnoreMatcher): Effect.Effect<LocalTree, LocalFileError> =>
  Effect.gen(function* () {
    const info = yield* local("stat", root, () => lstat(root))
    if (!info.isDirectory()) {
      return yield* new LocalFileError({ operation: "sync", path: root, reason: "not a directory" })
    }
    const files: LocalFile[] = []
    const directories: string[] = []
    const skipped: string[] = []
    const visit = (dir: string, rel: string): Effect.Effect<void, LocalFileError> =>
      Effect.gen(function* () {
        const entries: Dirent[] = yield* local("readdir", dir, () => readdir(dir, { withFileTypes: true }))
        entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        for (const entry of entries) {
          const childRel = rel === "" ? entry.name : `${rel}/${entry.name}`
          const abs = path.join(dir, entry.name)
          if (entry.isDirectory()) {
            if (ignore.ignores(childRel, true)) continue
            directories.push(childRel)
            yield* visit(abs, childRel)
          } else if (entry.isFile()) {
            if (ignore.ignores(childRel, false)) continue
            const stat = yield* local("stat", abs, () => lstat(abs))
            files.push({ rel: childRel, abs, size: stat.size })
          } else if (!ignore.ignores(childRel, false)) {
            skipped.push(childRel)
          }
        }
      })
    yield* visit(root, "")
    return { files, directories, skipped }
  })

export const readLocal = (file: string) =>
  Effect.map(
    local("read", file, () => readFile(file)),
    (buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength),
  )

export const readLocalText = (file: string) => local("read", file, () => readFile(file, "utf8"))

/** Write atomically on the host: a temporary file beside the target, then rename. */
export const writeLocalAtomic = (file: string, data: Uint8Array) =>
  Effect.gen(function* () {
    const temp = path.join(path.dirname(file), `.belay-${randomBytes(4).toString("hex")}.tmp`)
    yield* local("write", file, () => writeFile(temp, data, { flag: "wx" })).pipe(
      Effect.andThen(local("rename", file, () => rename(temp, file))),
      Effect.onError(() => Effect.ignore(local("remove", temp, () => rm(temp, { force: true })))),
    )
  })

export const makeLocalDirectory = (dir: string) => local("mkdir", dir, () => mkdir(dir, { recursive: true }))

/** `lstat`, or undefined when nothing is there. */
export const lstatOrUndefined = (file: string) =>
  Effect.catchIf(
    local("stat", file, () => lstat(file)),
    (e) => e.reason === "ENOENT" || e.reason === "ENOTDIR",
    () => Effect.succeed(undefined),
  )

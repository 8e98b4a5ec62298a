/**
 * `cp`, with mpremote's conventions: `:` marks a board path (`belay cp main.py :`, `belay cp
 * :data.csv .`, `belay cp -r src :lib`), a target that is a directory (or is written as one, with a
 * trailing `/`) receives the source under its own name, and a file whose content is already there
 * (same size and hash, the board's hash computed on the board) is skipped unless `-f`. Uploads are
 * `@belay/filesystem`'s atomic, verified writes (a directory goes as `fs sync` without deletes);
 * downloads are verified reads, written on the host through a temporary file and a rename.
 * Imported when `cp`, `fs put` or `fs get` runs.
 */
import { mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises"
import path from "node:path"
import {
  type BoardFileSystem,
  digestHex,
  type FileEntry,
  joinBoardPath,
  PathTraversalError,
} from "@belay/filesystem"
import * as Effect from "effect/Effect"
import { type CommandFiles, withFiles } from "./BoardFiles.js"
import { baseName, namesDirectory, type Operand, operand } from "./BoardOperand.js"
import { UsageError } from "./Failure.js"
import { formatBytes, printJson, progressBar, write } from "./Output.js"

/**
 * `cp`'s request: operands as typed (`:` marks the board), the last one the target.
 *
 * @example
 * const request: CopyRequest = { device: "virtual", json: false, sources: ["src"], target: ":lib", recursive: true, force: false }
 */
export interface CopyRequest {
  readonly device: string
  readonly json: boolean
  readonly sources: ReadonlyArray<string>
  readonly target: string
  readonly recursive: boolean
  readonly force: boolean
  /** Write board files atomically (default true); false: in place (`--no-atomic`). */
  readonly atomic?: boolean
}

/**
 * One file `cp` copied or skipped (what `--json` prints, one per file).
 *
 * @example
 * const done: Copied = { from: "main.py", to: ":/main.py", bytes: 12, unchanged: false }
 */
export interface Copied {
  readonly from: string
  readonly to: string
  readonly bytes: number
  /** True when the target already held the same content. */
  readonly unchanged: boolean
}

/** A board path written as a directory (`:` alone stays the working directory). */
const asDirectory = (p: string) => (p === "" || p.endsWith("/") ? p : `${p}/`)

const usage = (message: string) => Effect.fail(new UsageError(message))

const localInfo = (p: string) => Effect.promise(() => stat(p).catch(() => undefined))

const readLocal = (p: string) =>
  Effect.tryPromise({
    try: async () => new Uint8Array(await readFile(p)),
    catch: (e) => new UsageError(`cannot read ${p}: ${(e as Error).message}`),
  })

/** Write a host file through a temporary file beside it and a rename, so it is never half written. */
const writeLocal = (p: string, data: Uint8Array) =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(path.dirname(p), { recursive: true })
      const temporary = `${p}.belay-${process.pid}.tmp`
      await writeFile(temporary, data)
      await rename(temporary, p)
    },
    catch: (e) => new UsageError(`cannot write ${p}: ${(e as Error).message}`),
  })

/**
 * Run `cp`: every source to the target, board to host, host to board or board to board.
 *
 * @example
 * yield* copy({ device: "virtual", json: false, sources: ["main.py"], target: ":", recursive: false, force: false })
 */
export const copy = (request: CopyRequest) =>
  Effect.gen(function* () {
    const sources = request.sources.map(operand)
    const target = operand(request.target)
    if (sources.length === 0) return yield* usage("cp needs a source and a target")
    if (!target.board && sources.every((s) => !s.board))
      return yield* usage("cp: no board path: mark board paths with ':' (belay cp main.py :main.py)")
    if (target.board === false && sources.some((s) => !s.board))
      return yield* usage("cp: copy from the board (':path') or to it, not host to host")
    if (target.board && sources.some((s) => s.board) && sources.some((s) => !s.board))
      return yield* usage("cp: the sources are all on the host or all on the board, not both")
    const many = sources.length > 1
    const copied = yield* withFiles(request.device, (files) =>
      Effect.gen(function* () {
        const done: Array<Copied> = []
        const report = (c: Copied) => {
          done.push(c)
          if (!request.json)
            write(
              c.unchanged
                ? `${c.from} -> ${c.to}: unchanged (same content)\n`
                : `${c.from} -> ${c.to}: ${formatBytes(c.bytes)} copied and verified\n`,
            )
        }
        for (const source of sources) {
          if (!target.board) yield* download(files, source, target.path, many, request, report)
          else if (source.board) yield* boardToBoard(files, source, target, many, request, report)
          else yield* upload(files, source, target, many, request, report)
        }
        return done
      }),
    )
    if (request.json) printJson(copied)
  })

/** The board's digest of `data`, in the hash the board computes. */
const boardDigest = (fs: BoardFileSystem, data: Uint8Array) =>
  Effect.map(fs.info, (info) => digestHex(info.hashAlgorithm, data))

/** True when the board file `at` holds `data` already (hashed on the board). */
const holdsAlready = (fs: BoardFileSystem, at: string, data: Uint8Array) =>
  Effect.flatMap(boardDigest(fs, data), (digest) =>
    Effect.map(fs.sameContent([{ path: at, digest }]), ([same]) => same === true),
  )

const putFile = (
  files: CommandFiles,
  from: string,
  to: string,
  data: Uint8Array,
  force: boolean,
  report: (c: Copied) => void,
  atomic = true,
) =>
  Effect.gen(function* () {
    if (!force && (yield* holdsAlready(files.fs, to, data)))
      return report({ from, to: `:${to}`, bytes: data.length, unchanged: true })
    const bar = progressBar(`cp ${to}`)
    const result = yield* files.fs
      .write(to, data, { atomic, onProgress: (p) => bar.update(p.bytesDone, p.bytesTotal) })
      .pipe(Effect.ensuring(Effect.sync(() => bar.done())))
    report({ from, to: `:${result.path}`, bytes: result.size, unchanged: false })
  })

const upload = (
  files: CommandFiles,
  source: Operand,
  target: Operand,
  many: boolean,
  request: CopyRequest,
  report: (c: Copied) => void,
) =>
  Effect.gen(function* () {
    const info = yield* localInfo(source.path)
    if (info === undefined) return yield* usage(`cp: ${source.path}: no such file or directory`)
    const name = baseName(source.path)
    if (!info.isDirectory()) {
      const into = many ? asDirectory(target.path) : target.path
      const to = yield* files.target(into, name)
      return yield* putFile(
        files,
        source.path,
        to,
        yield* readLocal(source.path),
        request.force,
        report,
        request.atomic,
      )
    }
    if (!request.recursive) return yield* usage(`cp: ${source.path} is a directory (copy it with -r)`)
    // Like cp -r: into the target when it is a directory, else the target is the copy.
    const to = yield* files.target(many ? asDirectory(target.path) : target.path, name)
    if (!request.force) {
      const synced = yield* files.fs.sync(source.path, to, {
        ignoreFiles: [],
        atomic: request.atomic !== false,
      })
      for (const u of synced.uploaded)
        report({
          from: hostPathOf(source.path, to, u.path),
          to: `:${u.path}`,
          bytes: u.bytes,
          unchanged: false,
        })
      for (const u of synced.unchanged)
        report({ from: hostPathOf(source.path, to, u), to: `:${u}`, bytes: 0, unchanged: true })
      return
    }
    for (const file of yield* Effect.promise(() => localFiles(source.path))) {
      const rel = path.relative(source.path, file).split(path.sep).join("/")
      const at = joinBoardPath(to, rel)
      yield* files.fs.mkdir(at.slice(0, at.lastIndexOf("/")) || "/", { parents: true })
      yield* putFile(files, file, at, yield* readLocal(file), true, report, request.atomic)
    }
  })

/** `boardPath` relative to the board directory `boardRoot`, or undefined when it is not under it. */
const relativeTo = (boardRoot: string, boardPath: string): string | undefined =>
  boardRoot === "/"
    ? boardPath.slice(1)
    : boardPath.startsWith(`${boardRoot}/`)
      ? boardPath.slice(boardRoot.length + 1)
      : undefined

const hostPathOf = (localRoot: string, boardRoot: string, boardPath: string) =>
  path.join(localRoot, ...(relativeTo(boardRoot, boardPath) ?? "").split("/"))

/**
 * Where the board file `boardPath`, listed under the board directory `boardRoot`, lands under the
 * host directory `hostRoot`. A name that would land anywhere else is refused: not under the
 * listed directory, an empty, `.` or `..` component, a NUL, or the host's own separator or drive
 * mark in a name (Windows).
 *
 * @example
 * yield* landing("./backup", "/lib", "/lib/a/b.py") // "backup/a/b.py"
 */
export const landing = (hostRoot: string, boardRoot: string, boardPath: string) => {
  const parts = relativeTo(boardRoot, boardPath)?.split("/")
  const bad = (part: string) =>
    part === "" ||
    part === "." ||
    part === ".." ||
    part.includes("\u0000") ||
    (path.sep === "\\" && /[\\:]/.test(part))
  if (parts === undefined || parts.some(bad))
    return Effect.fail(
      new PathTraversalError({
        boardPath,
        destination: hostRoot,
        reason: "not a plain name under the directory",
      }),
    )
  return Effect.succeed(path.join(hostRoot, ...parts))
}

/** Every regular file under a host directory (symlinks and special files left out, as `sync` does). */
const localFiles = async (dir: string): Promise<Array<string>> => {
  const out: Array<string> = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await localFiles(full)))
    else if (entry.isFile()) out.push(full)
  }
  return out
}

/** Where a board file named `name` lands on the host for the target `local`. */
const hostTarget = (local: string, name: string, many: boolean) =>
  Effect.gen(function* () {
    const info = yield* localInfo(local)
    if (info?.isDirectory() === true || namesDirectory(local, path.sep) || many) {
      if (info === undefined) yield* Effect.promise(() => mkdir(local, { recursive: true }))
      return path.join(local, name)
    }
    return local
  })

/** True when the host file `at` holds what the board file `entry` holds (size, then the board's hash). */
const hostHoldsAlready = (fs: BoardFileSystem, entry: FileEntry, at: string) =>
  Effect.gen(function* () {
    const info = yield* localInfo(at)
    if (info === undefined || !info.isFile() || info.size !== entry.size) return false
    const local = yield* readLocal(at)
    return yield* holdsAlready(fs, entry.path, local)
  })

const getFile = (
  files: CommandFiles,
  entry: FileEntry,
  to: string,
  force: boolean,
  report: (c: Copied) => void,
) =>
  Effect.gen(function* () {
    if (!force && (yield* hostHoldsAlready(files.fs, entry, to)))
      return report({ from: `:${entry.path}`, to, bytes: entry.size, unchanged: true })
    const bar = progressBar(`cp ${entry.path}`)
    const data = yield* files.fs
      .readBytes(entry.path, { onProgress: (p) => bar.update(p.bytesDone, p.bytesTotal) })
      .pipe(Effect.ensuring(Effect.sync(() => bar.done())))
    yield* writeLocal(to, data)
    report({ from: `:${entry.path}`, to, bytes: data.length, unchanged: false })
  })

const download = (
  files: CommandFiles,
  source: Operand,
  local: string,
  many: boolean,
  request: CopyRequest,
  report: (c: Copied) => void,
) =>
  Effect.gen(function* () {
    const from = yield* files.resolve(source.path)
    const entry = yield* files.fs.stat(from)
    const name = baseName(from) || "root"
    if (entry.type === "file")
      return yield* getFile(files, entry, yield* hostTarget(local, name, many), request.force, report)
    if (!request.recursive) return yield* usage(`cp: :${from} is a directory (copy it with -r)`)
    const info = yield* localInfo(local)
    const root = info?.isDirectory() === true || many ? path.join(local, name) : local
    const entries = yield* files.fs.list(from, { recursive: true })
    yield* Effect.promise(() => mkdir(root, { recursive: true }))
    for (const e of entries) {
      // Refuses a board name that would land outside the target (`..`, separators, a drive).
      const to = yield* landing(root, from, e.path)
      if (e.type === "dir") yield* Effect.promise(() => mkdir(to, { recursive: true }))
      else yield* getFile(files, e, to, request.force, report)
    }
  })

const boardToBoard = (
  files: CommandFiles,
  source: Operand,
  target: Operand,
  many: boolean,
  request: CopyRequest,
  report: (c: Copied) => void,
) =>
  Effect.gen(function* () {
    const from = yield* files.resolve(source.path)
    const entry = yield* files.fs.stat(from)
    if (entry.type === "dir")
      return yield* usage(`cp: :${from} is a directory; copy a board directory to the host and back`)
    const to = yield* files.target(many ? asDirectory(target.path) : target.path, baseName(from))
    yield* putFile(
      files,
      `:${from}`,
      to,
      yield* files.fs.readBytes(from),
      request.force,
      report,
      request.atomic,
    )
  })

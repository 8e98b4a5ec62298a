/**
 * The implementation of `BoardFileSystem` (see `BoardFileSystem.ts` for the interface): each
 * operation checks its path, finds what the board offers (the transfer probe, once per
 * connection), runs its exchanges, keeps the session's cache and log current, and maps the
 * board's errors to typed ones.
 *
 * Longer than most modules here: one closure over the session holds the operations, which share
 * its runtime, cache and logging; each operation's own machinery lives in its module (Upload,
 * Download, Sync, TreeDownload, TemporaryFiles, BoardHash).
 */
import { CapabilityMissingError, type DeviceSession } from "@belay/core"
import type { PythonValue } from "@belay/transport"
import { monotonicMs } from "@belay/transport/internal"
import { Cause, Effect, Exit, Metric } from "effect"
import { downloadDirectory, syncDirectory } from "#platform"
import {
  copyRenameCode,
  getcwdCode,
  listCode,
  mkdirCode,
  removeCode,
  renameCode,
  rmdirCode,
  statCode,
  statvfsCode,
} from "./BoardCode.js"
import { asNumber, type FsRuntime, mapBoardErrors, runFramed, unexpected } from "./BoardExchange.js"
import type {
  BoardFileSystem,
  FileSystemInfo,
  FileSystemOptions,
  ListOptions,
  MkdirOptions,
  ReadOptions,
  RemoveOptions,
  StatOptions,
  WriteOptions,
} from "./BoardFileSystem.js"
import { compareMany, hashMany } from "./BoardHash.js"
import {
  boardAncestors,
  boardParent,
  boardRelative,
  checkNameLength,
  normalizeBoardPath,
  toNativePath,
} from "./BoardPath.js"
import { chooseEncoding, dialectOf, ensureProbe, profileOf } from "./BoardProfile.js"
import { chooseHashAlgorithm } from "./Checksum.js"
import { download } from "./Download.js"
import { FileExistsError, type FileSystemError, InvalidPathError, IsADirectoryError } from "./errors.js"
import { type FileEntry, type FileOperation, fileSystemContext } from "./FileSystemContext.js"
import { FileSystemMetrics } from "./FileSystemMetrics.js"
import { cleanTemporaryFiles, removeNotedTemporaryFiles } from "./TemporaryFiles.js"
import { checkUploadFits, isTransientFailure, upload } from "./Upload.js"

const DEFAULTS = { maxChunkBytes: 16384, exchangeMs: 2000, verifyRetries: 2 }

const encoder = new TextEncoder()

type Kind = FileOperation["kind"]

/**
 * The file operations on `session`'s board.
 *
 * @example
 * const program = manager.executeInSession((session) =>
 *   Effect.gen(function* () {
 *     const fs = boardFileSystem(session)
 *     const result = yield* fs.write("/main.py", "print('hello')\n")
 *     return result.hash?.digest
 *   }),
 * )
 *
 * @since 0.1.0
 */
export const boardFileSystem = (session: DeviceSession, options: FileSystemOptions = {}): BoardFileSystem => {
  const device = session.device
  const capabilities = session.deviceContext.capabilities
  const flat = !capabilities.osFunctions.includes("mkdir")
  const profile = profileOf(device, capabilities)
  const fsContext = fileSystemContext(session)

  /**
   * CircuitPython keeps what code writes in a RAM cache and puts it on the flash about once a
   * second: after a write, `os.sync()` does it at once, so that a board unplugged or reset right
   * after keeps the file. Nothing on MicroPython.
   */
  const flushToFlash =
    capabilities.flavor === "circuitpython" && capabilities.osFunctions.includes("sync")
      ? Effect.asVoid(device.exec("__import__('os').sync()"))
      : Effect.void

  /**
   * Remove the dead temporary files found so far (see `TemporaryFiles`), sending the exchange again
   * when it is lost or damaged on the way; never fails the operation (what stays queued goes next
   * time).
   */
  const settleTemporaryFiles = (rt: FsRuntime) =>
    Effect.suspend(() =>
      profile.deadTemporaryFiles === undefined
        ? Effect.void
        : removeNotedTemporaryFiles(rt).pipe(
            Effect.retry({ times: 3, while: isTransientFailure }),
            Effect.catchCause((cause) =>
              Effect.logWarning("Could not remove dead temporary files; a later scan finds them again").pipe(
                Effect.annotateLogs({ cause: Cause.pretty(cause) }),
              ),
            ),
            Effect.asVoid,
          ),
    )

  /** The connection's runtime, probed; see {@link runtime}. */
  const probed: Effect.Effect<FsRuntime, FileSystemError> = Effect.gen(function* () {
    const probe = yield* ensureProbe(device, profile, flat)
    const protocol = yield* device.protocolCapabilities
    const rt: FsRuntime = {
      session,
      device,
      capabilities,
      profile,
      probe,
      dialect: dialectOf(capabilities, probe, profile.freeMemory),
      encoding: chooseEncoding(options.encoding, capabilities, probe),
      sizing: {
        maxChunkBytes: options.maxChunkBytes ?? DEFAULTS.maxChunkBytes,
        exchangeMs: options.exchangeMs ?? DEFAULTS.exchangeMs,
        linkBytesPerSecond: options.linkBytesPerSecond,
      },
      verifyRetries: options.verifyRetries ?? DEFAULTS.verifyRetries,
      // Length-only guards only where the link is known to be plain raw (small boards): while the
      // mode is not known yet (no exchange negotiated it on this connection), check the sum too.
      guarded: protocol.rawPaste === false,
    }
    return rt
  })

  /** {@link probed}; what the connection's probe found dead (a host killed mid-upload) goes first. */
  const runtime: Effect.Effect<FsRuntime, FileSystemError> = Effect.tap(probed, settleTemporaryFiles)

  /** Normalize, and map to the board's own path form; refused (nothing sent) on a flat board. */
  const resolve = (path: string, operation: string) =>
    Effect.flatMap(Effect.fromResult(normalizeBoardPath(path)), (normalized) =>
      Effect.map(Effect.fromResult(toNativePath(normalized, flat, operation)), (native) => ({
        path: normalized,
        native,
      })),
    )

  /** Log the operation (outcome, duration, bytes) in the session, with a span and annotated logs. */
  const logged =
    <A>(kind: Kind, path: string, bytes?: (a: A) => number | undefined) =>
    <E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.gen(function* () {
        const at = new Date()
        const started = monotonicMs()
        const exit = yield* Effect.exit(effect)
        const durationMs = monotonicMs() - started
        const count = Exit.isSuccess(exit) && bytes ? bytes(exit.value) : undefined
        const error = Exit.isFailure(exit) ? errorText(exit.cause) : undefined
        yield* fsContext.registerFileOperation({
          kind,
          path,
          at,
          durationMs,
          outcome: Exit.isSuccess(exit) ? "ok" : "error",
          ...(count !== undefined && { bytes: count }),
          ...(error !== undefined && { error }),
        })
        yield* Metric.update(
          Metric.withAttributes(FileSystemMetrics.operations, {
            kind,
            outcome: Exit.isSuccess(exit) ? "ok" : "error",
          }),
          1,
        )
        if (Exit.isFailure(exit)) {
          yield* Effect.logDebug("File operation failed").pipe(Effect.annotateLogs({ kind, error }))
        }
        return yield* exit
      }).pipe(
        Effect.withSpan(`belay.fs.${kind}`, { attributes: { path, sessionId: session.sessionId } }),
        Effect.annotateLogs({ sessionId: session.sessionId, path }),
      )

  const parseEntries = (values: ReadonlyArray<PythonValue>, operation: string, path: string) =>
    Effect.forEach(values, (value) => {
      if (!Array.isArray(value) || typeof value[0] !== "string") {
        return Effect.fail(unexpected(operation, path, "not an entry", value))
      }
      const entry: FileEntry = {
        path: value[0],
        type: value[1] === 1 ? "dir" : "file",
        size: asNumber(value[2]) ?? 0,
      }
      return Effect.succeed(entry)
    })

  const list = (path = "/", listOptions: ListOptions = {}) =>
    Effect.gen(function* () {
      const target = yield* resolve(path, "list")
      if (flat && target.path !== "/") {
        return yield* new CapabilityMissingError({
          operation: `list ${target.path}`,
          missing: "directories (its filesystem is flat: os has no mkdir)",
        })
      }
      const recursive = listOptions.recursive === true
      if (listOptions.cached === true && !recursive) {
        const state = yield* fsContext.getState
        if (state.listedDirectories.has(target.path)) {
          return [...state.entries.values()].filter(
            (e) => e.path !== target.path && boardParent(e.path) === target.path,
          )
        }
      }
      const rt = yield* runtime
      const values = yield* runFramed(rt, listCode(rt.dialect, target.native, recursive), {
        operation: "list",
        path: target.path,
        readOnly: true,
        timeoutMs: 120_000,
      }).pipe(mapBoardErrors("list", target.path, rt.probe))
      const entries = yield* parseEntries(values, "list", target.path)
      yield* fsContext.updateCache(entries, target.path)
      if (recursive) {
        for (const entry of entries) if (entry.type === "dir") yield* fsContext.updateCache([], entry.path)
      }
      return entries as ReadonlyArray<FileEntry>
    }).pipe(logged("list", path))

  const statNow = (path: string, statOptions: StatOptions = {}, operation = "stat") =>
    Effect.gen(function* () {
      const target = yield* resolve(path, operation)
      if (statOptions.cached === true) {
        const state = yield* fsContext.getState
        const known = state.entries.get(target.path)
        if (known !== undefined) return known
      }
      if (target.path === "/") return { path: "/", type: "dir", size: 0 } satisfies FileEntry
      const rt = yield* runtime
      const values = yield* runFramed(rt, statCode(rt.dialect, target.native), {
        operation,
        path: target.path,
        readOnly: true,
      }).pipe(mapBoardErrors(operation, target.path, rt.probe))
      const value = values.at(-1)
      if (values.length !== 1 || !Array.isArray(value))
        return yield* unexpected("stat", target.path, "not one tuple", JSON.stringify(values.map(String)))
      const entry: FileEntry = {
        path: target.path,
        type: value[0] === 1 ? "dir" : "file",
        size: asNumber(value[1]) ?? 0,
      }
      yield* fsContext.updateCache([entry])
      return entry
    })

  const stat = (path: string, statOptions?: StatOptions) =>
    statNow(path, statOptions).pipe(logged("stat", path))

  const exists = (path: string, statOptions?: StatOptions) =>
    statNow(path, statOptions).pipe(
      Effect.as(true),
      Effect.catchTags({
        FileNotFoundError: () => Effect.succeed(false),
        NotADirectoryError: () => Effect.succeed(false),
      }),
      logged("stat", path),
    )

  const readBytesNow = (path: string, readOptions: ReadOptions = {}) =>
    Effect.gen(function* () {
      const target = yield* resolve(path, "read")
      const info = yield* statNow(path, {}, "read")
      if (info.type === "dir") return yield* new IsADirectoryError({ operation: "read", path: target.path })
      const rt = yield* runtime
      return yield* download(rt, {
        path: target.path,
        native: target.native,
        size: info.size,
        onProgress: readOptions.onProgress,
      })
    })

  const readBytes = (path: string, readOptions?: ReadOptions) =>
    readBytesNow(path, readOptions).pipe(logged("read", path, (data) => data.length))

  const readText = (path: string, readOptions?: ReadOptions) =>
    Effect.map(readBytes(path, readOptions), (bytes) => new TextDecoder().decode(bytes))

  const mkdirNow = (path: string, mkdirOptions: MkdirOptions = {}) =>
    Effect.gen(function* () {
      const normalized = yield* Effect.fromResult(normalizeBoardPath(path))
      if (flat) {
        if (normalized === "/" && mkdirOptions.parents === true) return
        return yield* new CapabilityMissingError({
          operation: `mkdir ${normalized}`,
          missing: "directories (its filesystem is flat: os has no mkdir)",
        })
      }
      if (normalized === "/") {
        if (mkdirOptions.parents === true) return
        return yield* new FileExistsError({ operation: "mkdir", path: "/" })
      }
      const paths = mkdirOptions.parents === true ? [...boardAncestors(normalized), normalized] : [normalized]
      yield* Effect.fromResult(checkNameLength(normalized, capabilities.platform, "mkdir"))
      const rt = yield* runtime
      yield* runFramed(rt, mkdirCode(rt.dialect, paths, mkdirOptions.parents === true), {
        operation: "mkdir",
        path: normalized,
        readOnly: false,
      }).pipe(mapBoardErrors("mkdir", normalized, rt.probe))
      yield* fsContext.invalidateCache(normalized)
    })

  const mkdir = (path: string, mkdirOptions?: MkdirOptions) =>
    mkdirNow(path, mkdirOptions).pipe(logged("mkdir", path))

  const writeWith =
    (operation: "write" | "append") =>
    (path: string, data: Uint8Array | string, writeOptions: WriteOptions = {}) =>
      Effect.gen(function* () {
        const target = yield* resolve(path, operation)
        if (target.path === "/") {
          return yield* new InvalidPathError({ path, reason: "the root is a directory" })
        }
        const bytes = typeof data === "string" ? encoder.encode(data) : data
        if (writeOptions.parents === true && !flat && boardParent(target.path) !== "/") {
          yield* mkdirNow(boardParent(target.path), { parents: true })
        }
        yield* Effect.fromResult(checkNameLength(target.path, capabilities.platform, operation))
        const rt = yield* runtime
        const request = {
          operation,
          path: target.path,
          native: target.native,
          data: bytes,
          atomic: operation === "append" || writeOptions.atomic !== false,
          onProgress: writeOptions.onProgress,
        }
        yield* checkUploadFits(rt, request)
        const dir = flat ? "/" : boardParent(target.path)
        if (!profile.roomy && !profile.scannedDirectories.has(dir)) {
          // A small board: the directory's dead temporary files go first, making room for this one.
          yield* cleanTemporaryFiles(
            rt,
            { path: dir, native: flat ? "" : boardParent(target.native) },
            false,
          ).pipe(
            Effect.catchCause((cause) =>
              Effect.logWarning("Could not look for dead temporary files").pipe(
                Effect.annotateLogs({ dir, cause: Cause.pretty(cause) }),
              ),
            ),
          )
        }
        // Dead temporary files the upload found in its directory go after it.
        const result = yield* upload(rt, request).pipe(Effect.ensuring(settleTemporaryFiles(rt)))
        yield* flushToFlash
        return result
      }).pipe(
        logged(operation, path, (r) => r.bytesWritten),
        Effect.tap((result) =>
          fsContext.updateCache([
            {
              path: result.path,
              type: "file",
              size: result.size,
              ...(result.hash && { hash: result.hash.digest, hashAlgorithm: result.hash.algorithm }),
            },
          ]),
        ),
      )

  const remove = (path: string, removeOptions: RemoveOptions = {}) =>
    Effect.gen(function* () {
      const target = yield* resolve(path, "remove")
      if (target.path === "/")
        return yield* new InvalidPathError({ path, reason: "the root cannot be removed" })
      const rt = yield* runtime
      yield* runFramed(rt, removeCode(rt.dialect, target.native, removeOptions.recursive === true), {
        operation: "remove",
        path: target.path,
        readOnly: false,
        timeoutMs: 120_000,
      }).pipe(mapBoardErrors("remove", target.path, rt.probe))
    }).pipe(logged("remove", path))

  const removeDirectory = (path: string) =>
    Effect.gen(function* () {
      const target = yield* resolve(path, "rmdir")
      if (target.path === "/")
        return yield* new InvalidPathError({ path, reason: "the root cannot be removed" })
      if (flat) {
        // No directories: whatever the name is, it is not one.
        return yield* new CapabilityMissingError({
          operation: `rmdir ${target.path}`,
          missing: "directories (its filesystem is flat: os has no mkdir)",
        })
      }
      const rt = yield* runtime
      yield* runFramed(rt, rmdirCode(rt.dialect, target.native), {
        operation: "rmdir",
        path: target.path,
        readOnly: false,
      }).pipe(mapBoardErrors("rmdir", target.path, rt.probe))
      yield* fsContext.invalidateCache(target.path)
    }).pipe(logged("remove", path))

  const touch = (path: string) =>
    Effect.gen(function* () {
      const found = yield* statNow(path, {}, "touch").pipe(
        Effect.catchTag("FileNotFoundError", () => Effect.succeed(undefined)),
      )
      if (found?.type === "dir") return yield* new IsADirectoryError({ operation: "touch", path: found.path })
      if (found === undefined) yield* writeWith("write")(path, new Uint8Array(0))
    }).pipe(logged("write", path))

  const workingDirectory = Effect.gen(function* () {
    if (flat || !capabilities.osFunctions.includes("getcwd")) return "/"
    const rt = yield* runtime
    const values = yield* runFramed(rt, getcwdCode(), {
      operation: "getcwd",
      path: "/",
      readOnly: true,
    }).pipe(mapBoardErrors("getcwd", "/", rt.probe))
    const cwd = values.at(-1)
    if (values.length !== 1 || typeof cwd !== "string")
      return yield* unexpected("getcwd", "/", "not one string", JSON.stringify(values.map(String)))
    // An empty answer is the root (some ports say "" before any chdir).
    return yield* Effect.fromResult(normalizeBoardPath(cwd === "" ? "/" : cwd))
  })

  const rename = (from: string, to: string) =>
    Effect.gen(function* () {
      const source = yield* resolve(from, "rename")
      const target = yield* resolve(to, "rename")
      if (source.path === "/" || target.path === "/") {
        return yield* new InvalidPathError({
          path: source.path === "/" ? from : to,
          reason: "the root cannot be renamed",
        })
      }
      if (source.path === target.path) return
      if (boardRelative(source.path, target.path) !== undefined) {
        return yield* new InvalidPathError({ path: to, reason: `it is inside ${source.path}` })
      }
      yield* Effect.fromResult(checkNameLength(target.path, capabilities.platform, "rename"))
      const rt = yield* runtime
      const code = rt.dialect.os.has("rename")
        ? renameCode(source.native, target.native)
        : copyRenameCode(rt.dialect, source.native, target.native)
      yield* runFramed(rt, code, {
        operation: "rename",
        path: source.path,
        readOnly: false,
        timeoutMs: 120_000,
      }).pipe(mapBoardErrors("rename", source.path, rt.probe))
      yield* fsContext.invalidateCache(target.path)
    }).pipe(logged("rename", from))

  const hashManyNow = (paths: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const targets = yield* Effect.forEach(paths, (p) => resolve(p, "hash"))
      const rt = yield* runtime
      const results = yield* hashMany(rt, targets)
      const known: FileEntry[] = []
      for (const r of results) {
        if ("hash" in r) {
          known.push({
            path: r.path,
            type: "file",
            size: r.hash.size,
            hash: r.hash.digest,
            hashAlgorithm: r.hash.algorithm,
          })
        }
      }
      yield* fsContext.updateCache(known)
      return results
    })

  const hash = (path: string) =>
    Effect.gen(function* () {
      const [result] = yield* hashManyNow([path])
      if (result === undefined) return yield* unexpected("hash", path, "no answer", "")
      if ("error" in result) return yield* Effect.fail(result.error)
      return result.hash
    }).pipe(logged("hash", path))

  const diskUsage = (path = "/") =>
    Effect.gen(function* () {
      if (!capabilities.statvfs) {
        return yield* new CapabilityMissingError({ operation: "diskUsage", missing: "os.statvfs" })
      }
      const target = yield* resolve(path, "diskUsage")
      const rt = yield* runtime
      const values = yield* runFramed(rt, statvfsCode(target.native || "/"), {
        operation: "diskUsage",
        path: target.path,
        readOnly: true,
      }).pipe(mapBoardErrors("diskUsage", target.path, rt.probe))
      const value = values.at(-1)
      if (values.length !== 1 || !Array.isArray(value) || value.length < 5)
        return yield* unexpected("diskUsage", target.path, "not one tuple", String(value))
      const [bsize, frsize, blocks, , bavail] = value.map((v) => asNumber(v) ?? 0) as number[]
      const unit = frsize || bsize || 0
      const total = unit * (blocks ?? 0)
      const free = unit * (bavail ?? 0)
      return {
        path: target.path,
        blockSize: unit,
        totalBytes: total,
        freeBytes: free,
        usedBytes: total - free,
      }
    }).pipe(logged("diskUsage", path))

  const cleanNow = (dir: string) =>
    Effect.gen(function* () {
      const target = yield* resolve(dir, "clean")
      // Not `runtime`: what the probe found dead goes with what the scan finds, in its report.
      const rt = yield* probed
      return yield* cleanTemporaryFiles(rt, target)
    })

  const info = Effect.map(runtime, (rt) => {
    const protocolRawPaste = capabilities.rawPaste
    return {
      directories: !flat,
      commit: rt.dialect.os.has("rename") ? "rename" : "copy",
      hashAlgorithm: chooseHashAlgorithm(capabilities.hashAlgorithms),
      encoding: rt.encoding,
      diskUsage: capabilities.statvfs,
      rawPaste: protocolRawPaste,
      probe: rt.probe,
    } satisfies FileSystemInfo
  })

  const self: BoardFileSystem = {
    session,
    info,
    list,
    stat,
    exists,
    readBytes,
    readText,
    write: writeWith("write"),
    append: (path, data, appendOptions) => writeWith("append")(path, data, appendOptions),
    mkdir,
    remove,
    removeDirectory,
    touch,
    workingDirectory,
    rename,
    hash,
    hashMany: (paths) => hashManyNow(paths).pipe(logged("hash", paths[0] ?? "/")),
    diskUsage,
    state: fsContext.getState,
    invalidateCache: fsContext.invalidateCache,
    operations: fsContext.operations,
    sameContent: (files) =>
      Effect.gen(function* () {
        const targets = yield* Effect.forEach(files, (f) =>
          Effect.map(resolve(f.path, "hash"), (t) => ({ ...t, digest: f.digest.toLowerCase() })),
        )
        const rt = yield* runtime
        return yield* compareMany(rt, targets)
      }).pipe(logged("hash", files[0]?.path ?? "/")),
    cleanTemporaryFiles: (dir = "/") => cleanNow(dir).pipe(logged("remove", dir, (r) => r.removed.length)),
    removeStaleTemporaryFiles: (dir = "/") =>
      cleanNow(dir).pipe(
        Effect.map((report) => report.removed),
        logged("remove", dir),
      ),
    sync: (localDir, remoteDir, syncOptions) =>
      syncDirectory(self, localDir, remoteDir, syncOptions).pipe(
        logged("sync", remoteDir, (report) => report.bytesUploaded),
      ),
    download: (remotePath, localDir, downloadOptions) =>
      downloadDirectory(self, remotePath, localDir, downloadOptions).pipe(
        logged("read", remotePath, (report) => report.bytes),
      ),
  }
  return self
}

const errorText = (cause: Cause.Cause<unknown>): string => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail") {
      const error = reason.error as { message?: unknown }
      return typeof error?.message === "string" ? error.message : String(reason.error)
    }
    if (reason._tag === "Interrupt") return "interrupted"
    if (reason._tag === "Die") return `defect: ${String(reason.defect)}`
  }
  return "failed"
}

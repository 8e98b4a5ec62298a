/**
 * The behaviour every board must show, run against the fake board (real MicroPython behind the
 * scripted link), the virtual board and the QEMU micro:bit.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import type { DeviceSession, DeviceSessionManagerShape } from "@belay/core"
import type { DeviceCommunicationShape, ProtocolError, PythonError } from "@belay/transport"
import { Effect, Exit, References, Scope, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type BoardFileSystem,
  boardFileSystem,
  digestHex,
  type FileSystemOptions,
  isTemporaryName,
} from "../src/index.js"
import { framedLines, randomBytes, run } from "./fixtures.js"

/** A device that records what is sent, can reset the board in place of a chosen exchange, and can fake replies. */
export interface Instrumented {
  readonly device: DeviceCommunicationShape
  readonly programs: string[]
  /** The next exchange whose code matches resets the board instead of running. */
  readonly armReset: (matches: (code: string) => boolean) => void
  /** Answer exchanges whose code matches with this stdout, without the board. */
  readonly fake: (matches: ((code: string) => boolean) | undefined, stdout?: string) => void
  /** Change the code of exchanges on its way to the board (`undefined`: leave it). */
  readonly mutate: (change: ((code: string) => string | undefined) | undefined) => void
}

const text = (code: string | Uint8Array) =>
  typeof code === "string" ? code : Buffer.from(code).toString("latin1")

export const instrument = (
  inner: DeviceCommunicationShape,
  reset: (inner: DeviceCommunicationShape) => Effect.Effect<never, ProtocolError | PythonError>,
): Instrumented => {
  const programs: string[] = []
  let armed: ((code: string) => boolean) | undefined
  let faked: { matches: (code: string) => boolean; stdout: string } | undefined
  let mutation: ((code: string) => string | undefined) | undefined
  const intercept = (code: string): Effect.Effect<string, ProtocolError | PythonError> | undefined => {
    programs.push(code)
    if (armed?.(code)) {
      armed = undefined
      return reset(inner)
    }
    if (faked?.matches(code)) return Effect.succeed(faked.stdout)
    return undefined
  }
  const device: DeviceCommunicationShape = {
    ...inner,
    exec: (code, options) => intercept(code) ?? inner.exec(code, options),
    eval: (expression, options) => inner.eval(expression, options),
    execBytes: (code, options) =>
      Effect.suspend(() => {
        const replaced = intercept(text(code))
        if (replaced) return Effect.map(replaced, (s) => new TextEncoder().encode(s))
        const changed = mutation?.(text(code))
        return inner.execBytes(changed === undefined ? code : Buffer.from(changed, "latin1"), options)
      }),
    execStream: (code, options) =>
      Stream.unwrap(
        Effect.sync(() => {
          const replaced = intercept(code)
          return replaced ? Stream.fromEffect(replaced) : inner.execStream(mutation?.(code) ?? code, options)
        }),
      ),
  }
  return {
    device,
    programs,
    armReset: (matches) => {
      armed = matches
    },
    fake: (matches, stdout = "") => {
      faked = matches ? { matches, stdout } : undefined
    },
    mutate: (change) => {
      mutation = change
    },
  }
}

export interface SuiteBoard {
  readonly manager: DeviceSessionManagerShape
  readonly instrumented: Instrumented
}

export interface SuiteOptions {
  readonly name: string
  readonly open: Effect.Effect<SuiteBoard, unknown, Scope.Scope>
  /** Sizes of the random files to round-trip. */
  readonly sizes: ReadonlyArray<number>
  /** Where the tests work on the board: `/` on a flat board. */
  readonly dir: string
  readonly directories: boolean
  /** Options that make a write of `interruptedSize` bytes take several exchanges. */
  readonly fsOptions?: FileSystemOptions
  readonly interruptedSize: number
  readonly timeoutMs: number
}

const uploads = (programs: ReadonlyArray<string>) => programs.filter((p) => p.includes("_bd=")).length

/** Run the board suite; one board for the whole file (a QEMU boot is not free). */
export const boardSuite = (
  options: SuiteOptions,
): {
  readonly withSession: <A, E>(
    body: (fs: BoardFileSystem, session: DeviceSession) => Effect.Effect<A, E>,
  ) => Promise<A>
  readonly board: () => SuiteBoard
} => {
  let scope: Scope.Closeable
  let board: SuiteBoard
  const dir = options.dir
  const at = (name: string) => (dir === "/" ? `/${name}` : `${dir}/${name}`)

  const quiet = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.runPromise(effect.pipe(Effect.provideService(References.MinimumLogLevel, "Warn")))
  beforeAll(async () => {
    scope = await Effect.runPromise(Scope.make())
    board = await quiet(Scope.provide(options.open, scope))
  }, options.timeoutMs)
  afterAll(async () => {
    if (scope) await quiet(Scope.close(scope, Exit.void))
  }, options.timeoutMs)

  /** A fresh session with a clean working directory; ended afterwards. */
  const withSession = <A, E>(body: (fs: BoardFileSystem, session: DeviceSession) => Effect.Effect<A, E>) =>
    run(
      Effect.gen(function* () {
        // Core asks the capability probe again when its answer is damaged, four times in all; a
        // busy machine's emulated UART can still lose all four, so a session is tried again here.
        const session = yield* board.manager
          .createSession()
          .pipe(Effect.retry({ times: 3, while: (e) => e._tag === "DeviceCapabilityError" }))
        const fs = boardFileSystem(session, options.fsOptions)
        yield* clean(fs)
        const result = yield* Effect.ensuring(body(fs, session), Effect.ignore(session.end))
        return result
      }),
    )

  const clean = (fs: BoardFileSystem) =>
    Effect.gen(function* () {
      if (dir === "/") {
        for (const e of yield* fs.list("/")) yield* fs.remove(e.path, { recursive: true })
      } else if (yield* fs.exists(dir)) {
        yield* fs.remove(dir, { recursive: true })
      }
      if (dir !== "/") yield* fs.mkdir(dir, { parents: true })
    })

  const localTree = async (files: Record<string, string | Uint8Array>) => {
    const root = await mkdtemp(path.join(os.tmpdir(), "belay-sync-"))
    for (const [rel, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(root, rel)), { recursive: true })
      await writeFile(path.join(root, rel), content)
    }
    return root
  }

  describe(`${options.name}: files on the board`, () => {
    it(
      "round-trips random binary files with identical hashes",
      () =>
        withSession((fs) =>
          Effect.gen(function* () {
            for (const size of options.sizes) {
              const data = randomBytes(size, size + 7)
              const name = at(`r${size}.bin`)
              const written = yield* fs.write(name, data)
              expect(written.size).toBe(size)
              const back = yield* fs.readBytes(name)
              expect(back.length).toBe(size)
              expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true)
              const hash = yield* fs.hash(name)
              expect(hash.size).toBe(size)
              expect(hash.digest).toBe(digestHex(hash.algorithm, data))
              expect(written.hash?.digest).toBe(hash.digest)
              const info = yield* fs.stat(name)
              expect(info).toMatchObject({ path: name, type: "file", size })
              yield* fs.remove(name)
            }
          }),
        ),
      options.timeoutMs,
    )

    it(
      "syncs a tree, and a second sync of the unchanged tree transfers no file content",
      async () => {
        const files: Record<string, string | Uint8Array> = options.directories
          ? {
              "main.py": "print('hi')\n",
              "lib/util.py": "X = 1\n",
              "lib/deep/data.bin": randomBytes(700, 3),
              "empty.txt": "",
            }
          : {
              "main.py": "print('hi')\n",
              "util.py": "X = 1\n",
              "data.bin": randomBytes(700, 3),
              "empty.txt": "",
            }
        const local = await localTree(files)
        try {
          const result = await withSession((fs) =>
            Effect.gen(function* () {
              const events: string[] = []
              const first = yield* fs.sync(local, dir, { onEvent: (e) => events.push(e.type) })
              const before = board.instrumented.programs.length
              const second = yield* fs.sync(local, dir)
              const sent = board.instrumented.programs.slice(before)
              const listing = yield* fs.list(dir, { recursive: true })
              const main = yield* fs.readText(at("main.py"))
              return { first, second, sent, events, listing, main }
            }),
          )
          expect(result.first.uploaded.map((u) => u.path).sort()).toEqual(Object.keys(files).map(at).sort())
          expect(result.second.uploaded).toEqual([])
          expect(result.second.unchanged.length).toBe(Object.keys(files).length)
          expect(uploads(result.sent)).toBe(0)
          expect(result.second.bytesUploaded).toBe(0)
          expect(result.events).toContain("planned")
          expect(result.events).toContain("uploaded")
          expect(result.events.at(-1)).toBe("done")
          expect(result.main).toBe("print('hi')\n")
          expect(result.listing.filter((e) => e.type === "file").length).toBe(Object.keys(files).length)
        } finally {
          await rm(local, { recursive: true, force: true })
        }
      },
      options.timeoutMs,
    )

    it(
      "a sync after editing one file uploads only that file; dry runs change nothing; delete removes the rest",
      async () => {
        const names = options.directories ? ["a.py", "b.py", "sub/c.py"] : ["a.py", "b.py", "c.py"]
        const local = await localTree(Object.fromEntries(names.map((n) => [n, `# ${n}\n`])))
        try {
          const result = await withSession((fs) =>
            Effect.gen(function* () {
              yield* fs.sync(local, dir)
              yield* Effect.promise(() => writeFile(path.join(local, names[1]!), "# edited, same size?\n"))
              const dry = yield* fs.sync(local, dir, { dryRun: true })
              const stillOld = yield* fs.readText(at(names[1]!))
              const edited = yield* fs.sync(local, dir)
              const b = yield* fs.readText(at(names[1]!))
              yield* Effect.promise(() => rm(path.join(local, names[2]!)))
              yield* fs.write(at("stray.txt"), "not local")
              const kept = yield* fs.sync(local, dir, { ignore: ["stray.*"], delete: true })
              const pruned = yield* fs.sync(local, dir, { delete: true })
              const left = (yield* fs.list(dir, { recursive: true }))
                .filter((e) => e.type === "file")
                .map((e) => e.path)
              return { dry, stillOld, edited, b, kept, pruned, left }
            }),
          )
          expect(result.dry.dryRun).toBe(true)
          expect(result.dry.uploaded.map((u) => u.path)).toEqual([at(names[1]!)])
          expect(result.stillOld).toBe(`# ${names[1]}\n`)
          expect(result.edited.uploaded).toEqual([{ path: at(names[1]!), bytes: 21, reason: "changed" }])
          expect(result.b).toBe("# edited, same size?\n")
          expect(result.kept.deleted).toEqual([at(names[2]!)])
          expect(result.pruned.deleted).toEqual([at("stray.txt")])
          expect(result.left.sort()).toEqual([at("a.py"), at("b.py")])
        } finally {
          await rm(local, { recursive: true, force: true })
        }
      },
      options.timeoutMs,
    )

    it(
      "a board reset in the middle of a write leaves the old file, and no temporary file",
      () =>
        withSession((fs) =>
          Effect.gen(function* () {
            const name = at("keep.bin")
            const old = randomBytes(300, 1)
            yield* fs.write(name, old)
            let chunks = 0
            board.instrumented.armReset((code) => code.includes("_bd=") && ++chunks === 2)
            const exit = yield* Effect.exit(fs.write(name, randomBytes(options.interruptedSize, 2)))
            board.instrumented.armReset(() => false)
            expect(Exit.isFailure(exit)).toBe(true)
            expect(chunks).toBe(2)
            const back = yield* fs.readBytes(name)
            expect(Buffer.from(back).equals(Buffer.from(old))).toBe(true)
            const names = (yield* fs.list(dir, { recursive: true })).map((e) => e.path)
            expect(names.filter((n) => isTemporaryName(n.slice(n.lastIndexOf("/") + 1)))).toEqual([])
            // The board works on after the reset.
            yield* fs.write(name, "new")
            expect(yield* fs.readText(name)).toBe("new")
          }),
        ),
      options.timeoutMs,
    )

    it(
      "refuses a board path that would escape the download's destination, writing nothing",
      async () => {
        const destination = await mkdtemp(path.join(os.tmpdir(), "belay-download-"))
        try {
          const result = await withSession((fs) =>
            Effect.gen(function* () {
              yield* fs.write(at("fine.txt"), "fine")
              const normal = yield* fs.download(dir, destination)
              // A board (or a link) that lies about its listing.
              const evil = dir === "/" ? "/../evil.txt" : `${dir}/../../evil.txt`
              board.instrumented.fake(
                (code) => code.includes("def _bl"),
                framedLines([`('${at("ok.txt")}', 0, 3)`, `('${evil}', 0, 4)`]),
              )
              const refused = yield* Effect.flip(fs.download(dir, path.join(destination, "second")))
              board.instrumented.fake(undefined)
              return { normal, refused }
            }),
          )
          expect(result.normal.files.map((f) => path.basename(f.localPath))).toEqual(["fine.txt"])
          expect(await readFile(path.join(destination, "fine.txt"), "utf8")).toBe("fine")
          expect(result.refused._tag).toBe("PathTraversalError")
          expect(await readdir(destination)).toEqual(["fine.txt"])
          expect(await readdir(path.dirname(destination)).then((l) => l.includes("evil.txt"))).toBe(false)
        } finally {
          await rm(destination, { recursive: true, force: true })
        }
      },
      options.timeoutMs,
    )

    it(
      "refuses to download through a symlink on the host",
      async () => {
        const destination = await mkdtemp(path.join(os.tmpdir(), "belay-download-"))
        const outside = await mkdtemp(path.join(os.tmpdir(), "belay-outside-"))
        try {
          await symlink(outside, path.join(destination, "link"))
          const error = await withSession((fs) =>
            Effect.gen(function* () {
              board.instrumented.fake(
                (code) => code.includes("def _bl"),
                framedLines([`('${at("link")}', 1, 0)`, `('${at("link/x.txt")}', 0, 1)`]),
              )
              const refused = yield* Effect.flip(fs.download(dir, destination))
              board.instrumented.fake(undefined)
              return refused
            }),
          )
          expect(error._tag).toBe("PathTraversalError")
          expect(await readdir(outside)).toEqual([])
        } finally {
          await rm(destination, { recursive: true, force: true })
          await rm(outside, { recursive: true, force: true })
        }
      },
      options.timeoutMs,
    )

    it(
      "logs every operation in the session, and keeps the session's cache current",
      () =>
        withSession((fs, session) =>
          Effect.gen(function* () {
            const name = at("cached.txt")
            yield* fs.write(name, "one")
            const listed = yield* fs.list(dir)
            let state = yield* fs.state
            expect(state.listedDirectories.has(dir)).toBe(true)
            expect(state.entries.get(name)).toMatchObject({ type: "file", size: 3 })
            // A listing from the cache sends nothing.
            const sent = board.instrumented.programs.length
            expect(yield* fs.list(dir, { cached: true })).toEqual(listed)
            expect(board.instrumented.programs.length).toBe(sent)
            // A write invalidates the parent's listing and records what it knows.
            const written = yield* fs.write(name, "two!")
            state = yield* fs.state
            expect(state.listedDirectories.has(dir)).toBe(false)
            expect(state.entries.get(name)).toMatchObject({
              size: 4,
              hash: written.hash?.digest,
              hashAlgorithm: written.hash?.algorithm,
            })
            yield* fs.invalidateCache(name)
            expect((yield* fs.state).entries.has(name)).toBe(false)
            const missing = yield* Effect.flip(fs.readBytes(at("missing.txt")))
            expect(missing._tag).toBe("FileNotFoundError")
            const log = yield* fs.operations
            expect(log.map((o) => [o.kind, o.path, o.outcome])).toEqual(
              expect.arrayContaining([
                ["write", name, "ok"],
                ["list", dir, "ok"],
                ["read", at("missing.txt"), "error"],
              ]),
            )
            expect(log.find((o) => o.kind === "write")?.bytes).toBe(3)
            expect(log.find((o) => o.outcome === "error")?.error).toContain("no such file")
            yield* session.end
            // The session's end empties the cache this file system reads.
            expect((yield* fs.state).entries.size).toBe(0)
          }),
        ),
      options.timeoutMs,
    )
  })
  return { withSession, board: () => board }
}

import { spawn } from "node:child_process"
import { makeDeviceSessionManager, type SessionManagementOptions } from "@belay/core"
import type { DeviceCommunicationShape } from "@belay/transport"
import { ProtocolTimeoutError, PythonError } from "@belay/transport"
import { Cause, Deferred, Duration, Effect, Exit, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import type { FsRuntime } from "../src/BoardExchange.js"
import { type DeviceProfile, dialectOf, fixedExchangeLimit } from "../src/BoardProfile.js"
import { boardFileSystem, type FileSystemOptions, isTemporaryName } from "../src/index.js"
import { judge, newOwnerToken, OWNER } from "../src/TemporaryFiles.js"
import { checkUploadFits, fixedExchangeBytes } from "../src/Upload.js"
import { PROBE_FLAT, randomBytes, run, wasmBoard } from "./fixtures.js"

// Temporary files of uploads that can no longer finish (a host killed mid-upload, a board reset)
// are removed by the next connection; uploads in flight, anywhere, are left alone. See
// src/TemporaryFiles.ts for how the dead are told from the live.

const text = (code: string | Uint8Array) =>
  typeof code === "string" ? code : Buffer.from(code).toString("latin1")

/**
 * A new connection to the one board of this file (every `wasmBoard` of a test file drives the same
 * MicroPython: its RAM and its files), with a hook in front of every exchange.
 */
const connect = (
  options: {
    readonly fsOptions?: FileSystemOptions
    readonly sessionOptions?: Partial<SessionManagementOptions>
    readonly probe?: string
    /** Runs before an exchange; its result (if any) replaces the exchange's. */
    readonly hook?: (
      code: string,
      inner: DeviceCommunicationShape,
    ) => Effect.Effect<Uint8Array, unknown> | undefined
  } = {},
) =>
  Effect.gen(function* () {
    const programs: string[] = []
    let hooked!: DeviceCommunicationShape
    const probe = options.probe
    const board = yield* wasmBoard({
      ...(probe !== undefined && {
        intercept: (code: string) => (code.includes("_belay_probe") ? { stdout: probe } : undefined),
      }),
      wrap: (device) => {
        hooked = {
          ...device,
          execBytes: (code, o) =>
            Effect.suspend(() => {
              programs.push(text(code))
              return (options.hook?.(text(code), device) ?? device.execBytes(code, o)) as ReturnType<
                DeviceCommunicationShape["execBytes"]
              >
            }),
        }
        return hooked
      },
    })
    const manager =
      options.sessionOptions === undefined
        ? board.manager
        : yield* makeDeviceSessionManager(hooked, options.sessionOptions)
    const session = yield* manager.createSession()
    return { ...board, session, fs: boardFileSystem(session, options.fsOptions), programs }
  })

/** Temporary names in a board directory, read on the board directly. */
const temporariesIn = (py: (code: string) => string, dir: string) =>
  (JSON.parse(py(`import os, json\nprint(json.dumps(os.listdir(${JSON.stringify(dir)})))`)) as string[])
    .filter((n) => isTemporaryName(n))
    .sort()

const registryStems = (py: (code: string) => string) =>
  (
    JSON.parse(py("import json\nprint(json.dumps(sorted(globals().get('_bf', {}).keys())))")) as string[]
  ).sort()

/** The id of a process that has ended. */
const endedPid = () =>
  new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" })
    child.on("error", reject)
    child.on("exit", () => resolve(child.pid as number))
  })

/** Leave a temporary file on the board as an upload would, with its registry entry when `owner`. */
const leave = (
  py: (code: string) => string,
  path: string,
  content: string,
  owner?: { host: number; pid: number; open?: boolean },
) => {
  py(`with open(${JSON.stringify(path)}, 'wb') as f:\n f.write(${JSON.stringify(content)})`)
  if (owner === undefined) return
  const stem = path.slice(path.lastIndexOf("/") + 1).replace(/r?\.tmp$/, "")
  const file = owner.open === true ? `open(${JSON.stringify(path)}, 'ab')` : "None"
  py(`if '_bf' not in globals():_bf={}\n_bf[${JSON.stringify(stem)}]=[${file},${owner.host},${owner.pid}]`)
}

describe("dead temporary files", () => {
  it("the next connection removes what a killed host and a reset left, keeps the old file and the uploads of live processes", () =>
    run(
      Effect.gen(function* () {
        const first = yield* connect()
        yield* first.fs.write("/keep.bin", "the old content")
        const { py } = first
        const dead = yield* Effect.promise(endedPid)
        const mine = newOwnerToken()
        // A host killed mid-upload, board powered: its entry names a process that has ended.
        leave(py, "/.belay-killed-4.tmp", "half of it", { host: OWNER.host, pid: dead, open: true })
        // The board reset since: no entry.
        leave(py, "/.belay-resets-2.tmp", "half of it")
        // A connection of this process that is gone (its link lost): not in flight here.
        leave(py, `/.belay-${mine}-1.tmp`, "half of it", { ...OWNER })
        // Live: another process of this host that runs, and another host.
        leave(py, "/.belay-runnin-3.tmp", "in progress", { host: OWNER.host, pid: process.ppid })
        leave(py, "/.belay-otherh-5.tmp", "in progress", { host: OWNER.host ^ 1, pid: 1 })
        leave(py, "/.belay-otherh-5r.tmp", "reserved", { host: OWNER.host ^ 1, pid: 1 })

        const next = yield* connect()
        expect(yield* next.fs.readText("/keep.bin")).toBe("the old content")
        expect(temporariesIn(py, "/")).toEqual([
          ".belay-otherh-5.tmp",
          ".belay-otherh-5r.tmp",
          ".belay-runnin-3.tmp",
        ])
        expect(registryStems(py)).toEqual([".belay-otherh-5", ".belay-runnin-3"])
        // The same judgement on demand, with the reasons.
        const report = yield* next.fs.cleanTemporaryFiles("/")
        expect(report.removed).toEqual([])
        expect(report.kept.map((k) => k.path).sort()).toEqual([
          "/.belay-otherh-5.tmp",
          "/.belay-otherh-5r.tmp",
          "/.belay-runnin-3.tmp",
        ])
        expect(report.kept.find((k) => k.path === "/.belay-runnin-3.tmp")?.reason).toContain(
          `process ${process.ppid}`,
        )
        py("import os\nfor n in os.listdir('/'):\n if n.startswith('.belay-'): os.remove('/'+n)\ndel _bf")
      }),
    ))

  it("the next connection finds them on a board where nothing imported os globally", () =>
    run(
      Effect.gen(function* () {
        const first = yield* connect()
        yield* first.fs.write("/keep.bin", "the old content")
        const { py } = first
        leave(py, "/.belay-resetx-2.tmp", "half of it")
        // As on a board fresh from a reset: no global `os` (the probe's scan must import its own).
        py("globals().pop('os', None)\nglobals().pop('uos', None)")
        const next = yield* connect()
        expect(yield* next.fs.readText("/keep.bin")).toBe("the old content")
        expect(temporariesIn(py, "/")).toEqual([])
      }),
    ))

  it("costs no exchange when nothing is dead, and one when something is", () =>
    run(
      Effect.gen(function* () {
        const clean = yield* connect()
        yield* clean.fs.stat("/")
        yield* clean.fs.list("/")
        expect(clean.programs.filter((p) => p.includes("def _bx")).length).toBe(0)
        leave(clean.py, "/.belay-resets-7.tmp", "left")
        const other = yield* connect()
        yield* other.fs.list("/")
        expect(other.programs.filter((p) => p.includes("def _bx")).length).toBe(1)
        expect(temporariesIn(other.py, "/")).toEqual([])
      }),
    ))

  it("the first upload into a directory removes the dead temporary files there, after it", () =>
    run(
      Effect.gen(function* () {
        const first = yield* connect()
        yield* first.fs.mkdir("/sub/deep", { parents: true })
        leave(first.py, "/sub/deep/.belay-resets-3.tmp", "left by a reset")
        leave(first.py, "/sub/deep/.belay-resets-3r.tmp", "its reservation")
        const next = yield* connect()
        yield* next.fs.write("/sub/deep/new.txt", "new")
        expect(temporariesIn(next.py, "/sub/deep")).toEqual([])
        expect(yield* next.fs.readText("/sub/deep/new.txt")).toBe("new")
        // Once per directory and connection: a second upload there lists nothing.
        const sent = next.programs.length
        yield* next.fs.write("/sub/deep/new.txt", "newer")
        expect(next.programs.slice(sent).some((p) => p.includes("('t',"))).toBe(false)
        // `fs clean` of a tree walks it.
        leave(next.py, "/sub/.belay-resets-8.tmp", "left")
        const report = yield* next.fs.cleanTemporaryFiles("/sub")
        expect(report.removed).toEqual(["/sub/.belay-resets-8.tmp"])
        yield* next.fs.remove("/sub", { recursive: true })
      }),
    ))

  it("a live upload of another connection is not touched: its temporary file stays and it completes", () =>
    run(
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const held = yield* Deferred.make<void>()
        let chunks = 0
        const writer = yield* connect({
          fsOptions: { maxChunkBytes: 2048 },
          // The third chunk waits until the other connection is done.
          hook: (code, inner) =>
            code.includes("_bd=") && ++chunks === 3
              ? Effect.andThen(
                  Effect.andThen(Deferred.succeed(held, undefined), Deferred.await(gate)),
                  inner.execBytes(code),
                )
              : undefined,
        })
        yield* writer.fs.mkdir("/live", { parents: true })
        yield* writer.fs.write("/live/f.bin", "old")
        const data = randomBytes(30_000, 9)
        const upload = yield* Effect.forkChild(writer.fs.write("/live/f.bin", data))
        yield* Deferred.await(held)
        const inFlight = temporariesIn(writer.py, "/live")
        expect(inFlight.length).toBe(1)

        const other = yield* connect()
        yield* other.fs.list("/")
        yield* other.fs.write("/live/g.txt", "the other connection's file")
        const report = yield* other.fs.cleanTemporaryFiles("/")
        expect(report.removed).toEqual([])
        expect(report.kept).toEqual([
          { path: `/live/${inFlight[0]}`, reason: "an upload of this process is writing it" },
        ])
        expect(temporariesIn(other.py, "/live")).toEqual(inFlight)

        yield* Deferred.succeed(gate, undefined)
        const result = yield* Fiber.join(upload)
        expect(result.size).toBe(30_000)
        expect(Buffer.from(yield* writer.fs.readBytes("/live/f.bin")).equals(Buffer.from(data))).toBe(true)
        expect(temporariesIn(writer.py, "/live")).toEqual([])
        yield* writer.fs.remove("/live", { recursive: true })
      }),
    ))

  it("judges by owner: this process's uploads by what is in flight, others by their process, unknown hosts kept", async () => {
    const dead = await endedPid()
    const token = newOwnerToken()
    expect(judge(`.belay-${token}-1`, undefined).dead).toBe(true)
    expect(judge(".belay-abcdef-1", undefined).dead).toBe(true)
    expect(judge(".belay-abcdef-1", { stem: ".belay-abcdef-1", host: OWNER.host, pid: dead }).dead).toBe(true)
    expect(
      judge(".belay-abcdef-1", { stem: ".belay-abcdef-1", host: OWNER.host, pid: process.ppid }).dead,
    ).toBe(false)
    expect(judge(".belay-abcdef-1", { stem: ".belay-abcdef-1", host: OWNER.host ^ 7, pid: dead }).dead).toBe(
      false,
    )
  })
})

describe("a failed upload leaves nothing", () => {
  it("an append whose reply is damaged, and whose cleanup is lost on the way once, leaves no temporary file", () =>
    run(
      Effect.gen(function* () {
        let damaged = 0
        let lost = 0
        const { fs, py } = yield* connect({
          hook: (code, inner) => {
            // The opening exchange of the append runs, and its reply arrives damaged.
            if (code.includes("def _bcp") && damaged++ === 0) {
              return Effect.map(inner.execBytes(code), (out) => {
                const bytes = Uint8Array.from(out)
                bytes[2] = bytes[2] === 0x6d ? 0x6e : 0x6d
                return bytes
              })
            }
            // The first cleanup exchange never reaches the board.
            if (code.includes("def _ba(") && lost++ === 0) {
              return Effect.fail(
                new ProtocolTimeoutError({ phase: "raw-paste-echo", timeoutMs: 300, received: "" }),
              )
            }
            return undefined
          },
        })
        yield* fs.mkdir("/append", { parents: true })
        yield* fs.write("/append/log.txt", "line 1\n")
        const error = yield* Effect.flip(fs.append("/append/log.txt", "line 2\n"))
        expect(error._tag).toBe("UnexpectedBoardReplyError")
        expect(lost).toBeGreaterThan(0)
        expect(temporariesIn(py, "/append")).toEqual([])
        expect(py("print('_bf' in globals())")).toBe("False")
        expect(yield* fs.readText("/append/log.txt")).toBe("line 1\n")
        yield* fs.append("/append/log.txt", "line 2\n")
        expect(yield* fs.readText("/append/log.txt")).toBe("line 1\nline 2\n")
        yield* fs.remove("/append", { recursive: true })
      }),
    ))

  it("a write whose finishing reply is damaged, and whose first look at the board is lost, is finished on the board", () =>
    run(
      Effect.gen(function* () {
        let armed = false
        let damaged = 0
        let lost = 0
        const { fs, py } = yield* connect({
          hook: (code, inner) => {
            if (!armed) return undefined
            if (code.includes("os.rename(t,") && damaged++ === 0) {
              return Effect.map(inner.execBytes(code), (out) => {
                const bytes = Uint8Array.from(out)
                bytes[bytes.length - 3] ^= 1
                return bytes
              })
            }
            if (code.includes("def _bi(") && lost++ === 0) {
              return Effect.fail(new ProtocolTimeoutError({ phase: "stdout", timeoutMs: 300, received: "" }))
            }
            return undefined
          },
        })
        yield* fs.mkdir("/finish", { parents: true })
        yield* fs.write("/finish/f.txt", "old")
        armed = true
        const exit = yield* Effect.exit(fs.write("/finish/f.txt", "new content"))
        expect(lost).toBeGreaterThan(0)
        expect(Exit.isFailure(exit)).toBe(true)
        expect(yield* fs.readText("/finish/f.txt")).toBe("new content")
        expect(temporariesIn(py, "/finish")).toEqual([])
        expect(py("print('_bf' in globals())")).toBe("False")
        yield* fs.remove("/finish", { recursive: true })
      }),
    ))
  it("an append whose finishing reply is lost, and whose looks at the board come back damaged three times, leaves nothing", () =>
    run(
      Effect.gen(function* () {
        let armed = false
        let looks = 0
        const { fs, py } = yield* connect({
          hook: (code, inner) => {
            if (!armed) return undefined
            // The finishing exchange runs (the file is committed) and its reply is lost.
            if (code.includes("os.rename(t,")) {
              return Effect.andThen(
                inner.execBytes(code),
                Effect.fail(new ProtocolTimeoutError({ phase: "stdout", timeoutMs: 300, received: "" })),
              )
            }
            // The looks at where the upload stands (three asks of one exchange) come back damaged.
            if (code.includes("def _bi(")) {
              looks++
              if (looks <= 3) {
                return Effect.map(inner.execBytes(code), (out) => {
                  const bytes = Uint8Array.from(out)
                  bytes[2] ^= 1
                  return bytes
                })
              }
            }
            return undefined
          },
        })
        yield* fs.mkdir("/looks", { parents: true })
        yield* fs.write("/looks/log.txt", "line 1\n")
        armed = true
        yield* Effect.exit(fs.append("/looks/log.txt", "line 2\n"))
        armed = false
        expect(looks).toBeGreaterThan(3)
        expect(temporariesIn(py, "/looks")).toEqual([])
        expect(yield* fs.readText("/looks/log.txt")).toBe("line 1\nline 2\n")
        yield* fs.remove("/looks", { recursive: true })
      }),
    ))
  it("an append whose cleanup is interrupted by a stray Ctrl-C leaves nothing", () =>
    run(
      Effect.gen(function* () {
        let armed = false
        let interrupted = 0
        const { fs, py } = yield* connect({
          hook: (code, inner) => {
            if (!armed) return undefined
            if (code.includes("def _bcp")) {
              return Effect.map(inner.execBytes(code), (out) => {
                const bytes = Uint8Array.from(out)
                bytes[2] ^= 1
                return bytes
              })
            }
            // A Ctrl-C repeated on the line lands in the cleanup, twice: KeyboardInterrupt.
            if (code.includes("def _ba(") && interrupted++ < 2) {
              return Effect.fail(
                new PythonError({
                  exceptionType: "KeyboardInterrupt",
                  pythonMessage: "",
                  traceback: "Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n",
                  stdout: "",
                }),
              )
            }
            return undefined
          },
        })
        yield* fs.mkdir("/ctrlc", { parents: true })
        yield* fs.write("/ctrlc/log.txt", "line 1\n")
        armed = true
        const error = yield* Effect.flip(fs.append("/ctrlc/log.txt", "line 2\n"))
        armed = false
        expect(error._tag).toBe("UnexpectedBoardReplyError")
        expect(interrupted).toBeGreaterThan(1)
        expect(temporariesIn(py, "/ctrlc")).toEqual([])
        expect(yield* fs.readText("/ctrlc/log.txt")).toBe("line 1\n")
        yield* fs.remove("/ctrlc", { recursive: true })
      }),
    ))

  it("an append whose cleanup outlasts the session's bound on cleanups leaves nothing: its files go right after", () =>
    run(
      Effect.gen(function* () {
        let armed = false
        let slow = 0
        const { fs, py } = yield* connect({
          // The campaign's bound: a cleanup that needs the board brought back first can outlast it.
          sessionOptions: { resourceCleanupTimeout: Duration.millis(200) },
          hook: (code, inner) => {
            if (!armed) return undefined
            // The opening exchange runs, and its reply arrives damaged.
            if (code.includes("def _bcp")) {
              return Effect.map(inner.execBytes(code), (out) => {
                const bytes = Uint8Array.from(out)
                bytes[2] ^= 1
                return bytes
              })
            }
            // The upload's own cleanup is slow (the board is being brought back to its prompt).
            if (code.includes("def _ba(") && slow++ === 0) {
              return Effect.andThen(Effect.sleep("1 second"), inner.execBytes(code))
            }
            return undefined
          },
        })
        yield* fs.mkdir("/bound", { parents: true })
        yield* fs.write("/bound/log.txt", "line 1\n")
        armed = true
        const error = yield* Effect.flip(fs.append("/bound/log.txt", "line 2\n"))
        armed = false
        expect(error._tag).toBe("UnexpectedBoardReplyError")
        expect(slow).toBeGreaterThan(0)
        expect(temporariesIn(py, "/bound")).toEqual([])
        expect(py("print('_bf' in globals())")).toBe("False")
        expect(yield* fs.readText("/bound/log.txt")).toBe("line 1\n")
        yield* fs.remove("/bound", { recursive: true })
      }),
    ))
})

describe("requests the board cannot hold are refused before anything is written", () => {
  it("a name longer than a micro:bit's filesystem takes: BoardLimitError, nothing sent", () =>
    run(
      Effect.gen(function* () {
        // (The fake's MicroPython has no os.size: only refusals can be tried on it.)
        const { fs, programs, py } = yield* connect({ probe: PROBE_FLAT })
        const sent = programs.length
        const long = `/${"n".repeat(121)}`
        const error = yield* Effect.flip(fs.write(long, "x"))
        expect(error._tag).toBe("BoardLimitError")
        expect(error.message).toContain("the micro:bit's filesystem takes names of at most 120 bytes")
        expect(programs.length).toBe(sent)
        expect((yield* Effect.flip(fs.append(long, "x")))._tag).toBe("BoardLimitError")
        expect((yield* Effect.flip(fs.rename("/x", long)))._tag).toBe("BoardLimitError")
        expect(programs.length).toBe(sent)
        expect(temporariesIn(py, "/")).toEqual([])
      }),
    ))

  it("paths whose commit code would not fit in the board's memory: BoardLimitError; a micro:bit takes 100-byte names", () => {
    const rt = (platform: string, freeMemory: number, directories = false) => {
      const capabilities = {
        platform,
        osFunctions: ["listdir", "remove", "size", "uname", ...(directories ? ["mkdir"] : [])],
        hashAlgorithms: [],
        binascii: false,
      } as never
      const probe = { rawClean: false, errno: {}, freeMemory, nativeBase64: false, rawOutput: false }
      const profile = { freeMemory, seq: 0, token: "abcdef", roomy: false } as unknown as DeviceProfile
      return { dialect: dialectOf(capabilities, probe, freeMemory), profile, encoding: "repr" } as FsRuntime
    }
    const request = (name: string, operation: "write" | "append") => ({
      operation,
      path: `/${name}`,
      native: name,
      data: new Uint8Array(100),
      atomic: true,
    })
    // What the QEMU micro:bit measures as free at the transfer probe.
    const microbit = rt("microbit", 4656)
    for (const operation of ["write", "append"] as const) {
      expect(
        Exit.isSuccess(Effect.runSyncExit(checkUploadFits(microbit, request("n".repeat(100), operation)))),
      ).toBe(true)
      // A path the board's filesystem takes (names of at most 255 bytes) but whose commit code,
      // which names it and the temporary file beside it, would not fit.
      const exit = Effect.runSyncExit(
        checkUploadFits(rt("tiny", 4656, true), request(`${"d".repeat(250)}/${"n".repeat(250)}`, operation)),
      )
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({
        _tag: "BoardLimitError",
        limit: "exchange-size",
      })
    }
    expect(fixedExchangeBytes(microbit, request("n".repeat(100), "append"), "copy")).toBeLessThanOrEqual(
      fixedExchangeLimit(microbit.profile),
    )
  })
})

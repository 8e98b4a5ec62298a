import { ProtocolTimeoutError } from "@belay/transport"
import { Effect, Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { framedReply } from "../src/BoardCode.js"
import { isTemporaryName } from "../src/BoardPath.js"
import { type BoardFileSystem, boardFileSystem, type FileSystemOptions } from "../src/index.js"
import { unframeReply } from "../src/ReplyFrame.js"
import { framedLines, run, runOn, wasmBoard, wasmInterpreter } from "./fixtures.js"

const enc = new TextEncoder()
const dec = new TextDecoder()

/** One single-byte fault on a reply: a byte dropped, repeated, or changed. */
type ByteFault = { readonly kind: "drop" | "duplicate" } | { readonly kind: "flip"; readonly xor: number }

const applyFault = (bytes: Uint8Array, at: number, fault: ByteFault): Uint8Array => {
  const i = at % bytes.length
  const out = [...bytes]
  if (fault.kind === "drop") out.splice(i, 1)
  else if (fault.kind === "duplicate") out.splice(i, 0, bytes[i]!)
  else out[i] = bytes[i]! ^ fault.xor
  return Uint8Array.from(out)
}

const byteFault: fc.Arbitrary<ByteFault> = fc.oneof(
  fc.constant({ kind: "drop" as const }),
  fc.constant({ kind: "duplicate" as const }),
  fc.integer({ min: 1, max: 255 }).map((xor) => ({ kind: "flip" as const, xor })),
)

/** Reply lines as the board's `repr` prints them: no newline, never starting with `#`. */
const replyLine = fc
  .string({
    unit: fc.oneof(fc.constantFrom(..."()',/0123456789 abcxyz._-"), fc.constantFrom("é", "😀", "\\")),
  })
  .filter((l) => l.length > 0 && !l.startsWith("#") && l.trim() === l)

describe("reply frames", () => {
  it("the board frames a reply exactly as the host checks it", async () => {
    const { mp, out } = await wasmInterpreter()
    const values = ["(1, 0)", "('/d/é😀.txt', 0, 12)", "('OSError', 2)", "b'\\x00\\n'"]
    const code = framedReply(values.map((v) => `_bo(${v})`).join("\n"))
    const r = runOn(mp, out, code)
    const stdout = "stdout" in r && r.stdout ? r.stdout : new Uint8Array()
    expect(dec.decode(stdout as Uint8Array).replaceAll("\r\n", "\n")).toBe(
      framedLines(values.map((v) => runValue(mp, out, v))).replaceAll("\r\n", "\n"),
    )
    expect(unframeReply(stdout as Uint8Array)).toEqual(
      Result.succeed(values.map((v) => runValue(mp, out, v))),
    )
  })

  it("one damaged byte anywhere in a reply gives the original lines or a failure, never other lines", () =>
    fc.assert(
      fc.property(
        fc.array(fc.array(replyLine, { maxLength: 5 }), { minLength: 1, maxLength: 3 }),
        fc.nat(),
        byteFault,
        (frames, at, fault) => {
          const lines = frames.flat()
          const reply = enc.encode(frames.map((f) => framedLines(f)).join(""))
          expect(unframeReply(reply)).toEqual(Result.succeed(lines))
          const damaged = unframeReply(applyFault(reply, at, fault))
          if (Result.isSuccess(damaged)) expect(damaged.success).toEqual(lines)
        },
      ),
      { numRuns: 2000 },
    ))

  it("a reply without its frame, or cut short, fails", () => {
    expect(Result.isFailure(unframeReply(enc.encode("(1, 0)\r\n")))).toBe(true)
    expect(Result.isFailure(unframeReply(enc.encode("")))).toBe(true)
    expect(Result.isFailure(unframeReply(enc.encode(`${framedLines(["1"])}2\r\n`)))).toBe(true)
  })
})

const runValue = (mp: Parameters<typeof runOn>[0], out: Parameters<typeof runOn>[1], value: string) => {
  const r = runOn(mp, out, `print(repr(${value}))`)
  return dec.decode(("stdout" in r && (r.stdout as Uint8Array)) || new Uint8Array()).trim()
}

/**
 * A virtual board whose replies to the exchanges `damage` picks come back with one byte changed
 * (the code ran); `fail` makes an exchange run and then lose its reply to a timeout.
 */
const damagingBoard = (
  options: {
    readonly damage?: (code: string) => boolean
    readonly fail?: (code: string) => boolean
    readonly intercept?: Parameters<typeof wasmBoard>[0] extends infer O
      ? O extends { intercept?: infer I }
        ? I
        : never
      : never
    readonly fsOptions?: FileSystemOptions
  } = {},
) =>
  Effect.gen(function* () {
    const board = yield* wasmBoard({
      ...(options.intercept && { intercept: options.intercept }),
      wrap: (device) => ({
        ...device,
        execBytes: (code, execOptions) => {
          const text = typeof code === "string" ? code : Buffer.from(code).toString("latin1")
          return Effect.flatMap(device.execBytes(code, execOptions), (out) => {
            if (options.fail?.(text))
              return Effect.fail(new ProtocolTimeoutError({ phase: "stdout", timeoutMs: 1, received: "" }))
            if (!options.damage?.(text) || out.length === 0) return Effect.succeed(out)
            const damaged = Uint8Array.from(out)
            damaged[Math.floor(out.length / 2)]! ^= 0x01
            return Effect.succeed(damaged)
          })
        },
      }),
    })
    const session = yield* board.manager.createSession()
    return { ...board, session, fs: boardFileSystem(session, options.fsOptions) }
  })

const temporaries = (fs: BoardFileSystem, dir: string) =>
  Effect.map(fs.list(dir, { recursive: true }), (entries) =>
    entries.map((e) => e.path).filter((p) => isTemporaryName(p.slice(p.lastIndexOf("/") + 1))),
  )

describe("damaged replies on a board", () => {
  it("exists, stat, list and hash never answer from a damaged reply: asked again, or failed typed", () =>
    run(
      Effect.gen(function* () {
        let damaging = 0
        const { fs } = yield* damagingBoard({ damage: (code) => code.includes("_bo(") && damaging-- > 0 })
        yield* fs.mkdir("/frames", { parents: true })
        yield* fs.write("/frames/a.txt", "some content")
        // One damaged reply: asked again (the question changes nothing), the right answer.
        for (const ask of [
          fs.exists("/frames/a.txt"),
          Effect.map(fs.stat("/frames/a.txt"), (s) => s.size === 12),
          Effect.map(fs.list("/frames"), (l) => l.length === 1 && l[0]?.path === "/frames/a.txt"),
          Effect.map(fs.hash("/frames/a.txt"), (h) => h.size === 12),
          Effect.map(fs.sameContent([{ path: "/frames/a.txt", digest: "00" }]), (r) => r[0] === false),
        ]) {
          damaging = 1
          expect(yield* ask).toBe(true)
        }
        // Every reply damaged: a typed failure, never "absent".
        damaging = 1000
        expect((yield* Effect.flip(fs.exists("/frames/a.txt")))._tag).toBe("UnexpectedBoardReplyError")
        expect((yield* Effect.flip(fs.list("/frames")))._tag).toBe("UnexpectedBoardReplyError")
        expect((yield* Effect.flip(fs.remove("/frames/a.txt")))._tag).toBe("UnexpectedBoardReplyError")
        damaging = 0
        // A missing file is still told apart, through the frame.
        expect(yield* fs.exists("/frames/missing.txt")).toBe(false)
      }),
    ))

  it("a write whose finish lost its reply, and whose inspection replies arrive damaged, leaves no temporary file", () =>
    run(
      Effect.gen(function* () {
        let inspections = 0
        const { fs } = yield* damagingBoard({
          // The finishing exchange runs (the temporary file is complete and renamed) but its reply is lost.
          fail: (code) => code.includes("os.rename("),
          // The first two inspections of where the upload stands come back damaged.
          damage: (code) => code.includes("def _bi(") && inspections++ < 2,
        })
        yield* fs.mkdir("/frames-w", { parents: true })
        const result = yield* fs.write("/frames-w/w.txt", "new content")
        expect(result.size).toBe(11)
        expect(inspections).toBeGreaterThan(2)
        expect(yield* fs.readText("/frames-w/w.txt")).toBe("new content")
        expect(yield* temporaries(fs, "/frames-w")).toEqual([])
      }),
    ))

  it("a read from a board that goes silent in the middle of its reply ends, failed typed", () =>
    run(
      Effect.gen(function* () {
        const { fs } = yield* damagingBoard({
          // The download prints a first piece, then nothing more until interrupted.
          intercept: (code) => (code.includes("def _bd") ? { hang: true, stdout: "b'abc'\r\n" } : undefined),
          fsOptions: { exchangeMs: 50 },
        })
        yield* fs.mkdir("/frames-r", { parents: true })
        yield* fs.write("/frames-r/r.txt", "abcdef")
        const error = yield* Effect.flip(fs.readBytes("/frames-r/r.txt"))
        expect(error._tag).toBe("ProtocolTimeoutError")
      }),
    ))
})

/**
 * Every request the filesystem sends runs only if it arrived intact: a byte lost, repeated or
 * changed on the way to the board (a small board's UART overrun in plain raw mode) makes the
 * request refused and sent again, never run altered. Seen on the QEMU micro:bit: a download's
 * helper arrived with `return` turned into `retrn` (still valid Python: a call of an unknown name)
 * and ran, so the user got `NameError: name 'retrn' isn't defined`.
 *
 * The damage is made where the board receives the code (the fake board's executor, or a device
 * wrapper in front of the virtual board), one byte per damaged request, at every kind of position.
 *
 * Mutations tried (each applied by hand, this file run, then reverted):
 * - src/Download.ts sends the download code as it is (`integrity: "unchecked"`, no guard), as
 *   before the fix: the `retrn` test and the property fail (NameError, SyntaxError surfaced).
 * - src/BoardHash.ts sends raw digests unguarded over raw-paste, as before the fix: the
 *   `sameContent` test fails (a changed file reported unchanged).
 * - src/BoardProfile.ts sends the transfer probe unguarded, as before: the probe test fails.
 */
import { makeDeviceSessionManager } from "@belay/core"
import { frameProbeAnswer } from "@belay/core/internal"
import { type DeviceCommunicationShape, makeDeviceCommunication } from "@belay/transport"
import type { FakeRun } from "@belay/transport/testing"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Exit, References, Stream } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { boardFileSystem, digestHex } from "../src/index.js"
import { changeCode, run, runOn, wasmBoard, wasmInterpreter } from "./fixtures.js"

/**
 * The capability probe's answer of a micro:bit-like board: flat filesystem (no mkdir), no hashlib
 * (Adler-32), no binascii; `os.stat` for sizes, which the WebAssembly build has (it lacks the
 * micro:bit's `os.size`).
 */
const PROBE_SMALL = frameProbeAnswer(
  "{'impl': 'micropython', 'ver': '1.9.2', 'plat': 'microbit', 'mach': 'fake micro:bit', 'mods': [], " +
    "'hash': [], 'os': ['listdir', 'remove', 'stat'], 'uid': None, 'free': 7000}",
)

/** One byte of `code` dropped, repeated or changed (into another printable byte, or a newline). */
type Damage = { readonly kind: "drop" | "duplicate" | "change"; readonly at: number; readonly into: number }

const damaged = (code: string, d: Damage): string => {
  const at = d.at % code.length
  if (d.kind === "drop") return code.slice(0, at) + code.slice(at + 1)
  if (d.kind === "duplicate") return code.slice(0, at + 1) + code.slice(at)
  const printable = d.into % 96
  let into = printable === 95 ? "\n" : String.fromCharCode(0x20 + printable)
  if (into === code[at]) into = into === "x" ? "y" : "x"
  return code.slice(0, at) + into + code.slice(at + 1)
}

const damageArbitrary: fc.Arbitrary<Damage> = fc.record({
  kind: fc.constantFrom("drop", "duplicate", "change"),
  at: fc.nat(),
  into: fc.nat(),
})

/** Globals a helper or a request could leave behind on the board. */
const boardGlobals = (py: (code: string) => string) =>
  py("print(sorted(k for k in globals() if k.startswith('_b')))")

/**
 * A micro:bit-like board (plain raw mode, flat filesystem, Adler-32, stdout without `buffer`: the
 * text download) on the fake board running real MicroPython; `damage` changes the next request
 * whose code matches, as the board receives it.
 */
const microbitLike = Effect.gen(function* () {
  const { mp, out } = yield* Effect.promise(() => wasmInterpreter())
  let armed:
    | { readonly matches: (code: string) => boolean; readonly change: (code: string) => string }
    | undefined
  const seen = { damaged: 0, requests: [] as string[] }
  const intercept = (code: string): FakeRun | undefined => {
    if (code.includes("_belay_probe")) return { stdout: PROBE_SMALL }
    if (armed?.matches(code)) {
      const change = armed.change
      armed = undefined
      seen.damaged++
      return runOn(mp, out, change(code))
    }
    seen.requests.push(code)
    // The micro:bit's stdout has no `buffer`: files are read the text way.
    if (code.includes("def _bp("))
      return runOn(mp, out, changeCode(code, "getattr(sys.stdout,'buffer',None)", "None "))
    return undefined
  }
  const board = yield* wasmBoard({ rawPaste: "old", intercept })
  const session = yield* board.manager.createSession()
  const fs = boardFileSystem(session)
  const damage = (matches: (code: string) => boolean, change: (code: string) => string) => {
    armed = { matches, change }
  }
  return { ...board, fs, damage, seen }
})

const CONTENT = "line one\nline two: a download that must come back exactly\n".repeat(8)

describe("damaged requests never run (micro:bit-like board, plain raw mode)", () => {
  it("a download whose helper lost a byte (`return` read as `retrn`) is refused and sent again", () =>
    run(
      Effect.gen(function* () {
        const { fs, damage, seen, py } = yield* microbitLike
        yield* fs.write("/d.txt", CONTENT)
        const before = boardGlobals(py)
        damage(
          (code) => code.includes("def _bd("),
          (code) => {
            const at = code.indexOf("return(", code.indexOf("def _bd("))
            return code.slice(0, at + 2) + code.slice(at + 3)
          },
        )
        const exit = yield* Effect.exit(fs.readText("/d.txt"))
        expect(seen.damaged).toBe(1)
        expect(exit).toEqual(Exit.succeed(CONTENT))
        expect(boardGlobals(py)).toBe(before)
        // Sent again as it was: the same checked request.
        expect(seen.requests.at(-1)).toContain("_belay_request_damaged")
      }),
    ))

  it(
    "one damaged byte anywhere in a download or a listing: the right answer, nothing left behind (property)",
    () =>
      run(
        Effect.gen(function* () {
          const { fs, damage, seen, py } = yield* microbitLike
          yield* fs.write("/d.txt", CONTENT)
          const listed = yield* fs.list("/")
          const before = boardGlobals(py)
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(damageArbitrary, fc.boolean(), async (d, download) => {
                const operation = download
                  ? Effect.map(fs.readText("/d.txt"), (text) => expect(text).toBe(CONTENT))
                  : Effect.map(fs.list("/"), (entries) => expect(entries).toEqual(listed))
                const count = seen.damaged
                damage(
                  (code) => code.includes(download ? "def _bd(" : "def _bl("),
                  (code) => damaged(code, d),
                )
                const exit = await Effect.runPromise(
                  Effect.exit(operation).pipe(Effect.provideService(References.MinimumLogLevel, "Error")),
                )
                expect(seen.damaged).toBe(count + 1)
                // Never the board's error about damaged code (a NameError, a SyntaxError): it ran nothing.
                if (Exit.isFailure(exit)) expect.fail(`${d.kind} at ${d.at}: ${String(exit.cause)}`)
                expect(boardGlobals(py)).toBe(before)
              }),
              { numRuns: 150, seed: 17 },
            ),
          )
        }),
      ),
    120_000,
  )
})

/** The virtual board (raw-paste, raw digests) behind a wrapper that changes the next matching request. */
const virtualWithDamage = Effect.gen(function* () {
  const link = yield* openVirtualBoard()
  const inner = yield* makeDeviceCommunication(link)
  let armed:
    | { readonly matches: (code: string) => boolean; readonly change: (code: string) => string }
    | undefined
  let hits = 0
  const latin1 = (code: string | Uint8Array) =>
    typeof code === "string" ? code : Buffer.from(code).toString("latin1")
  const mutate = (code: string | Uint8Array): string | Uint8Array => {
    const text = latin1(code)
    if (armed === undefined || !armed.matches(text)) return code
    const change = armed.change
    armed = undefined
    hits++
    return Buffer.from(change(text), "latin1")
  }
  const device: DeviceCommunicationShape = {
    ...inner,
    execBytes: (code, options) => Effect.suspend(() => inner.execBytes(mutate(code), options)),
    execStream: (code, options) =>
      Stream.unwrap(Effect.sync(() => inner.execStream(latin1(mutate(code)), options))),
  }
  const manager = yield* makeDeviceSessionManager(device)
  const session = yield* manager.createSession()
  const damage = (matches: (code: string) => boolean, change: (code: string) => string) => {
    armed = { matches, change }
  }
  return { fs: boardFileSystem(session), damage, hits: () => hits, device: inner }
})

describe("damaged requests never run (virtual board, raw-paste)", () => {
  it(
    "sameContent: a comparison whose `!=` arrived as `==` is refused, not answered the wrong way round",
    () =>
      run(
        Effect.gen(function* () {
          const { fs, damage, hits } = yield* virtualWithDamage
          yield* fs.write("/same.txt", "the board's content")
          const other = digestHex("sha256", new TextEncoder().encode("the host's newer content"))
          const own = digestHex("sha256", new TextEncoder().encode("the board's content"))
          damage(
            (code) => code.includes("def _bb("),
            (code) => code.replace("!=h:", "==h:"),
          )
          const same = yield* fs.sameContent([
            { path: "/same.txt", digest: other },
            { path: "/same.txt", digest: own },
          ])
          expect(hits()).toBe(1)
          expect(same).toEqual([false, true])
        }),
      ),
    60_000,
  )

  it(
    "the transfer probe: a registry lookup damaged on the way is refused, so no live upload's files look dead",
    () =>
      run(
        Effect.gen(function* () {
          const { fs, damage, hits, device } = yield* virtualWithDamage
          // An upload of another host in flight: its registry entry and its temporary file (no
          // global `os`: the probe's scan imports its own).
          yield* device.exec(
            "_bf={'.belay-zzzzzz-1':[None,123456,42]}\nf=open('/.belay-zzzzzz-1.tmp','w');f.write('x');f.close()",
          )
          damage(
            (code) => code.includes("def _bp(") && code.includes("def _bg("),
            (code) => code.replace("get('_bf')", "get('_bF')"),
          )
          expect(yield* fs.exists("/.belay-zzzzzz-1.tmp")).toBe(true)
          expect(hits()).toBe(1)
          const cleaned = yield* fs.cleanTemporaryFiles("/")
          expect(cleaned.removed).toEqual([])
          expect(yield* fs.exists("/.belay-zzzzzz-1.tmp")).toBe(true)
          expect(yield* device.exec("print(sorted(_bf))")).toContain(".belay-zzzzzz-1")
        }),
      ),
    60_000,
  )
})

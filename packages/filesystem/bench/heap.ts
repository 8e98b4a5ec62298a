/**
 * Heap and wire cost of each file operation on a board: for every operation, the heap the board
 * allocated during its exchanges (collector off, so this bounds the peak from above), the heap it
 * still holds afterwards (after a collection: what stays, such as interned names), and the bytes
 * of code sent. Run: `npx tsx bench/heap.ts virtual|microbit` from packages/filesystem.
 */
import { makeDeviceSessionManager } from "@belay/core"
import {
  type DeviceCommunicationShape,
  makeDeviceCommunication,
  parsePythonLiteral,
  toPythonLiteral,
} from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { openVirtualBoard, startQemuMicrobit } from "@belay/virtual-device"
import { Effect, References, Result, Schedule } from "effect"
import { boardFileSystem } from "../src/index.js"

const target = process.argv[2] ?? "virtual"

/** The code inside a guarded (checked, top-level) request; other code as it is. */
const GUARDED_PART =
  /exec\((?:\*|\()\[_belay_q for _belay_q in \[('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")\] if len/
const innerCode = (code: string): string => {
  const match = GUARDED_PART.exec(code)
  if (match === null) return code
  const parsed = parsePythonLiteral(match[1]!)
  return Result.isSuccess(parsed) && typeof parsed.success === "string" ? parsed.success : code
}

/** Counts the bytes of code sent through a device while `counting` is on. */
const counted = (inner: DeviceCommunicationShape) => {
  const state = { counting: false, bytes: 0, exchanges: 0, codes: [] as string[] }
  const add = (code: string | Uint8Array) => {
    if (!state.counting) return
    state.bytes += code.length
    state.exchanges++
    state.codes.push(innerCode(typeof code === "string" ? code : Buffer.from(code).toString("latin1")))
  }
  const device: DeviceCommunicationShape = {
    ...inner,
    exec: (code, options) =>
      Effect.suspend(() => {
        add(code)
        return inner.exec(code, options)
      }),
    execBytes: (code, options) =>
      Effect.suspend(() => {
        add(code)
        return inner.execBytes(code, options)
      }),
    execStream: (code, options) => {
      add(code)
      return inner.execStream(code, options)
    },
  }
  return { device, state }
}

const program = Effect.gen(function* () {
  const link =
    target === "microbit"
      ? yield* Effect.flatMap(startQemuMicrobit(), (qemu) => openSerialLink({ path: qemu.ptyPath }))
      : yield* openVirtualBoard({})
  const raw = yield* makeDeviceCommunication(link)
  const { device, state } = counted(raw)
  const manager = yield* makeDeviceSessionManager(device)
  const session = yield* manager
    .createSession()
    .pipe(Effect.retry({ times: 3, schedule: Schedule.spaced("50 millis") }))
  const fs = boardFileSystem(session)
  const flat = target === "microbit"
  const dir = flat ? "" : "/heap"
  const at = (name: string) => `${dir}/${name}`
  const free = (code: string) =>
    Effect.map(raw.exec(`${code}\nprint(gc.mem_free())`), (out) => Number(out.trim().split(/\s+/).at(-1)))
  const data = new Uint8Array(3000).map((_, i) => (i * 7) % 251)
  yield* fs.info
  if (!flat) yield* fs.mkdir(dir, { parents: true })
  yield* fs.write(at("seed.bin"), data)
  const operations: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
    ["list", fs.list(dir || "/")],
    ["stat", fs.stat(at("seed.bin"))],
    ["hash", fs.hash(at("seed.bin"))],
    ...(flat
      ? []
      : ([
          ["mkdir", fs.mkdir(at("d/e"), { parents: true })],
          ["remove (tree)", fs.remove(at("d"), { recursive: true })],
          ["diskUsage", fs.diskUsage("/")],
        ] as const)),
    ["write 3000 B", fs.write(at("w.bin"), data)],
    ["append 100 B", fs.append(at("w.bin"), data.subarray(0, 100))],
    ["read 3000 B", fs.readBytes(at("w.bin"))],
    ["rename", fs.rename(at("w.bin"), at("v.bin"))],
    ["remove", fs.remove(at("v.bin"))],
  ]
  const rows: string[] = []
  /**
   * Run `code` again with the collector off: what it allocates (parse, compile, run: at least its
   * peak) and what it keeps after a collection. The code is held in a string first, as a checked
   * request holds it.
   */
  const replay = (code: string) =>
    Effect.map(
      raw.execBytes(
        `import gc\n_mc=${toPythonLiteral(code)}\ngc.collect();gc.disable();_m0=gc.mem_free()\ntry:\n exec(_mc)\nexcept Exception:\n pass\n_m1=gc.mem_free();gc.enable();del _mc;gc.collect()\nprint('\\n@',_m0-_m1,_m0-gc.mem_free())\ndel _m0,_m1`,
      ),
      (bytes) => {
        const out = Buffer.from(bytes).toString("latin1")
        const [, allocated, kept] = out.slice(out.lastIndexOf("@")).trim().split(/\s+/).map(Number)
        return { allocated: allocated!, kept: kept! }
      },
      // The replay is sent unchecked: a byte lost on a busy link breaks it; send it again.
    ).pipe(Effect.retry({ times: 3 }))
  // Twice: the first round interns the names the code uses; the second shows what an operation costs each time.
  for (const run of [1, 2]) {
    for (const [name, operation] of operations) {
      const before = yield* free("import gc\ngc.collect()")
      state.counting = true
      state.bytes = 0
      state.exchanges = 0
      state.codes = []
      yield* operation
      state.counting = false
      const after = yield* free("import gc\ngc.collect()")
      let peak = 0
      for (const code of state.codes) {
        if (code.startsWith("_bd=") || code.length > 20_000) continue
        peak = Math.max(peak, (yield* replay(code)).allocated)
      }
      rows.push(`| ${name} (${run}) | ${state.exchanges} | ${state.bytes} | ${peak} | ${before - after} |`)
    }
  }
  console.log(`${target}: free after probe ${yield* free("import gc\ngc.collect()")}`)
  console.log("| operation (round) | exchanges | code bytes sent | largest exchange allocates | heap kept |")
  console.log("|---|---|---|---|---|")
  for (const row of rows) console.log(row)
})

Effect.runPromise(
  Effect.scoped(program).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
).catch((error) => {
  console.error(error)
  process.exit(1)
})

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { CapabilityMissingError, DeviceSessionManager } from "@belay/core"
import { executorContext, GeneratorTask, py, Setup, Task, Teardown, ThreadTask } from "@belay/executors"
import { boardFileSystem } from "@belay/filesystem"
import { DeviceCommunication, parsePythonLiteral } from "@belay/transport"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { print } from "./Output.js"

const say = (line = "") => print(`${line}\n`)
const step = (n: number, title: string) => say(`\n${n}. ${title}`)

const setup = Setup.make({
  name: "demo_setup",
  source: py`
    demo_ticks = 0
  `,
})

const teardown = Teardown.make({
  name: "demo_teardown",
  source: py`
    demo_ticks = None
  `,
})

const add = Task.make({
  name: "demo_add",
  source: py`
    def demo_add(a, b):
        return a + b
  `,
  args: [Schema.Number, Schema.Number],
  result: Schema.Number,
})

const describe = Task.make({
  name: "demo_describe",
  source: py`
    def demo_describe(values, label):
        print('describing', len(values), 'values')
        return {'label': label, 'min': min(values), 'max': max(values), 'mean': sum(values) / len(values)}
  `,
  args: [Schema.Array(Schema.Number), Schema.String],
  result: Schema.Struct({
    label: Schema.String,
    min: Schema.Number,
    max: Schema.Number,
    mean: Schema.Number,
  }),
})

const countdown = GeneratorTask.make({
  name: "demo_countdown",
  source: py`
    def demo_countdown(n):
        while n > 0:
            yield n
            n -= 1
  `,
  args: [Schema.Number],
  item: Schema.Number,
})

const blinker = ThreadTask.make({
  name: "demo_blinker",
  source: py`
    def demo_blinker(stopping, period_ms):
        import time
        global demo_ticks
        while not stopping():
            demo_ticks += 1
            time.sleep_ms(period_ms)
  `,
  args: [Schema.Number],
})

/** The demo's board code (for the bench that measures what minifying it saves). */
export const DEMO_CODE = { setup, teardown, add, describe, countdown, blinker } as const

/** The board functions the tasks above define. */
const DEMO_FUNCTIONS = ["demo_add", "demo_describe", "demo_countdown", "demo_blinker"]

/** The folder the demo writes on a board with directories, and the name prefix on a flat filesystem. */
const DEMO_DIR = "/belay_demo"
const DEMO_PREFIX = "belay_demo_"

/**
 * How much less free memory the board may have after the demo than before it, beyond the names the
 * interpreter interned for good (measured: its qstr pools), once the demo's globals are gone and
 * the heap collected: what a collection cannot give back at once (fragmentation, the port's own
 * caches). 1 KB, or a ten-thousandth of the free heap where that is more (measured: 768 B on the
 * micro:bit's 6 KB, 3.7 KB on the virtual board's 135 MB).
 */
/**
 * Free memory (at the start) below which the tour leaves out its generator: measured on the QEMU
 * micro:bit (4.5 to 5.3 KB free), where it ran out of memory in the generator or in the final
 * checks about one run in two once the tour's other functions were on the board.
 */
const GENERATOR_MIN_FREE = 8 * 1024

const freeMemoryBound = (free: number) => Math.max(1024, Math.round(free / 10_000))

/** The sample project: a package on a board with directories, prefixed top-level files on a flat one. */
const sampleTree = async (flat: boolean) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "belay-demo-"))
  if (flat) {
    await writeFile(path.join(dir, `${DEMO_PREFIX}main.py`), "print('hello, board')\n")
    await writeFile(
      path.join(dir, `${DEMO_PREFIX}config.json`),
      JSON.stringify({ interval: 500, name: "demo" }),
    )
    return dir
  }
  await mkdir(path.join(dir, "lib"))
  await writeFile(path.join(dir, "main.py"), "from lib.util import greet\nprint(greet('board'))\n")
  await writeFile(path.join(dir, "lib", "util.py"), "def greet(name):\n    return 'hello, ' + name\n")
  await writeFile(path.join(dir, "config.json"), JSON.stringify({ interval: 500, name: "demo" }))
  return dir
}

/**
 * The board's global names, its free memory after a collection, and the bytes of its interned
 * names (qstr pools: the interpreter keeps a name it has seen for good), measured without leaving
 * a name of its own behind. `internedBytes` is NaN where `micropython.qstr_info` is missing.
 */
const boardState = (device: DeviceCommunication["Service"]) =>
  Effect.gen(function* () {
    // Small exchanges, one fact each: a small board's heap after a tour may not parse a larger one.
    yield* device.exec("__import__('gc').collect()")
    const free = Number(yield* device.eval("__import__('gc').mem_free()"))
    const parsed = parsePythonLiteral(yield* device.eval("sorted(globals())"))
    const names = Result.isSuccess(parsed) && Array.isArray(parsed.success) ? parsed.success.map(String) : []
    const pools = yield* device.exec("getattr(__import__('micropython'), 'qstr_info', lambda: None)()")
    const interned = /n_total_bytes=(\d+)/.exec(pools)
    return { globals: names, free, internedBytes: interned ? Number(interned[1]) : Number.NaN }
  })

/** Remove the globals `names`, leaving no name of its own. */
const removeGlobals = (names: ReadonlyArray<string>) =>
  `[globals().pop(n, None) for n in (${names.map((n) => `${JSON.stringify(n)},`).join(" ")})]`

/** A listing of the board's root, to compare before and after. */
const rootListing = (entries: ReadonlyArray<{ path: string; size: number; type: string }>) =>
  entries
    .map((e) => `${e.type} ${e.path} ${e.size}`)
    .sort()
    .join("\n")

/**
 * The guided tour: every step runs on the board in one session that cleans up after itself. The
 * demo writes only under {@link DEMO_DIR} (or files named {@link DEMO_PREFIX}... on a flat
 * filesystem) and names its board functions `demo_...`; at the end it removes what it wrote and
 * the globals it made, and checks on the board that the root listing and the globals are as they
 * were and the free memory within {@link freeMemoryBound} of what it was.
 */
export const runDemo = Effect.gen(function* () {
  const device = yield* DeviceCommunication
  const manager = yield* DeviceSessionManager
  yield* say(`Belay demo on ${device.description}`)
  const before = yield* boardState(device)

  const { sessionId, listingBefore, flat } = yield* manager.executeInNewSession((session) =>
    Effect.gen(function* () {
      const fs = boardFileSystem(session)
      const info = yield* fs.info
      const flat = !info.directories
      const listingBefore = rootListing(yield* fs.list("/"))
      const local = yield* Effect.promise(() => sampleTree(flat))
      const written: Array<string> = []
      const removeWritten = Effect.gen(function* () {
        if (!flat && (yield* fs.exists(DEMO_DIR))) yield* fs.remove(DEMO_DIR, { recursive: true })
        for (const file of written) if (yield* fs.exists(file)) yield* fs.remove(file)
      })
      const tour = Effect.gen(function* () {
        const caps = session.deviceContext.capabilities
        yield* step(1, "Capabilities, found in one round trip")
        yield* say(
          `   ${caps.machine}, ${caps.flavor === "circuitpython" ? "CircuitPython" : "MicroPython"} ${caps.version} on ${caps.platform}`,
        )
        yield* say(
          `   raw-paste ${caps.rawPaste ? "yes" : "no"}, threads ${caps.threads ? "yes" : "no"}, hashlib ${caps.hashAlgorithms.join("/") || "no"}, free memory ${caps.freeMemory} B`,
        )

        yield* step(2, `Session ${session.sessionId}: setup runs once, teardown is registered`)
        yield* setup.run(session)
        yield* teardown.register(session)
        yield* session.acquire(
          session.device.exec("demo_sensor = {'pin': 26, 'enabled': True}"),
          () => session.device.exec("del demo_sensor"),
          { resourceType: "DemoSensor", estimatedCost: 64 },
        )
        yield* say("   setup ran; a board-side resource (demo_sensor) is tracked by the session")

        const remote = flat ? "/" : DEMO_DIR
        yield* step(
          3,
          `Sync a folder to ${flat ? `/${DEMO_PREFIX}* (a flat filesystem)` : DEMO_DIR} (only what changed is uploaded; hashes compared on the board)`,
        )
        // Start from nothing of the demo's, so that the first sync shows uploads on every run.
        yield* removeWritten
        const firstSync = yield* fs.sync(local, remote)
        written.push(...firstSync.uploaded.map((u) => u.path))
        yield* say(
          `   first sync: ${firstSync.uploaded.map((u) => u.path).join(", ")} (${firstSync.bytesUploaded} B)`,
        )
        const secondSync = yield* fs.sync(local, remote)
        yield* say(
          `   second sync: ${secondSync.uploaded.length} uploaded, ${secondSync.unchanged.length} unchanged (${secondSync.bytesUploaded} B)`,
        )

        yield* step(4, "Typed tasks (arguments and results checked by Effect Schema)")
        const sum = yield* add.call(session, 2, 3)
        yield* say(`   demo_add(2, 3) = ${sum}  (first call: definition and call in one exchange)`)
        const again = yield* add.call(session, 40, 2)
        yield* say(`   demo_add(40, 2) = ${again}  (cached: only the call is sent)`)
        // Output arrives in chunks as the link delivers it: shown a whole line at a time.
        let pending = ""
        const printedLines = (text: string) =>
          Effect.suspend(() => {
            const lines = (pending + text).split(/\r?\n/)
            pending = lines.pop() ?? ""
            return Effect.forEach(lines, (line) => say(`   board printed: ${line}`), { discard: true })
          })
        const summary = yield* describe.callWith(
          session,
          { onOutput: printedLines },
          [3.5, 1, 4, 1.5],
          'it\'s "quoted"\n',
        )
        if (pending !== "") yield* say(`   board printed: ${pending}`)
        yield* say(`   demo_describe(...) = ${JSON.stringify(summary)}`)

        yield* step(5, "A generator as a stream; taking 3 stops it on the board")
        if (caps.freeMemory >= GENERATOR_MIN_FREE) {
          const first = yield* Stream.runCollect(Stream.take(countdown.stream(session, 10), 3))
          yield* say(`   demo_countdown(10) -> ${first.join(", ")} ... (stopped early)`)
        } else {
          // The tour's functions fill a micro:bit's heap; the generator's frames and the checks
          // after it would not fit beside them. (The executors' tests stream generators there.)
          yield* say(
            `   skipped: ${caps.freeMemory} B free on this board; the tour needs ${GENERATOR_MIN_FREE} B for it beside its other functions`,
          )
        }

        yield* step(6, "A background thread")
        if (caps.threads) {
          const thread = yield* blinker.start(session, 50)
          yield* Effect.sleep("300 millis")
          yield* say(
            `   thread ${thread.threadId} is counting: demo_ticks = ${yield* session.device.eval("demo_ticks")}`,
          )
        } else {
          const refused = yield* Effect.flip(blinker.start(session, 50))
          yield* say(
            `   refused before anything was sent: ${refused instanceof CapabilityMissingError ? refused.message : String(refused)}`,
          )
        }

        yield* step(7, "Session and resource stats")
        const stats = yield* manager.sessionStats
        const resources = session.resources.getResourceStats()
        const executor = executorContext(session)
        yield* say(
          `   sessions: active ${stats.activeSessionCount}, total ${stats.totalSessionCount}, max ${stats.maxSessionCount}`,
        )
        yield* say(
          `   resources: ${resources.totalResources} (${Object.entries(resources.resourcesByType)
            .map(([t, n]) => `${t} ${n}`)
            .join(
              ", ",
            )}), threads ${executor.activeThreads().length}, deployed methods ${executor.deployedMethods().length}`,
        )
      })
      yield* tour.pipe(
        Effect.ensuring(Effect.ignore(removeWritten)),
        Effect.ensuring(Effect.promise(() => rm(local, { recursive: true, force: true }))),
      )
      return { sessionId: session.sessionId, listingBefore, flat }
    }),
  )

  yield* step(8, `Session ${sessionId} ended: checking on the board that everything was cleaned up`)
  const check = yield* device.eval("[('demo_sensor' in globals()), globals().get('demo_ticks')]")
  const stats = yield* manager.sessionStats
  yield* say(
    `   demo_sensor present: ${check.startsWith("[False") ? "no" : "YES"}; teardown ran: ${check.endsWith("None]") ? "yes" : "NO"}`,
  )
  yield* say(`   live sessions: ${stats.activeSessionCount}`)
  if (check !== "[False, None]" || stats.activeSessionCount !== 0) {
    return yield* Effect.die(new Error(`cleanup check failed: ${check}`))
  }

  // The demo's functions and names go, and the board is compared with what it was.
  // The names the demo made, found on the host; the board is sent only those to remove (a short
  // exchange: a small heap after the tour may not fit one that lists every name it keeps).
  // First the demo's functions, one short exchange each: on a small board they fill the heap, and
  // the parser needs room for anything longer.
  for (const name of DEMO_FUNCTIONS) {
    if (!before.globals.includes(name)) yield* device.exec(`globals().pop(${JSON.stringify(name)}, None)`)
  }
  yield* device.exec("__import__('gc').collect()")
  // Then, without listing anything, the rest under the demo's and the executors' prefixes.
  const kept = before.globals.filter((name) => name.startsWith("demo_") || name.startsWith("_belay"))
  yield* device.exec(
    `[globals().pop(n) for n in [n for n in globals() if (n[:5] == 'demo_' or n[:6] == '_belay') and n not in (${kept.map((n) => `${JSON.stringify(n)},`).join(" ")})]]`,
  )
  const made = (yield* boardState(device)).globals.filter((name) => !before.globals.includes(name))
  if (made.length > 0) yield* device.exec(removeGlobals(made))
  const after = yield* boardState(device)
  const listingAfter = yield* manager.executeInNewSession((session) => boardFileSystem(session).list("/"))
  const sameFiles = rootListing(listingAfter) === listingBefore
  const sameGlobals = JSON.stringify(after.globals) === JSON.stringify(before.globals)
  const interned = Number.isNaN(after.internedBytes - before.internedBytes)
    ? 0
    : after.internedBytes - before.internedBytes
  const bound = freeMemoryBound(before.free)
  const memoryBack = after.free >= before.free - interned - bound
  yield* say(
    `   files: ${sameFiles ? `as they were (the demo wrote only ${flat ? `/${DEMO_PREFIX}*` : DEMO_DIR}, now removed)` : "CHANGED"}`,
  )
  yield* say(
    `   globals: ${sameGlobals ? `as they were (${before.globals.length} names)` : `CHANGED: ${after.globals.filter((g) => !before.globals.includes(g)).join(", ")}`}`,
  )
  yield* say(
    `   free memory: ${before.free} B before, ${after.free} B after; names interned for good: ${interned} B (${memoryBack ? "within" : "NOT within"} ${bound} B beyond them)`,
  )
  if (!sameFiles || !sameGlobals || !memoryBack) {
    return yield* Effect.die(new Error("the board is not as the demo found it"))
  }
  yield* say("\nEverything the demo started or wrote was cleaned up; the board is as it was.")
})

/**
 * The session soak on the virtual board, shared by test/soak.test.ts (which asserts) and
 * bench/soak.bench.ts (which records figures).
 *
 * One virtual board, one session manager, and many sessions in a row. Each session calls a task
 * (a fresh definition every `redeployEvery` sessions), starts a board thread (the WebAssembly
 * build has no `_thread`; a synchronous stand-in is installed before the capability probe),
 * makes proxies of board objects (reads through them, releases one in two sessions, leaves the
 * rest to the session's end), writes a small file atomically (reading some back), and acquires
 * a board-side buffer that its cleanup deletes. Some sessions fail on purpose in the middle: a Python exception, a thread
 * that raises, a call that times out, a fiber interrupted while the board runs its code.
 *
 * After each session ends, one exchange outside any session reads the board: free memory after
 * `gc.collect()`, the globals, the thread registry, the proxy registry and temporary files. Host-side, the session
 * object the operation saw and the manager's stats and metrics are checked against what is live.
 * Disagreements are collected as `problems` (text), never thrown, so a run reports them all.
 */
import { getHeapSnapshot } from "node:v8"
import { type DeviceSession, makeDeviceSessionManager, SessionMetrics } from "@belay/core"
import { BoardProxy, executorContext, type ProxyStats, py, Task, ThreadTask } from "@belay/executors"
import { boardFileSystem } from "@belay/filesystem"
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Cause, Deferred, Effect, Exit, Fiber, Metric, References, Schema, Scope, Stream } from "effect"
import { THREAD_STAND_IN } from "./threadStandIn.js"

/** The task; `version` changes its code (and its results), so a new version is a fresh deploy. */
const stepTask = (version: number) =>
  Task.make({
    name: "soak_step",
    source: py`
      def soak_step(i, mode):
          if mode == 'raise':
              raise ValueError('soak failure %d' % i)
          if mode == 'spin':
              while True:
                  pass
          return i * 2 + ${version}
    `,
    args: [Schema.Number, Schema.String],
    result: Schema.Number,
  })

const soakThread = ThreadTask.make({
  name: "soak_thread",
  source: py`
    def soak_thread(stopping, i, fail):
        if fail:
            raise RuntimeError('thread %d' % i)
        total = 0
        for k in range(16):
            total += k * i
  `,
  args: [Schema.Number, Schema.Boolean],
})

/** The global the session's resource creates on the board; its cleanup deletes it. */
const RESOURCE_GLOBAL = "soak_res"

/**
 * One exchange, the same text every time (its own allocations are the same in every reading):
 * free memory after a collection, the size of the thread registry, the globals, and the
 * temporary upload files in `/`.
 */
const BOARD_SNAPSHOT = [
  "print((__import__('gc').collect(),__import__('gc').mem_free())[1])",
  "print(len(globals().get('_belay_t',())))",
  "print(len(globals().get('_belay_p',())))",
  "print(' '.join(sorted(globals())))",
  "print(' '.join(n for n in __import__('os').listdir('/') if n.startswith('.belay-')))",
].join("\n")

export interface BoardSnapshot {
  readonly memFree: number
  readonly threadRegistry: number
  readonly proxyRegistry: number
  readonly globals: ReadonlyArray<string>
  readonly temporaryFiles: ReadonlyArray<string>
}

const parseSnapshot = (text: string): BoardSnapshot => {
  const [memFree = "", threads = "", proxies = "", globals = "", temps = ""] = text.split(/\r?\n/)
  return {
    memFree: Number(memFree),
    threadRegistry: Number(threads),
    proxyRegistry: Number(proxies),
    globals: globals.split(" ").filter((g) => g !== ""),
    temporaryFiles: temps.split(" ").filter((g) => g !== ""),
  }
}

/** How a session goes wrong on purpose (or does not). */
export type SoakFailure = "none" | "python-error" | "thread-raises" | "timeout" | "interrupted"

/** The plan of session `i`: mostly deterministic so a failing session can be replayed. */
export const failureOf = (i: number): SoakFailure =>
  i % 50 === 9
    ? "timeout"
    : i % 50 === 29
      ? "interrupted"
      : i % 10 === 3
        ? "python-error"
        : i % 10 === 6
          ? "thread-raises"
          : "none"

/** How session `i` deals with its thread: ask its status, join it, stop it, or leave it to the session's end. */
const threadHandling = ["status", "join", "stop", "session-end"] as const

/** Shifted every ten sessions, so that each kind of failure meets each way of handling the thread. */
const handlingOf = (i: number) => threadHandling[(i + Math.floor(i / 10)) % threadHandling.length]

/** Counts of active handles by type (`process.getActiveResourcesInfo()`). */
export type HandleCounts = Readonly<Record<string, number>>

export const activeHandles = (): HandleCounts => {
  const counts: Record<string, number> = {}
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1
  return counts
}

/** Full collection; needs `--expose-gc` (the package's vitest config and `pnpm bench` pass it). */
export const collectGarbage = (): void => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("the soak measures the host heap: run node with --expose-gc")
  gc()
  gc()
}

/** What the program's own JavaScript values take on the heap (see {@link programHeap}). */
export interface ProgramHeap {
  /** Objects, closures, arrays, strings, numbers and the like, alive after a full collection. */
  readonly values: number
  /** Their own sizes, in bytes. */
  readonly bytes: number
}

/**
 * Heap snapshot node types that are the program's values. Left out: V8's compiled code, maps,
 * feedback and other bookkeeping (`code`, `hidden`, `object shape`), which grow as the JIT
 * optimises and re-optimises long after a warm-up and are V8's to bound, not a session's.
 */
const PROGRAM_NODE_TYPES = new Set([
  "object",
  "closure",
  "array",
  "string",
  "concatenated string",
  "sliced string",
  "number",
  "bigint",
  "symbol",
  "regexp",
])

/**
 * What a run of `sessions` may leave behind, for the test and the bench alike:
 * - `programValues`, `programBytes`: growth of the program's own heap values (objects, closures,
 *   strings, arrays) between the heap snapshots after the warm-up and at the end. 5,000 sessions
 *   left under 300 values (16 KB), all in flight, none per session; a session that kept one
 *   16-byte object would add 160 KB over 10,000.
 * - `boardDrift`: the board's free memory, last tenth against the first (a leak of 1 byte per
 *   session shows as about -9 KB over 10,000).
 *
 * @example
 * expect(values).toBeLessThan(soakBounds(10_000).programValues) // 1,000
 */
export const soakBounds = (sessions: number) => ({
  programValues: Math.max(1_000, sessions / 10),
  programBytes: Math.max(64_000, sessions * 8),
  boardDrift: Math.max(512, sessions / 10),
})

/**
 * The program's values on the heap, counted in a heap snapshot (which collects garbage first): a
 * session that keeps anything behind (one small object is 16 bytes) adds to both figures, whatever
 * V8's compiled code does with `heapUsed`. Takes a second or two on a 40 MB heap.
 */
export const programHeap = async (): Promise<ProgramHeap> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer)
  const snapshot = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
    snapshot: { meta: { node_fields: Array<string>; node_types: [Array<string>] } }
    nodes: Array<number>
  }
  const fields = snapshot.snapshot.meta.node_fields
  const typeNames = snapshot.snapshot.meta.node_types[0]
  const stride = fields.length
  const typeAt = fields.indexOf("type")
  const sizeAt = fields.indexOf("self_size")
  const program = typeNames.map((name) => PROGRAM_NODE_TYPES.has(name))
  let values = 0
  let bytes = 0
  for (let i = 0; i < snapshot.nodes.length; i += stride) {
    if (!program[snapshot.nodes[i + typeAt]]) continue
    values++
    bytes += snapshot.nodes[i + sizeAt]
  }
  return { values, bytes }
}

export interface SoakOptions {
  readonly sessions: number
  /**
   * Sessions before the baselines are taken (JIT, first deploys, the probe, and the first of each
   * kind of failure, whose names the board interns once). Default 60.
   */
  readonly warmUp?: number
  /** A new task definition every this many sessions. Default 500. */
  readonly redeployEvery?: number
  /**
   * Board free memory after a session may differ from the baseline by this many bytes. Default
   * 8192: on the virtual board the reading after a session depends on what the session did
   * (seen: two levels about 5.6 KB apart, alternating with the kind of session, with no trend),
   * so the bound is on single readings and `drift` is what shows a leak.
   */
  readonly boardToleranceBytes?: number
  readonly progressEvery?: number
  readonly onProgress?: (done: number, elapsedMs: number) => void
}

export interface SoakReport {
  readonly sessions: number
  readonly warmUp: number
  readonly elapsedMs: number
  /** Wall time of the sessions after the warm-up, board checks included. */
  readonly measuredMs: number
  readonly outcomes: Readonly<Record<SoakFailure | "redeploys", number>>
  readonly board: {
    readonly baseline: number
    readonly min: number
    readonly max: number
    /** Free memory after each session that followed the warm-up. */
    readonly readings: Float64Array
    /**
     * Mean of the last tenth of the readings minus the mean of the first tenth: a leak of `n`
     * bytes per session shows as about `-0.9 * n * sessions`.
     */
    readonly drift: number
    readonly globals: ReadonlyArray<string>
  }
  readonly host: {
    /** `heapUsed` after the warm-up and at the end (with V8's compiled code: for information). */
    readonly heapBefore: number
    readonly heapAfter: number
    /** The program's own values after the warm-up and at the end (see {@link programHeap}). */
    readonly programBefore: ProgramHeap
    readonly programAfter: ProgramHeap
    readonly handlesBefore: HandleCounts
    readonly handlesAfter: HandleCounts
  }
  readonly stats: {
    readonly totalSessions: number
    readonly created: number
    readonly ended: number
    readonly resourcesRegistered: number
    readonly cleanupFailures: number
  }
  /** Every disagreement found, one line each (empty when the soak is clean). */
  readonly problems: ReadonlyArray<string>
}

const counter = (metric: Metric.Metric<number, Metric.CounterState<number>>) =>
  Effect.map(Metric.value(metric), (state) => state.count)

const metricCounts = Effect.all({
  created: counter(SessionMetrics.created),
  ended: counter(SessionMetrics.ended),
  resourcesRegistered: counter(
    Metric.withAttributes(SessionMetrics.resourcesRegistered, { resource_type: "SoakBuffer" }),
  ),
  cleanupFailures: counter(SessionMetrics.cleanupFailures),
})

const driftOf = (readings: Float64Array): number => {
  const tenth = Math.floor(readings.length / 10)
  if (tenth === 0) return 0
  let first = 0
  let last = 0
  for (let k = 0; k < tenth; k++) {
    first += readings[k]!
    last += readings[readings.length - 1 - k]!
  }
  return (last - first) / tenth
}

/** What one session's operation saw, kept for the checks after it ended. */
interface Seen {
  session: DeviceSession | undefined
  stepResult: number | undefined
  readBack: string | undefined
  resourcesDuring: number
  threadStatus: string | undefined
  /** What the session read through its proxies, and its proxy counts then. */
  proxyRead: unknown
  proxyStats: ProxyStats | undefined
}

/**
 * Run the soak and report what it measured. The board and manager live only for the run.
 *
 * @example
 * const report = await runSoak({ sessions: 1000 })
 * report.problems // []
 */
export const runSoak = async (options: SoakOptions): Promise<SoakReport> => {
  const sessions = options.sessions
  const warmUp = Math.min(options.warmUp ?? 60, sessions)
  const redeployEvery = options.redeployEvery ?? 500
  const tolerance = options.boardToleranceBytes ?? 8192
  const progressEvery = options.progressEvery ?? 1000
  const problems: string[] = []
  const problem = (i: number, text: string) => {
    if (problems.length < 200) problems.push(`session ${i}: ${text}`)
  }
  const readings = new Float64Array(Math.max(0, sessions - warmUp))
  const outcomes: Record<SoakFailure | "redeploys", number> = {
    none: 0,
    "python-error": 0,
    "thread-raises": 0,
    timeout: 0,
    interrupted: 0,
    redeploys: 0,
  }

  const scope = Effect.runSync(Scope.make())
  const quiet = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.runPromise(effect.pipe(Effect.provideService(References.MinimumLogLevel, "None")))
  const { manager, generation } = await quiet(
    Scope.provide(
      Effect.gen(function* () {
        const device = yield* makeDeviceCommunication(yield* openVirtualBoard(), { plainRawChunkDelayMs: 0 })
        yield* device.exec(THREAD_STAND_IN.text)
        const manager = yield* makeDeviceSessionManager(device)
        return { manager, generation: yield* device.generation }
      }),
      scope,
    ),
  )
  const device = manager.device
  const startCounts = await quiet(metricCounts)
  const startTotal = (await quiet(manager.sessionStats)).totalSessionCount

  let task = stepTask(0)
  let version = 0
  let baselineMemFree = Number.NaN
  let baselineGlobals: ReadonlyArray<string> = []
  let heapBefore = 0
  let programBefore: ProgramHeap = { values: 0, bytes: 0 }
  let handlesBefore: HandleCounts = {}
  let min = Number.POSITIVE_INFINITY
  let max = Number.NEGATIVE_INFINITY
  const started = performance.now()
  let measuredFrom = started
  let acquired = 0

  const operation =
    (i: number, failure: SoakFailure, seen: Seen, spinning: Deferred.Deferred<void>) =>
    (session: DeviceSession) =>
      Effect.gen(function* () {
        seen.session = session
        seen.stepResult = yield* task.call(session, i, "ok")
        const thread = yield* soakThread.start(session, i, failure === "thread-raises")
        switch (handlingOf(i)) {
          case "status":
            seen.threadStatus = (yield* thread.status)._tag
            break
          case "join":
            yield* thread.join({ timeout: "5 seconds" })
            break
          case "stop":
            yield* thread.stop
            break
          case "session-end":
            break
        }
        // Proxies: a dict made from an expression, a plain read, a sub-proxy (its keys view, not a
        // literal), a read through it; the view released in one session of two, the dict left to
        // the session's end.
        const box = yield* BoardProxy.make(session, py`{'i': ${i}, 'xs': [1, 2, 3]}`)
        const keys = yield* box.call("keys")
        const xs = yield* box.callWith("get", { args: ["xs"], result: Schema.Array(Schema.Number) })
        const sorted =
          keys instanceof BoardProxy ? [...(yield* Stream.runCollect(keys.iterate()))].sort() : keys
        seen.proxyRead = [yield* box.index("i"), xs, sorted]
        if (i % 2 === 0 && keys instanceof BoardProxy) yield* keys.release
        seen.proxyStats = executorContext(session).proxies()
        const fs = boardFileSystem(session)
        const path = `/soak-${i % 3}.txt`
        const text = `session ${i}\n`.repeat(1 + (i % 5))
        yield* fs.write(path, text)
        if (i % 5 === 0) seen.readBack = yield* fs.readText(path)
        yield* session.acquire(
          session.device.exec(`${RESOURCE_GLOBAL}=bytearray(${64 + (i % 4) * 64})`),
          () => session.device.exec(`del ${RESOURCE_GLOBAL}`),
          { resourceType: "SoakBuffer", estimatedCost: 256, lostOnReset: true },
        )
        seen.resourcesDuring = session.resources.liveResources
        switch (failure) {
          case "python-error":
            return yield* task.call(session, i, "raise")
          case "timeout":
            return yield* task.callWith(session, { timeout: "10 millis" }, i, "spin")
          case "interrupted":
            yield* Deferred.succeed(spinning, undefined)
            return yield* task.call(session, i, "spin")
          default:
            return seen.stepResult
        }
        // The interrupting fiber goes on even when the session fails before it spins.
      }).pipe(Effect.ensuring(Deferred.succeed(spinning, undefined)))

  /** The failure the plan expects, judged from the operation's exit. */
  const expectedExit = (
    i: number,
    failure: SoakFailure,
    exit: Exit.Exit<unknown, unknown>,
  ): string | undefined => {
    const tag = Exit.isFailure(exit)
      ? Cause.hasInterruptsOnly(exit.cause)
        ? "interrupted"
        : String((Cause.squash(exit.cause) as { _tag?: string })._tag)
      : "success"
    const handling = handlingOf(i)
    const expected =
      failure === "python-error"
        ? "PythonError"
        : failure === "timeout"
          ? "TaskTimeoutError"
          : failure === "interrupted"
            ? "interrupted"
            : failure === "thread-raises" && (handling === "join" || handling === "stop")
              ? "ThreadFailedError"
              : failure === "thread-raises" && handling === "session-end"
                ? "ResourceCleanupError"
                : "success"
    if (tag !== expected) {
      return `ended with ${tag}, expected ${expected}${Exit.isFailure(exit) ? `: ${Cause.pretty(exit.cause).slice(0, 300)}` : ""}`
    }
    return undefined
  }

  try {
    for (let i = 0; i < sessions; i++) {
      if (i > 0 && i % redeployEvery === 0) {
        version = i / redeployEvery
        task = stepTask(version)
        outcomes.redeploys++
      }
      const failure = failureOf(i)
      outcomes[failure]++
      const seen: Seen = {
        session: undefined,
        stepResult: undefined,
        readBack: undefined,
        resourcesDuring: 0,
        threadStatus: undefined,
        proxyRead: undefined,
        proxyStats: undefined,
      }
      const exit = await quiet(
        Effect.gen(function* () {
          const spinning = Deferred.makeUnsafe<void>()
          const run = manager.executeInNewSession(operation(i, failure, seen, spinning))
          if (failure !== "interrupted") return yield* Effect.exit(run)
          const fiber = yield* Effect.forkChild(run)
          yield* Deferred.await(spinning)
          yield* Effect.sleep("5 millis")
          yield* Fiber.interrupt(fiber)
          return yield* Fiber.await(fiber)
        }),
      )

      // What the operation saw.
      const handling = handlingOf(i)
      const wrongExit = expectedExit(i, failure, exit)
      if (wrongExit !== undefined) problem(i, wrongExit)
      if (seen.stepResult !== i * 2 + version)
        problem(i, `task returned ${seen.stepResult}, expected ${i * 2 + version}`)
      if (i % 5 === 0 && seen.readBack !== `session ${i}\n`.repeat(1 + (i % 5)))
        problem(i, `read back ${JSON.stringify(seen.readBack)}`)
      // A thread that raises fails `join` and `stop`, before the file and the resource.
      const reachedResource = !(failure === "thread-raises" && (handling === "join" || handling === "stop"))
      if (reachedResource) acquired++
      // The buffer, the proxies' registry, and the thread's stop while the session has not seen
      // the thread end.
      const tracked = handling === "session-end" ? 3 : 2
      if (reachedResource && seen.resourcesDuring !== tracked)
        problem(i, `${seen.resourcesDuring} resources tracked while the session lived, expected ${tracked}`)
      if (reachedResource) {
        const read = JSON.stringify(seen.proxyRead)
        if (read !== JSON.stringify([i, [1, 2, 3], ["i", "xs"]])) problem(i, `read through proxies ${read}`)
        const live = i % 2 === 0 ? 1 : 2
        const stats = seen.proxyStats
        if (
          stats?.live !== live ||
          stats.created !== 2 ||
          stats.released !== 2 - live ||
          stats.pendingRelease !== 0
        )
          problem(i, `proxy stats ${JSON.stringify(stats)}, expected ${live} live of 2`)
      }
      if (handling === "status") {
        const expected = failure === "thread-raises" ? "Failed" : "Finished"
        if (seen.threadStatus !== expected)
          problem(i, `thread status ${seen.threadStatus}, expected ${expected}`)
      }

      // What is live host-side once it ended.
      const session = seen.session
      if (session === undefined) problem(i, "the operation never ran")
      else {
        const stats = session.resources.getResourceStats()
        if (session.isActive) problem(i, "the session is still active")
        if (session.boardResets !== 0)
          problem(i, `the board reset ${session.boardResets} times during the session`)
        if (
          session.resources.liveResources !== 0 ||
          session.resources.getActiveResources().length !== 0 ||
          session.state.size !== 0 ||
          executorContext(session).activeThreads().length !== 0 ||
          executorContext(session).deployedMethods().length !== 0 ||
          executorContext(session).proxies().live !== 0 ||
          stats.totalResources !== 0
        )
          problem(i, `the ended session still tracks ${JSON.stringify(stats)}`)
      }
      const stats = await quiet(manager.sessionStats)
      if (stats.activeSessionCount !== 0)
        problem(i, `${stats.activeSessionCount} sessions active after it ended`)
      if (stats.totalSessionCount - startTotal !== i + 1)
        problem(i, `${stats.totalSessionCount - startTotal} sessions counted, expected ${i + 1}`)
      if (stats.maxSessionCount !== 1) problem(i, `max sessions ${stats.maxSessionCount}, expected 1`)
      if (i % 100 === 99 || i === sessions - 1) {
        const counts = await quiet(metricCounts)
        if (counts.created - startCounts.created !== i + 1 || counts.ended - startCounts.ended !== i + 1)
          problem(
            i,
            `metrics: ${counts.created - startCounts.created} created, ${counts.ended - startCounts.ended} ended, expected ${i + 1}`,
          )
        if (counts.resourcesRegistered - startCounts.resourcesRegistered !== acquired)
          problem(
            i,
            `metrics: ${counts.resourcesRegistered - startCounts.resourcesRegistered} SoakBuffer registered`,
          )
      }

      // What is left on the board.
      const snapshot = parseSnapshot(await quiet(device.exec(BOARD_SNAPSHOT)))
      if (snapshot.threadRegistry !== 0) problem(i, `${snapshot.threadRegistry} threads left in _belay_t`)
      if (snapshot.proxyRegistry !== 0) problem(i, `${snapshot.proxyRegistry} objects left in _belay_p`)
      if (snapshot.temporaryFiles.length !== 0)
        problem(i, `temporary files left: ${snapshot.temporaryFiles.join(" ")}`)
      if (snapshot.globals.includes(RESOURCE_GLOBAL)) problem(i, `${RESOURCE_GLOBAL} outlived its session`)
      if (i === warmUp - 1) {
        baselineMemFree = snapshot.memFree
        baselineGlobals = snapshot.globals
        programBefore = await programHeap()
        collectGarbage()
        heapBefore = process.memoryUsage().heapUsed
        handlesBefore = activeHandles()
        measuredFrom = performance.now()
      } else if (i >= warmUp) {
        readings[i - warmUp] = snapshot.memFree
        if (snapshot.memFree < min) min = snapshot.memFree
        if (snapshot.memFree > max) max = snapshot.memFree
        if (Math.abs(snapshot.memFree - baselineMemFree) > tolerance)
          problem(
            i,
            `board free memory ${snapshot.memFree}, baseline ${baselineMemFree} (tolerance ${tolerance})`,
          )
        if (snapshot.globals.join(" ") !== baselineGlobals.join(" ")) {
          const added = snapshot.globals.filter((g) => !baselineGlobals.includes(g))
          const removed = baselineGlobals.filter((g) => !snapshot.globals.includes(g))
          problem(i, `board globals changed: +[${added.join(" ")}] -[${removed.join(" ")}]`)
        }
      }
      if (options.onProgress && (i + 1) % progressEvery === 0)
        options.onProgress(i + 1, performance.now() - started)
    }
    const measuredMs = performance.now() - measuredFrom
    const finalStats = await quiet(manager.sessionStats)
    const finalCounts = await quiet(metricCounts)
    if ((await quiet(device.generation)) !== generation) problems.push("the board reset during the soak")
    const programAfter = await programHeap()
    collectGarbage()
    const heapAfter = process.memoryUsage().heapUsed
    const handlesAfter = activeHandles()
    return {
      sessions,
      warmUp,
      elapsedMs: performance.now() - started,
      measuredMs,
      outcomes,
      board: {
        baseline: baselineMemFree,
        min,
        max,
        readings,
        drift: driftOf(readings),
        globals: baselineGlobals,
      },
      host: { heapBefore, heapAfter, programBefore, programAfter, handlesBefore, handlesAfter },
      stats: {
        totalSessions: finalStats.totalSessionCount - startTotal,
        created: finalCounts.created - startCounts.created,
        ended: finalCounts.ended - startCounts.ended,
        resourcesRegistered: finalCounts.resourcesRegistered - startCounts.resourcesRegistered,
        cleanupFailures: finalCounts.cleanupFailures - startCounts.cleanupFailures,
      },
      problems,
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

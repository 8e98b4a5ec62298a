/**
 * The fault campaign: every executor and filesystem operation, run many times on a virtual board
 * behind the seeded fault injector of `@belay/transport/testing`, with resets aimed at protocol
 * phases. After each operation (injection off) it checks what must hold whatever the faults did:
 *
 * - the operation ended, with a value or a typed error, within its bound (never a hang);
 * - a value that came back is the right one (a fault never turns into a wrong answer);
 * - no session is live and nothing a session started is left registered on the host or on the
 *   board (thread registry, proxy registry, resource markers, temporary files);
 * - a file written (or appended) holds its old content or its new content, never a half file;
 * - after a disconnect, a new connection gives service back.
 *
 * Used by the test (a CI-sized run) and by the benchmark (the 10,000-operation run, reported).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type DeviceSessionManagerShape, makeDeviceSessionManager } from "@belay/core"
import { BoardProxy, GeneratorTask, py, Task, ThreadTask } from "@belay/executors"
import { boardFileSystem } from "@belay/filesystem"
import {
  type ByteLink,
  type DeviceCommunicationShape,
  execChecked,
  makeDeviceCommunication,
  openRfc2217Link,
  openTcpLink,
  parsePythonLiteral,
} from "@belay/transport"
import {
  type FaultCounts,
  type FaultInjector,
  makeFaultInjector,
  seededRandom,
} from "@belay/transport/testing"
import { openWebReplLink } from "@belay/transport/webrepl"
import { openVirtualBoard } from "@belay/virtual-device"
import {
  Cause,
  Duration,
  Effect,
  Exit,
  Fiber,
  Option,
  Redacted,
  References,
  Result,
  Schema,
  Scope,
  Stream,
} from "effect"
import { serveLinkOverRfc2217 } from "./rfc2217Bridge.js"
import { serveLinkOverTcp } from "./tcpBridge.js"
import { THREAD_STAND_IN } from "./threadStandIn.js"
import { serveLinkOverWebRepl } from "./webReplBridge.js"

/** The password of the WebREPL the campaign serves its board on (`overWebRepl`). */
const WEBREPL_PASSWORD = "campaign"

/** How often each kind of fault is injected, per chunk of bytes, in each direction. */
export interface CampaignRates {
  readonly drop: number
  readonly duplicate: number
  readonly corrupt: number
  readonly delay: number
  readonly split: number
  readonly stall: number
  readonly disconnect: number
  /** Probability of a board reset per protocol phase entered. */
  readonly reset: number
}

export const DEFAULT_RATES: CampaignRates = {
  drop: 0.004,
  duplicate: 0.004,
  corrupt: 0.004,
  delay: 0.02,
  split: 0.05,
  stall: 0.002,
  disconnect: 0.0008,
  reset: 0.003,
}

export interface CampaignOptions {
  readonly seed: number
  readonly operations: number
  readonly rates?: Partial<CampaignRates>
  /** Called every `progressEvery` operations with the report so far. */
  readonly onProgress?: (report: CampaignReport) => void
  readonly progressEvery?: number
  /** Only these operation kinds (all when absent): to aim a run at one part. */
  readonly kinds?: ReadonlyArray<string>
  /** Reach the board through a `tcp:` link to a local port that serves it (default: directly). */
  readonly overTcp?: boolean
  /** Reach the board through a `ws://` WebREPL link to a local port that serves it. */
  readonly overWebRepl?: boolean
  /** Through Debian's ser2net with telnet RFC 2217 (a pseudo-terminal by socat in front of the board). */
  readonly overRfc2217?: boolean
}

export interface OperationTally {
  count: number
  success: number
  errors: Record<string, number>
}

export interface CampaignReport {
  readonly seed: number
  readonly operations: number
  readonly durationMs: number
  /** Outcomes by type: `success` or the error's tag. */
  readonly outcomes: Readonly<Record<string, number>>
  readonly byOperation: Readonly<Record<string, OperationTally>>
  readonly faults: FaultCounts
  /** Operations that did not end within their bound. Must be 0. */
  readonly hangs: number
  /** Each operation past its bound, with the faults it met. */
  readonly hangDetails: ReadonlyArray<string>
  /** Operations that failed with something other than a typed error (a defect). Must be 0. */
  readonly untyped: ReadonlyArray<string>
  /** Operations that returned a value that is not the right one, with their request intact. Must be 0. */
  readonly wrongResults: ReadonlyArray<string>
  /**
   * Operations whose request bytes were damaged on the way to the board (dropped, duplicated or
   * corrupted byte) and that returned the answer to the altered request, or left something the
   * altered request created (a temporary file under a damaged name). Reported, not prevented:
   * the raw REPL has no end-to-end check of what the board received.
   */
  readonly damagedRequests: ReadonlyArray<string>
  /** Checks that found a session, a host-side resource or a board-side leftover. Must be 0. */
  readonly leftovers: ReadonlyArray<string>
  /** Files whose content was neither the old nor the new one after a failed write. Must be 0. */
  readonly halfFiles: ReadonlyArray<string>
  readonly reconnects: number
  /** Reconnections that did not give service back. Must be 0. */
  readonly reconnectFailures: number
  /** Checks after an operation that needed more than one try (the board was still busy). */
  readonly slowRecoveries: number
  /**
   * Board-side leftovers of sessions whose link died before their cleanup could reach the board,
   * cleared by the soft reset on reconnect. Counted apart from `leftovers`.
   */
  readonly orphansAfterLinkLoss: number
  /** The operation that took longest, and how long (ms): how far the slowest stayed from a hang. */
  readonly slowest: { readonly index: number; readonly name: string; readonly ms: number }
}

// ---- what runs on the board ----

const add = Task.make({
  name: "camp_add",
  source: py`
    def camp_add(a, b):
        return a + b
  `,
  args: [Schema.Number, Schema.Number],
  result: Schema.Number,
})

const echo = Task.make({
  name: "camp_echo",
  source: py`
    def camp_echo(s, xs):
        return [s, xs, len(s)]
  `,
  args: [Schema.String, Schema.Array(Schema.Number)],
  result: Schema.Tuple([Schema.String, Schema.Array(Schema.Number), Schema.Number]),
})

/** A few versions of one task, so that calls redeploy its definition. */
const versions = Array.from({ length: 4 }, (_, v) =>
  Task.make({
    name: "camp_version",
    source: `def camp_version(x):\n    return x * ${v + 2}\n`,
    args: [Schema.Number],
    result: Schema.Number,
  }),
)

const squares = GeneratorTask.make({
  name: "camp_squares",
  source: py`
    def camp_squares(n):
        for i in range(n):
            yield i * i
  `,
  args: [Schema.Number],
  item: Schema.Number,
})

const worker = ThreadTask.make({
  name: "camp_worker",
  source: py`
    def camp_worker(stopping, n):
        total = 0
        for i in range(n):
            total += i
  `,
  args: [Schema.Number],
  stopTimeout: "1 second",
})

/** Every board directory the campaign writes into. */
const TREE_DIRS = ["/", "/camp", "/camp/dir", "/camp/dir/inner", "/tree", "/tree/sub"] as const

/** Board-side state left by the campaign's operations, read in one exchange. */
const LEFTOVERS = py`
  import os
  def _camp_left():
      g = globals()
      t = g.get('_belay_t')
      r = g.get('_camp_res')
      p = g.get('_belay_p')
      tmp = []
      for d in ${[...TREE_DIRS]}:
          try:
              for n in os.listdir(d):
                  if n.startswith('.belay-'):
                      tmp.append(d.rstrip('/') + '/' + n)
          except OSError:
              pass
      print(repr([len(t) if t else 0, len(r) if r else 0, tmp, len(p) if p else 0]))
  _camp_left()
  del _camp_left
`.text

/** Clear what `LEFTOVERS` reports, so that one finding is not counted again by later checks. */
const CLEAR_LEFTOVERS = py`
  import os
  g = globals()
  if g.get('_belay_t'): g['_belay_t'].clear()
  if g.get('_camp_res'): g['_camp_res'].clear()
  if g.get('_belay_p'): g['_belay_p'].clear()
  for d in ${[...TREE_DIRS]}:
      try:
          for n in os.listdir(d):
              if n.startswith('.belay-'):
                  os.remove(d.rstrip('/') + '/' + n)
      except OSError:
          pass
`.text

const parseLeftovers = (text: string): [number, number, string[], number] | undefined => {
  const parsed = parsePythonLiteral(text.trim())
  if (Result.isFailure(parsed)) return undefined
  const value = parsed.success
  return Array.isArray(value) &&
    value.length === 4 &&
    typeof value[0] === "number" &&
    typeof value[1] === "number" &&
    Array.isArray(value[2]) &&
    value[2].every((p) => typeof p === "string") &&
    typeof value[3] === "number"
    ? [value[0], value[1], value[2] as string[], value[3]]
    : undefined
}

// ---- the campaign ----

interface Connection {
  readonly scope: Scope.Closeable
  readonly link: ByteLink
  readonly device: DeviceCommunicationShape
  readonly manager: DeviceSessionManagerShape
}

type Check =
  | { readonly _tag: "value"; readonly ok: (value: unknown) => boolean; readonly describe: string }
  | {
      readonly _tag: "file"
      readonly path: string
      readonly before: Uint8Array | undefined
      readonly after: Uint8Array
    }
  | { readonly _tag: "none" }

interface Operation {
  readonly name: string
  readonly effect: (manager: DeviceSessionManagerShape) => Effect.Effect<unknown, unknown>
  readonly check: Check
  /** Paths whose content is unknown after the operation fails (removed or renamed files). */
  readonly touches?: ReadonlyArray<string>
}

const VALUE_FAULTS = new Set(["drop", "duplicate", "corrupt"])

const FILES = ["/camp/a.bin", "/camp/b.bin", "/camp/c.txt", "/camp/d.bin"] as const

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
  a === undefined || b === undefined ? a === b : a.length === b.length && a.every((x, i) => x === b[i])

const concat = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/** The tag of a typed failure, or undefined for a defect or an untagged error. */
const tagOf = (cause: Cause.Cause<unknown>): string | undefined => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure === undefined) return undefined
  const error = failure.error as { readonly _tag?: unknown }
  return typeof error === "object" && error !== null && typeof error._tag === "string"
    ? error._tag
    : undefined
}

/** Bound on one operation: longer than any sum of the protocol bounds below, short of a hang. */
const OPERATION_BOUND = Duration.seconds(30)
/** How long an operation past its bound is watched before it is interrupted (a hang's report says which). */
const LATE_BOUND = Duration.seconds(60)

/** An operation that went past OPERATION_BOUND: how it ended within LATE_BOUND, or that it did not. */
class Hang {
  readonly _tag = "Hang"
  constructor(readonly late: string) {}
}

const PROTOCOL = {
  replyTimeoutMs: 300,
  enterRawTimeoutMs: 3000,
  interruptTimeoutMs: 600,
  execTimeoutMs: 8000,
  drainQuietMs: 10,
} as const

/**
 * Run the campaign. Everything it opens (the board, its flash directory, connections) is closed
 * and removed when it returns.
 *
 * @example
 * const report = await runFaultCampaign({ seed: 7, operations: 1000 })
 * expect(report.hangs).toBe(0)
 */
export const runFaultCampaign = async (options: CampaignOptions): Promise<CampaignReport> => {
  const rates: CampaignRates = { ...DEFAULT_RATES, ...options.rates }
  const random = seededRandom(options.seed ^ 0x5eed)
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(random() * xs.length)]!
  const flash = mkdtempSync(join(tmpdir(), "belay-campaign-"))
  // boot.py runs after every reset, so threads stay "supported" whatever the faults reset.
  writeFileSync(join(flash, "boot.py"), THREAD_STAND_IN.text)
  mkdirSync(join(flash, "camp"))
  const localTree = mkdtempSync(join(tmpdir(), "belay-campaign-tree-"))
  for (const [name, text] of [
    ["one.txt", "one\n"],
    ["two.py", "x = 2\n"],
    ["sub/three.bin", "\x00\x01\x02three"],
  ] as const) {
    mkdirSync(join(localTree, name, ".."), { recursive: true })
    writeFileSync(join(localTree, name), text)
  }
  const download = mkdtempSync(join(tmpdir(), "belay-campaign-down-"))

  const root = Effect.runSync(Scope.make())
  const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>, scope: Scope.Scope = root) =>
    Effect.runPromiseExit(
      Scope.provide(effect, scope).pipe(Effect.provideService(References.MinimumLogLevel, "None")),
    )
  const must = async <A, E>(effect: Effect.Effect<A, E, Scope.Scope>, scope: Scope.Scope = root) => {
    const exit = await run(effect, scope)
    if (Exit.isFailure(exit)) throw new Error(`campaign setup failed: ${Cause.pretty(exit.cause)}`)
    return exit.value
  }

  const outcomes: Record<string, number> = {}
  const byOperation: Record<string, OperationTally> = {}
  const untyped: string[] = []
  const wrongResults: string[] = []
  const hangDetails: string[] = []
  const damagedRequests: string[] = []
  const leftovers: string[] = []
  const halfFiles: string[] = []
  let hangs = 0
  let reconnects = 0
  let reconnectFailures = 0
  let slowRecoveries = 0
  let orphansAfterLinkLoss = 0
  let slowest = { index: -1, name: "", ms: 0 }
  const started = performance.now()

  try {
    const board = await must(openVirtualBoard({ flashDir: flash }))
    const resetRates = rates.reset
    const inner = options.overTcp
      ? await must(
          Effect.flatMap(serveLinkOverTcp(board), ({ port }) => openTcpLink({ host: "127.0.0.1", port })),
        )
      : options.overRfc2217
        ? await must(
            Effect.flatMap(serveLinkOverRfc2217(board), ({ port }) =>
              openRfc2217Link({ host: "127.0.0.1", port }),
            ),
          )
        : options.overWebRepl
          ? await must(
              Effect.flatMap(serveLinkOverWebRepl(board, WEBREPL_PASSWORD), ({ url }) =>
                openWebReplLink({ url, password: Redacted.make(WEBREPL_PASSWORD) }),
              ),
            )
          : board
    const injector: FaultInjector = await must(
      makeFaultInjector(inner, {
        seed: options.seed,
        toBoard: rates,
        fromBoard: rates,
        delayMs: [1, 15],
        stallMs: [50, 600],
        ...(resetRates > 0
          ? {
              resets: {
                rate: resetRates,
                perform: (kind) => (kind === "hard" ? board.hardReset : board.softReset),
              },
            }
          : {}),
      }),
    )
    await must(injector.setEnabled(false))

    const connect = async (): Promise<Connection> => {
      const scope = Effect.runSync(Scope.make())
      const link = await must(injector.connect, scope)
      const device = await must(makeDeviceCommunication(link, PROTOCOL), scope)
      const manager = await must(
        makeDeviceSessionManager(device, {
          resourceCleanupTimeout: Duration.seconds(2),
          defaultSessionTimeout: Duration.minutes(5),
        }),
        scope,
      )
      return { scope, link, device, manager }
    }
    let connection = await connect()

    // What the host believes each campaign file holds (undefined: absent).
    const model = new Map<string, Uint8Array | undefined>(FILES.map((f) => [f, undefined]))
    let resourceCounter = 0

    const randomBytes = (max: number) => {
      const n = Math.floor(random() * max)
      const out = new Uint8Array(n)
      for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256)
      return out
    }

    const nextOperation = (): Operation => {
      const kinds = (
        [
          "task",
          "task",
          "task-struct",
          "task-redeploy",
          "generator",
          "generator-early-stop",
          "thread",
          "proxy",
          "resource",
          "write",
          "write",
          "append",
          "read",
          "list",
          "stat-exists-hash",
          "rename",
          "remove",
          "mkdir",
          "sync",
          "download",
        ] as const
      ).filter((k) => options.kinds === undefined || options.kinds.includes(k))
      const kind = pick(kinds)
      switch (kind) {
        case "task": {
          const a = Math.floor(random() * 1e6)
          const b = Math.floor(random() * 1e6)
          return {
            name: kind,
            effect: (m) => m.executeInNewSession((s) => add.call(s, a, b)),
            check: { _tag: "value", ok: (v) => v === a + b, describe: `${a}+${b}` },
          }
        }
        case "task-struct": {
          const text = `héllo ${Math.floor(random() * 1e9)} '"\\`
          const xs = Array.from({ length: Math.floor(random() * 20) }, () => Math.floor(random() * 1000))
          return {
            name: kind,
            effect: (m) => m.executeInNewSession((s) => echo.call(s, text, xs)),
            check: {
              _tag: "value",
              ok: (v) => JSON.stringify(v) === JSON.stringify([text, xs, text.length]),
              describe: `echo ${JSON.stringify([text, xs])}`,
            },
          }
        }
        case "task-redeploy": {
          const v = Math.floor(random() * versions.length)
          const x = Math.floor(random() * 1000)
          return {
            name: kind,
            effect: (m) => m.executeInNewSession((s) => versions[v]!.call(s, x)),
            check: { _tag: "value", ok: (r) => r === x * (v + 2), describe: `version ${v} of ${x}` },
          }
        }
        case "generator": {
          const n = Math.floor(random() * 30)
          return {
            name: kind,
            effect: (m) => m.executeInNewSession((s) => Stream.runCollect(squares.stream(s, n))),
            check: {
              _tag: "value",
              ok: (v) =>
                JSON.stringify(Array.from(v as Iterable<number>)) ===
                JSON.stringify(Array.from({ length: n }, (_, i) => i * i)),
              describe: `squares(${n})`,
            },
          }
        }
        case "generator-early-stop": {
          const k = 1 + Math.floor(random() * 3)
          return {
            name: kind,
            effect: (m) =>
              m.executeInNewSession((s) => Stream.runCollect(Stream.take(squares.stream(s, 100000), k))),
            check: {
              _tag: "value",
              ok: (v) =>
                JSON.stringify(Array.from(v as Iterable<number>)) ===
                JSON.stringify(Array.from({ length: k }, (_, i) => i * i)),
              describe: `first ${k} squares`,
            },
          }
        }
        case "thread":
          return {
            name: kind,
            effect: (m) =>
              m.executeInNewSession((s) =>
                Effect.flatMap(worker.start(s, Math.floor(random() * 200)), (t) =>
                  t.join({ timeout: "2 seconds" }),
                ),
              ),
            check: { _tag: "none" },
          }
        case "proxy": {
          const [a, b, c] = [0, 1, 2].map(() => Math.floor(random() * 1e6))
          const release = random() < 0.5
          return {
            name: kind,
            // A list made from an expression; a call with an argument; an index; iteration in
            // batches; the list set into a dict as an argument (a handle standing for its object);
            // a sub-proxy (the dict's values view) iterated; the list released or left to the
            // session's end.
            effect: (m) =>
              m.executeInNewSession((s) =>
                Effect.gen(function* () {
                  const list = yield* BoardProxy.make(s, py`[${a}, ${b}]`)
                  yield* list.call("append", c)
                  const last = yield* list.index(-1)
                  const items = yield* Stream.runCollect(list.iterate({ batchSize: 2 }))
                  const holder = yield* BoardProxy.make(s, "{}")
                  yield* holder.setIndex("list", list)
                  const values = yield* holder.call("values")
                  const nested =
                    values instanceof BoardProxy ? yield* Stream.runCollect(values.iterate()) : values
                  if (release) yield* list.release
                  return [last, [...items], nested === null ? null : [...(nested as Iterable<unknown>)]]
                }),
              ),
            check: {
              _tag: "value",
              ok: (v) => JSON.stringify(v) === JSON.stringify([c, [a, b, c], [[a, b, c]]]),
              describe: `proxy of [${a}, ${b}] + ${c}`,
            },
          }
        }
        case "resource": {
          const id = `r${++resourceCounter}`
          return {
            name: kind,
            effect: (m) =>
              m.executeInNewSession((s) =>
                Effect.gen(function* () {
                  // The cleanup is registered before the board-side state exists: whatever
                  // happens to the exchange that creates it, the session undoes it.
                  yield* s.resources.track(
                    "CampaignMarker",
                    execChecked(s.device, `_camp_res.pop('${id}', None)`),
                    {
                      lostOnReset: true,
                    },
                  )
                  yield* execChecked(
                    s.device,
                    `g=globals()\nif '_camp_res' not in g: g['_camp_res']={}\n_camp_res['${id}']=1`,
                  )
                  return yield* execChecked(s.device, `print('${id}' in _camp_res)`)
                }),
              ),
            // A raw `eval` reply carries no check of its own (the executors' and filesystem's do):
            // this operation is here for its cleanup, checked by the leftover inspection.
            check: { _tag: "none" },
          }
        }
        case "write": {
          const path = pick(FILES)
          const data = randomBytes(random() < 0.1 ? 20000 : 3000)
          return {
            name: kind,
            effect: (m) => m.executeInNewSession((s) => boardFileSystem(s).write(path, data)),
            check: { _tag: "file", path, before: model.get(path), after: data },
          }
        }
        case "append": {
          const path = pick(FILES)
          const data = randomBytes(500)
          const before = model.get(path)
          return {
            name: kind,
            effect: (m) => m.executeInNewSession((s) => boardFileSystem(s).append(path, data)),
            check: { _tag: "file", path, before, after: concat(before ?? new Uint8Array(), data) },
          }
        }
        case "read": {
          const path = pick(FILES)
          const expected = model.get(path)
          return {
            name: kind,
            effect: (m) =>
              m.executeInNewSession((s) =>
                boardFileSystem(s)
                  .readBytes(path)
                  .pipe(Effect.catchTag("FileNotFoundError", () => Effect.succeed(undefined))),
              ),
            check: {
              _tag: "value",
              ok: (v) => sameBytes(v as Uint8Array | undefined, expected),
              describe: path,
            },
          }
        }
        case "list": {
          const present = FILES.filter((f) => model.get(f) !== undefined)
            .map((f) => f.slice("/camp/".length))
            .sort()
          return {
            name: kind,
            effect: (m) =>
              m.executeInNewSession((s) =>
                Effect.map(boardFileSystem(s).list("/camp"), (entries) =>
                  entries
                    .filter((e) => e.type === "file")
                    .map((e) => e.path.slice(e.path.lastIndexOf("/") + 1))
                    .sort(),
                ),
              ),
            check: {
              _tag: "value",
              ok: (v) => JSON.stringify(v) === JSON.stringify(present),
              describe: `list, expected ${present.join(",")}`,
            },
          }
        }
        case "stat-exists-hash": {
          const path = pick(FILES)
          const expected = model.get(path)
          return {
            name: kind,
            effect: (m) =>
              m.executeInNewSession((s) =>
                Effect.gen(function* () {
                  const fs = boardFileSystem(s)
                  const exists = yield* fs.exists(path)
                  if (!exists) return { exists, size: -1 }
                  const [stat] = [yield* fs.stat(path), yield* fs.hash(path)]
                  return { exists, size: stat.size }
                }),
              ),
            check: {
              _tag: "value",
              ok: (v) => {
                const r = v as { exists: boolean; size: number }
                return expected === undefined ? !r.exists : r.exists && r.size === expected.length
              },
              describe: `stat ${path}`,
            },
          }
        }
        case "rename": {
          const from = pick(FILES)
          const to = pick(FILES.filter((f) => f !== from))
          return {
            name: kind,
            effect: (m) => m.executeInNewSession((s) => boardFileSystem(s).rename(from, to)),
            check: { _tag: "none" },
            touches: [from, to],
          }
        }
        case "remove": {
          const path = pick(FILES)
          return {
            name: kind,
            effect: (m) =>
              m.executeInNewSession((s) =>
                boardFileSystem(s)
                  .remove(path)
                  .pipe(Effect.catchTag("FileNotFoundError", () => Effect.void)),
              ),
            check: { _tag: "none" },
            touches: [path],
          }
        }
        case "mkdir":
          return {
            name: kind,
            effect: (m) =>
              m.executeInNewSession((s) => boardFileSystem(s).mkdir("/camp/dir/inner", { parents: true })),
            check: { _tag: "none" },
          }
        case "sync":
          return {
            name: kind,
            effect: (m) => m.executeInNewSession((s) => boardFileSystem(s).sync(localTree, "/tree")),
            check: { _tag: "none" },
          }
        case "download":
          return {
            name: kind,
            effect: (m) =>
              m.executeInNewSession((s) =>
                boardFileSystem(s)
                  .download("/camp", download)
                  .pipe(Effect.catchTag("FileNotFoundError", () => Effect.void)),
              ),
            check: { _tag: "none" },
          }
      }
    }

    /**
     * The board and host state after an operation, injection off: what is left over (empty when
     * nothing), or undefined when the board did not answer. Retries while the board settles.
     */
    const inspect = async (op: Operation, index: number, note = ""): Promise<string[] | undefined> => {
      const leftovers: string[] = []
      const { manager, device } = connection
      const stats = await run(manager.sessionStats)
      const live = await run(manager.liveSessions)
      if (Exit.isSuccess(stats) && stats.value.activeSessionCount !== 0)
        leftovers.push(`#${index} ${op.name}: ${stats.value.activeSessionCount} session(s) still active`)
      if (Exit.isSuccess(live)) {
        for (const s of live.value) {
          const st = s.resources.getResourceStats()
          leftovers.push(
            `#${index} ${op.name}: live session ${s.sessionId} with ${st.totalResources} resource(s)`,
          )
        }
      }
      const paths = [...(op.check._tag === "file" ? [op.check.path] : []), ...(op.touches ?? [])]
      const readFiles = Effect.forEach(paths, (p) =>
        Effect.map(
          device.exec(
            `try:\n with open('${p}','rb') as f: import ubinascii; print(ubinascii.hexlify(f.read()).decode())\nexcept OSError:\n print('-')`,
          ),
          (out) => [p, out.trim()] as const,
        ),
      )
      let attempt = 0
      for (;;) {
        attempt++
        const exit = await run(Effect.all([device.exec(LEFTOVERS), readFiles]))
        if (Exit.isSuccess(exit)) {
          const [left, files] = exit.value
          const parsed = parseLeftovers(left)
          if (parsed === undefined) {
            // Late bytes of an earlier, cut-off exchange can still arrive: ask again.
            if (attempt >= 3) return undefined
            continue
          }
          const [threads, markers, temps, proxies] = parsed
          if (attempt > 1) slowRecoveries++
          if (threads > 0)
            leftovers.push(`#${index} ${op.name}: ${threads} thread record(s) left on the board${note}`)
          if (markers > 0)
            leftovers.push(`#${index} ${op.name}: ${markers} resource marker(s) left on the board${note}`)
          if (proxies > 0)
            leftovers.push(`#${index} ${op.name}: ${proxies} object(s) left in the proxy registry${note}`)
          if (temps.length > 0)
            leftovers.push(`#${index} ${op.name}: temporary files ${temps.join(", ")}${note}`)
          if (leftovers.length > 0) {
            // Count each leftover once: clear it so later operations start clean.
            await run(device.exec(CLEAR_LEFTOVERS))
          }
          for (const [path, hex] of files) {
            const actual = hex === "-" ? undefined : Uint8Array.from(Buffer.from(hex, "hex"))
            if (op.check._tag === "file" && op.check.path === path) {
              if (!sameBytes(actual, op.check.before) && !sameBytes(actual, op.check.after))
                halfFiles.push(
                  `#${index} ${op.name} ${path}: ${actual?.length ?? "absent"} bytes, before ${op.check.before?.length ?? "absent"}, after ${op.check.after.length}${note}`,
                )
            }
            model.set(path, actual)
          }
          return leftovers
        }
        if (attempt >= 3) return undefined
      }
    }

    for (let index = 0; index < options.operations; index++) {
      const op = nextOperation()
      const tally = byOperation[op.name] ?? { count: 0, success: 0, errors: {} }
      byOperation[op.name] = tally
      tally.count++
      const faultsBefore = Effect.runSync(injector.counts).total
      await must(injector.setEnabled(true))
      const opStarted = performance.now()
      // Past the bound, the operation is given LATE_BOUND more before it is interrupted, so that a
      // hang says whether it was an operation that took too long (and how long, and how it ended)
      // or one that never ended.
      const exit = await run(
        Effect.gen(function* () {
          const fiber = yield* Effect.forkChild(op.effect(connection.manager))
          const inTime = yield* Effect.timeoutOption(Fiber.await(fiber), OPERATION_BOUND)
          if (Option.isSome(inTime)) return yield* inTime.value
          const late = yield* Effect.timeoutOption(Fiber.await(fiber), LATE_BOUND)
          if (Option.isSome(late)) {
            const ended = Exit.isSuccess(late.value) ? "success" : (tagOf(late.value.cause) ?? "untyped")
            return yield* Effect.fail(
              new Hang(
                `it ended after ${((performance.now() - opStarted) / 1000).toFixed(1)} s with ${ended}`,
              ),
            )
          }
          yield* Fiber.interrupt(fiber)
          return yield* Effect.fail(
            new Hang(`still running ${Duration.format(LATE_BOUND)} later (interrupted)`),
          )
        }),
      )
      const opMs = performance.now() - opStarted
      if (opMs > slowest.ms) slowest = { index, name: op.name, ms: opMs }
      await must(injector.setEnabled(false))
      const faultsAfter = Effect.runSync(injector.counts).total
      const opFaults =
        faultsAfter === faultsBefore ? [] : (await must(injector.log)).slice(faultsBefore - faultsAfter)

      const requestDamaged = opFaults.some((f) => f.direction === "toBoard" && VALUE_FAULTS.has(f.kind))
      const note = ` (outcome ${Exit.isSuccess(exit) ? "success" : (tagOf(exit.cause) ?? "untyped")}; faults: ${JSON.stringify(opFaults.map((f) => `${f.kind}${f.direction === undefined ? "" : `/${f.direction}`}@${f.phase}`))})`
      let outcome: string
      if (Exit.isSuccess(exit)) {
        outcome = "success"
        tally.success++
        if (op.check._tag === "value" && !op.check.ok(exit.value)) {
          const line = `#${index} ${op.name} ${op.check.describe}: got ${JSON.stringify(exit.value)?.slice(0, 120)} (faults: ${JSON.stringify(opFaults)})`
          // Bytes damaged on the way to the board change the request itself (an argument, a
          // path): the board runs something else and answers it faithfully. Nothing checks a
          // request end to end, so these are counted apart from wrong answers to intact requests.
          if (requestDamaged) damagedRequests.push(line)
          else wrongResults.push(line)
        }
        if (op.check._tag === "file") model.set(op.check.path, op.check.after)
      } else {
        const tag = tagOf(exit.cause)
        outcome = tag ?? "untyped"
        const hang = exit.cause.reasons.find(Cause.isFailReason)?.error
        if (hang instanceof Hang) {
          hangs++
          hangDetails.push(
            `#${index} ${op.name} went past ${Duration.format(OPERATION_BOUND)}; ${hang.late}${note}`,
          )
        }
        if (tag === undefined) untyped.push(`#${index} ${op.name}: ${Cause.pretty(exit.cause).slice(0, 400)}`)
        tally.errors[outcome] = (tally.errors[outcome] ?? 0) + 1
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1

      const linkUp = await must(connection.link.isOpen)
      let found = linkUp ? await inspect(op, index, note) : undefined
      if (found === undefined) {
        // The link went down (or the board does not answer): plug in again, as a user would.
        reconnects++
        await Effect.runPromise(Scope.close(connection.scope, Exit.void))
        connection = await connect()
        found = await inspect(op, index, note)
        if (found === undefined) reconnectFailures++
        else if (!linkUp && found.length > 0) {
          // The session's cleanup could not reach the board over a dead link: what it left is
          // orphaned. A soft reset on reconnect clears it (the policy a program should follow).
          orphansAfterLinkLoss += found.length
          const manager = connection.manager
          const reset = await run(
            Effect.andThen(
              connection.device.softReset,
              manager.executeInNewSession((s) =>
                Effect.forEach(TREE_DIRS, (d) =>
                  boardFileSystem(s)
                    .removeStaleTemporaryFiles(d)
                    .pipe(Effect.catchTag("FileNotFoundError", () => Effect.succeed([]))),
                ),
              ),
            ),
          )
          if (Exit.isFailure(reset)) reconnectFailures++
          found = await inspect(op, index, note)
          if (found === undefined) reconnectFailures++
        }
      }
      // What a damaged request left (a temporary file under a damaged name, say) is its own
      // class: the session cleaned what it asked for, the board did something else.
      if (found !== undefined) (requestDamaged ? damagedRequests : leftovers).push(...found)
      if ((index + 1) % (options.progressEvery ?? 1000) === 0) options.onProgress?.(snapshot())
    }
    await Effect.runPromise(Scope.close(connection.scope, Exit.void))
    return snapshot()

    function snapshot(): CampaignReport {
      return {
        seed: options.seed,
        operations: Object.values(byOperation).reduce((n, t) => n + t.count, 0),
        durationMs: performance.now() - started,
        outcomes: { ...outcomes },
        byOperation: structuredClone(byOperation),
        faults: Effect.runSync(injector.counts),
        hangs,
        untyped: [...untyped],
        wrongResults: [...wrongResults],
        hangDetails: [...hangDetails],
        damagedRequests: [...damagedRequests],
        leftovers: [...leftovers],
        halfFiles: [...halfFiles],
        reconnects,
        reconnectFailures,
        slowRecoveries,
        orphansAfterLinkLoss,
        slowest,
      }
    }
  } finally {
    await Effect.runPromise(Scope.close(root, Exit.void))
    for (const dir of [flash, localTree, download]) rmSync(dir, { recursive: true, force: true })
  }
}

/** The report as Markdown: totals, outcomes by type, faults by kind, and per operation. */
export const campaignMarkdown = (r: CampaignReport): string => {
  const lines = [
    `Seed ${r.seed}: ${r.operations} operations in ${(r.durationMs / 1000).toFixed(1)} s; ${r.faults.total} faults injected over ${r.faults.bytesToBoard} bytes to the board and ${r.faults.bytesFromBoard} from it.`,
    "",
    `Hangs ${r.hangs}; untyped failures ${r.untyped.length}; wrong results ${r.wrongResults.length} (findings after a request damaged on the way to the board, not checked end to end: ${r.damagedRequests.length}); leftovers ${r.leftovers.length}; half files ${r.halfFiles.length}; reconnects ${r.reconnects} (failed ${r.reconnectFailures}; board-side leftovers of sessions cut off by a disconnect, cleared by a soft reset on reconnect: ${r.orphansAfterLinkLoss}); checks that needed a retry ${r.slowRecoveries}. The slowest operation: #${r.slowest.index} ${r.slowest.name}, ${(r.slowest.ms / 1000).toFixed(1)} s (a hang is past ${Duration.format(OPERATION_BOUND)}).`,
    "",
    "| outcome | operations |",
    "| --- | --- |",
    ...Object.entries(r.outcomes)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `| ${k} | ${v} |`),
    "",
    "| fault | injected |",
    "| --- | --- |",
    ...Object.entries(r.faults.byKind)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `| ${k} | ${v} |`),
    "",
    "| operation | runs | success | typed errors |",
    "| --- | --- | --- | --- |",
    ...Object.entries(r.byOperation).map(
      ([k, t]) =>
        `| ${k} | ${t.count} | ${t.success} | ${Object.entries(t.errors)
          .map(([e, n]) => `${e} ${n}`)
          .join(", ")} |`,
    ),
  ]
  return `${lines.join("\n")}\n`
}

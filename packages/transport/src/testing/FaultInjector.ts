/**
 * A fault injector: a link between the host and a board that drops, repeats, corrupts, delays,
 * splits or stalls bytes, pulls the cable, and resets the board at a chosen phase of an
 * exchange, at random rates or at scheduled bytes, reproducibly from a seed. Over 400 lines
 * because `makeFaultInjector` is one closure: the two directions' delivery fibers, the resets
 * pending on a phase, the counts and the log share its state. Its options and handle are in
 * `FaultInjectorOptions.ts`, the phase tracking in `ExchangePhaseTracker.ts`.
 */
import { Clock, Deferred, Duration, Effect, Queue, type Scope, Stream } from "effect"
import { type ByteLink, makeReceiveQueue, type ReceiveQueue } from "../ByteLink.js"
import { LinkClosedError, type LinkError } from "../errors.js"
import { ExchangePhaseTracker, type PhaseEntry, seededRandom } from "./ExchangePhaseTracker.js"
import type {
  BoardResetKind,
  ExchangePhase,
  FaultInjector,
  FaultInjectorOptions,
  InjectedFault,
  LinkFaultKind,
} from "./FaultInjectorOptions.js"

export { ExchangePhaseTracker, seededRandom } from "./ExchangePhaseTracker.js"
export type {
  BoardResetKind,
  ExchangePhase,
  FaultCounts,
  FaultInjector,
  FaultInjectorOptions,
  InjectedFault,
  LinkFaultKind,
  LinkFaultRates,
} from "./FaultInjectorOptions.js"

type Direction = "toBoard" | "fromBoard"

const LOG_LIMIT = 10_000
/** Order in which random faults are considered for a chunk; fixed, so runs are reproducible. */
const RANDOM_ORDER: ReadonlyArray<LinkFaultKind> = [
  "disconnect",
  "corrupt",
  "drop",
  "duplicate",
  "split",
  "delay",
  "stall",
]
const ALL_BUT_IDLE: ReadonlyArray<ExchangePhase> = [
  "enter-raw",
  "raw-paste-negotiate",
  "code",
  "running",
  "output",
]

const between = (random: () => number, [low, high]: readonly [number, number]): number =>
  low + Math.floor(random() * (Math.max(low, high) - low + 1))

/** A reset decided for a phase entered at `index` of a chunk. */
interface PendingReset {
  readonly index: number
  readonly kind: BoardResetKind
}

/** A link view handed out by `connect`. */
interface View {
  readonly rx: ReceiveQueue
  readonly closed: Deferred.Deferred<LinkError>
}

/** What a direction's delivery fiber does next, in order. */
type Delivery =
  | {
      readonly _tag: "bytes"
      readonly view: View
      readonly bytes: Uint8Array
      readonly write?: Deferred.Deferred<void, LinkError>
    }
  /** Deliver nothing more in this direction before `until` (ms, clock time): a delay or a stall. */
  | { readonly _tag: "hold"; readonly view: View; readonly until: number }
  | { readonly _tag: "disconnect"; readonly view: View }
  /** The end of one write: its bytes are all handed to the inner link. */
  | { readonly _tag: "written"; readonly view: View; readonly write: Deferred.Deferred<void, LinkError> }
  /** The inner link's `received` ended or failed. */
  | { readonly _tag: "inner-closed"; readonly error: LinkError }
  /** Reset the board now that the byte entering the phase is delivered (forked, not awaited). */
  | { readonly _tag: "reset"; readonly kind: BoardResetKind }

const isLive = (view: View) => view.rx.closedReason() === undefined

const closeView = (view: View, how: "end" | "fail", reason: string) => {
  if (how === "end") view.rx.end(reason)
  else view.rx.fail(reason)
  Deferred.doneUnsafe(view.closed, Effect.succeed(view.rx.closedReason()!))
}

/** A point inside a chunk where delivery changes: a piece boundary, a hold, the cable pulled. */
interface CutEvent {
  pos: number
  readonly kind: "split" | "hold" | "disconnect" | "reset"
  readonly ms?: number
  readonly reset?: BoardResetKind
}

/**
 * Put a seeded fault injector between the protocol engine and a `ByteLink` (the fake board, the
 * virtual board, a serial port): it drops, duplicates, corrupts, delays, splits and stalls bytes in
 * either direction, pulls the cable, and resets the board at chosen protocol phases, at random
 * (per chunk, with the given rates) and at exact bytes (`schedule`). The protocol engine talks to
 * the views that `connect` hands out; the injector consumes the inner link's `received` itself.
 *
 * Determinism: each direction and the reset decisions draw from their own PRNG seeded from
 * `seed`, once per fault kind with a non-zero rate per chunk. The same seed with the same traffic
 * (the same chunks, in the same order, in each direction) gives the same faults and the same log;
 * traffic whose chunking depends on timing (a real serial port) gives different faults.
 *
 * Everything the injector forks lives in its scope; closing the scope interrupts held deliveries
 * and ends the connected view. The inner link is never closed by the injector.
 *
 * @example
 * const board = yield* makeFakeBoard({ run: () => ({ stdout: "ok" }) })
 * const injector = yield* makeFaultInjector(board.link, { seed: 7, fromBoard: { split: 0.5, corrupt: 0.01 } })
 * const comm = yield* makeDeviceCommunication(yield* injector.connect, { replyTimeoutMs: 200 })
 * const outcome = yield* Effect.exit(comm.exec("print('ok')")) // success, or a typed protocol error
 * const { byKind } = yield* injector.counts
 */
export const makeFaultInjector = (
  inner: ByteLink,
  options: FaultInjectorOptions,
): Effect.Effect<FaultInjector, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const description = `${inner.description} (fault-injected)`
    const randoms = {
      toBoard: seededRandom(options.seed),
      fromBoard: seededRandom(options.seed ^ 0x5bd1e995),
      resets: seededRandom(options.seed ^ 0x27d4eb2f),
    }
    const delayRange = options.delayMs ?? [1, 20]
    const stallRange = options.stallMs ?? [50, 400]
    const resetPhases = new Set(options.resets?.phases ?? ALL_BUT_IDLE)
    const resetKinds: ReadonlyArray<BoardResetKind> =
      options.resets?.kinds && options.resets.kinds.length > 0 ? options.resets.kinds : ["soft", "hard"]
    const scheduled = {
      toBoard: (options.schedule ?? []).filter((s) => s.direction === "toBoard"),
      fromBoard: (options.schedule ?? []).filter((s) => s.direction === "fromBoard"),
    }
    scheduled.toBoard.sort((a, b) => a.atByte - b.atByte)
    scheduled.fromBoard.sort((a, b) => a.atByte - b.atByte)
    const nextScheduled = { toBoard: 0, fromBoard: 0 }

    let enabled = true
    const bytes = { toBoard: 0, fromBoard: 0 }
    const byKind: Record<string, number> = {}
    let total = 0
    let log: InjectedFault[] = []
    const tracker = new ExchangePhaseTracker()
    let current: View | undefined
    let innerClosed: LinkError | undefined

    const record = (fault: InjectedFault) => {
      byKind[fault.kind] = (byKind[fault.kind] ?? 0) + 1
      total++
      log.push(fault)
      if (log.length >= LOG_LIMIT + 1000) log = log.slice(-LOG_LIMIT)
    }

    /** Decide resets for the phases just entered: which, and after which byte of the chunk. */
    const resetsFor = (direction: Direction, offset: number, entered: ReadonlyArray<PhaseEntry>) => {
      const resets = options.resets
      const chosen: PendingReset[] = []
      if (!enabled || resets === undefined || !(resets.rate > 0)) return chosen
      for (const { index, phase } of entered) {
        if (!resetPhases.has(phase) || !(randoms.resets() < resets.rate)) continue
        const kind = resetKinds[Math.floor(randoms.resets() * resetKinds.length)]!
        record({ kind: `reset-${kind}`, direction, phase, atByte: offset + index })
        chosen.push({ index, kind })
      }
      return chosen
    }

    const perform = (kinds: ReadonlyArray<BoardResetKind>): Effect.Effect<void> =>
      kinds.length === 0 || options.resets === undefined
        ? Effect.void
        : Effect.forEach(
            kinds,
            (kind) =>
              options.resets!.perform(kind).pipe(
                Effect.catchCause((cause) => Effect.logWarning("fault injector: reset failed", cause)),
                Effect.forkIn(scope),
              ),
            { discard: true },
          )

    /**
     * Apply this direction's faults to one chunk and return what to deliver, in order. `phaseAt`
     * gives the exchange phase at a byte of the chunk.
     */
    const plan = (
      direction: Direction,
      chunk: Uint8Array,
      offset: number,
      now: number,
      view: View,
      write: Deferred.Deferred<void, LinkError> | undefined,
      phaseAt: (index: number) => ExchangePhase,
      resets: ReadonlyArray<PendingReset>,
    ): Delivery[] => {
      let data = chunk
      // A reset aimed at a phase happens once the byte that entered it is delivered.
      const cuts: CutEvent[] = resets.map((r) => ({ pos: r.index + 1, kind: "reset", reset: r.kind }))
      if (enabled) {
        const random = randoms[direction]
        const apply = (kind: LinkFaultKind, at: number, exact: boolean): boolean => {
          if (at < 0 || (at >= data.length && kind !== "split")) return false
          const fault: { -readonly [K in keyof InjectedFault]: InjectedFault[K] } = {
            kind,
            direction,
            phase: phaseAt(Math.min(at, chunk.length - 1)),
            atByte: offset + at,
          }
          switch (kind) {
            case "drop": {
              const next = new Uint8Array(data.length - 1)
              next.set(data.subarray(0, at))
              next.set(data.subarray(at + 1), at)
              data = next
              for (const cut of cuts) if (cut.pos > at) cut.pos--
              break
            }
            case "duplicate": {
              const run = exact ? 1 : 1 + Math.floor(random() * Math.min(3, data.length - at))
              const next = new Uint8Array(data.length + run)
              next.set(data.subarray(0, at + run))
              next.set(data.subarray(at, at + run), at + run)
              next.set(data.subarray(at + run), at + 2 * run)
              data = next
              for (const cut of cuts) if (cut.pos >= at + run) cut.pos += run
              break
            }
            case "corrupt": {
              const next = data.slice()
              next[at] = next[at]! ^ (1 + Math.floor(random() * 255))
              data = next
              break
            }
            case "split": {
              if (exact) cuts.push({ pos: at, kind: "split" })
              else {
                if (data.length < 2) return false
                const pieces = Math.min(data.length, 2 + Math.floor(random() * 3))
                for (let i = 1; i < pieces; i++)
                  cuts.push({ pos: 1 + Math.floor(random() * (data.length - 1)), kind: "split" })
              }
              break
            }
            case "delay":
            case "stall": {
              const ms = between(random, kind === "delay" ? delayRange : stallRange)
              fault.durationMs = ms
              cuts.push({ pos: at, kind: "hold", ms })
              break
            }
            case "disconnect":
              cuts.push({ pos: at, kind: "disconnect" })
              break
          }
          record(fault)
          return true
        }
        const due = scheduled[direction]
        const exact: Array<{ at: number; fault: LinkFaultKind }> = []
        while (nextScheduled[direction] < due.length) {
          const entry = due[nextScheduled[direction]]!
          if (entry.atByte >= offset + chunk.length) break
          if (entry.atByte >= offset) exact.push({ at: entry.atByte - offset, fault: entry.fault })
          nextScheduled[direction]++
        }
        // From the last byte back, so that dropping or duplicating a byte does not move the next target.
        for (const { at, fault } of exact.reverse()) apply(fault, at, true)
        const rates = options[direction] ?? {}
        for (const kind of RANDOM_ORDER) {
          const rate = rates[kind] ?? 0
          if (!(rate > 0) || !(random() < rate)) continue
          const at = kind === "delay" || kind === "stall" ? 0 : Math.floor(random() * data.length)
          apply(kind, at, false)
        }
      }
      const out: Delivery[] = []
      const piece = (from: number, to: number) => {
        if (to > from)
          out.push({ _tag: "bytes", view, bytes: data.subarray(from, to), ...(write ? { write } : {}) })
      }
      cuts.sort((a, b) => a.pos - b.pos)
      let cursor = 0
      let lost = false
      for (const cut of cuts) {
        const pos = Math.min(Math.max(cut.pos, cursor), data.length)
        if (!lost) piece(cursor, pos)
        cursor = pos
        if (cut.kind === "reset") out.push({ _tag: "reset", kind: cut.reset! })
        else if (lost) continue
        else if (cut.kind === "hold") out.push({ _tag: "hold", view, until: now + cut.ms! })
        else if (cut.kind === "disconnect") {
          // The rest of the chunk is lost with the cable; resets aimed at it still happen.
          out.push({ _tag: "disconnect", view })
          lost = true
        }
      }
      if (!lost) piece(cursor, data.length)
      return out
    }

    const phaseLookup = (before: ExchangePhase, entered: ReadonlyArray<PhaseEntry>) => (index: number) => {
      let phase = before
      for (const entry of entered) {
        if (entry.index > index) break
        phase = entry.phase
      }
      return phase
    }

    const toBoardQueue = yield* Queue.unbounded<Delivery>()
    const fromBoardQueue = yield* Queue.unbounded<Delivery>()

    /** Hand bytes to their destination in order; holds wait, dead views' bytes are lost. */
    const deliverAll = (
      queue: Queue.Queue<Delivery>,
      deliver: (item: Extract<Delivery, { _tag: "bytes" }>) => Effect.Effect<void>,
    ) =>
      Effect.forever(
        Effect.flatMap(Queue.take(queue), (item): Effect.Effect<void> => {
          switch (item._tag) {
            case "bytes":
              return isLive(item.view) ? deliver(item) : Effect.void
            case "hold":
              return isLive(item.view)
                ? Effect.flatMap(Clock.currentTimeMillis, (now) =>
                    item.until > now ? Effect.sleep(Duration.millis(item.until - now)) : Effect.void,
                  )
                : Effect.void
            case "disconnect":
              return Effect.sync(() => {
                if (isLive(item.view)) closeView(item.view, "fail", "injected disconnect")
              })
            case "written":
              return Effect.sync(() => {
                const closed = item.view.rx.closedReason()
                Deferred.doneUnsafe(item.write, closed === undefined ? Effect.void : Effect.fail(closed))
              })
            case "reset":
              return perform([item.kind])
            case "inner-closed":
              return Effect.sync(() => {
                if (current === undefined || !isLive(current)) return
                if (item.error._tag === "LinkLostError") closeView(current, "fail", item.error.reason)
                else closeView(current, "end", item.error.reason)
              })
          }
        }),
      )

    yield* deliverAll(toBoardQueue, (item) =>
      inner.write(item.bytes).pipe(
        Effect.catch((error) =>
          Effect.sync(() => {
            if (item.write) Deferred.doneUnsafe(item.write, Effect.fail(error))
          }),
        ),
      ),
    ).pipe(Effect.forkScoped)
    yield* deliverAll(fromBoardQueue, (item) => Effect.sync(() => item.view.rx.push(item.bytes))).pipe(
      Effect.forkScoped,
    )

    const fromBoard = (chunk: Uint8Array) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const offset = bytes.fromBoard
        bytes.fromBoard += chunk.length
        const before = tracker.phase
        const entered = tracker.board(chunk)
        const resets = resetsFor("fromBoard", offset, entered)
        const view = current
        if (view === undefined || !isLive(view)) return perform(resets.map((r) => r.kind))
        const lookup = phaseLookup(before, entered)
        for (const step of plan("fromBoard", chunk, offset, now, view, undefined, lookup, resets))
          Queue.offerUnsafe(fromBoardQueue, step)
        return Effect.void
      })

    yield* Stream.runForEach(inner.received, fromBoard).pipe(
      Effect.matchEffect({
        onFailure: (error) => Effect.succeed<LinkError>(error),
        onSuccess: () =>
          Effect.succeed<LinkError>(new LinkClosedError({ link: inner.description, reason: "ended" })),
      }),
      Effect.flatMap((error) =>
        Effect.sync(() => {
          innerClosed = error
          Queue.offerUnsafe(fromBoardQueue, { _tag: "inner-closed", error })
        }),
      ),
      Effect.forkScoped,
    )

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        if (current !== undefined && isLive(current)) closeView(current, "end", "fault injector closed")
      }),
    )

    const viewLink = (view: View): ByteLink => ({
      description,
      write: (chunk) =>
        Effect.suspend(() => {
          const closed = view.rx.closedReason()
          if (closed !== undefined) return Effect.fail(closed)
          if (chunk.length === 0) return Effect.void
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const copy = chunk.slice()
            const offset = bytes.toBoard
            bytes.toBoard += copy.length
            const before = tracker.phase
            const entered = tracker.host(copy)
            const resets = resetsFor("toBoard", offset, entered)
            const write = Deferred.makeUnsafe<void, LinkError>()
            const lookup = phaseLookup(before, entered)
            for (const step of plan("toBoard", copy, offset, now, view, write, lookup, resets))
              Queue.offerUnsafe(toBoardQueue, step)
            Queue.offerUnsafe(toBoardQueue, { _tag: "written", view, write })
            return Effect.raceFirst(
              Deferred.await(write),
              Effect.flatMap(Deferred.await(view.closed), (error) => Effect.fail(error)),
            )
          })
        }),
      received: view.rx.stream,
      isOpen: Effect.suspend(() => (isLive(view) ? inner.isOpen : Effect.succeed(false))),
    })

    const connect: Effect.Effect<ByteLink, LinkClosedError, Scope.Scope> = Effect.suspend(() => {
      if (innerClosed !== undefined)
        return Effect.fail(
          new LinkClosedError({ link: description, reason: `inner link: ${innerClosed.reason}` }),
        )
      return Effect.acquireRelease(
        Effect.map(makeReceiveQueue(description), (rx) => {
          if (current !== undefined && isLive(current))
            closeView(current, "end", "replaced by a new connection")
          const view: View = { rx, closed: Deferred.makeUnsafe<LinkError>() }
          current = view
          return view
        }),
        (view) =>
          Effect.sync(() => {
            if (isLive(view)) closeView(view, "end", "closed")
            if (current === view) current = undefined
          }),
      ).pipe(Effect.map(viewLink))
    })

    return {
      connect,
      setEnabled: (on) =>
        Effect.sync(() => {
          enabled = on
        }),
      counts: Effect.sync(() => ({
        byKind: { ...byKind },
        total,
        bytesToBoard: bytes.toBoard,
        bytesFromBoard: bytes.fromBoard,
      })),
      log: Effect.sync(() => log.slice(-LOG_LIMIT)),
    } satisfies FaultInjector
  })

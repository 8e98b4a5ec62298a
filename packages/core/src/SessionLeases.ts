import { type DeviceCommunicationShape, StateKey } from "@belay/transport"
import { Context, Effect, type Scope, Stream } from "effect"

/**
 * What a lease needs from a session (implemented by the session itself).
 *
 * @internal
 */
export interface Holdable {
  /** The board's lease state this session belongs to. */
  readonly board: BoardLeases
  holders: number
  /** Take a hold without a fiber-local record (an exchange through the board's device view). */
  holdUnattributed(): void
  /** Give back a hold taken by `holdUnattributed`; ends the session in the background when it was the last one and the session asked to end. */
  releaseUnattributed(): void
}

/**
 * One hold of an operation on a session, kept in the fiber's context while the operation runs
 * (forked fibers inherit it). `live` turns false when the operation leaves.
 *
 * @internal
 */
export class HoldNode {
  live = true
  constructor(
    readonly session: Holdable,
    readonly parent: HoldNode | undefined,
  ) {}
}

/**
 * The holds of the running operation (innermost first), inherited by the fibers it forks.
 *
 * @internal
 */
export const HeldSessions = Context.Reference<HoldNode | undefined>("@belay/core/HeldSessions", {
  defaultValue: () => undefined,
})

/** Does `node`'s chain hold a live session on `board`? */
const holdsBoard = (node: HoldNode | undefined, board: BoardLeases): boolean => {
  for (let n = node; n !== undefined; n = n.parent) if (n.live && n.session.board === board) return true
  return false
}

/** The live holds of `session` in `node`'s chain. */
export const ownHolds = (node: HoldNode | undefined, session: Holdable): HoldNode[] => {
  const out: HoldNode[] = []
  for (let n = node; n !== undefined; n = n.parent) if (n.live && n.session === session) out.push(n)
  return out
}

/**
 * The lease state of one board, shared by every manager and session on it: the sessions that
 * are active (not ending), and the board's device as sessions see it.
 *
 * An exchange through the session device view (`session.device`) is covered by the operation
 * that runs it when the fiber holds a session of this board (an `executeInSession` operation,
 * `session.use`); otherwise nothing says which session it is for, and it holds every active
 * session of the board until it ends (none of them idles out or ends under it).
 *
 * @internal
 */
export class BoardLeases {
  readonly sessions = new Set<Holdable>()
  readonly device: DeviceCommunicationShape

  constructor(readonly raw: DeviceCommunicationShape) {
    this.device = makeSessionDevice(raw, this)
  }

  /** Hold every active session of the board; give them back with `releaseAll`. */
  private holdAll(): Holdable[] {
    const held: Holdable[] = []
    for (const session of this.sessions) {
      session.holdUnattributed()
      held.push(session)
    }
    return held
  }

  private releaseAll(held: ReadonlyArray<Holdable>): void {
    for (const session of held) session.releaseUnattributed()
  }

  /** `effect` holding the board's sessions while it runs, unless the fiber's operation already holds one. */
  lease<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.withFiber((fiber) => {
      if (this.sessions.size === 0 || holdsBoard(fiber.getRef(HeldSessions), this)) return effect
      return Effect.uninterruptibleMask((restore) => {
        const held = this.holdAll()
        return Effect.ensuring(
          restore(effect),
          Effect.sync(() => this.releaseAll(held)),
        )
      })
    })
  }

  /** The same for the lifetime of the current scope (a stream, a terminal). */
  readonly leaseScoped: Effect.Effect<void, never, Scope.Scope> = Effect.withFiber((fiber) => {
    if (this.sessions.size === 0 || holdsBoard(fiber.getRef(HeldSessions), this)) return Effect.void
    return Effect.asVoid(
      Effect.acquireRelease(
        Effect.sync(() => this.holdAll()),
        (held) => Effect.sync(() => this.releaseAll(held)),
      ),
    )
  })
}

/**
 * The lease state of each device object of a connection, by the device given to a manager and
 * by its session view. A connection usually has one; a wrapper made by spreading a device
 * (`{ ...device, exec }`) shares the connection's store but is a device of its own.
 */
const BoardLeasesKey = StateKey<Map<DeviceCommunicationShape, BoardLeases>>("@belay/core/BoardLeases")

const leasesOf = (device: DeviceCommunicationShape) =>
  device.connectionState.getOrCreate(BoardLeasesKey, () => new Map())

/**
 * The board behind a device or a session device view.
 *
 * @example
 * rawDevice(session.device) === comm // the DeviceCommunication the manager was made with
 *
 * @since 0.1.0
 */
export const rawDevice = (device: DeviceCommunicationShape): DeviceCommunicationShape =>
  device.connectionState.getOrUndefined(BoardLeasesKey)?.get(device)?.raw ?? device

/** @internal the lease state of a board (one per board, whichever view it is reached through) */
export const boardLeases = (device: DeviceCommunicationShape): BoardLeases => {
  const all = leasesOf(device)
  let board = all.get(device)
  if (board === undefined) {
    board = new BoardLeases(device)
    all.set(device, board)
    all.set(board.device, board)
  }
  return board
}

/**
 * The device as sessions see it: every exchange (`exec`, `execBytes`, `eval`, `execStream`,
 * `softReset`, `interrupt`, `terminal`) holds the session it runs for until it ends. One object
 * per board; it shares the board's `connectionState` (it spreads the device), so what is known
 * of the board (deployed functions, transfer profiles) is the same through either.
 */
const makeSessionDevice = (raw: DeviceCommunicationShape, board: BoardLeases): DeviceCommunicationShape => ({
  // Whatever else the board offers (reads of its state) goes through as it is.
  ...raw,
  exec: (code, options) => board.lease(raw.exec(code, options)),
  execBytes: (code, options) => board.lease(raw.execBytes(code, options)),
  eval: (expression, options) => board.lease(raw.eval(expression, options)),
  execStream: (code, options) => Stream.unwrap(Effect.as(board.leaseScoped, raw.execStream(code, options))),
  softReset: board.lease(raw.softReset),
  interrupt: board.lease(raw.interrupt),
  terminal: Effect.andThen(board.leaseScoped, raw.terminal),
})

/**
 * The members of `DeviceCommunicationShape` that start an exchange, and so hold sessions. A
 * test checks that every other member only reads state, so that a new exchange method is not
 * left out of the view.
 *
 * @internal
 */
export const LEASED_MEMBERS = [
  "exec",
  "execBytes",
  "eval",
  "execStream",
  "softReset",
  "interrupt",
  "terminal",
] as const

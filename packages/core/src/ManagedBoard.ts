/**
 * What a session manager keeps per board: its sessions, the current one, its state machine, a
 * lost link, and the fibers watching the board for resets and a lost link.
 */
import type { DeviceCommunicationShape } from "@belay/transport"
import { Effect, type Fiber, Stream } from "effect"
import type { DeviceCapabilities } from "./DeviceCapabilities.js"
import type { SessionEndReason } from "./DeviceSession.js"
import type { DeviceSessionImpl, SessionHost } from "./DeviceSessionImpl.js"
import type { DeviceSessionManagerShape } from "./DeviceSessionManager.js"
import type { DeviceSessionState } from "./errors.js"
import type { BoardLeases, HoldNode } from "./SessionLeases.js"

/** @internal per-board state of a manager */
export interface Board {
  readonly raw: DeviceCommunicationShape
  readonly leases: BoardLeases
  readonly sessions: Map<string, DeviceSessionImpl>
  readonly watchers: Array<Fiber.Fiber<unknown, unknown>>
  /** The session `executeInSession` joins and `getOrCreateSession` returns (never an exclusive one). */
  current: DeviceSessionImpl | undefined
  state: DeviceSessionState
  total: number
  maxConcurrent: number
  linkLost: string | undefined
  detecting: Promise<DeviceCapabilities> | undefined
  /** The minimal capabilities the last session fell back to, until a probe works. */
  fallback: DeviceCapabilities | undefined
  view: DeviceSessionManagerShape | undefined
  host: SessionHost | undefined
}

/** The innermost session of `board` the fiber's operation holds, if it can still be used. */
export const heldOn = (node: HoldNode | undefined, board: BoardLeases): DeviceSessionImpl | undefined => {
  for (let n = node; n !== undefined; n = n.parent) {
    if (n.live && n.session.board === board) {
      const session = n.session as DeviceSessionImpl
      if (!session.isFinishing) return session
    }
  }
  return undefined
}

/**
 * @internal Watch the board: a reset seen by the transport ends what the board lost in every
 * live session; a lost link breaks every session on it.
 */
export const watchBoard = (
  board: Board,
  runFork: (effect: Effect.Effect<unknown>) => Fiber.Fiber<unknown, unknown>,
  endDetached: (session: DeviceSessionImpl, reason: SessionEndReason) => Effect.Effect<void>,
): void => {
  // A reset seen by the transport ends what the board lost, in every live session.
  board.watchers.push(
    runFork(
      Stream.runForEach(board.raw.resets, (event) =>
        Effect.gen(function* () {
          for (const session of board.sessions.values()) {
            const lost = session.resourcesIfMade?.boardReset() ?? 0
            session.boardResets++
            yield* Effect.logWarning("Board reset; board-side state of the session is gone").pipe(
              Effect.annotateLogs({
                sessionId: session.sessionId,
                kind: event.kind,
                requested: event.requested,
                resources: lost,
              }),
            )
          }
        }),
      ),
    ),
  )
  // A lost link breaks every session on it (each ends once the operations holding it,
  // which fail on the board now, have left).
  board.watchers.push(
    runFork(
      Effect.gen(function* () {
        const error = yield* board.raw.linkClosed
        board.linkLost = error.message
        for (const session of [...board.sessions.values()]) {
          session.brokenReason = error.message
          yield* Effect.logError("Link to the board lost; ending session").pipe(
            Effect.annotateLogs({ sessionId: session.sessionId, error: error.message }),
          )
          yield* endDetached(session, "link-lost")
        }
      }),
    ),
  )
}

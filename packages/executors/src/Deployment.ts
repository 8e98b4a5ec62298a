/**
 * Deployment: which code is on the board, and what an exchange must send so that it is.
 *
 * A deploy unit is a block of Python (a task's source, or a module's sources together) that the
 * board holds under a key, with its code hash. Three places know about units:
 *
 * - the board itself keeps a registry, the global dict `_belay_r` (key to the first 16 hex
 *   digits of the SHA-256 of the code). A soft reset clears it with the rest of the RAM.
 * - each session's `ExecutorContext` records the units the session deployed or verified
 *   (`registerMethodDeployment(key, hash)`); a board reset empties it.
 * - this process keeps, per board connection, what it last learnt of the board's registry and
 *   at which reset generation.
 *
 * For each unit an exchange needs, the plan is one of:
 *
 * - `ready`: the session verified the unit and nothing since says otherwise: send only the call.
 * - `guard`: this process put the unit on the board (another session did): send the call behind
 *   a registry check, in the same exchange, without the definition. When the check fails, the
 *   board sends its registry back instead of calling, and the exchange is repeated with the
 *   unit deployed.
 * - `ensure`: nothing is known (a new host process, first contact): send the definition under a
 *   registry check, so the board defines it only when its registry lacks this code, and the
 *   call, in one exchange. Code whose text cannot be indented safely (triple-quoted strings,
 *   backslash continuations, tab indentation) is guarded instead.
 * - `deploy`: the board does not hold it: send the definition, the registry update and the call
 *   in one exchange.
 *
 * The registry's Python (its update, the checks, the miss reply) stays here as text rather than
 * in `python/`: it is built per exchange from the units' keys and hashes and the call's nonce,
 * and exists on the board only as part of that exchange. A function in a `.py` file would have to
 * be deployed and called with those as arguments, which sends more bytes on every exchange that
 * deploys or guards and keeps a function in the board's RAM for good.
 *
 * @internal
 */

import type { DeviceSession } from "@belay/core"
import { type DeviceCommunicationShape, parsePythonLiteral, StateKey } from "@belay/transport"
import { Effect, Result } from "effect"
import { type ExecutorContext, executorContext } from "./ExecutorContext.js"
import { FramingError } from "./errors.js"
import { excerpt, FRAME_RUNTIME, MISS_MARK_PY, REGISTRY_TAG } from "./Framing.js"
import type { PythonSource } from "./PythonSource.js"

/** A block of code held on the board under a registry key. */
export interface DeployUnit {
  /** The registry key (a Python identifier), e.g. the task's or module's name. */
  readonly key: string
  readonly source: PythonSource
  /** The code hash as stored in the board's registry (16 hex digits). */
  readonly hashHex: string
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"))

/** @internal */
export const makeUnit = (key: string, source: PythonSource): DeployUnit => {
  let hex = ""
  for (const b of source.hash.subarray(0, 8)) hex += HEX[b]!
  return { key, source, hashHex: hex }
}

/** The board side of framing (`_belay_o`): the first unit of every exchange that returns values. */
export const frameUnit: DeployUnit = makeUnit("_belay_frame", FRAME_RUNTIME)

/** What this process knows of one board's registry. */
export interface BoardView {
  /** The transport's reset generation this knowledge belongs to. */
  generation: number
  /** Units known to be on the board (key to hash). */
  entries: Map<string, string>
  /** True when `entries` is the whole registry (learnt from the board, or empty after a reset). */
  complete: boolean
}

/** What this process knows of the board's registry, for the lifetime of the connection. */
const BoardViewKey = StateKey<BoardView>("@belay/executors/BoardView")

/**
 * The view of a board at `generation`. A new generation means the board reset: its registry
 * is empty. On first contact nothing is known.
 */
export const boardView = (device: DeviceCommunicationShape, generation: number): BoardView => {
  const view = device.connectionState.getOrCreate(BoardViewKey, () => ({
    generation,
    entries: new Map(),
    complete: false,
  }))
  if (view.generation !== generation) {
    view.generation = generation
    view.entries = new Map()
    view.complete = true
  }
  return view
}

/**
 * Forget what this process knows of a board's registry (the next call checks the board).
 *
 * @example
 * forgetBoardRegistry(session.device)
 *
 * @since 0.1.0
 */
export const forgetBoardRegistry = (device: DeviceCommunicationShape): void => {
  device.connectionState.delete(BoardViewKey)
}

export type UnitPlan = "ready" | "guard" | "ensure" | "deploy"

/**
 * The code a unit sends: minified unless `minify` is off. Its hash stays the code's as written,
 * so that the board's registry holds one entry for it either way.
 */
const sentSource = (unit: DeployUnit, minify: boolean): PythonSource =>
  minify ? unit.source.minified : unit.source

/** @internal */
export const planUnit = (
  context: ExecutorContext,
  view: BoardView,
  unit: DeployUnit,
  minify = true,
): UnitPlan => {
  const onBoard = view.entries.get(unit.key)
  if (onBoard === unit.hashHex) {
    return context.isMethodDeployed(unit.key, unit.source.hash) ? "ready" : "guard"
  }
  if (view.complete) return "deploy"
  return sentSource(unit, minify).indentable ? "ensure" : "guard"
}

/**
 * The code of one exchange: definitions of the units to deploy (minified unless `minify` is
 * off), the registry update, and the call (`body`), behind a registry check when some units are
 * only guarded.
 */
export const buildExchange = (
  units: ReadonlyArray<DeployUnit>,
  plans: ReadonlyArray<UnitPlan>,
  body: ReadonlyArray<string>,
  nonce: string,
  minify = true,
): { readonly code: string; readonly callLine: number } => {
  // The cached call: nothing to define or check, the body is the whole exchange.
  if (plans.every((plan) => plan === "ready")) {
    return { code: body.length === 1 ? body[0]! : body.join("\n"), callLine: 1 }
  }
  const deploys: DeployUnit[] = []
  const ensures: DeployUnit[] = []
  const guards: DeployUnit[] = []
  units.forEach((unit, i) => {
    if (plans[i] === "deploy") deploys.push(unit)
    else if (plans[i] === "ensure") ensures.push(unit)
    else if (plans[i] === "guard") guards.push(unit)
  })
  const lines: string[] = []
  for (const unit of deploys) lines.push(sentSource(unit, minify).text)
  if (deploys.length > 0 || ensures.length > 0 || guards.length > 0) {
    let registry = "_belay_r=globals().get('_belay_r',{})"
    for (const unit of deploys) registry += `;_belay_r['${unit.key}']='${unit.hashHex}'`
    lines.push(registry)
  }
  for (const unit of ensures) {
    lines.push(`if _belay_r.get('${unit.key}')!='${unit.hashHex}':`)
    for (const line of sentSource(unit, minify).text.split("\n")) lines.push(line === "" ? "" : ` ${line}`)
    lines.push(` _belay_r['${unit.key}']='${unit.hashHex}'`)
  }
  // Definitions and registry updates end before this line: an exception raised at or after it
  // (in the call) leaves the units deployed.
  const callLine = lines.length === 0 ? 1 : lines.join("\n").split("\n").length + 1
  if (guards.length === 0) {
    lines.push(...body)
  } else {
    lines.push(`if ${guards.map((u) => `_belay_r.get('${u.key}')=='${u.hashHex}'`).join(" and ")}:`)
    for (const line of body) lines.push(` ${line}`)
    // The registry is sent as a checked frame without `_belay_o`, which may be what is missing.
    lines.push(
      "else:",
      " _belay_b=bytes(repr(_belay_r),'utf8')",
      ` print('${MISS_MARK_PY}${nonce}${REGISTRY_TAG}:%d:%d:'%(len(_belay_b),sum(_belay_b)&65535)+repr(_belay_r));_belay_b=None`,
    )
  }
  return { code: lines.join("\n"), callLine }
}

/** Units deployed, ensured or found by a guard are on the board now: remember it. */
export const recordOnBoard = (
  session: DeviceSession,
  view: BoardView,
  units: ReadonlyArray<DeployUnit>,
  plans: ReadonlyArray<UnitPlan>,
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const context = executorContext(session)
    for (let i = 0; i < units.length; i++) {
      const unit = units[i]!
      if (plans[i] === "ready") continue
      view.entries.set(unit.key, unit.hashHex)
      if (!context.isMethodDeployed(unit.key, unit.source.hash)) {
        yield* Effect.ignore(context.registerMethodDeployment(unit.key, unit.source.hash))
        yield* Effect.logDebug(plans[i] === "guard" ? "Deployed code verified" : "Code deployed").pipe(
          Effect.annotateLogs({ unit: unit.key, hash: unit.hashHex, sessionId: session.sessionId }),
        )
      }
    }
  })

/** The registry a guarded call sent back (its `repr()`), as keys and hashes. */
export const parseRegistry = (
  label: string,
  repr: string,
): Result.Result<Map<string, string>, FramingError> => {
  const parsed = parsePythonLiteral(repr)
  if (Result.isSuccess(parsed)) {
    const value = parsed.success
    if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
      const entries = new Map<string, string>()
      for (const [k, v] of Object.entries(value)) if (typeof v === "string") entries.set(k, v)
      return Result.succeed(entries)
    }
  }
  return Result.fail(
    new FramingError({
      task: label,
      reason: "the board's deployment registry is unreadable",
      received: excerpt(repr),
    }),
  )
}

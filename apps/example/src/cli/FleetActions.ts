/**
 * What the fleet commands do, loaded only when one runs: `belay fleet runner`, `belay fleet ls`,
 * and `exec`/`eval` on `--device fleet:<id>`.
 */
import { type FleetBoardSpec, FleetClient, makeFleetRunner } from "@belay/fleet"
import { parsePythonLiteral } from "@belay/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Result from "effect/Result"
import { logLevel } from "./Board.js"
import { UsageError } from "./Failure.js"
import { print, printJson, toJson, writeError } from "./Output.js"

/** The database URL: the flag, else BELAY_FLEET_DATABASE_URL, else a usage error that says how to get one. */
const databaseUrlOf = (given: string | undefined) => {
  const url = given ?? process.env.BELAY_FLEET_DATABASE_URL
  return url === undefined || url === ""
    ? Effect.fail(
        new UsageError(
          "no fleet database: give --database-url or set BELAY_FLEET_DATABASE_URL",
          "`scripts/postgres.sh start` starts a PostgreSQL server and prints the URL",
        ),
      )
    : Effect.succeed(url)
}

/**
 * A fleet failure as the CLI reports it: a Python exception on the board is a `PythonError`
 * (exit 1, the traceback printed as it is); the others keep their tags (see `Failure.ts`).
 */
const asCliError = (error: unknown) => {
  const e = error as { _tag?: unknown; errorTag?: unknown; traceback?: unknown }
  if (e._tag === "FleetBoardCallError" && e.errorTag === "PythonError" && typeof e.traceback === "string")
    return { _tag: "PythonError", traceback: e.traceback, message: String((error as Error).message) }
  return error
}

const client = (databaseUrl: string | undefined) =>
  Layer.unwrap(Effect.map(databaseUrlOf(databaseUrl), (url) => FleetClient.layer({ databaseUrl: url }))).pipe(
    Layer.provide(Layer.succeed(References.MinimumLogLevel, logLevel())),
  )

/**
 * `belay fleet runner`: serve boards until interrupted.
 *
 * @example
 * yield* runFleetRunner({ name: "shelf1", boards: ["b0=virtual"], devices: undefined, port: 34431, host: "127.0.0.1", databaseUrl: undefined })
 */
export const runFleetRunner = (options: {
  readonly name: string
  readonly boards: ReadonlyArray<string>
  readonly devices: string | undefined
  readonly port: number
  readonly host: string
  readonly databaseUrl: string | undefined
}) =>
  Effect.gen(function* () {
    const databaseUrl = yield* databaseUrlOf(options.databaseUrl)
    const specs: FleetBoardSpec[] = []
    for (const board of options.boards) {
      const at = board.indexOf("=")
      if (at <= 0)
        return yield* Effect.fail(new UsageError(`--board ${board}: expected name=connection (b0=a0)`))
      specs.push({ name: board.slice(0, at), connection: board.slice(at + 1) })
    }
    for (const [i, connection] of (options.devices?.split(",") ?? []).entries())
      if (connection !== "") specs.push({ name: `b${i}`, connection })
    if (specs.length === 0)
      return yield* Effect.fail(
        new UsageError("no boards to serve: give --board name=connection or --device a0,virtual,..."),
      )
    yield* Layer.build(
      makeFleetRunner({
        name: options.name,
        boards: specs.map((s) =>
          // A virtual board of a runner lives in the runner's process (not the kept one).
          s.connection === "virtual" ? { ...s, connection: "virtual?keep=false" } : s,
        ),
        databaseUrl,
        port: options.port,
        host: options.host,
      }),
    )
    writeError(
      `fleet runner ${options.name} on ${options.host}:${options.port}: ${specs.map((s) => `${options.name}/${s.name}`).join(", ")} (Ctrl-C stops it)\n`,
    )
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(Layer.succeed(References.MinimumLogLevel, logLevel())))

/**
 * `belay fleet ls`: the registry's boards.
 *
 * @example
 * yield* listFleet(undefined, false)
 */
export const listFleet = (databaseUrl: string | undefined, json: boolean) =>
  Effect.gen(function* () {
    const fleet = yield* FleetClient
    const boards = yield* fleet.boards
    if (json) {
      printJson(boards)
      return
    }
    if (boards.length === 0) {
      yield* print("no boards: start a runner with `belay fleet runner`\n")
      return
    }
    const rows = boards.map((b) => [
      b.id,
      b.alive ? b.status : b.status === "stopped" ? "stopped" : "unreachable",
      b.firmware,
      `${b.lastSeenSeconds.toFixed(1)} s ago`,
      b.connection,
      b.runnerAddress,
    ])
    const header = ["BOARD", "STATUS", "FIRMWARE", "LAST SEEN", "CONNECTION", "RUNNER"]
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
    const line = (cells: ReadonlyArray<string>) =>
      `${cells
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd()}\n`
    yield* print(line(header) + rows.map(line).join(""))
  }).pipe(Effect.scoped, Effect.provide(client(databaseUrl)))

/**
 * `belay exec CODE --device fleet:<id>`.
 *
 * @example
 * yield* fleetExec("fleet:shelf1/b0", "print(1)")
 */
export const fleetExec = (device: string, code: string) =>
  Effect.gen(function* () {
    const fleet = yield* FleetClient
    const out = yield* fleet.board(device.slice("fleet:".length)).exec(code)
    yield* print(out.replace(/\r\n/g, "\n"))
  }).pipe(Effect.mapError(asCliError), Effect.scoped, Effect.provide(client(undefined)))

/**
 * `belay eval EXPRESSION --device fleet:<id>`: the repr, or with `json` the value as JSON.
 *
 * @example
 * yield* fleetEval("fleet:shelf1/b0", "1 + 1", false)
 */
export const fleetEval = (device: string, expression: string, json: boolean) =>
  Effect.gen(function* () {
    const fleet = yield* FleetClient
    const repr = yield* fleet.board(device.slice("fleet:".length)).evalRepr(expression)
    if (!json) return yield* print(`${repr}\n`)
    const value = parsePythonLiteral(repr)
    printJson(Result.isSuccess(value) ? toJson(value.success) : repr)
  }).pipe(Effect.mapError(asCliError), Effect.scoped, Effect.provide(client(undefined)))

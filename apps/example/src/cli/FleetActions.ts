/**
 * What the fleet commands do, loaded only when one runs: `belay fleet runner|ls|reserve|release`,
 * and the board commands on `--device fleet:<id>` (exec, eval, run, info, and the file commands
 * through `withFiles`). Calls carry the reservation token in `BELAY_FLEET_RESERVATION`, if any.
 */
import { spawn } from "node:child_process"
import os from "node:os"
import { measureRoundTrips, parseConnectionString } from "@belay/extensions"
import {
  type BoardFileSystem,
  type DownloadOptions,
  downloadDirectory,
  type SyncOptions,
  syncDirectory,
} from "@belay/filesystem"
import {
  type FleetBoard,
  type FleetBoardEntry,
  type FleetBoardSpec,
  FleetClient,
  type FleetReservationInfo,
  makeFleetRunner,
  openLentLink,
} from "@belay/fleet"
import { minifyPython, parsePythonLiteral } from "@belay/transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { logLevel } from "./Board.js"
import { UsageError } from "./Failure.js"
import { readCliConfig } from "./Flags.js"
import { readRunnerConfig, runnerBoards } from "./FleetRunnerConfig.js"
import { boardText, print, printJson, toJson, write, writeError } from "./Output.js"

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

/** The client; its calls carry the reservation in BELAY_FLEET_RESERVATION (set by `reserve --run`, or by hand). */
const client = (databaseUrl: string | undefined) =>
  Layer.unwrap(
    Effect.map(databaseUrlOf(databaseUrl), (url) =>
      FleetClient.layer({
        databaseUrl: url,
        reservation: process.env.BELAY_FLEET_RESERVATION || undefined,
      }),
    ),
  ).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, logLevel())))

/** A runner's socket port when neither a flag nor its config file gives one. */
const DEFAULT_RUNNER_PORT = 34431

/**
 * The board a `fleet:` device names (`<runner>/<board>` or a serial number), read as any
 * connection string is: an unknown query (`?link=lend`) is a `ConnectionStringError` (exit 2).
 */
const boardIdOf = (device: string) =>
  Effect.map(Effect.fromResult(parseConnectionString(device)), (connection) =>
    connection._tag === "Fleet" ? connection.boardId : device,
  )

/** Whether a registry entry is the board `target` names: its id, or a serial number it has (any case). */
const isNamedBy = (entry: FleetBoardEntry, target: string) =>
  entry.id === target ||
  [entry.serialNumber, entry.uniqueId].some(
    (serial) => serial !== "" && serial.toLowerCase() === target.toLowerCase(),
  )

/**
 * `belay fleet runner`: serve boards until interrupted. Each setting from its flag, else the
 * config file, else its default; the boards are the file's and the flags'.
 *
 * @example
 * yield* runFleetRunner({ name: "shelf1", defaultName: "pi4", boards: ["b0=virtual"], devices: undefined, port: undefined, host: undefined, databaseUrl: undefined, config: "shelf1.json" })
 */
export const runFleetRunner = (options: {
  readonly name: string | undefined
  /** The name when neither the flag nor the config file gives one (the host name). */
  readonly defaultName: string
  readonly boards: ReadonlyArray<string>
  readonly devices: string | undefined
  readonly port: number | undefined
  readonly host: string | undefined
  readonly databaseUrl: string | undefined
  /** The runner's config file, if one is given (see `FleetRunnerConfig.ts`). */
  readonly config: string | undefined
}) =>
  Effect.gen(function* () {
    const file = options.config
    const config =
      file === undefined
        ? { boards: {} }
        : yield* Effect.try({
            try: () => readRunnerConfig(file),
            catch: (error) => (error instanceof UsageError ? error : new UsageError(String(error))),
          })
    const databaseUrl = yield* databaseUrlOf(options.databaseUrl ?? config.databaseUrl)
    const fromFlags: Array<readonly [string, string]> = []
    for (const board of options.boards) {
      const at = board.indexOf("=")
      if (at <= 0)
        return yield* Effect.fail(new UsageError(`--board ${board}: expected name=connection (b0=a0)`))
      fromFlags.push([board.slice(0, at), board.slice(at + 1)])
    }
    for (const [i, connection] of (options.devices?.split(",") ?? []).entries())
      if (connection !== "") fromFlags.push([`b${i}`, connection])
    const specs: Array<FleetBoardSpec> = runnerBoards(config.boards, fromFlags)
    if (specs.length === 0)
      return yield* Effect.fail(
        new UsageError(
          "no boards to serve: give --board name=connection, --device a0,virtual,..., or a --config file with boards",
        ),
      )
    const name = options.name ?? config.name ?? options.defaultName
    const port = options.port ?? config.port ?? DEFAULT_RUNNER_PORT
    const host = options.host ?? config.host ?? "127.0.0.1"
    yield* Layer.build(
      makeFleetRunner({
        name,
        boards: specs.map((s) =>
          // A virtual board of a runner lives in the runner's process (not the kept one).
          s.connection === "virtual" ? { ...s, connection: "virtual?keep=false" } : s,
        ),
        databaseUrl,
        port,
        host,
      }),
    )
    writeError(
      `fleet runner ${name} on ${host}:${port}: ${specs.map((s) => `${name}/${s.name}`).join(", ")} (Ctrl-C stops it)\n`,
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
      // The client's own reason, as a call to the board would fail with it.
      b.unreachable === undefined
        ? b.status
        : b.unreachable.kind === "protocol"
          ? `speaks ${b.protocol === "" ? "an older" : b.protocol} protocol`
          : b.unreachable.kind,
      b.reservation === undefined
        ? "-"
        : `${b.reservation.holder} until ${clock(b.reservation.expiresAt)}${b.reservation.note === "" ? "" : ` (${b.reservation.note})`}`,
      b.firmware,
      // What `fleet:<serial>` names it by: its USB serial number, else its machine.unique_id().
      b.serialNumber || b.uniqueId || "-",
      `${b.lastSeenSeconds.toFixed(1)} s ago`,
      b.connection,
      b.runnerAddress,
    ])
    const header = [
      "BOARD",
      "STATUS",
      "RESERVED BY",
      "FIRMWARE",
      "SERIAL",
      "LAST SEEN",
      "CONNECTION",
      "RUNNER",
    ]
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
    const out = yield* fleet.board(yield* boardIdOf(device)).exec(code)
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
    const repr = yield* fleet.board(yield* boardIdOf(device)).evalRepr(expression)
    if (!json) return yield* print(`${repr}\n`)
    const value = parsePythonLiteral(repr)
    printJson(Result.isSuccess(value) ? toJson(value.success) : repr)
  }).pipe(Effect.mapError(asCliError), Effect.scoped, Effect.provide(client(undefined)))

/** `user@host`, the holder of a reservation no process holds. */
const userAtHost = () => {
  let user = process.env.USER ?? "someone"
  try {
    user = os.userInfo().username
  } catch {
    // No passwd entry: $USER or "someone".
  }
  return `${user}@${os.hostname()}`
}

/** A time of day (local), with the date when it is not today. */
const clock = (at: Date) => {
  const sameDay = at.toDateString() === new Date().toDateString()
  const time = at.toTimeString().slice(0, 8)
  return sameDay ? time : `${at.toISOString().slice(0, 10)} ${time}`
}

/**
 * A duration as typed: `90s`, `10m`, `2h`, `1d`, `500ms`, a number of seconds, or Effect's own
 * forms (`10 minutes`).
 *
 * @example
 * parseDuration("10m") // Duration of 10 minutes
 */
export const parseDuration = (text: string): Duration.Duration | undefined => {
  const short = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim())
  if (short !== null) {
    const n = Number(short[1])
    const unit = short[2] ?? "s"
    const ms = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1000
    return n > 0 ? Duration.millis(n * ms) : undefined
  }
  const parsed = Duration.fromInput(text as Duration.Input)
  return parsed._tag === "Some" && Duration.toMillis(parsed.value) > 0 ? parsed.value : undefined
}

/** How `reserve` reports what it took: the token line on stdout (for `eval "export $(...)"`), the rest on stderr. */
const reportReserved = (held: FleetReservationInfo, json: boolean) => {
  if (json)
    return printJson({
      token: held.token,
      boards: held.boards,
      holder: held.holder,
      note: held.note,
      expiresAt: held.expiresAt.toISOString(),
      heartbeat: held.heartbeat,
    })
  write(`BELAY_FLEET_RESERVATION=${held.token}\n`)
  writeError(
    `reserved ${held.boards.join(", ")} for ${held.holder} until ${clock(held.expiresAt)}${held.heartbeat ? " (while this process heartbeats)" : ""}\n`,
  )
}

/** Run `command` in a shell with `env`; its exit code (128 + signal number when a signal ended it). */
const runShell = (command: string, env: NodeJS.ProcessEnv) =>
  Effect.callback<number>((resume) => {
    const child = spawn(command, { shell: true, stdio: "inherit", env })
    child.once("error", () => resume(Effect.succeed(127)))
    child.once("exit", (code, signal) =>
      resume(Effect.succeed(code ?? (signal === null ? 1 : 128 + (signalNumbers[signal] ?? 0)))),
    )
    return Effect.sync(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
    })
  })

const signalNumbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }

/** A command run while holding a reservation ended with a failure code. */
class HeldCommandError extends Error {
  readonly _tag = "HeldCommandError"
  constructor(
    readonly command: string,
    readonly code: number,
  ) {
    super(
      `the command run while holding the reservation exited with code ${code} (the reservation is released): ${command}`,
    )
  }
}

/**
 * `belay fleet reserve`: take the reservation; print its token; with `hold`, heartbeat until
 * stopped; with `run`, run the command while holding it. Released at the end of both.
 *
 * @example
 * yield* reserveFleet({ targets: ["shelf1/b0"], for: "10m", note: undefined, holder: undefined, hold: false, run: undefined, json: false, databaseUrl: undefined })
 */
export const reserveFleet = (options: {
  readonly targets: ReadonlyArray<string>
  readonly for: string
  readonly note: string | undefined
  readonly holder: string | undefined
  readonly hold: boolean
  readonly run: string | undefined
  readonly json: boolean
  readonly databaseUrl: string | undefined
}) =>
  Effect.gen(function* () {
    const duration = parseDuration(options.for)
    if (duration === undefined)
      return yield* Effect.fail(
        new UsageError(`--for ${options.for}: expected a duration such as 90s, 10m, 2h`),
      )
    if (options.hold && options.run !== undefined)
      return yield* Effect.fail(new UsageError("give --hold or --run, not both (--run holds while it runs)"))
    const fleet = yield* FleetClient
    const request = {
      for: duration,
      ...(options.note === undefined ? {} : { note: options.note }),
      ...(options.holder === undefined ? {} : { holder: options.holder }),
    }
    if (!options.hold && options.run === undefined) {
      // No process holds it after this one exits: the holder is the user on this host.
      const detached = options.holder === undefined ? { ...request, holder: userAtHost() } : request
      reportReserved(yield* fleet.reserveDetached(options.targets, detached), options.json)
      return
    }
    const held = yield* fleet.reserve(options.targets, request)
    if (options.run === undefined) {
      reportReserved(held, options.json)
      writeError("holding it: Ctrl-C releases it\n")
      return yield* Effect.never
    }
    if (!options.json)
      writeError(`reserved ${held.boards.join(", ")} for ${held.holder}; running ${options.run}\n`)
    const code = yield* runShell(options.run, {
      ...process.env,
      BELAY_FLEET_RESERVATION: held.token,
      BELAY_FLEET_BOARDS: held.boards.join(","),
    })
    if (code !== 0) return yield* Effect.fail(new HeldCommandError(options.run, code))
  }).pipe(Effect.mapError(asCliError), Effect.scoped, Effect.provide(client(options.databaseUrl)))

/**
 * `belay fleet release`: by token, or a board's reservation whoever holds it.
 *
 * @example
 * yield* releaseFleet({ token: "…", board: undefined, json: false, databaseUrl: undefined })
 */
export const releaseFleet = (options: {
  readonly token: string | undefined
  readonly board: string | undefined
  readonly json: boolean
  readonly databaseUrl: string | undefined
}) =>
  Effect.gen(function* () {
    const fleet = yield* FleetClient
    if (options.board !== undefined) {
      const holder = yield* fleet.releaseBoard(options.board)
      if (options.json) return printJson({ board: options.board, holder: holder ?? null })
      writeError(
        holder === undefined
          ? `${options.board} was not reserved\n`
          : `released ${options.board} (held by ${holder})\n`,
      )
      return
    }
    if (options.token === undefined || options.token === "")
      return yield* Effect.fail(
        new UsageError(
          "no reservation to release: give its token, set BELAY_FLEET_RESERVATION, or --board <id>",
        ),
      )
    const boards = yield* fleet.release(options.token)
    if (options.json) return printJson({ released: boards })
    writeError(boards.length === 0 ? "nothing to release: it had ended\n" : `released ${boards.join(", ")}\n`)
  }).pipe(Effect.scoped, Effect.provide(client(options.databaseUrl)))

/**
 * `belay run FILE --device fleet:<id>`: the file's code (minified unless --no-minify,
 * BELAY_MINIFY=0 or the config file say otherwise), its output streamed as it comes.
 *
 * @example
 * yield* fleetRun("fleet:shelf1/b0", "print(1)")
 */
export const fleetRun = (device: string, code: string) =>
  Effect.gen(function* () {
    const fleet = yield* FleetClient
    const minify =
      process.env.BELAY_MINIFY === undefined
        ? readCliConfig().minify !== false
        : process.env.BELAY_MINIFY !== "0"
    const text = boardText()
    const board = fleet.board(yield* boardIdOf(device))
    yield* Stream.runForEach(board.execStream(minify ? minifyPython(code) : code), (out) => print(text(out)))
    yield* print(text(""))
  }).pipe(Effect.mapError(asCliError), Effect.scoped, Effect.provide(client(undefined)))

/**
 * `use` with the handle of the fleet board `device` names (`fleet:<runner>/<board>`), the fleet's
 * client provided and its errors made the CLI's: for a command whose board work is written over
 * a link (the clock's `rtc`), run through the board's runner.
 *
 * @example
 * yield* withFleetBoard("fleet:shelf1/b0", (board) => board.exec("print(1)"))
 */
export const withFleetBoard = <A, E>(device: string, use: (board: FleetBoard) => Effect.Effect<A, E>) =>
  Effect.flatMap(Effect.zip(FleetClient, boardIdOf(device)), ([fleet, id]) => use(fleet.board(id))).pipe(
    Effect.mapError(asCliError),
    Effect.scoped,
    Effect.provide(client(undefined)),
  )

/**
 * The link of a fleet board, lent to this command (the `Lend` call, then a TCP connection to the
 * board's runner): for the commands the fleet's calls do not carry (repl, mount, a hard reset,
 * install, bench, `run --no-follow`...), which then run their own protocol engine over it, as on
 * a board of this computer. The lend ends when the link closes, with the command.
 *
 * @example
 * const link = yield* lentBoardLink("fleet:shelf1/b0")
 */
export const lentBoardLink = (device: string) =>
  Effect.gen(function* () {
    const lent = yield* Effect.flatMap(
      Effect.zip(FleetClient, boardIdOf(device)),
      ([fleet, id]) => fleet.board(id).lend,
    ).pipe(Effect.scoped, Effect.provide(client(undefined)))
    const link = yield* openLentLink(lent)
    return { link, connection: lent.connection }
  })

/**
 * `latency` on a fleet board: round trips of `exec("pass")` through the fleet (the client, the
 * runner, its admission and its session on the board), printed as `latency` prints a board's own.
 * (`--unchecked`, the bare exchange, is timed over the board's lent link instead: see `main.ts`.)
 *
 * @example
 * yield* fleetLatency("fleet:shelf1/b0", 100, false)
 */
export const fleetLatency = (device: string, count: number, json: boolean) =>
  Effect.gen(function* () {
    const { checkedCount, printLatency } = yield* Effect.promise(() => import("./Latency.js"))
    yield* checkedCount(count)
    const fleet = yield* FleetClient
    const id = yield* boardIdOf(device)
    const timed = yield* measureRoundTrips(fleet.board(id).exec("pass"), { count })
    const runner = (yield* fleet.boards).find((b) => isNamedBy(b, id))
    yield* printLatency(
      {
        exchange: 'exec("pass")',
        integrity: "default",
        link: `${device} through runner ${runner?.runner ?? "?"} at ${runner?.runnerAddress ?? "?"}`,
        ...timed,
      },
      json,
    )
  }).pipe(Effect.mapError(asCliError), Effect.scoped, Effect.provide(client(undefined)))

/**
 * `soft-reset` on a fleet board: the board's runner sends Ctrl-D; the board's RAM is cleared, its
 * files stay, and the runner keeps its link.
 *
 * @example
 * yield* fleetSoftReset("fleet:shelf1/b0")
 */
export const fleetSoftReset = (device: string) =>
  Effect.flatMap(Effect.zip(FleetClient, boardIdOf(device)), ([fleet, id]) => fleet.board(id).softReset).pipe(
    Effect.mapError(asCliError),
    Effect.provide(client(undefined)),
  )

/**
 * `belay info --device fleet:<id>`: the board's firmware as its runner sees it, its runner, and
 * its reservation.
 *
 * @example
 * yield* fleetInfo("fleet:shelf1/b0", false)
 */
export const fleetInfo = (device: string, json: boolean) =>
  Effect.gen(function* () {
    const fleet = yield* FleetClient
    const info = yield* fleet.board(yield* boardIdOf(device)).info
    const entry = (yield* fleet.boards).find((b) => b.id === info.boardId)
    if (json)
      return printJson({
        ...info,
        runnerAddress: entry?.runnerAddress,
        reservation:
          entry?.reservation === undefined
            ? null
            : { ...entry.reservation, expiresAt: entry.reservation.expiresAt.toISOString() },
      })
    const rows: Array<[string, string]> = [
      ["board", `${info.boardId} (${info.machine})`],
      ["runner", `${info.runner} at ${entry?.runnerAddress ?? "?"}`],
      ["connection", info.connection],
      ["platform", info.platform],
      ["firmware", `${info.implementation} ${info.version}`],
      [
        "reserved by",
        entry?.reservation === undefined
          ? "-"
          : `${entry.reservation.holder} until ${clock(entry.reservation.expiresAt)}`,
      ],
    ]
    for (const [k, v] of rows) write(`${k.padEnd(16)} ${v}\n`)
  }).pipe(Effect.mapError(asCliError), Effect.scoped, Effect.provide(client(undefined)))

/**
 * The file commands on a fleet board: `body` gets the board's files, each operation one call to
 * the board's runner (see `@belay/fleet`'s `files`), shaped as the commands expect them by `shape`
 * (`commandFiles` of BoardFiles.ts). A folder sync and a tree download run here, next to the host
 * folder, on those operations: the board's side of them (listing, hashing, writing, reading) goes
 * to the runner one operation at a time.
 *
 * @example
 * yield* fleetWithFiles("fleet:shelf1/b0", (files) => files.fs.list("/"), commandFiles)
 */
export const fleetWithFiles = <A, E, F>(
  device: string,
  body: (files: F) => Effect.Effect<A, E>,
  shape: (fs: BoardFileSystem) => Effect.Effect<F>,
) =>
  Effect.gen(function* () {
    const fleet = yield* FleetClient
    const remote = fleet.board(yield* boardIdOf(device)).files
    const fs = {
      ...remote,
      sync: (localDir: string, remoteDir: string, options?: SyncOptions) =>
        syncDirectory(fs, localDir, remoteDir, options),
      download: (remotePath: string, localDir: string, options?: DownloadOptions) =>
        downloadDirectory(fs, remotePath, localDir, options),
      state: Effect.die("the fleet keeps no file state on the client"),
      invalidateCache: () => Effect.void,
      operations: Effect.succeed([]),
    } as unknown as BoardFileSystem
    return yield* Effect.flatMap(shape(fs), body)
  }).pipe(Effect.mapError(asCliError), Effect.scoped, Effect.provide(client(undefined)))

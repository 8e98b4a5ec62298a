/**
 * `belay fleet runner` and `belay fleet ls`: many boards on many hosts (`@belay/fleet`). Parsing
 * them loads nothing more: what they do is imported when they run (`FleetActions.ts`), so the
 * cluster, the PostgreSQL client and the sockets never load on a single board's command.
 */
import os from "node:os"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import type { Root } from "./Files.js"
import { UNSET_DEVICE } from "./Flags.js"

const actions = () => Effect.promise(() => import("./FleetActions.js"))

const databaseUrlFlag = Flag.String("database-url").pipe(
  Flag.withDescription(
    "the fleet's PostgreSQL, postgres://user:password@host:port/database (default: BELAY_FLEET_DATABASE_URL; `scripts/postgres.sh start` starts one and prints it)",
  ),
  Flag.optional,
)

const some = <A>(option: { readonly _tag: "Some"; readonly value: A } | { readonly _tag: "None" }) =>
  option._tag === "Some" ? option.value : undefined

/** The host name as a runner name: the characters a board id allows. */
const defaultRunnerName = () =>
  os
    .hostname()
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, 64) || "runner"

/**
 * The `fleet` command and its subcommands.
 *
 * @example
 * Command.withSubcommands([fleetCommand(root)])
 */
export const fleetCommand = (root: Root) => {
  const runner = Command.make(
    "runner",
    {
      name: Flag.String("name").pipe(
        Flag.withDescription("the runner's name, the first half of its boards' ids (default: the host name)"),
        Flag.optional,
      ),
      board: Flag.String("board").pipe(
        Flag.withDescription(
          "a board to serve, name=connection (b0=a0, lab=id:E66038B7, v=virtual); repeat for more. --device a0,virtual,... serves boards named b0, b1, ... instead",
        ),
        Flag.atLeast(0),
      ),
      port: Flag.Int("port").pipe(
        Flag.withDescription(
          "the runner's socket port, which clients and other runners connect to (default 34431)",
        ),
        Flag.optional,
      ),
      host: Flag.String("host").pipe(
        Flag.withDescription(
          "the address others reach this runner at, and listen on (default 127.0.0.1: this host only)",
        ),
        Flag.optional,
      ),
      databaseUrl: databaseUrlFlag,
      config: Flag.String("config").pipe(
        Flag.withDescription(
          'a JSON file that says the same as these flags, for a service to start the runner with (default: BELAY_FLEET_RUNNER_CONFIG): { "name": "shelf1", "host": "10.0.0.11", "port": 34431, "databaseUrl": "postgres://...", "boards": { "pico": "id:E66038B7", "sim": "virtual" } }; the flags win over it, a --board over its board of the same name',
        ),
        Flag.optional,
      ),
    },
    ({ name, board, port, host, databaseUrl, config }) =>
      Effect.gen(function* () {
        const { device } = yield* root
        const { runFleetRunner } = yield* actions()
        yield* runFleetRunner({
          name: some(name),
          defaultName: defaultRunnerName(),
          boards: board,
          devices: device === UNSET_DEVICE ? undefined : device,
          port: some(port),
          host: some(host),
          databaseUrl: some(databaseUrl),
          config: some(config) ?? (process.env.BELAY_FLEET_RUNNER_CONFIG || undefined),
        })
      }),
  ).pipe(
    Command.withDescription(
      "serve this host's boards to the fleet: join the cluster through PostgreSQL and answer calls for <name>/<board> until stopped (Ctrl-C)",
    ),
    Command.withExamples([
      {
        command: "belay fleet runner --name shelf1 --board b0=virtual --board b1=virtual",
        description: "two virtual boards, shelf1/b0 and shelf1/b1",
      },
      { command: "belay fleet runner --board pico=a0 --board esp=u0", description: "two USB boards" },
      {
        command: "belay fleet runner --config /etc/belay/shelf1.json",
        description: "what the file says: name, address, port, database, boards",
      },
    ]),
  )

  const ls = Command.make("ls", { databaseUrl: databaseUrlFlag }, ({ databaseUrl }) =>
    Effect.gen(function* () {
      const { json } = yield* root
      const { listFleet } = yield* actions()
      yield* listFleet(some(databaseUrl), json)
    }),
  ).pipe(
    Command.withDescription("list every board of the fleet: runner, status, firmware, last seen"),
    Command.withExamples([{ command: "belay fleet ls --json", description: "as JSON" }]),
  )

  const reserve = Command.make(
    "reserve",
    {
      targets: Argument.String("board").pipe(
        Argument.withDescription(
          "a board id (shelf1/b0), its serial number (as `belay fleet ls` shows it), or a selector (shelf1/*, *): the first free board it matches; several take one board each, all or none",
        ),
        Argument.variadic({ min: 1 }),
      ),
      for: Flag.String("for").pipe(
        Flag.withDescription("how long at most: 90s, 10m, 2h (it ends sooner when released)"),
        Flag.withDefault("10m"),
      ),
      note: Flag.String("note").pipe(Flag.withDescription("shown by belay fleet ls"), Flag.optional),
      holder: Flag.String("holder").pipe(
        Flag.withDescription("who holds it, as others see it (default: user@host pid N)"),
        Flag.optional,
      ),
      hold: Flag.Boolean("hold").pipe(
        Flag.withDescription(
          "stay running and heartbeat until stopped (Ctrl-C, SIGTERM), then release; a holder killed outright lets it lapse 10 s after its last heartbeat",
        ),
        Flag.withDefault(false),
      ),
      run: Flag.String("run").pipe(
        Flag.withDescription(
          "hold it (heartbeating) while this shell command runs, with BELAY_FLEET_RESERVATION set for it, then release",
        ),
        Flag.optional,
      ),
      databaseUrl: databaseUrlFlag,
    },
    (flags) =>
      Effect.gen(function* () {
        const { json } = yield* root
        const { reserveFleet } = yield* actions()
        yield* reserveFleet({
          targets: flags.targets,
          for: flags.for,
          note: some(flags.note),
          holder: some(flags.holder),
          hold: flags.hold,
          run: some(flags.run),
          json,
          databaseUrl: some(flags.databaseUrl),
        })
      }),
  ).pipe(
    Command.withDescription(
      "reserve boards for one holder: other callers are refused (FleetBoardReservedError) until it is released, expires, or its holding process dies. Without --hold or --run it prints BELAY_FLEET_RESERVATION=<token>: later belay commands with that variable set get through, until --for passes or belay fleet release",
    ),
    Command.withExamples([
      {
        command: 'eval "export $(belay fleet reserve shelf1/b0 --for 30m)"',
        description: "reserve a board for this shell's later commands",
      },
      {
        command: "belay fleet reserve 'shelf1/*' --for 10m --run 'pnpm test'",
        description: "any free board of shelf1, held while the tests run",
      },
    ]),
  )

  const release = Command.make(
    "release",
    {
      token: Argument.String("token").pipe(
        Argument.withDescription("the reservation's token (default: BELAY_FLEET_RESERVATION)"),
        Argument.variadic({ max: 1 }),
      ),
      board: Flag.String("board").pipe(
        Flag.withDescription("end whoever's reservation holds this board instead (a holder that went away)"),
        Flag.optional,
      ),
      databaseUrl: databaseUrlFlag,
    },
    ({ token, board, databaseUrl }) =>
      Effect.gen(function* () {
        const { json } = yield* root
        const { releaseFleet } = yield* actions()
        yield* releaseFleet({
          token: token[0] ?? process.env.BELAY_FLEET_RESERVATION,
          board: some(board),
          json,
          databaseUrl: some(databaseUrl),
        })
      }),
  ).pipe(
    Command.withDescription("end a reservation: by its token, or (--board) whoever holds a board"),
    Command.withExamples([
      { command: "belay fleet release", description: "the reservation in BELAY_FLEET_RESERVATION" },
      { command: "belay fleet release --board shelf1/b0", description: "free shelf1/b0, whoever held it" },
    ]),
  )

  return Command.make("fleet").pipe(
    Command.withDescription(
      "many boards on many hosts: runners serve their boards through PostgreSQL; --device fleet:<runner>/<board> runs any command on one (exec, eval, run, the file commands and a few more as calls through its runner; repl, mount, reset, install, bench... over the board's link, lent by its runner for the command)",
    ),
    Command.withSubcommands([runner, ls, reserve, release]),
  )
}

export { fleetDeviceOf, isFleetDevice } from "./FleetDevice.js"

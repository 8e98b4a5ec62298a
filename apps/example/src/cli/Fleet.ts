/**
 * `belay fleet runner` and `belay fleet ls`: many boards on many hosts (`@belay/fleet`). Parsing
 * them loads nothing more: what they do is imported when they run (`FleetActions.ts`), so the
 * cluster, the PostgreSQL client and the sockets never load on a single board's command.
 */
import os from "node:os"
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
        Flag.withDescription("the runner's socket port, which clients and other runners connect to"),
        Flag.withDefault(34431),
      ),
      host: Flag.String("host").pipe(
        Flag.withDescription(
          "the address others reach this runner at, and listen on (default 127.0.0.1: this host only)",
        ),
        Flag.withDefault("127.0.0.1"),
      ),
      databaseUrl: databaseUrlFlag,
    },
    ({ name, board, port, host, databaseUrl }) =>
      Effect.gen(function* () {
        const { device } = yield* root
        const { runFleetRunner } = yield* actions()
        yield* runFleetRunner({
          name: some(name) ?? defaultRunnerName(),
          boards: board,
          devices: device === UNSET_DEVICE ? undefined : device,
          port,
          host,
          databaseUrl: some(databaseUrl),
        })
      }),
  ).pipe(
    Command.withDescription(
      "serve this host's boards to the fleet: join the cluster through PostgreSQL and answer calls for <name>/<board> until stopped (Ctrl-C)",
    ),
    Command.withExamples([
      {
        command: "belay fleet runner --name shelf1 --device virtual,virtual",
        description: "two virtual boards, shelf1/b0 and shelf1/b1",
      },
      { command: "belay fleet runner --board pico=a0 --board esp=u0", description: "two USB boards" },
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

  return Command.make("fleet").pipe(
    Command.withDescription(
      "many boards on many hosts: runners serve their boards through PostgreSQL; --device fleet:<runner>/<board> runs exec and eval on one",
    ),
    Command.withSubcommands([runner, ls]),
  )
}

/**
 * Whether `device` names a board of the fleet (`fleet:<runner>/<board>`).
 *
 * @example
 * isFleetDevice("fleet:shelf1/b0") // true
 */
export const isFleetDevice = (device: string): boolean => device.startsWith("fleet:")

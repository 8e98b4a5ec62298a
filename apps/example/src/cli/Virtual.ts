/**
 * `belay virtual ...`: the virtual board that `--device virtual` keeps running between commands
 * (one per flash folder, in a process of its own): start it ahead, see it, stop it. Its module of
 * `@belay/virtual-device` is imported when one of these runs, not when the command line is parsed.
 */
import { DurationConfig } from "@belay/core"
import * as Config from "effect/Config"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { defaultVirtualDir } from "./Board.js"
import type { Root } from "./Files.js"
import { printJson, write } from "./Output.js"

const keptVirtual = () => Effect.promise(() => import("@belay/virtual-device/kept-virtual"))

const dirFlag = (what: string) =>
  Flag.String("dir").pipe(
    Flag.withDescription(
      `${what}; default BELAY_VIRTUAL_DIR, else ~/.cache/belay/virtual-board (where --device virtual keeps its files)`,
    ),
    Flag.optional,
  )

/** A time in ms as a person reads it: `15m`, `90s`, `1h30m`. */
const shortTime = (ms: number) => {
  const seconds = Math.round(ms / 1000)
  const parts = [
    [Math.floor(seconds / 3600), "h"],
    [Math.floor((seconds % 3600) / 60), "m"],
    [seconds % 60, "s"],
  ] as const
  return parts
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n}${unit}`)
    .join("")
}

/** `belay virtual`: start, status and stop of the kept virtual board. */
export const virtualCommand = (root: Root) => {
  const start = Command.make("start", { dir: dirFlag("the flash folder of the board") }, ({ dir }) =>
    Effect.gen(function* () {
      const { json } = yield* root
      const idle = yield* Config.option(DurationConfig("BELAY_VIRTUAL_IDLE_TIMEOUT"))
      const { useKeptVirtualBoard } = yield* keptVirtual()
      const board = yield* useKeptVirtualBoard({
        flashDir: dir._tag === "Some" ? dir.value : defaultVirtualDir(),
        ...(Option.isSome(idle) ? { idleTimeoutMs: Duration.toMillis(idle.value) } : {}),
      })
      if (json) return printJson(board)
      write(
        `${board.reused ? "already running" : "started"}: pid ${board.pid}, tcp:${board.host}:${board.port}, flash ${board.flashDir ?? "in memory"}, stops after ${shortTime(board.idleTimeoutMs)} without a command\n`,
      )
    }),
  ).pipe(
    Command.withDescription(
      "start the kept virtual board now (the first --device virtual command would), or show the running one; BELAY_VIRTUAL_IDLE_TIMEOUT sets how long it stays without a command (default 15m)",
    ),
    Command.withExamples([
      { command: "belay virtual start", description: "prints its pid and local TCP port" },
      {
        command: "BELAY_VIRTUAL_IDLE_TIMEOUT=2h belay virtual start",
        description: "one that stays 2 hours idle",
      },
    ]),
  )

  const status = Command.make("status", {}, () =>
    Effect.gen(function* () {
      const { json } = yield* root
      const { keptVirtualBoards } = yield* keptVirtual()
      const { keptQemuStateDir } = yield* Effect.promise(() => import("@belay/virtual-device"))
      const all = yield* keptVirtualBoards()
      if (json) return printJson(all)
      if (all.length === 0) write(`no kept virtual board (state folder ${keptQemuStateDir()})\n`)
      for (const b of all) {
        // The board options it was started with, when not the defaults (as `openVirtualBoard` names them).
        const options = Object.entries(b.settings).map(([name, value]) => `${name}=${value}`)
        write(
          `${b.running ? "running" : "gone   "} pid ${b.pid}  tcp:${b.host}:${b.port}  since ${b.startedAt}  idle limit ${shortTime(b.idleTimeoutMs)}  ${b.flashDir ?? "(flash in memory)"}${options.length > 0 ? `  options ${options.join(" ")}` : ""}\n`,
        )
      }
    }),
  ).pipe(
    Command.withDescription(
      "list the kept virtual boards: pid, local TCP port, start time, idle limit, flash folder, the board options other than the defaults, and whether each still runs",
    ),
    Command.withExamples([{ command: "belay virtual status --json", description: "as a JSON array" }]),
  )

  const stop = Command.make("stop", { dir: dirFlag("stop only the board of this flash folder") }, ({ dir }) =>
    Effect.gen(function* () {
      const { json } = yield* root
      const { stopKeptVirtualBoards } = yield* keptVirtual()
      const stopped = yield* stopKeptVirtualBoards(dir._tag === "Some" ? { flashDir: dir.value } : {})
      if (json) return printJson(stopped)
      for (const b of stopped) write(`stopped pid ${b.pid} (${b.flashDir ?? "flash in memory"})\n`)
      if (stopped.length === 0) write("no kept virtual board to stop\n")
    }),
  ).pipe(
    Command.withDescription(
      "stop the kept virtual boards; their RAM goes with them, their files stay in the flash folder",
    ),
    Command.withExamples([
      { command: "belay virtual stop", description: "stop every kept virtual board" },
      { command: "belay virtual stop --dir ./flash", description: "only the one of that flash folder" },
    ]),
  )

  return Command.make("virtual").pipe(
    Command.withDescription(
      'the virtual board that --device virtual keeps running between commands, one per flash folder, so that `belay exec "x = 1"` then `belay eval x` sees 1 and a command starts at once; it runs until `belay virtual stop` or 15 minutes without a command (BELAY_VIRTUAL_IDLE_TIMEOUT); --device virtual?keep=false runs a board in the command\'s own process instead',
    ),
    Command.withExamples([
      { command: "belay virtual status", description: "is one running, and on which port" },
      { command: "belay virtual stop", description: "stop it (RAM goes, files stay)" },
    ]),
    Command.withSubcommands([start, status, stop]),
  )
}

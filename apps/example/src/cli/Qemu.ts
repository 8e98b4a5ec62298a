/**
 * `belay qemu ...`: the emulated micro:bit that `--device qemu:microbit` keeps running between
 * commands (one per firmware file): start it ahead, see it, stop it. `@belay/virtual-device` is
 * imported when one of these runs, not when the command line is parsed.
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import type { Root } from "./Files.js"
import { printJson, write } from "./Output.js"

const virtualDevice = () => Effect.promise(() => import("@belay/virtual-device"))

const firmwareFlag = (what: string) =>
  Flag.String("firmware").pipe(
    Flag.withDescription(
      `${what} (an Intel HEX file); default the Debian package's, /usr/share/firmware-microbit-micropython/firmware.hex`,
    ),
    Flag.optional,
  )

/** `belay qemu`: start, status and stop of the kept emulated micro:bit. */
export const qemuCommand = (root: Root) => {
  const start = Command.make(
    "start",
    { firmware: firmwareFlag("the firmware the emulator runs") },
    ({ firmware }) =>
      Effect.gen(function* () {
        const { json } = yield* root
        const { useKeptQemuMicrobit } = yield* virtualDevice()
        const qemu = yield* useKeptQemuMicrobit(
          firmware._tag === "Some" ? { firmwarePath: firmware.value } : {},
        )
        if (json) return printJson(qemu)
        write(
          `${qemu.reused ? "already running" : "started"}: pid ${qemu.pid}, serial port ${qemu.ptyPath}, firmware ${qemu.firmwarePath}\n`,
        )
      }),
  ).pipe(
    Command.withDescription(
      "start the kept emulated micro:bit now (the first --device qemu:microbit command would), or show the running one",
    ),
    Command.withExamples([
      { command: "belay qemu start", description: "prints its pid and serial port (/dev/pts/N)" },
    ]),
  )

  const status = Command.make("status", {}, () =>
    Effect.gen(function* () {
      const { json } = yield* root
      const { keptQemuMicrobits, keptQemuStateDir } = yield* virtualDevice()
      const all = yield* keptQemuMicrobits()
      if (json) return printJson(all)
      if (all.length === 0) write(`no kept emulated micro:bit (state folder ${keptQemuStateDir()})\n`)
      for (const q of all) {
        write(
          `${q.running ? "running" : "gone   "} pid ${q.pid}  ${q.ptyPath}  since ${q.startedAt}  ${q.firmwarePath}\n`,
        )
      }
    }),
  ).pipe(
    Command.withDescription(
      "list the kept emulated micro:bits: pid, serial port, start time, firmware, and whether each still runs",
    ),
    Command.withExamples([{ command: "belay qemu status --json", description: "as a JSON array" }]),
  )

  const stop = Command.make(
    "stop",
    { firmware: firmwareFlag("stop only the emulator running this firmware") },
    ({ firmware }) =>
      Effect.gen(function* () {
        const { json } = yield* root
        const { stopKeptQemuMicrobits } = yield* virtualDevice()
        const stopped = yield* stopKeptQemuMicrobits(
          firmware._tag === "Some" ? { firmwarePath: firmware.value } : {},
        )
        if (json) return printJson(stopped)
        for (const q of stopped) write(`stopped pid ${q.pid} (${q.firmwarePath})\n`)
        if (stopped.length === 0) write("no kept emulated micro:bit to stop\n")
      }),
  ).pipe(
    Command.withDescription(
      "stop the kept emulated micro:bits (QEMU and the process holding its serial port); its RAM and files go with it",
    ),
    Command.withExamples([
      { command: "belay qemu stop", description: "stop every kept emulator" },
      { command: "belay qemu stop --firmware ./firmware.hex", description: "only the one running that file" },
    ]),
  )

  return Command.make("qemu").pipe(
    Command.withDescription(
      "the emulated micro:bit that --device qemu:microbit keeps running between commands, one per firmware file, so that `belay cp x.py :` then `belay ls` sees the file; it runs until `belay qemu stop`",
    ),
    Command.withExamples([
      { command: "belay qemu status", description: "is one running, and on which serial port" },
      { command: "belay qemu stop", description: "stop it" },
    ]),
    Command.withSubcommands([start, status, stop]),
  )
}

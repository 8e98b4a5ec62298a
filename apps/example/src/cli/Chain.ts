/**
 * Several commands on one connection, as mpremote chains them: `belay exec "x = 1" + eval "x"`.
 * The board's connection is opened once, before the first command, in a memo map that every
 * command's own `onBoard` finds it in (the board layer is one value per device, see `Board.ts`),
 * and closed after the last: the board's RAM (globals, imports) carries from one command to the
 * next, and the chain pays for one connection. The first command that fails ends the chain.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { boardLayer } from "./Board.js"
import { lastDeviceArgument } from "./DeviceArgument.js"
import { UsageError } from "./Failure.js"
import { chooseDevice, readCliConfig, UNSET_DEVICE } from "./Flags.js"
import { isFleetDevice, isLentFleetDevice, lentFleetDevice, needsLentLink } from "./FleetDevice.js"

/** The word that separates chained commands. */
export const CHAIN_SEPARATOR = "+"

/**
 * `argv` cut at each `+` into the command lines of a chain (one line when there is no `+`).
 * Empty lines (`a + + b`, a leading or trailing `+`) are kept, so the parser reports them.
 *
 * @example
 * splitChain(["exec", "x=1", "+", "eval", "x"]) // [["exec", "x=1"], ["eval", "x"]]
 */
export const splitChain = (argv: ReadonlyArray<string>): Array<Array<string>> => {
  const lines: Array<Array<string>> = [[]]
  for (const arg of argv) {
    if (arg === CHAIN_SEPARATOR) lines.push([])
    else lines.at(-1)?.push(arg)
  }
  return lines
}

/**
 * The device a chain runs on: the last `--device`/`-d` given in any of its command lines (so it
 * can be written once, anywhere), else unset (then `BELAY_DEVICE`, the config file or `auto`).
 *
 * @example
 * chainDevice([["exec", "x=1", "-d", "serial:/dev/ttyACM0"], ["eval", "x"]]) // "serial:/dev/ttyACM0"
 */
export const chainDevice = (lines: ReadonlyArray<ReadonlyArray<string>>): string =>
  lastDeviceArgument(lines.flat()) ?? UNSET_DEVICE

/**
 * Run each command line of a chain in turn with `runLine`, all on one connection to the chain's
 * device: each line is given the chain's `--device`, so that every command uses the connection
 * opened for the chain.
 *
 * @example
 * yield* runChain([["exec", "x=1"], ["eval", "x"]], (argv) => Command.runWith(cli, { version })(argv))
 */
export const runChain = <E, R>(
  lines: ReadonlyArray<ReadonlyArray<string>>,
  runLine: (argv: ReadonlyArray<string>) => Effect.Effect<void, E, R>,
) => {
  const memoMap = Layer.makeMemoMapUnsafe()
  return Effect.scoped(
    Effect.gen(function* () {
      // The chain's board, resolved once (an alias, the config file, `auto`), named in every line.
      const { device: chosen } = yield* Effect.try({
        try: () => chooseDevice(chainDevice(lines), readCliConfig()),
        catch: (error) => (error instanceof UsageError ? error : new UsageError(String(error))),
      })
      // A fleet board: each command is its own call to the board's runner (the board's RAM
      // carries from one to the next all the same, as between any two calls), unless a command
      // needs the board's link (a REPL, a mount...): then the whole chain runs over it, lent.
      const chained = isFleetDevice(chosen) && lines.some(needsLentLink) ? lentFleetDevice(chosen) : chosen
      // Connect once: every command's `onBoard(device, ...)` finds this build in the memo map.
      if (!isFleetDevice(chained) || isLentFleetDevice(chained))
        yield* Layer.buildWithMemoMap(boardLayer(chained), memoMap, yield* Effect.scope)
      for (const line of lines) yield* runLine(withDevice(line, chained))
    }),
  ).pipe(Effect.provideService(Layer.CurrentMemoMap, memoMap))
}

/** `line` with its own `--device` flags replaced by the chain's. */
export const withDevice = (line: ReadonlyArray<string>, device: string): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < line.length; i++) {
    const arg = line[i] as string
    if ((arg === "--device" || arg === "-d") && i + 1 < line.length) i++
    else if (!arg.startsWith("--device=")) out.push(arg)
  }
  return [...out, "--device", device]
}

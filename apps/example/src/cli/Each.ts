/**
 * `belay each <file>`: a file of commands, one per line, run in turn as one chain (as if joined
 * with `+`) on the board `--device` names, or on each of several boards at once
 * (`--device a0,a1`). A line is written as on the command line (quotes, backslashes), without
 * `belay` (a leading `belay` is allowed); blank lines and lines starting with `#` are skipped; a
 * line may chain commands with `+` itself.
 */
import { readFile } from "node:fs/promises"
import { splitCommandLine } from "@belay/extensions"
import * as Effect from "effect/Effect"
import { splitChain } from "./Chain.js"
import { lastDeviceArgument } from "./DeviceArgument.js"
import { UsageError } from "./Failure.js"

/** The flags `each` takes itself (the shared ones); the rest of its line is the file. */
const OWN_FLAGS = new Set(["--json", "--unchecked", "--minify", "--no-minify"])

/**
 * The command lines of an `each` file.
 *
 * @example
 * eachFileLines('# setup\nexec "x = 1"\n\nbelay eval x + ls\n') // [["exec", "x = 1"], ["eval", "x"], ["ls"]]
 */
export const eachFileLines = (text: string, file = "the file"): Array<Array<string>> => {
  const lines: Array<Array<string>> = []
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim()
    if (line === "" || line.startsWith("#")) return
    let words: Array<string>
    try {
      words = splitCommandLine(line)
    } catch (error) {
      throw new UsageError(
        `${file}, line ${index + 1}: ${(error as { reason?: string }).reason ?? String(error)}`,
      )
    }
    if (words[0] === "belay") words.shift()
    for (const command of splitChain(words)) {
      if (command.length === 0)
        throw new UsageError(`${file}, line ${index + 1}: an empty command: put one command between each '+'`)
      if (command[0] === "each") throw new UsageError(`${file}, line ${index + 1}: each cannot run each`)
      lines.push(command)
    }
  })
  if (lines.length === 0) throw new UsageError(`${file} holds no command (blank lines and # comments only)`)
  return lines
}

/**
 * `belay each <file> [--device ...]` read: the file's command lines and the `--device` given on
 * the command line (undefined when none: as configured).
 *
 * @example
 * const { lines, device } = yield* readEach(["each", "setup.txt", "--device", "a0,a1"])
 */
export const readEach = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const operands: Array<string> = []
    for (let i = 1; i < argv.length; i++) {
      const word = argv[i] as string
      if (word === "--device" || word === "-d") i++
      else if (word.startsWith("--device=") || OWN_FLAGS.has(word)) continue
      else if (word.startsWith("-") && word !== "-")
        return yield* Effect.fail(
          new UsageError(
            `each does not take ${word}`,
            "belay each <file> [--device ...] [--json]: the commands' own flags go on their lines in the file",
          ),
        )
      else operands.push(word)
    }
    if (operands.length !== 1)
      return yield* Effect.fail(
        new UsageError(
          operands.length === 0 ? "each needs a file of commands" : "each takes one file of commands",
          "belay each <file> [--device a0,a1]: one command per line, as after `belay`",
        ),
      )
    const file = operands[0] as string
    const text = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8"),
      catch: (e) => new UsageError(`cannot read ${file}: ${(e as Error).message}`),
    })
    const lines = yield* Effect.try({
      try: () => eachFileLines(text, file),
      catch: (error) => (error instanceof UsageError ? error : new UsageError(String(error))),
    })
    return { lines, device: lastDeviceArgument(argv) }
  })

/**
 * One command line on several boards (`--device a0,a1,virtual?name=b`, `auto-all`): the boards
 * open together as a `BoardPool`, then the command (or chain) runs on each at once, as it runs on
 * one board, each board on its own connection and sessions. Each board's output is its own:
 * its lines on stdout and stderr prefixed `[key] `; with `--json`, one object keyed by board whose
 * values are what the command prints for that board alone. One board failing does not stop the
 * others; the exit code is the highest of the boards' codes (0 when every board succeeded).
 *
 * Loaded only for such a command line: a command on one board never loads it.
 */
import { format } from "node:util"
import { type BoardEntry, BoardPoolOpenError, makeBoardPool } from "@belay/extensions"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import { boardLayer, defaultVirtualDir, logLevel } from "./Board.js"
import { withDevice } from "./Chain.js"
import { commandWords } from "./DeviceArgument.js"
import { describeError, describeFailure, type Failure, reportFailure, UsageError } from "./Failure.js"
import { isFleetDevice, lentFleetDevice } from "./FleetDevice.js"
import { CurrentOutputSink, type OutputSink, processOutput } from "./Output.js"

/** Commands that hold a terminal or a host folder for one board: refused with several. */
const ONE_BOARD_ONLY = new Set(["repl", "mount", "edit"])

/** The placeholder a host path of `cp` and `fs get` takes for the board's key, made a file name. */
export const BOARD_PLACEHOLDER = "{board}"

/** A board's key as a file name: `/dev/ttyACM0` is `dev_ttyACM0`, `virtual?name=a` is `virtual_name_a`. */
export const boardFileName = (key: string): string =>
  key.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "") || "board"

/** Copying from the boards to this computer: the host path each board's copy lands on. */
const hostTarget = (line: ReadonlyArray<string>): string | undefined => {
  const { name, operands } = commandWords(line)
  if (name === "get") return operands.at(-1)
  if (
    name === "cp" &&
    operands.slice(0, -1).some((o) => o.startsWith(":")) &&
    !operands.at(-1)?.startsWith(":")
  )
    return operands.at(-1)
  return undefined
}

/**
 * The usage error for a command line that cannot run on several boards at once: an interactive
 * command, or a copy to this computer that every board would write to the same host path.
 */
export const refusalOnSeveral = (lines: ReadonlyArray<ReadonlyArray<string>>): UsageError | undefined => {
  for (const line of lines) {
    const { name } = commandWords(line)
    if (name !== undefined && ONE_BOARD_ONLY.has(name))
      return new UsageError(
        `${name} works on one board at a time, and --device names several`,
        "name one board with --device, or run the command once per board",
      )
    const lockRefusal = projectFilesOnSeveral(line)
    if (lockRefusal !== undefined) return lockRefusal
    const target = hostTarget(line)
    if (target !== undefined && !target.includes(BOARD_PLACEHOLDER))
      return new UsageError(
        `copying from several boards to ${JSON.stringify(target)} would write every board's file to the same place`,
        `put ${BOARD_PLACEHOLDER} in the host path, which becomes each board's name: belay cp :log.txt logs/${BOARD_PLACEHOLDER}.txt`,
      )
  }
  return undefined
}

/** `install`'s flags that take a value. */
const INSTALL_VALUE_FLAGS = new Set(["--target", "--index"])

/**
 * An `install` that would write the project's files (package.json, belay-lock.json) from every
 * board at once: `--save`, or the project's dependencies without `--frozen` (resolving may rewrite
 * the lock, which records one board's .mpy version). Named packages without `--save`, and
 * `--frozen` or `--dry-run`, write nothing of the project.
 */
const projectFilesOnSeveral = (line: ReadonlyArray<string>): UsageError | undefined => {
  if (commandWords(line).name !== "install") return undefined
  const at = line.indexOf("install")
  const operands: Array<string> = []
  for (let i = at + 1; i < line.length; i++) {
    const word = line[i] as string
    if (INSTALL_VALUE_FLAGS.has(word) || word === "--device" || word === "-d") i++
    else if (!word.startsWith("-")) operands.push(word)
  }
  const hint =
    "install the project on one board first (it writes belay-lock.json), then on all of them with --frozen"
  if (line.includes("--save"))
    return new UsageError(
      "install --save writes package.json and belay-lock.json: not from several boards at once",
      hint,
    )
  if (operands.length === 0 && !line.includes("--frozen") && !line.includes("--dry-run"))
    return new UsageError(
      "installing the project's dependencies may rewrite belay-lock.json: on several boards, only with --frozen",
      hint,
    )
  return undefined
}

/** `line` for one board: its `{board}` host paths (of `cp`, `fs get`) made that board's. */
const forBoard = (line: ReadonlyArray<string>, key: string): Array<string> =>
  hostTarget(line) === undefined
    ? [...line]
    : line.map((w) => w.split(BOARD_PLACEHOLDER).join(boardFileName(key)))

/** Text cut into whole lines, each prefixed; the rest waits for its end of line. */
const linePrefixer = (prefix: string) => {
  let pending = ""
  const decoder = new TextDecoder()
  const prefixed = (text: string) =>
    text
      .split("\n")
      .map((line) => `${prefix}${line}\n`)
      .join("")
  return {
    push: (chunk: string | Uint8Array): string => {
      pending += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true })
      const end = pending.lastIndexOf("\n")
      if (end < 0) return ""
      const whole = pending.slice(0, end)
      pending = pending.slice(end + 1)
      return prefixed(whole)
    },
    flush: (): string => {
      pending += decoder.decode()
      const rest = pending
      pending = ""
      return rest === "" ? "" : prefixed(rest)
    },
  }
}

/** A board's share of the output: prefixed lines (stdout kept whole under `--json`). */
const boardOutput = (key: string, json: boolean) => {
  const prefix = `[${key}] `
  const out = linePrefixer(prefix)
  const err = linePrefixer(prefix)
  const kept: Array<string> = []
  const decoder = new TextDecoder()
  const keep = (chunk: string | Uint8Array) => {
    kept.push(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }))
  }
  const sink: OutputSink = {
    write: (chunk) => (json ? keep(chunk) : processOutput.write(out.push(chunk))),
    print: (chunk) => (json ? Effect.sync(() => keep(chunk)) : processOutput.print(out.push(chunk))),
    writeError: (text) => processOutput.writeError(err.push(text)),
  }
  // What the argument parser prints (its errors, with help) is kept: the same usage error on every
  // board is told once (see `onBoards`).
  const parserOutput: Array<string> = []
  const parserLine = (...parts: ReadonlyArray<unknown>) => {
    parserOutput.push(`${format(...parts)}\n`)
  }
  const console: Console.Console = {
    ...globalThis.console,
    log: parserLine,
    info: parserLine,
    error: parserLine,
    warn: parserLine,
  }
  return {
    sink,
    console,
    /** What the parser printed for this board. */
    parserOutput: () => parserOutput.join(""),
    /** The partial last lines, ended. */
    flush: () => {
      if (!json) processOutput.write(out.flush())
      processOutput.writeError(err.flush())
    },
    /** What the command printed on stdout for this board, as a JSON value (see {@link jsonOf}). */
    json: () => jsonOf(kept.join("") + decoder.decode()),
  }
}

type BoardOutput = ReturnType<typeof boardOutput>

/**
 * A board's stdout under `--json` as one value: the JSON it printed; several JSON lines (a chain)
 * as an array; nothing as null; anything else (`exec`'s output) as a string.
 */
export const jsonOf = (text: string): unknown => {
  const trimmed = text.trim()
  if (trimmed === "") return null
  try {
    return JSON.parse(trimmed)
  } catch {
    const lines = trimmed.split("\n").filter((line) => line.trim() !== "")
    try {
      return lines.map((line) => JSON.parse(line))
    } catch {
      return text
    }
  }
}

/** Log lines on the stderr of the board they are about (the pool annotates them with its key). */
const boardLogger = (outputs: ReadonlyMap<string, BoardOutput>) =>
  Logger.make(({ cause, date, fiber, logLevel, message }) => {
    const { board, ...annotations } = fiber.getRef(References.CurrentLogAnnotations)
    const parts = Array.isArray(message) ? [...message] : [message]
    if (cause.reasons.length > 0) parts.push(Cause.pretty(cause))
    if (Object.keys(annotations).length > 0) parts.push(annotations)
    const time = `${date.toTimeString().slice(0, 8)}.${String(date.getMilliseconds()).padStart(3, "0")}`
    const line = `[${time}] ${logLevel.toUpperCase()} (#${fiber.id}): ${format(...parts)}\n`
    const output = typeof board === "string" ? outputs.get(board) : undefined
    if (output !== undefined) output.sink.writeError(line)
    else processOutput.writeError(line)
  })

/** Tell about one board's failure on its own output, and its exit code. */
const reportOn = (output: BoardOutput, failure: Failure, json: boolean) =>
  Effect.sync(() => {
    reportFailure(failure, json)
    return failure.exitCode
  }).pipe(Effect.provideService(CurrentOutputSink, output.sink))

/** `BELAY_POOL_CONCURRENCY`: how many boards at once (default all). */
const concurrencyOf = (): number | undefined => {
  const text = process.env.BELAY_POOL_CONCURRENCY
  if (text === undefined || text === "") return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`BELAY_POOL_CONCURRENCY must be a whole number from 1, got ${JSON.stringify(text)}`)
  return n
}

/** What a run on several boards needs from `main`. */
export interface PoolRun {
  readonly boards: ReadonlyArray<BoardEntry & { readonly key: string }>
  /** The command lines (a chain, or `belay each`'s file), run in turn on each board. */
  readonly lines: ReadonlyArray<ReadonlyArray<string>>
  /** Run one command line (the parser and the command), the parser printing through `Console`. */
  readonly runLine: (argv: ReadonlyArray<string>) => Effect.Effect<void, unknown>
  /** What the parser's own failures are (a usage error, help), as `main` tells them. */
  readonly parserFailure: (cause: Cause.Cause<unknown>) => Failure | null | undefined
  readonly json: boolean
}

/**
 * Run command lines on several boards; succeeds with the exit code (the highest of the boards'),
 * having printed every board's output. Fails only before any board runs: a list that is not one
 * (`DuplicateBoardError`, `BoardListError`, a bad connection string) or a command that cannot run
 * on several boards (`UsageError`).
 *
 * @example
 * const code = yield* runOnBoards({ boards: [{ key: "a0", device: "a0" }], lines: [["exec", "pass"]], runLine, parserFailure, json: false })
 */
export const runOnBoards = (run: PoolRun): Effect.Effect<number, unknown> =>
  Effect.suspend(() => {
    const outputs = new Map(run.boards.map((b) => [b.key, boardOutput(b.key, run.json)]))
    return Effect.scoped(onBoards(run, outputs)).pipe(
      Effect.provideService(Logger.CurrentLoggers, new Set([boardLogger(outputs)])),
      Effect.provideService(References.MinimumLogLevel, logLevel()),
    )
  })

const onBoards = (run: PoolRun, outputs: Map<string, BoardOutput>) =>
  Effect.gen(function* () {
    const refusal = refusalOnSeveral(run.lines)
    if (refusal !== undefined) return yield* Effect.fail(refusal)
    // A fleet board in the pool runs the command over its link, lent by its runner for the
    // command, as the pool's other boards run it over their own connections.
    const boards = run.boards.map((b) => {
      const device = typeof b === "string" ? b : b.device
      return isFleetDevice(device) ? { key: b.key, device: lentFleetDevice(device) } : b
    })
    const concurrency = yield* Effect.try({ try: concurrencyOf, catch: (error) => error })
    // Boards a selector found (auto-all) get their output when the pool knows them.
    const outputOf = (key: string) => {
      let output = outputs.get(key)
      if (output === undefined) {
        output = boardOutput(key, run.json)
        outputs.set(key, output)
      }
      return output
    }
    // Every board's stack is built once, in this memo map: each command's own `onBoard` finds it there.
    const memoMap = Layer.makeMemoMapUnsafe()
    const opened = yield* Effect.exit(
      makeBoardPool({
        boards,
        layer: (board) => boardLayer(board.device),
        memoMap,
        // What the CLI's boards are (kept virtual boards, one per flash folder), to tell duplicates.
        keepVirtual: true,
        keepQemu: true,
        virtualDir: defaultVirtualDir(),
        ...(concurrency !== undefined && { concurrency }),
      }),
    )
    const codes = new Map<string, number>()
    if (Exit.isFailure(opened)) {
      const error = Cause.findErrorOption(opened.cause)
      // No board opened: each board's failure on its own output.
      if (error._tag === "None" || !(error.value instanceof BoardPoolOpenError))
        return yield* Effect.failCause(opened.cause)
      for (const failure of error.value.failures)
        codes.set(failure.key, yield* reportOn(outputOf(failure.key), describeError(failure, true), run.json))
    } else {
      const pool = opened.value
      for (const key of pool.keys) outputOf(key)
      const results = yield* pool.forEachBoard((board) =>
        Effect.gen(function* () {
          const output = outputOf(board.key)
          const exit = yield* Effect.exit(
            Effect.forEach(
              run.lines,
              (line) => run.runLine(withDevice(forBoard(line, board.key), board.device)),
              {
                discard: true,
              },
            ).pipe(
              Effect.provideService(Layer.CurrentMemoMap, memoMap),
              Effect.provideService(Console.Console, output.console),
              Effect.provideService(CurrentOutputSink, output.sink),
            ),
          )
          if (Exit.isSuccess(exit)) return { code: 0 }
          const known = run.parserFailure(exit.cause)
          if (known === null) return { code: 0 }
          // The parser refused the command line: told after every board ran, once if the same everywhere.
          if (known !== undefined) return { code: known.exitCode, parser: known }
          return { code: yield* reportOn(output, describeFailure(exit.cause), run.json) }
        }),
      )
      const refused = [...results].flatMap(([key, exit]) =>
        Exit.isSuccess(exit) && exit.value.parser !== undefined ? [{ key, failure: exit.value.parser }] : [],
      )
      const told = refused.map(({ key }) => outputOf(key).parserOutput())
      const first = refused[0]
      if (first !== undefined && refused.length === results.size && told.every((text) => text === told[0])) {
        // One usage error of the command line itself, before any board did anything: as on one board,
        // where the parser prints on stdout (stderr under --json).
        ;(run.json ? processOutput.writeError : processOutput.write)(told[0] as string)
        reportFailure(first.failure, run.json)
        return first.failure.exitCode
      }
      for (const { key, failure } of refused) {
        outputOf(key).sink.writeError(outputOf(key).parserOutput())
        yield* reportOn(outputOf(key), failure, run.json)
      }
      for (const [key, exit] of results) {
        if (Exit.isSuccess(exit)) codes.set(key, exit.value.code)
        else {
          // A board that did not open (the others did).
          const error = Cause.findErrorOption(exit.cause)
          const failure =
            error._tag === "Some" ? describeError(error.value, true) : describeFailure(exit.cause)
          codes.set(key, yield* reportOn(outputOf(key), failure, run.json))
        }
      }
    }
    for (const output of outputs.values()) output.flush()
    if (run.json) {
      const keyed: Record<string, unknown> = {}
      for (const key of codes.keys()) keyed[key] = outputOf(key).json()
      processOutput.write(`${JSON.stringify(keyed)}\n`)
    } else {
      const failed = [...codes].filter(([, code]) => code !== 0)
      if (failed.length > 0)
        processOutput.writeError(
          `belay: ${failed.length} of ${codes.size} boards failed: ${failed.map(([key, code]) => `${key} (exit ${code})`).join(", ")}\n`,
        )
    }
    return Math.max(0, ...codes.values())
  })

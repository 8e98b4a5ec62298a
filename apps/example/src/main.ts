import { readFile } from "node:fs/promises"
import { DeviceSessionManager } from "@belay/core"
import { checkHealth } from "@belay/extensions"
import { DeviceCommunication, parsePythonLiteral } from "@belay/transport"
import { listSerialPorts } from "@belay/transport/serial"
import { NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, type Fiber, Logger, Result, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { runBench } from "./cli/Bench.js"
import { onBoard } from "./cli/Board.js"
import { runDemo } from "./cli/Demo.js"
import { describeFailure, ExitCode, UsageError } from "./cli/Failure.js"
import { fsCommand } from "./cli/Fs.js"
import { boardText, print, printJson, toJson, watchOutput, write, writeError } from "./cli/Output.js"
import { runRepl } from "./cli/Repl.js"
import { brokenPipeExitCode, stopOn } from "./cli/Stop.js"

const root = Command.make("belay").pipe(
  Command.withSharedFlags({
    device: Flag.String("device").pipe(
      Flag.withAlias("d"),
      Flag.withDescription(
        "connection: virtual (default), serial:/dev/ttyACM0[?baud=115200], /dev/ttyUSB0, exec:<command>, qemu:microbit, list",
      ),
      Flag.withDefault(process.env.BELAY_DEVICE || "virtual"),
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("print machine-readable JSON"),
      Flag.withDefault(false),
    ),
    unchecked: Flag.Boolean("unchecked").pipe(
      Flag.withDescription(
        "send exec/eval/run code as it is, without the end-to-end check of request and reply (a trusted link, or a board with no stack or heap to spare); same as BELAY_INTEGRITY=unchecked",
      ),
      Flag.withDefault(false),
    ),
  }),
  Command.withDescription("Drive a MicroPython board from the command line (the virtual board by default)."),
)

const exec = Command.make("exec", { code: Argument.String("code") }, ({ code }) =>
  Effect.gen(function* () {
    const { device } = yield* root
    // Streamed as it comes (within the usual exec timeout), so output printed before an exception
    // shows, and a closed stdout stops the code on the board.
    const text = boardText()
    yield* onBoard(
      device,
      Effect.flatMap(DeviceCommunication, (d) =>
        Stream.runForEach(d.execStream(code), (out) => print(text(out))),
      ),
    )
    yield* print(text(""))
  }),
).pipe(Command.withDescription("run Python code and print what it prints"))

const evalCommand = Command.make("eval", { expression: Argument.String("expression") }, ({ expression }) =>
  Effect.gen(function* () {
    const { device } = yield* root
    const repr = yield* onBoard(
      device,
      Effect.flatMap(DeviceCommunication, (d) => d.eval(expression)),
    )
    const parsed = parsePythonLiteral(repr)
    printJson(Result.isSuccess(parsed) ? toJson(parsed.success) : repr)
  }),
).pipe(Command.withDescription("evaluate an expression and print its value as JSON"))

const run = Command.make("run", { file: Argument.String("file.py") }, ({ file }) =>
  Effect.gen(function* () {
    const { device } = yield* root
    const code = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8"),
      catch: (e) => new UsageError(`cannot read ${file}: ${(e as Error).message}`),
    })
    const text = boardText()
    yield* onBoard(
      device,
      Effect.flatMap(DeviceCommunication, (d) =>
        Stream.runForEach(d.execStream(code, { timeout: Number.POSITIVE_INFINITY }), (out) =>
          print(text(out)),
        ),
      ),
    )
    yield* print(text(""))
  }),
).pipe(Command.withDescription("run a .py file on the board, streaming its output as it comes"))

const info = Command.make("info", {}, () =>
  Effect.gen(function* () {
    const { device, json } = yield* root
    const report = yield* onBoard(
      device,
      Effect.gen(function* () {
        const manager = yield* DeviceSessionManager
        const capabilities = yield* manager.executeInNewSession((s) =>
          Effect.succeed(s.deviceContext.capabilities),
        )
        const health = yield* checkHealth()
        const comm = yield* DeviceCommunication
        return { link: comm.description, capabilities, health }
      }),
    )
    if (json) {
      printJson({
        ...report,
        capabilities: { ...report.capabilities, detectedAt: report.capabilities.detectedAt.toISOString() },
      })
      return
    }
    const c = report.capabilities
    const rows: Array<[string, string]> = [
      ["link", report.link],
      ["board", c.machine],
      ["platform", c.platform],
      ["MicroPython", `${c.version} (${c.implementation})`],
      ["raw-paste", c.rawPaste ? `yes (window ${c.rawPasteWindow} B)` : "no"],
      ["threads", c.threads ? "yes" : "no"],
      ["hashlib", c.hashAlgorithms.length > 0 ? c.hashAlgorithms.join(", ") : "no"],
      ["binascii / json", `${c.binascii ? "yes" : "no"} / ${c.json ? "yes" : "no"}`],
      ["os", c.osFunctions.join(", ")],
      ["free memory", `${report.health.freeMemory ?? c.freeMemory} bytes`],
      ["unique id", c.uniqueId ?? "-"],
      [
        "round trip",
        report.health.latencyMs !== undefined ? `${report.health.latencyMs.toFixed(2)} ms` : "-",
      ],
    ]
    for (const [k, v] of rows) write(`${k.padEnd(16)} ${v}\n`)
  }),
).pipe(Command.withDescription("show the board's capabilities and health"))

const ports = Command.make("ports", {}, () =>
  Effect.gen(function* () {
    const { json } = yield* root
    const list = yield* listSerialPorts()
    if (json) return printJson(list)
    if (list.length === 0) write("no serial ports found\n")
    for (const p of list) {
      const id = p.vendorId ? `${p.vendorId}:${p.productId ?? "????"}` : "-"
      write(
        `${p.path.padEnd(20)} ${id.padEnd(10)} ${p.manufacturer ?? ""}${p.likelyMicroPython ? "  (likely MicroPython)" : ""}\n`,
      )
    }
  }),
).pipe(Command.withDescription("list serial ports with their USB ids"))

const repl = Command.make("repl", {}, () =>
  Effect.gen(function* () {
    const { device } = yield* root
    yield* onBoard(device, runRepl)
  }),
).pipe(Command.withDescription("an interactive terminal to the board's REPL (Ctrl-] leaves)"))

const demo = Command.make("demo", {}, () =>
  Effect.gen(function* () {
    const { device } = yield* root
    yield* onBoard(device, runDemo)
  }),
).pipe(Command.withDescription("a guided tour of Belay on the board"))

const bench = Command.make("bench", {}, () =>
  Effect.gen(function* () {
    const { device, json } = yield* root
    yield* onBoard(device, runBench(json))
  }),
).pipe(Command.withDescription("measure latency and throughput on the board"))

const cli = root.pipe(
  Command.withSubcommands([demo, exec, evalCommand, run, info, fsCommand(root), repl, bench, ports]),
)

const awaitExit = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  new Promise<Exit.Exit<A, E>>((resolve) => fiber.addObserver(resolve))

/**
 * Run the `belay` command with `args`; resolves with the exit code: 0 success, 1 a Python
 * exception on the board, 2 a usage error, 3 a connection or protocol error; 130, 143 or 129 when
 * SIGINT, SIGTERM or SIGHUP stopped it, 141 when stdout's reader went away (EPIPE). A signal or a
 * closed stdout interrupts the work, so the board gets Ctrl-C and everything is cleaned up first.
 */
export const main = async (args: ReadonlyArray<string>): Promise<number> => {
  // `--device list` is the port listing.
  const argv = [...args]
  // Read by the board's options (`BELAY_INTEGRITY`) when the command connects.
  if (argv.includes("--unchecked")) process.env.BELAY_INTEGRITY = "unchecked"
  const at = argv.findIndex((a, i) => (a === "--device" || a === "-d") && argv[i + 1] === "list")
  if (at >= 0 && !argv.includes("ports")) {
    argv.splice(at, 2)
    argv.unshift("ports")
  }
  const fiber = Effect.runFork(
    Command.runWith(cli, { version: "0.0.0" })(argv).pipe(
      Effect.provide(NodeServices.layer),
      // stdout carries what the command prints (JSON with --json); logs go to stderr.
      Effect.provideService(Logger.LogToStderr, true),
    ),
  )
  const stopper = stopOn(fiber)
  const output = watchOutput(() => stopper.stop({ kind: "pipe", code: brokenPipeExitCode }))
  const exit = await awaitExit(fiber)
  const delivered = await output.flush()
  stopper.done()
  const stopped = stopper.reason ?? (delivered ? undefined : { kind: "pipe", code: brokenPipeExitCode })
  if (stopped !== undefined) {
    // Stopped on purpose: quiet, unless stopping itself went wrong (a board that did not come back).
    if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) && stopped.kind === "signal") {
      const { message } = describeFailure(exit.cause)
      writeError(`${message}\n`)
    }
    return stopped.code
  }
  if (Exit.isSuccess(exit)) return ExitCode.ok
  const error = Cause.findErrorOption(exit.cause)
  if (
    error._tag === "Some" &&
    typeof error.value === "object" &&
    error.value !== null &&
    "_tag" in error.value
  ) {
    const tag = String(error.value._tag)
    if (tag === "ShowHelp")
      return (error.value as { errors: ReadonlyArray<unknown> }).errors.length > 0
        ? ExitCode.usage
        : ExitCode.ok
    if (
      [
        "UnrecognizedOption",
        "DuplicateOption",
        "MissingOption",
        "MissingArgument",
        "UnexpectedArgument",
        "InvalidValue",
        "UnknownSubcommand",
        "ValidationError",
      ].includes(tag)
    ) {
      writeError(`belay: ${(error.value as Error).message}\n`)
      return ExitCode.usage
    }
  }
  const { code, message } = describeFailure(exit.cause)
  writeError(`${message}\n`)
  return code
}

/**
 * The `belay` command's full argument parser (effect/cli) and every command. The command lines
 * people run most skip this module (see `cli/FastPath.ts`), and what a command needs beyond the
 * parser (the file system, the demo, the bench, the REPL, the virtual board) is imported when that
 * command runs, so each command loads only what it uses.
 */
import { readFile } from "node:fs/promises"
import { DeviceSessionManager } from "@belay/core"
import { DeviceCommunication, MinifyPython, minifyPython } from "@belay/transport"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Argument from "effect/cli/Argument"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { onBoard } from "./cli/Board.js"
import { chainDevice, runChain, splitChain, withDevice } from "./cli/Chain.js"
import { talksToBoard } from "./cli/DeviceArgument.js"
import { evalExpression, execCode } from "./cli/Exec.js"
import { ExitCode, type Failure, UsageError } from "./cli/Failure.js"
import { fileCommands } from "./cli/Files.js"
import { chooseBoards, readCliConfig, UNSET_DEVICE } from "./cli/Flags.js"
import { fleetCommand, fleetDeviceOf } from "./cli/Fleet.js"
import { fsCommand } from "./cli/Fs.js"
import { installCommands } from "./cli/Install.js"
import { boardText, print, printJson, watchStreams, write, writeError } from "./cli/Output.js"
import { qemuCommand } from "./cli/Qemu.js"
import { runToExitCode } from "./cli/Run.js"
import { cliVersion } from "./cli/Version.js"
import { virtualCommand } from "./cli/Virtual.js"

/** What `exec` and `eval` do once their arguments are parsed (replaceable to test the parser). */
export interface Actions {
  readonly exec: (device: string, code: string) => Effect.Effect<void, unknown>
  readonly eval: (device: string, expression: string, json: boolean) => Effect.Effect<void, unknown>
}

/** `--device fleet:<id>`: through the fleet (its module loads only then). */
const fleetActions = () => Effect.promise(() => import("./cli/FleetActions.js"))

const boardActions: Actions = {
  exec: (device, code) => {
    const fleet = fleetDeviceOf(device)
    return fleet !== undefined
      ? Effect.flatMap(fleetActions(), (f) => f.fleetExec(fleet, code))
      : execCode(device, code)
  },
  eval: (device, expression, json) => {
    const fleet = fleetDeviceOf(device)
    return fleet !== undefined
      ? Effect.flatMap(fleetActions(), (f) => f.fleetEval(fleet, expression, json))
      : evalExpression(device, expression, json)
  },
}

const root = Command.make("belay").pipe(
  Command.withSharedFlags({
    device: Flag.String("device").pipe(
      Flag.withAlias("d"),
      Flag.withDescription(
        "the board: auto (the first port that looks like a MicroPython board), a0..a9 (/dev/ttyACM0..), u0..u9 (/dev/ttyUSB0..), c0..c99 (COM0..), ttyACM0, /dev/ttyUSB0, COM3, id:<USB serial number>, usb:vid=2e8a,pid=0005[,serial=..,manufacturer=..,location=..] (the one serial port whose USB identity matches every field given: ids in hex, any case; manufacturer any part of it; location as `belay ports` shows it), serial:<port>[?baud=115200], exec:<command> (a process on pipes; a MicroPython unix build named micropython... gets -i so that its REPL runs on them), exec-pty:<command> (a process on a raw pseudo-terminal, for one that wants a terminal: ssh -t, docker run -it; needs util-linux's script), qemu:microbit[?firmware=<hex>] (an emulated micro:bit, kept running between commands until `belay qemu stop`; ?keep=false for one that stops with the command), tcp:host:port (a raw TCP byte stream: socat, ESP-Link, ser2net's tcp), rfc2217:host:port[?baud=115200] (a serial port behind a telnet RFC 2217 server such as ser2net), ws://<host>[:8266] (a board's WebREPL; password from BELAY_WEBREPL_PASSWORD, the config file's webReplPassword, or asked on a terminal), fleet:<runner>/<board> or fleet:<serial number> (a board of the fleet, on another host's runner: see `belay fleet`; the serial number is its USB serial number or machine.unique_id() in hex, as `belay fleet ls` shows; ?link=lent runs every command of the line over the board's link, lent by its runner), virtual (MicroPython in WebAssembly, no hardware; kept running between commands, one per flash folder, until `belay virtual stop` or 15 minutes without a command; ?keep=false for one in the command's own process), list (the ports), or an alias from the config file. Several boards, comma-separated (a0,a1,virtual?name=b; auto-all: every port that looks like MicroPython; a usb: selector in a list: every port it matches): the command runs on each at once, each line of output prefixed [board], --json keyed by board, the exit code the worst board's; repl, mount and edit take one board. Default: BELAY_DEVICE, else the config file's device (~/.config/belay/config.json), else auto",
      ),
      Flag.withDefault(UNSET_DEVICE),
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("print machine-readable JSON"),
      Flag.withDefault(false),
    ),
    minify: Flag.Boolean("minify").pipe(
      Flag.withDescription(
        'send Python minified (run files, the demo\'s board functions): comments, docstrings and blank lines removed, one space per indent level, every line keeping its number (the default); --no-minify sends it as written, as BELAY_MINIFY=0 or "minify": false in the config file do',
      ),
      Flag.withDefault(true),
    ),
    unchecked: Flag.Boolean("unchecked").pipe(
      Flag.withDescription(
        "send exec/eval/run code as it is, without the end-to-end check of request and reply (a trusted link, or a board with no stack or heap to spare); same as BELAY_INTEGRITY=unchecked",
      ),
      Flag.withDefault(false),
    ),
  }),
  Command.withDescription(
    'Drive a MicroPython board from the command line: a board plugged in (found automatically), a port you name, a process, the emulated micro:bit or the virtual board (--device virtual). Chain commands on one connection with +: belay exec "x = 1" + eval "x". Several boards at once: --device a0,a1.',
  ),
  Command.withExamples([
    { command: `belay exec "print('hi')"`, description: "on the board plugged in" },
    { command: `belay eval "1 + 1" --device virtual`, description: "on the virtual board, no hardware" },
    { command: "belay fs ls --device a0", description: "the files of the board on /dev/ttyACM0" },
    { command: 'belay exec "x = 1" + eval "x"', description: "two commands on one connection" },
    {
      command: 'belay exec "import os; print(os.uname())" --device a0,a1',
      description: "on two boards at once",
    },
  ]),
)

/** The code of a `run` file as it travels: minified, unless `--no-minify`, `BELAY_MINIFY=0` or the config file says otherwise. */
const sendable = (code: string) =>
  MinifyPython.use((minify) => Effect.succeed(minify ? minifyPython(code) : code))

const run = Command.make(
  "run",
  {
    file: Argument.String("file.py").pipe(Argument.withDescription("a Python file on this computer")),
    noFollow: Flag.Boolean("no-follow").pipe(
      Flag.withDescription("start the code and return at once, leaving it running (its output is not shown)"),
      Flag.withDefault(false),
    ),
  },
  ({ file, noFollow }) =>
    Effect.gen(function* () {
      const { device } = yield* root
      const code = yield* Effect.tryPromise({
        try: () => readFile(file, "utf8"),
        catch: (e) => new UsageError(`cannot read ${file}: ${(e as Error).message}`),
      })
      const fleet = fleetDeviceOf(device)
      // Without --no-follow, through the fleet's calls; with it, over the board's lent link.
      if (fleet !== undefined && !noFollow)
        return yield* Effect.flatMap(fleetActions(), (f) => f.fleetRun(fleet, code))
      if (noFollow) {
        const { startDetached } = yield* Effect.promise(() => import("./cli/RunDetached.js"))
        yield* onBoard(device, Effect.flatMap(sendable(code), startDetached))
        writeError(`${file} started on the board; its output is not followed\n`)
        return
      }
      const text = boardText()
      yield* onBoard(
        device,
        Effect.flatMap(Effect.all([DeviceCommunication, sendable(code)]), ([d, sent]) =>
          Stream.runForEach(d.execStream(sent, { timeout: Number.POSITIVE_INFINITY }), (out) =>
            print(text(out)),
          ),
        ),
      )
      yield* print(text(""))
    }),
).pipe(
  Command.withDescription("run a .py file on the board, streaming its output as it comes"),
  Command.withExamples([
    { command: "belay run blink.py --device a0", description: "run blink.py on /dev/ttyACM0" },
    { command: "belay run server.py --no-follow", description: "start server.py and leave it running" },
  ]),
)

const info = Command.make("info", {}, () =>
  Effect.gen(function* () {
    const { device, json } = yield* root
    const fleet = fleetDeviceOf(device)
    if (fleet !== undefined) return yield* Effect.flatMap(fleetActions(), (f) => f.fleetInfo(fleet, json))
    const { checkHealth } = yield* Effect.promise(() => import("@belay/extensions"))
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
      [
        "firmware",
        `${c.flavor === "circuitpython" ? "CircuitPython" : "MicroPython"} ${c.version} (${c.implementation})`,
      ],
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
).pipe(
  Command.withDescription("show the board's capabilities and health"),
  Command.withExamples([{ command: "belay info --json", description: "the same as one JSON object" }]),
)

const ports = Command.make("ports", {}, () =>
  Effect.gen(function* () {
    const { json } = yield* root
    const { listSerialPorts } = yield* Effect.promise(() => import("@belay/transport/serial"))
    const { portsTable } = yield* Effect.promise(() => import("./cli/Ports.js"))
    const list = yield* listSerialPorts()
    if (json) return printJson(list)
    write(portsTable(list))
  }),
).pipe(
  Command.withDescription(
    "list serial ports with the fields --device usb: matches on (vid:pid, serial number, manufacturer, location) and whether they look like a MicroPython board",
  ),
  Command.withExamples([
    { command: "belay ports", description: "a table of the ports" },
    { command: "belay ports --json", description: "as JSON, with every field" },
    {
      command: "belay exec 'print(1)' --device usb:vid=2e8a,pid=0005,serial=E6614C311B7E6F35",
      description: "then name a board by what tells it apart",
    },
  ]),
)

const repl = Command.make(
  "repl",
  {
    capture: Flag.String("capture").pipe(
      Flag.withDescription("append everything the board prints to this host file"),
      Flag.optional,
    ),
    injectCode: Flag.String("inject-code").pipe(
      Flag.withDescription("code that Ctrl-J types into the REPL (then Enter)"),
      Flag.optional,
    ),
  },
  ({ capture, injectCode }) =>
    Effect.gen(function* () {
      const { device } = yield* root
      const { replSession } = yield* Effect.promise(() => import("./cli/Repl.js"))
      yield* onBoard(
        device,
        replSession({
          ...(capture._tag === "Some" && { capture: capture.value }),
          ...(injectCode._tag === "Some" && { injectCode: injectCode.value }),
        }),
      )
    }),
).pipe(
  Command.withDescription("an interactive terminal to the board's REPL (Ctrl-] leaves)"),
  Command.withExamples([
    { command: "belay repl --device u0", description: "the REPL of the board on /dev/ttyUSB0" },
    { command: "belay repl --capture session.log", description: "a REPL, its output also in session.log" },
    { command: "belay repl --inject-code 'import main'", description: "Ctrl-J types import main" },
  ]),
)

const mount = Command.make(
  "mount",
  {
    dir: Argument.String("local-dir").pipe(Argument.withDescription("the folder on this computer")),
    at: Flag.String("at").pipe(
      Flag.withDescription("where on the board (an absolute path)"),
      Flag.withDefault("/remote"),
    ),
    writable: Flag.Boolean("writable").pipe(
      Flag.withDescription("let the board's code create, change and remove files in the folder"),
      Flag.withDefault(false),
    ),
    unsafeLinks: Flag.Boolean("unsafe-links").pipe(
      Flag.withDescription("follow symlinks that lead out of the folder"),
      Flag.withDefault(false),
    ),
    command: Argument.String("command").pipe(
      Argument.withDescription("the command to run with the folder mounted, and its arguments"),
      Argument.variadic(),
    ),
  },
  // `main` runs mount lines itself (cli/Mount.ts); the parser sees one only for --help.
  () => Effect.fail(new UsageError("mount needs a command to run with the folder mounted")),
).pipe(
  Command.withDescription(
    "mount a folder of this computer on the board (at /remote, its working directory and first in sys.path) while the commands that follow run; read-only unless --writable; unmounted after",
  ),
  Command.withExamples([
    { command: 'belay mount ./src exec "import app; app.main()"', description: "import app.py from ./src" },
    { command: "belay mount ./src + run main.py", description: "run main.py with ./src importable" },
    { command: "belay mount ./src + repl", description: "a REPL with ./src mounted" },
    {
      command: "belay mount ./data --writable exec \"open('log.txt', 'w').write('hi')\"",
      description: "write into ./data",
    },
  ]),
)

const each = Command.make(
  "each",
  {
    file: Argument.String("file").pipe(
      Argument.withDescription(
        "a file of commands: one per line, written as after `belay` (quotes as in a shell, + to chain on a line); blank lines and lines starting with # are skipped",
      ),
    ),
  },
  // `main` runs each lines itself; the parser sees one only for --help.
  () => Effect.fail(new UsageError("each needs a file of commands")),
).pipe(
  Command.withDescription(
    "run a file of commands in turn on one connection, as a + chain; with several boards (--device a0,a1) on each board at once, each line of output prefixed with its board",
  ),
  Command.withExamples([
    { command: "belay each setup.txt --device a0", description: "the commands of setup.txt on /dev/ttyACM0" },
    {
      command: "belay each setup.txt --device a0,a1,a2",
      description: "on three boards at once; exit code the worst board's",
    },
    {
      command: "belay each checks.txt --device auto-all --json",
      description: "every board plugged in, JSON keyed by board",
    },
  ]),
)

const machine = () => Effect.promise(() => import("./cli/Machine.js"))

const softReset = Command.make("soft-reset", {}, () =>
  Effect.flatMap(Effect.all([root, machine()]), ([{ device }, m]) => {
    const fleet = fleetDeviceOf(device)
    return fleet !== undefined
      ? Effect.flatMap(fleetActions(), (f) => f.fleetSoftReset(fleet))
      : m.softReset(device)
  }),
).pipe(
  Command.withDescription("soft reset the board (Ctrl-D): its RAM is cleared, its files stay"),
  Command.withExamples([{ command: "belay soft-reset", description: "clear the board's globals" }]),
)

const reset = Command.make("reset", {}, () =>
  Effect.flatMap(Effect.all([root, machine()]), ([{ device }, m]) => m.hardReset(device)),
).pipe(
  Command.withDescription("hard reset the board (machine.reset()), then connect again once it answers"),
  Command.withExamples([{ command: "belay reset", description: "reset the board and wait for it" }]),
)

const rtc = Command.make(
  "rtc",
  {
    set: Flag.Boolean("set").pipe(
      Flag.withDescription(
        "set the board's clock from this computer's first: the next whole second, sent half a round trip early so that it lands on it",
      ),
      Flag.withDefault(false),
    ),
    utc: Flag.Boolean("utc").pipe(
      Flag.withDescription(
        "the board's clock holds UTC (set it so, read it so), not this computer's local time",
      ),
      Flag.withDefault(false),
    ),
  },
  ({ set, utc }) =>
    Effect.flatMap(Effect.all([root, machine()]), ([{ device, json }, m]) =>
      m.rtc(device, { set, json, utc }),
    ),
).pipe(
  Command.withDescription(
    "print the board's real-time clock (machine.RTC) and how far it is from this computer's, in ms (positive: the board is ahead); --set sets it first. The read waits (up to a second) for the board's seconds to tick, so the offset is good to about half a round trip (the ± printed), whatever the tuple's subseconds mean on that board. A board without machine.RTC is refused (exit 1) before anything is set. --json: datetime (the tuple), zone, offsetMs, uncertaintyMs, roundTripMs, and set (the same for the set)",
  ),
  Command.withExamples([
    { command: "belay rtc", description: "the board's clock and its offset from this computer's" },
    { command: "belay rtc --set", description: "set the board's clock to this computer's local time" },
    { command: "belay rtc --set --utc --json", description: "set it to UTC; the figures as JSON" },
  ]),
)

const sleep = Command.make(
  "sleep",
  {
    seconds: Argument.Finite("seconds").pipe(
      Argument.withDescription("how long to wait, in seconds (0.5 is half a second)"),
    ),
  },
  ({ seconds }) => Effect.flatMap(machine(), (m) => m.pause(seconds)),
).pipe(
  Command.withDescription("wait on the host, between chained commands"),
  Command.withExamples([
    { command: 'belay exec "import main" + sleep 2 + eval "main.state"', description: "look 2 s later" },
  ]),
)

const demo = Command.make("demo", {}, () =>
  Effect.gen(function* () {
    const { device } = yield* root
    const { runDemo } = yield* Effect.promise(() => import("./cli/Demo.js"))
    // The tour needs no hardware: with nothing configured it runs on the virtual board.
    yield* onBoard(device, runDemo, "virtual")
  }),
).pipe(
  Command.withDescription(
    "a guided tour of Belay on the board (the virtual board unless a device is given or configured)",
  ),
  Command.withExamples([
    { command: "belay demo", description: "the tour on the virtual board" },
    { command: "belay demo --device qemu:microbit", description: "the tour on the emulated micro:bit" },
  ]),
)

const bench = Command.make("bench", {}, () =>
  Effect.gen(function* () {
    const { device, json } = yield* root
    const { runBench } = yield* Effect.promise(() => import("./cli/Bench.js"))
    yield* onBoard(device, runBench(json))
  }),
).pipe(
  Command.withDescription("measure latency and throughput on the board"),
  Command.withExamples([{ command: "belay bench --device a0 --json", description: "the figures as JSON" }]),
)

const latency = Command.make(
  "latency",
  {
    count: Flag.Int("count").pipe(
      Flag.withAlias("n"),
      Flag.withDescription("round trips to time (1 to 100000)"),
      Flag.withDefault(100),
    ),
  },
  ({ count }) =>
    Effect.gen(function* () {
      const { device, json, unchecked } = yield* root
      const bare = unchecked || process.env.BELAY_INTEGRITY === "unchecked"
      const fleet = fleetDeviceOf(device)
      // Through the fleet's calls; the bare exchange (--unchecked) over the board's lent link.
      if (fleet !== undefined && !bare)
        return yield* Effect.flatMap(fleetActions(), (f) => f.fleetLatency(fleet, count, json))
      const { runLatency } = yield* Effect.promise(() => import("./cli/Latency.js"))
      yield* onBoard(device, runLatency(count, json, bare))
    }),
).pipe(
  Command.withDescription(
    'time round trips to the board: one after another, each the least exchange there is, exec("pass") (the code sent, compiled and run on the board, its end markers and the prompt back, from the call to its result on this computer), after one untimed exchange that sets the connection up; checked end to end like every call, or the bare raw-REPL exchange with --unchecked. Prints min, median, mean, max, standard deviation and p99 in ms and a histogram (--json: the figures, the histogram and every sample)',
  ),
  Command.withExamples([
    { command: "belay latency", description: "100 round trips on the board plugged in" },
    { command: "belay latency -n 1000 --unchecked", description: "1000 bare raw-REPL exchanges" },
    { command: "belay latency --device virtual --json", description: "the figures as JSON" },
  ]),
)

/**
 * The whole command tree, with `actions` doing what `exec` and `eval` do.
 *
 * @example
 * Command.runWith(makeCli(), { version: cliVersion() })(["exec", "print(1)"])
 */
export const makeCli = (actions: Actions = boardActions) => {
  const exec = Command.make(
    "exec",
    { code: Argument.String("code").pipe(Argument.withDescription("Python statements to run on the board")) },
    ({ code }) => Effect.flatMap(root, ({ device }) => actions.exec(device, code)),
  ).pipe(
    Command.withDescription("run Python code and print what it prints"),
    Command.withExamples([
      { command: `belay exec "import os; print(os.listdir())"`, description: "list the board's files" },
      { command: `belay exec "x = 1" --device a0`, description: "on the board at /dev/ttyACM0" },
    ]),
  )

  const evalCommand = Command.make(
    "eval",
    {
      expression: Argument.String("expression").pipe(
        Argument.withDescription("one Python expression (statements go to exec)"),
      ),
    },
    ({ expression }) => Effect.flatMap(root, ({ device, json }) => actions.eval(device, expression, json)),
  ).pipe(
    Command.withDescription(
      "evaluate an expression and print its repr, as Python shows it (--json: its value as JSON)",
    ),
    Command.withExamples([
      { command: `belay eval "{1: 2, 'b': b'xy'}"`, description: "prints {1: 2, 'b': b'xy'}" },
      { command: `belay eval "[1, None]" --json`, description: "prints [1,null]" },
    ]),
  )

  return root.pipe(
    Command.withSubcommands([
      demo,
      exec,
      evalCommand,
      run,
      info,
      fsCommand(root),
      ...fileCommands(root),
      ...installCommands(root),
      repl,
      softReset,
      reset,
      rtc,
      sleep,
      bench,
      latency,
      ports,
      qemuCommand(root),
      virtualCommand(root),
      mount,
      fleetCommand(root),
      each,
    ]),
  )
}

/** The argument parser's own failures: a usage error (exit 2), or help that was asked for (exit 0). */
const PARSE_ERRORS = new Set([
  "UnrecognizedOption",
  "DuplicateOption",
  "MissingOption",
  "MissingArgument",
  "UnexpectedArgument",
  "InvalidValue",
  "UnknownSubcommand",
  "ValidationError",
])

const parserFailure = (cause: Cause.Cause<unknown>): Failure | null | undefined => {
  const found = Cause.findErrorOption(cause)
  const error: unknown = found._tag === "Some" ? found.value : undefined
  if (typeof error !== "object" || error === null || !("_tag" in error)) return undefined
  const tag = String(error._tag)
  if (tag === "ShowHelp") {
    // Help was asked for (exit 0), or shown because of errors, which the parser printed with it.
    const errors = (error as unknown as { errors: ReadonlyArray<Error & { _tag: string }> }).errors
    const first = errors[0]
    if (first === undefined) return null
    return {
      tag: first._tag,
      message: errors.map((e) => e.message).join("; "),
      hint: "`belay <command> --help` shows its arguments, flags and examples",
      exitCode: ExitCode.usage,
      shown: true,
    }
  }
  if (PARSE_ERRORS.has(tag)) {
    return {
      tag,
      message: (error as unknown as Error).message,
      hint: "`belay <command> --help` shows its arguments, flags and examples",
      exitCode: ExitCode.usage,
    }
  }
  return undefined
}

/** A console whose every line goes to stderr. */
const toStderr: Console.Console = {
  ...globalThis.console,
  log: (...parts: ReadonlyArray<unknown>) => writeError(`${parts.join(" ")}\n`),
  info: (...parts: ReadonlyArray<unknown>) => writeError(`${parts.join(" ")}\n`),
}

/** `argv` with `--device list` turned into the `ports` command. */
const portsAlias = (args: ReadonlyArray<string>): Array<string> => {
  const argv = [...args]
  const at = argv.findIndex((a, i) => (a === "--device" || a === "-d") && argv[i + 1] === "list")
  if (at >= 0 && !argv.includes("ports")) {
    argv.splice(at, 2)
    argv.unshift("ports")
  }
  return argv
}

/**
 * Run the `belay` command with `args` (several commands joined by `+` run in turn on one
 * connection, see `cli/Chain.ts`); resolves with the exit code: 0 success, 1 a Python
 * exception on the board, 2 a usage error, 3 a connection or protocol error; 130, 143 or 129 when
 * SIGINT, SIGTERM or SIGHUP stopped it, 141 when stdout's reader went away (EPIPE). A signal or a
 * closed stdout interrupts the work, so the board gets Ctrl-C and everything is cleaned up first.
 *
 * @example
 * process.exitCode = await main(["exec", "print(1)"])
 */
export const main = (args: ReadonlyArray<string>): Promise<number> => {
  // Read by the board's options (`BELAY_INTEGRITY`) when the command connects.
  if (args.includes("--unchecked")) process.env.BELAY_INTEGRITY = "unchecked"
  // Read by the board's options (`BELAY_MINIFY`), over the config file's `minify`.
  if (args.includes("--no-minify")) process.env.BELAY_MINIFY = "0"
  else if (args.includes("--minify")) process.env.BELAY_MINIFY = "1"
  const json = args.includes("--json")
  // The parser prints help through `console`: stdout is watched from the start.
  watchStreams()
  const cli = makeCli()
  const parseLine = (argv: ReadonlyArray<string>) =>
    Command.runWith(cli, { version: cliVersion() })(argv).pipe(Effect.provide(NodeServices.layer))
  const runLine = (argv: ReadonlyArray<string>) => {
    const parsed = parseLine(argv)
    // Under --json, stdout carries JSON only: what the parser prints itself (help with its errors) goes to stderr.
    return json ? Effect.provideService(parsed, Console.Console, toStderr) : parsed
  }
  const lines = splitChain(portsAlias(args))
  const helping = args.includes("--help") || args.includes("-h") || args.includes("--version")
  // `belay mount <dir> ... <command>`: the folder mounted while the commands run (see cli/Mount.ts).
  const mounting = lines[0]?.[0] === "mount" && !helping
  // Several boards (`--device a0,a1`): the command on each at once (see cli/Pool.ts).
  const boards = helping || !talksToBoard(lines) ? undefined : severalBoards(chainDevice(lines))
  const onBoards = (boards: Boards, commandLines: ReadonlyArray<ReadonlyArray<string>>) =>
    Effect.flatMap(
      Effect.promise(() => import("./cli/Pool.js")),
      (m) => m.runOnBoards({ boards, lines: commandLines, runLine: parseLine, parserFailure, json }),
    )
  const work: Effect.Effect<number, unknown> =
    lines[0]?.[0] === "each" && !helping
      ? runEach(lines, runLine, onBoards)
      : mounting
        ? Effect.as(
            Effect.flatMap(
              Effect.promise(() => import("./cli/Mount.js")),
              (m) => m.runMount(lines, runLine),
            ),
            ExitCode.ok,
          )
        : lines.some((line) => line.length === 0)
          ? Effect.fail(new UsageError("an empty command in a chain: put one command between each '+'"))
          : boards !== undefined
            ? onBoards(boards, lines)
            : Effect.as(
                lines.length === 1 ? runLine(lines[0] as Array<string>) : runChain(lines, runLine),
                ExitCode.ok,
              )
  return runToExitCode(work, parserFailure, { json, codeOf: (code) => code })
}

type Boards = NonNullable<ReturnType<typeof chooseBoards>>

/**
 * The boards a device flag names when it names several (see `chooseBoards`); undefined for one,
 * and when the config file cannot be read (the command then reports that, as it would anyway).
 */
const severalBoards = (flag: string): Boards | undefined => {
  try {
    return chooseBoards(flag, readCliConfig())
  } catch {
    return undefined
  }
}

/** `belay each <file>`: the file's commands as one chain, on one board or on each of several. */
const runEach = (
  lines: ReadonlyArray<ReadonlyArray<string>>,
  runLine: (argv: ReadonlyArray<string>) => Effect.Effect<void, unknown>,
  onBoards: (boards: Boards, lines: ReadonlyArray<ReadonlyArray<string>>) => Effect.Effect<number, unknown>,
): Effect.Effect<number, unknown> =>
  Effect.gen(function* () {
    if (lines.length > 1)
      return yield* Effect.fail(
        new UsageError("each takes the whole command line", "put every command in its file, one per line"),
      )
    const { readEach } = yield* Effect.promise(() => import("./cli/Each.js"))
    const each = yield* readEach(lines[0] as ReadonlyArray<string>)
    const boards = severalBoards(each.device ?? UNSET_DEVICE)
    if (boards !== undefined) return yield* onBoards(boards, each.lines)
    const chain =
      each.device === undefined
        ? each.lines
        : each.lines.map((line) => withDevice(line, each.device as string))
    yield* chain.length === 1 ? runLine(chain[0] as Array<string>) : runChain(chain, runLine)
    return ExitCode.ok
  })

/**
 * What the parser prints for `args` (help, or the version), with or without ANSI colors: the
 * bundle stores it for every command at build time, so `belay --help` and `belay exec --help`
 * print without loading the parser.
 *
 * @example
 * await renderOutput(["exec", "--help"], false) // "DESCRIPTION\n  run Python code ..."
 */
export const renderOutput = async (args: ReadonlyArray<string>, colors: boolean): Promise<string> => {
  const lines: Array<string> = []
  const capture: Console.Console = {
    ...globalThis.console,
    log: (...parts: ReadonlyArray<unknown>) => {
      lines.push(`${parts.join(" ")}\n`)
    },
  }
  await Effect.runPromise(
    Command.runWith(makeCli(), { version: cliVersion() })(args).pipe(
      Effect.provide(NodeServices.layer),
      Effect.provide(CliOutput.layer(CliOutput.defaultFormatter({ colors }))),
      Effect.provideService(Console.Console, capture),
    ),
  )
  return lines.join("")
}

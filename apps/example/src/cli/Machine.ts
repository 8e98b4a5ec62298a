/**
 * The board-control commands: `soft-reset`, `reset` (`machine.reset()`, then a new connection once
 * the board answers), `rtc` (read or `--set` the board's clock through `machine.RTC`) and `sleep`
 * (a pause on the host, between chained commands). The board code is one line each, sent with the
 * usual checked exchange. Imported when one of them runs.
 */
import { DeviceCommunication, PythonError, parsePythonLiteral } from "@belay/transport"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import { onBoard } from "./Board.js"
import { UsageError } from "./Failure.js"
import { printJson, write } from "./Output.js"

/**
 * The board answered, but not as the command needs (exit code 1, as a board-side refusal).
 *
 * @example
 * new BoardAnswerError({ message: "machine.reset() returned: the board did not reset" })
 */
export class BoardAnswerError extends Data.TaggedError("BoardAnswerError")<{ readonly message: string }> {}

/**
 * A board whose MicroPython has no `machine.<name>` (no `machine` module, or one without `name`)
 * says so as a board-side refusal, instead of a bare ImportError or AttributeError traceback.
 */
const missingMachine =
  (name: string, purpose: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.catchIf(
      effect,
      (e): e is Extract<E, PythonError> =>
        e instanceof PythonError &&
        ((e.exceptionType === "ImportError" &&
          (e.pythonMessage.includes("machine") || e.pythonMessage.includes("microcontroller"))) ||
          (e.exceptionType === "AttributeError" && e.pythonMessage.includes(`'${name}'`))),
      (e) =>
        Effect.fail(
          new BoardAnswerError({
            message: `this board's MicroPython has no machine.${name}, so ${purpose} (${e.message})`,
          }),
        ),
    )

/**
 * `soft-reset`: Ctrl-D at the raw prompt; the board's RAM is cleared, its files stay.
 *
 * @example
 * yield* softReset("virtual")
 */
export const softReset = (device: string) =>
  onBoard(
    device,
    Effect.flatMap(DeviceCommunication, (d) => d.softReset),
  )

/** Bound on the exchange that sends `machine.reset()`: the board stops answering as it resets. */
const RESET_SEND_MS = 3000
/** How often the board is asked again after a reset, while it boots (a USB board also re-enumerates). */
const RECONNECT_SPACING = Duration.millis(500)
/** Attempts at a new connection after a reset: 20 at 0.5 s covers a board's boot and USB re-enumeration. */
const RECONNECT_ATTEMPTS = 20

/** The failures that show the board went away to reset, as `reset` expects. */
const RESET_SIGNS = new Set([
  "BoardResetError",
  "LinkLostError",
  "LinkClosedError",
  "ProtocolTimeoutError",
  "UnexpectedBytesError",
])

/**
 * `reset`: `machine.reset()` on the board (CircuitPython's `microcontroller.reset()`), then a new
 * connection, asked until the board answers (bounded). A board without either fails with its
 * Python error.
 *
 * @example
 * yield* hardReset("serial:/dev/ttyACM0")
 */
export const hardReset = (device: string) =>
  Effect.gen(function* () {
    const sent = yield* onBoard(
      device,
      Effect.flatMap(DeviceCommunication, (d) =>
        d.exec(
          // CircuitPython has no machine: its microcontroller resets.
          "try:\n import machine as _belay_m\nexcept ImportError:\n import microcontroller as _belay_m\n_belay_m.reset()",
          { timeout: Duration.millis(RESET_SEND_MS) },
        ),
      ),
    ).pipe(
      missingMachine("reset", "belay cannot reset it: press its reset button, or use soft-reset"),
      Effect.map(() => false),
      Effect.catchIf(
        (e): e is never =>
          typeof e === "object" &&
          e !== null &&
          "_tag" in e &&
          RESET_SIGNS.has(String((e as { _tag: unknown })._tag)),
        () => Effect.succeed(true),
      ),
    )
    if (!sent)
      return yield* new BoardAnswerError({ message: "machine.reset() returned: the board did not reset" })
    const implementation = yield* onBoard(
      device,
      Effect.flatMap(DeviceCommunication, (d) =>
        d.eval("(__import__('sys').implementation.name, __import__('sys').implementation.version)"),
      ),
    ).pipe(Effect.retry({ schedule: Schedule.spaced(RECONNECT_SPACING), times: RECONNECT_ATTEMPTS }))
    const parsed = parsePythonLiteral(implementation)
    const [name, version] =
      Result.isSuccess(parsed) && Array.isArray(parsed.success) ? parsed.success : ["", implementation]
    const release = Array.isArray(version)
      ? // MicroPython 1.27 adds a release-level string, empty for a release: (1, 27, 0, '').
        version.filter((part) => part !== "").join(".")
      : String(version)
    write(
      `reset; the board answers again (${name === "circuitpython" ? "CircuitPython" : "MicroPython"} ${release})\n`,
    )
  })

/**
 * The board's clock as `machine.RTC().datetime()` gives it: year, month, day, weekday (Monday 0),
 * hours, minutes, seconds, subseconds.
 *
 * @example
 * const noon: RtcTuple = [2024, 1, 1, 0, 12, 0, 0, 0]
 */
export type RtcTuple = readonly [number, number, number, number, number, number, number, number]

/**
 * `date` as the tuple `machine.RTC().datetime()` takes, in the host's local time.
 *
 * @example
 * rtcTuple(new Date(2024, 0, 2, 3, 4, 5)) // [2024, 1, 2, 1, 3, 4, 5, 0]
 */
export const rtcTuple = (date: Date): RtcTuple => [
  date.getFullYear(),
  date.getMonth() + 1,
  date.getDate(),
  (date.getDay() + 6) % 7,
  date.getHours(),
  date.getMinutes(),
  date.getSeconds(),
  0,
]

const two = (n: number) => String(n).padStart(2, "0")

/**
 * `rtc [--set]`: print the board's clock (`YYYY-MM-DD HH:MM:SS`, or the tuple with `--json`), or
 * set it to the host's local time first.
 *
 * @example
 * yield* rtc("serial:/dev/ttyACM0", true, false) // prints e.g. 2024-01-01 12:00:00
 */
export const rtc = (device: string, set: boolean, json: boolean) =>
  Effect.gen(function* () {
    const repr = yield* onBoard(
      device,
      Effect.flatMap(DeviceCommunication, (d) =>
        Effect.gen(function* () {
          if (set)
            yield* d.exec(`import machine\nmachine.RTC().datetime((${rtcTuple(new Date()).join(",")}))`)
          return yield* d.eval("__import__('machine').RTC().datetime()")
        }),
      ),
    ).pipe(missingMachine("RTC", "it has no real-time clock to read or set"))
    const parsed = parsePythonLiteral(repr)
    const value = Result.isSuccess(parsed) ? parsed.success : undefined
    if (!Array.isArray(value) || value.length < 7 || !value.every((v) => typeof v === "number"))
      return yield* new BoardAnswerError({
        message: `the board's RTC answered ${repr}, not a datetime tuple`,
      })
    const [y, mo, d, , h, mi, s] = value as Array<number>
    if (json) return printJson(value)
    write(`${y}-${two(mo ?? 0)}-${two(d ?? 0)} ${two(h ?? 0)}:${two(mi ?? 0)}:${two(s ?? 0)}\n`)
  })

/**
 * `sleep SECONDS`: wait on the host (between chained commands, as mpremote's `sleep`).
 *
 * @example
 * yield* pause(0.5)
 */
export const pause = (seconds: number) =>
  seconds >= 0 && Number.isFinite(seconds)
    ? Effect.sleep(Duration.millis(seconds * 1000))
    : Effect.fail(new UsageError(`sleep takes a number of seconds of 0 or more, not ${seconds}`))

/**
 * The board-control commands: `soft-reset`, `reset` (`machine.reset()`, then a new connection once
 * the board answers), `rtc` (read or `--set` the board's clock through `machine.RTC`, with its
 * offset from this computer's) and `sleep` (a pause on the host, between chained commands). The
 * board code is short, sent with the usual checked exchange. Imported when one of them runs.
 */
import {
  type BoardClockLink,
  type ClockZone,
  type RtcTuple,
  readBoardClockOver,
  syncTimeOver,
} from "@belay/extensions"
import { DeviceCommunication, PythonError, parsePythonLiteral } from "@belay/transport"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import { onBoard } from "./Board.js"
import { UsageError } from "./Failure.js"
import { fleetDeviceOf } from "./FleetDevice.js"
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
          // Neither: one error naming both, rather than the second import's alone.
          "try:\n import machine as _belay_m\nexcept ImportError:\n try:\n  import microcontroller as _belay_m\n except ImportError:\n  raise ImportError(\"no module named 'machine' or 'microcontroller'\")\n_belay_m.reset()",
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

const two = (n: number) => String(n).padStart(2, "0")

/** A tuple's date and time as `YYYY-MM-DD HH:MM:SS`. */
const dateText = (t: RtcTuple) => `${t[0]}-${two(t[1])}-${two(t[2])} ${two(t[4])}:${two(t[5])}:${two(t[6])}`

const UNITS: ReadonlyArray<readonly [number, string]> = [
  [365.25 * 86_400_000, "years"],
  [86_400_000, "days"],
  [3_600_000, "hours"],
  [60_000, "minutes"],
]

/**
 * A clock offset for a person: milliseconds, with the sign said in words (and a rougher unit as
 * well when it is a minute or more).
 *
 * @example
 * offsetText(3.25, 0.4) // "3.3 ms ahead of this computer (±0.4 ms)"
 * offsetText(-90_000, 0.4) // "90000.0 ms (about 1.5 minutes) behind this computer (±0.4 ms)"
 */
export const offsetText = (offsetMs: number, uncertaintyMs: number): string => {
  const bound = `(±${uncertaintyMs.toFixed(1)} ms)`
  if (Math.abs(offsetMs) <= uncertaintyMs)
    return `the same as this computer's, ${offsetMs.toFixed(1)} ms ${bound}`
  const size = Math.abs(offsetMs)
  const unit = UNITS.find(([ms]) => size >= ms)
  const rough = unit === undefined ? "" : ` (about ${(size / unit[0]).toFixed(1)} ${unit[1]})`
  return `${size.toFixed(1)} ms${rough} ${offsetMs > 0 ? "ahead of" : "behind"} this computer ${bound}`
}

/**
 * `rtc [--set] [--utc]`: read the board's clock (`machine.RTC`) and its offset from this
 * computer's, after setting it from this computer's first with `--set` (see `syncTime` and
 * `readBoardClock` in `@belay/extensions`). Prints `YYYY-MM-DD HH:MM:SS` and the offset, or
 * with `--json` one object with the tuple and the figures. A board without `machine.RTC` is refused
 * (`CapabilityMissingError`, exit 1) before anything is set.
 *
 * @example
 * yield* rtc("serial:/dev/ttyACM0", { set: true, json: false, utc: false })
 * // 2024-01-01 12:00:00, local time; the board is 0.4 ms ahead of this computer (±0.6 ms)
 */
export const rtc = (
  device: string,
  options: { readonly set: boolean; readonly json: boolean; readonly utc: boolean },
) =>
  Effect.gen(function* () {
    const zone: ClockZone = options.utc ? "utc" : "local"
    // The board's clock over its link: this computer's own connection, or a fleet board's runner.
    const clock = <E>(link: BoardClockLink<E>) =>
      Effect.gen(function* () {
        const set = options.set ? yield* syncTimeOver(link, { zone }) : undefined
        return { set, reading: yield* readBoardClockOver(link, { zone }) }
      })
    const fleet = fleetDeviceOf(device)
    const { set, reading } =
      fleet !== undefined
        ? yield* Effect.flatMap(
            Effect.promise(() => import("./FleetActions.js")),
            // One untimed call first: a fresh client's first streamed call is slow to set up, and
            // the read's bound would carry that.
            (f) =>
              f.withFleetBoard(fleet, (board) =>
                Effect.andThen(
                  board.exec("pass"),
                  clock((code) => board.execStream(code)),
                ),
              ),
          )
        : yield* onBoard(
            device,
            Effect.flatMap(DeviceCommunication, (d) => clock((code) => d.execStream(code))),
          )
    if (options.json)
      return printJson({
        datetime: reading.datetime,
        zone,
        offsetMs: reading.offsetMs,
        uncertaintyMs: reading.uncertaintyMs,
        roundTripMs: reading.roundTripMs,
        ...(set !== undefined && {
          set: {
            datetime: set.datetime,
            offsetMs: set.offsetMs,
            uncertaintyMs: set.uncertaintyMs,
            roundTripMs: set.roundTripMs,
          },
        }),
      })
    write(
      `${dateText(reading.datetime)}, ${zone === "utc" ? "UTC" : "local time"}; the board is ${offsetText(reading.offsetMs, reading.uncertaintyMs)}\n`,
    )
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

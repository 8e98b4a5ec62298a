import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, closeSync, constants, existsSync, openSync } from "node:fs"
import { delimiter, join } from "node:path"
import { isChildRunning, terminateChildProcess, trackChildProcess } from "@belay/transport/internal"
import { Data, Effect, Schedule, type Scope } from "effect"
import { eraseFlashBeyondFirmware } from "./microbitFlash.js"

/**
 * Where Debian's `firmware-microbit-micropython` package puts the MicroPython 1.9.2 firmware.
 *
 * @example
 * if (!existsSync(defaultMicrobitFirmwarePath)) console.log("apt-get install firmware-microbit-micropython")
 * @since 0.1.0
 */
export const defaultMicrobitFirmwarePath = "/usr/share/firmware-microbit-micropython/firmware.hex"

/** The Debian/Ubuntu package of QEMU's ARM machines. */
export const qemuAptPackage = "qemu-system-arm"
const firmwareAptPackage = "firmware-microbit-micropython"

/**
 * QEMU could not start the emulated micro:bit: QEMU or the firmware is missing, QEMU failed,
 * or it did not announce its serial pseudo-terminal in time.
 *
 * @example
 * startQemuMicrobit().pipe(
 *   Effect.catchTag("QemuStartError", (e) => Console.error(e.message)), // "... install it: sudo apt-get install qemu-system-arm"
 * )
 *
 * @since 0.1.0
 */
export class QemuStartError extends Data.TaggedError("QemuStartError")<{
  readonly reason: string
  /** The Debian/Ubuntu package that provides what is missing, when something is missing. */
  readonly aptPackage?: string
  /** The last of what QEMU printed, when it ran. */
  readonly output?: string
  readonly cause?: unknown
}> {
  override get message() {
    const install =
      this.aptPackage === undefined ? "" : `; install it: sudo apt-get install ${this.aptPackage}`
    const output = this.output ? ` (QEMU said: ${this.output.trim()})` : ""
    return `cannot start the QEMU micro:bit: ${this.reason}${install}${output}`
  }
}

/**
 * Options of {@link startQemuMicrobit}.
 *
 * @example
 * yield* startQemuMicrobit({ firmwarePath: "./firmware.hex", startTimeoutMs: 30_000 })
 * @since 0.1.0
 */
export interface QemuMicrobitOptions {
  /** Intel HEX firmware to load; default {@link defaultMicrobitFirmwarePath} (MicroPython 1.9.2). */
  readonly firmwarePath?: string
  /** The QEMU executable, a name on `PATH` or a path; default `qemu-system-arm`. */
  readonly qemuBinary?: string
  /** Bound on QEMU announcing its serial pseudo-terminal; default 10000 ms. */
  readonly startTimeoutMs?: number
  /** When the scope closes: how long to wait after SIGTERM before SIGKILL; default 2000 ms. */
  readonly killTimeoutMs?: number
}

/**
 * A running emulated micro:bit.
 *
 * @example
 * const { ptyPath, pid } = yield* startQemuMicrobit()
 * const link = yield* openSerialLink({ path: ptyPath })
 * @since 0.1.0
 */
export interface QemuMicrobit {
  /** The board's UART as a pseudo-terminal, e.g. `/dev/pts/3`: open it with `openSerialLink`. */
  readonly ptyPath: string
  /** QEMU's process id. */
  readonly pid: number
}

const isExecutable = (file: string) => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** `binary`'s path: as given when it has a slash, else the first executable of that name on `PATH`. */
export const findExecutable = (binary: string): string | undefined => {
  if (binary.includes("/")) return isExecutable(binary) ? binary : undefined
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && isExecutable(join(dir, binary))) return join(dir, binary)
  }
  return undefined
}

/**
 * True when QEMU (`qemu-system-arm`) and the micro:bit MicroPython firmware are installed,
 * so {@link startQemuMicrobit} can run.
 *
 * @example
 * if (!isQemuMicrobitAvailable()) console.log("sudo apt-get install qemu-system-arm firmware-microbit-micropython")
 * @since 0.1.0
 */
export const isQemuMicrobitAvailable = (
  options: Pick<QemuMicrobitOptions, "firmwarePath" | "qemuBinary"> = {},
) =>
  findExecutable(options.qemuBinary ?? "qemu-system-arm") !== undefined &&
  existsSync(options.firmwarePath ?? defaultMicrobitFirmwarePath)

/** What QEMU prints once the board's UART is on a pseudo-terminal; group 1 is its path. */
export const ptyAnnouncement = /char device redirected to (\/dev\/[^\s]+) \(label serial0\)/

/**
 * QEMU's arguments for a micro:bit running `firmwarePath`, its UART on a new pseudo-terminal.
 * The flash beyond the firmware starts zeroed: see `eraseFlashBeyondFirmware` (microbitFlash.ts),
 * which the start-up runs before the board is handed out.
 */
export const qemuMicrobitArguments = (firmwarePath: string): ReadonlyArray<string> => [
  "-M",
  "microbit",
  "-device",
  `loader,file=${firmwarePath}`,
  "-nographic",
  "-serial",
  "pty",
  "-monitor",
  "none",
]

/** How many times the erase is tried again after a failure. */
const ERASE_RETRIES = 2

/**
 * Erase the flash beyond the firmware of the board just started behind `ptyPath`, and reset it,
 * so that its filesystem starts as a real board's does (see microbitFlash.ts).
 */
export const eraseFlash = (ptyPath: string, firmwarePath: string, timeoutMs: number) =>
  Effect.tryPromise({
    try: () => eraseFlashBeyondFirmware(ptyPath, firmwarePath, timeoutMs),
    catch: (cause) =>
      new QemuStartError({
        reason: `could not erase the filesystem's flash: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause,
      }),
  }).pipe(
    // An emulator on a busy machine may drop a byte: the whole sequence again, from Ctrl-C.
    Effect.retry(Schedule.recurs(ERASE_RETRIES)),
  )

/** The firmware and QEMU's executable, or what is missing and how to install it. */
export const locateQemuMicrobit = (
  options: Pick<QemuMicrobitOptions, "firmwarePath" | "qemuBinary">,
): Effect.Effect<{ readonly firmwarePath: string; readonly qemuPath: string }, QemuStartError> =>
  Effect.suspend(() => {
    const firmwarePath = options.firmwarePath ?? defaultMicrobitFirmwarePath
    const qemuBinary = options.qemuBinary ?? "qemu-system-arm"
    if (!existsSync(firmwarePath)) {
      return Effect.fail(
        new QemuStartError(
          firmwarePath === defaultMicrobitFirmwarePath
            ? {
                reason: `the micro:bit firmware ${firmwarePath} is not installed`,
                aptPackage: firmwareAptPackage,
              }
            : { reason: `the firmware file ${firmwarePath} does not exist` },
        ),
      )
    }
    const qemuPath = findExecutable(qemuBinary)
    if (qemuPath === undefined) {
      return Effect.fail(
        new QemuStartError({ reason: `${qemuBinary} was not found on PATH`, aptPackage: qemuAptPackage }),
      )
    }
    return Effect.succeed({ firmwarePath, qemuPath })
  })

/**
 * Start QEMU emulating a BBC micro:bit running MicroPython, with the board's UART on a
 * pseudo-terminal. QEMU is killed when the scope closes, and the scope waits for it to exit.
 *
 * Runs `qemu-system-arm -M microbit -device loader,file=<hex> -nographic -serial pty -monitor none`,
 * erases the flash beyond the firmware (as a programmer leaves a real board's), resets the board,
 * and keeps the pty open itself while the board runs, so that a link opened at any time gets
 * answers at once (QEMU otherwise drops output until it notices a reader, up to a second later).
 * The board prints its banner about 150 ms after start, so a link opened later misses it: send
 * `\r` for a prompt. The firmware drops input it cannot take in time (seen while it echoes in
 * the friendly REPL), so pace writes.
 *
 * @example
 * import { openSerialLink } from "@belay/transport/serial"
 *
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const { ptyPath } = yield* startQemuMicrobit()
 *   const link = yield* openSerialLink({ path: ptyPath })
 *   yield* link.write(new TextEncoder().encode("\r\x03\x03"))
 * }))
 *
 * @since 0.1.0
 */
export const startQemuMicrobit = (
  options: QemuMicrobitOptions = {},
): Effect.Effect<QemuMicrobit, QemuStartError, Scope.Scope> =>
  Effect.gen(function* () {
    const startTimeoutMs = options.startTimeoutMs ?? 10000
    const { firmwarePath, qemuPath } = yield* locateQemuMicrobit(options)

    let output = ""
    const qemu = yield* Effect.acquireRelease(
      Effect.callback<ChildProcess, QemuStartError>((resume) => {
        const qemuArgs = qemuMicrobitArguments(firmwarePath)
        // On Linux, have the kernel kill QEMU if this process dies without closing the scope
        // (SIGKILL, a crash): setpriv sets the parent-death signal, then execs QEMU in place.
        const setpriv = process.platform === "linux" ? findExecutable("setpriv") : undefined
        const child =
          setpriv !== undefined
            ? spawn(setpriv, ["--pdeathsig", "KILL", "--", qemuPath, ...qemuArgs], {
                stdio: ["ignore", "pipe", "pipe"],
              })
            : spawn(qemuPath, qemuArgs, { stdio: ["ignore", "pipe", "pipe"] })
        trackChildProcess(child)
        // Keep reading both streams for the whole run, so QEMU never blocks on a full pipe.
        const keep = (chunk: Buffer) => {
          output = (output + chunk.toString("utf8")).slice(-4000)
        }
        child.stdout?.on("data", keep)
        child.stderr?.on("data", keep)
        child.once("spawn", () => resume(Effect.succeed(child)))
        child.on("error", (error: NodeJS.ErrnoException) => {
          if (child.pid !== undefined) return
          resume(
            Effect.fail(
              new QemuStartError({
                reason: `${qemuPath} could not be started: ${error.message}`,
                ...(error.code === "ENOENT" && { aptPackage: qemuAptPackage }),
                cause: error,
              }),
            ),
          )
        })
      }),
      (child) => terminateChildProcess(child, "QEMU", options.killTimeoutMs ?? 2000),
    )

    const ptyPath = yield* Effect.callback<string, QemuStartError>((resume) => {
      const check = () => {
        const found = ptyAnnouncement.exec(output)?.[1]
        if (found !== undefined) {
          stop()
          resume(Effect.succeed(found))
        }
      }
      const exited = (code: number | null, signal: NodeJS.Signals | null) => {
        stop()
        const how = signal !== null ? `killed by ${signal}` : `exited with code ${code}`
        resume(
          Effect.fail(new QemuStartError({ reason: `QEMU ${how} before it opened the serial port`, output })),
        )
      }
      const stop = () => {
        qemu.stdout?.off("data", check)
        qemu.stderr?.off("data", check)
        qemu.off("exit", exited)
      }
      qemu.stdout?.on("data", check)
      qemu.stderr?.on("data", check)
      qemu.once("exit", exited)
      check()
      if (!isChildRunning(qemu)) exited(qemu.exitCode, qemu.signalCode)
      return Effect.sync(stop)
    }).pipe(
      Effect.timeoutOrElse({
        duration: startTimeoutMs,
        orElse: () =>
          Effect.fail(
            new QemuStartError({
              reason: `QEMU did not open the serial port within ${startTimeoutMs} ms`,
              output,
            }),
          ),
      }),
    )

    // QEMU discards the board's output while nothing has the pty open, and notices an open only
    // by polling about once a second: a link opened later would miss the first second of replies.
    // Holding the pty open for the board's lifetime makes it behave like a wire that is always there.
    yield* Effect.acquireRelease(
      Effect.try({
        try: () => openSync(ptyPath, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK),
        catch: (cause) =>
          new QemuStartError({ reason: `could not open ${ptyPath}: ${String(cause)}`, cause, output }),
      }),
      (fd) => Effect.sync(() => closeSync(fd)),
    )
    yield* eraseFlash(ptyPath, firmwarePath, startTimeoutMs)

    return { ptyPath, pid: qemu.pid! }
  })

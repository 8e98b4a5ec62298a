import { Effect, type Scope } from "effect"
import { type ByteLink, makeReceiveQueue, type ReceiveQueue } from "../ByteLink.js"
import { type ControlLinePolicy, controlLineLevels } from "../ControlLines.js"
import { type LinkError, LinkLostError, LinkOpenError } from "../errors.js"
import { loadSerialBinding, type SerialBinding, type SerialBindingPort } from "./loadSerialBinding.js"
import { type SerialPortMatch, type SerialPortMatchError, selectSerialPort } from "./SerialPortMatch.js"

/**
 * Options of {@link openSerialLink}: which port, by `path` or by `match` (one of them), and how to
 * open it.
 *
 * @example
 * const byPath: SerialLinkOptions = { path: "/dev/ttyACM0", baudRate: 115200 }
 * const byIdentity: SerialLinkOptions = { match: { vendorId: "2e8a", productId: "0005" } }
 * @since 0.1.0
 */
export type SerialLinkOptions = SerialPortSettings &
  (
    | {
        /** The device: `/dev/ttyACM0`, `/dev/ttyUSB0`, `/dev/pts/3`, `COM3`. */
        readonly path: string
        readonly match?: undefined
      }
    | {
        /**
         * The device by its USB identity, among the ports listed when the link opens (see
         * `SerialPortMatch`): exactly one must match, else `SerialPortMatchError`.
         */
        readonly match: SerialPortMatch
        readonly path?: undefined
      }
  )

/**
 * How {@link openSerialLink} opens the port, whichever way it was named.
 *
 * @example
 * const settings: SerialPortSettings = { baudRate: 115200, controlLines: "deassert" }
 * @since 0.1.0
 */
export interface SerialPortSettings {
  /** Line speed; default 115200 (what MicroPython boards use). Ignored by pseudo-terminals and USB CDC. */
  readonly baudRate?: number
  /** DTR/RTS policy applied right after open; default `"leave"`. */
  readonly controlLines?: ControlLinePolicy
  /** Explicit DTR level after open; overrides `controlLines` for DTR. */
  readonly dtr?: boolean
  /** Explicit RTS level after open; overrides `controlLines` for RTS. */
  readonly rts?: boolean
  /** Drop DTR/RTS when the port is closed (POSIX `HUPCL`); default `true`. */
  readonly hupcl?: boolean
  /** Take an exclusive lock so no other program can open the port (POSIX only); default `true`. */
  readonly lock?: boolean
  /** Bound on opening the device; default 5000 ms. */
  readonly openTimeoutMs?: number
  /** Bound on closing the device when the scope closes; default 2000 ms. */
  readonly closeTimeoutMs?: number
  /**
   * How often to check that the device is still there; default 500 ms, 0 disables.
   * A tty that hangs up (board unplugged, pseudo-terminal's other side closed) while no read is
   * polling it only returns end-of-file, which the serial binding retries forever without reporting;
   * the check notices the hang-up and fails `received` with `LinkLostError`.
   */
  readonly hangupCheckMs?: number
}

const describeOpenFailure = (path: string, cause: unknown): string => {
  const text = cause instanceof Error ? cause.message : String(cause)
  if (/No such file or directory/i.test(text))
    return `no such device ${path} (is the board plugged in?): ${text}`
  if (/Permission denied/i.test(text)) {
    return `permission denied (on Linux, add your user to the group owning ${path}, usually "dialout", then log in again): ${text}`
  }
  if (/Cannot lock port|Resource busy|Resource temporarily unavailable/i.test(text)) {
    return `the port is in use by another program (close it, or pass lock: false to share): ${text}`
  }
  return text
}

const openPort = (
  binding: SerialBinding,
  options: SerialPortSettings & { readonly path: string },
  link: string,
): Effect.Effect<SerialBindingPort, LinkOpenError> =>
  Effect.callback<SerialBindingPort, LinkOpenError>((resume) => {
    let abandoned = false
    binding
      .open({
        path: options.path,
        baudRate: options.baudRate ?? 115200,
        hupcl: options.hupcl ?? true,
        lock: options.lock ?? true,
      })
      .then(
        (port) => {
          // The open timed out or was interrupted, and then succeeded late: do not leak the descriptor.
          if (abandoned) port.close().catch(() => {})
          else resume(Effect.succeed(port))
        },
        (error: unknown) => {
          if (!abandoned)
            resume(
              Effect.fail(
                new LinkOpenError({ link, reason: describeOpenFailure(options.path, error), cause: error }),
              ),
            )
        },
      )
    return Effect.sync(() => {
      abandoned = true
    })
  }).pipe(
    Effect.timeoutOrElse({
      duration: options.openTimeoutMs ?? 5000,
      orElse: () =>
        Effect.fail(
          new LinkOpenError({
            link,
            reason: `the device did not open within ${options.openTimeoutMs ?? 5000} ms`,
          }),
        ),
    }),
  )

const applyControlLines = (
  port: SerialBindingPort,
  levels: { dtr: boolean; rts: boolean },
  link: string,
): Effect.Effect<void, LinkOpenError> =>
  Effect.promise(() =>
    // Every flag is set on each call: the others as the port opened them.
    port.set({ brk: false, cts: false, dsr: false, ...levels }).then(
      () => null,
      (error: Error) => error,
    ),
  ).pipe(
    Effect.flatMap((error) => {
      if (error === null) return Effect.void
      // Pseudo-terminals and some adapters have no modem lines: nothing there can reset the board.
      if (/Inappropriate ioctl|not supported|Invalid argument/i.test(error.message)) {
        return Effect.logDebug(`${link}: no DTR/RTS lines to set (${error.message})`)
      }
      return Effect.fail(
        new LinkOpenError({ link, reason: `could not set DTR/RTS: ${error.message}`, cause: error }),
      )
    }),
    Effect.timeoutOrElse({
      duration: 2000,
      orElse: () =>
        Effect.fail(new LinkOpenError({ link, reason: "setting DTR/RTS did not finish within 2000 ms" })),
    }),
  )

/**
 * Open a serial port as a {@link ByteLink}. The port is closed when the scope closes.
 *
 * Writes complete once the bytes have left the host (`tcdrain`), so pacing writes paces the
 * wire. A port error or an unplugged device fails `received` with `LinkLostError`.
 * Works with USB CDC boards, USB-UART bridges and pseudo-terminals (`/dev/pts/N`).
 * Needs the optional peer dependency `@serialport/bindings-cpp` (or `serialport`, which brings it);
 * without it, fails with `LinkOpenError`.
 * With `match` instead of `path`, the port is the one whose USB identity matches, among those
 * listed as it opens (`SerialPortMatchError`, naming the candidates, when none or several do).
 *
 * @example
 * import { openSerialLink } from "@belay/transport/serial"
 *
 * // A Raspberry Pi Pico, wherever it is plugged in.
 * const pico = openSerialLink({ match: { vendorId: "2e8a", productId: "0005" } })
 *
 * const program = Effect.scoped(Effect.gen(function* () {
 *   // An ESP32 devkit: keep the auto-reset circuit quiet.
 *   const link = yield* openSerialLink({ path: "/dev/ttyUSB0", controlLines: "deassert" })
 *   yield* link.write(new TextEncoder().encode("\r\x03\x03\r\x01"))
 * }))
 * @since 0.1.0
 */
export const openSerialLink: {
  (
    options: SerialPortSettings & { readonly path: string; readonly match?: undefined },
  ): Effect.Effect<ByteLink, LinkOpenError, Scope.Scope>
  (options: SerialLinkOptions): Effect.Effect<ByteLink, LinkOpenError | SerialPortMatchError, Scope.Scope>
} = ((options: SerialLinkOptions) =>
  options.match === undefined
    ? openSerialPath({ ...options, path: options.path })
    : // The port list loads only for a match: opening a port by its path never reads sysfs.
      Effect.promise(() => import("./listSerialPorts.js")).pipe(
        Effect.flatMap(({ listSerialPorts }) => listSerialPorts()),
        Effect.flatMap((ports) => Effect.fromResult(selectSerialPort(ports, options.match))),
        Effect.flatMap((port) => openSerialPath({ ...options, path: port.path })),
      )) as typeof openSerialLink

const openSerialPath = (
  options: SerialPortSettings & { readonly path: string },
): Effect.Effect<ByteLink, LinkOpenError, Scope.Scope> =>
  Effect.gen(function* () {
    const link = `serial:${options.path}`
    const binding = yield* loadSerialBinding(link)
    const rx = yield* makeReceiveQueue(link)
    const pendingWrites = new Set<(error: LinkError) => void>()
    let closingByScope = false

    const linkDown = () => {
      const reason = rx.closedReason()
      if (reason === undefined) return
      for (const fail of [...pendingWrites]) fail(reason)
    }

    const port = yield* Effect.acquireRelease(
      openPort(binding, options, link),
      (port) => {
        closingByScope = true
        rx.end("the link was closed")
        linkDown()
        return closePort(port, link, options.closeTimeoutMs ?? 2000)
      },
      { interruptible: true },
    )

    /** The port failed under the link (not closed by it): fail the link, release the descriptor. */
    const lost = (reason: string, error?: Error) => {
      if (closingByScope) return
      rx.fail(reason, error)
      linkDown()
      if (port.isOpen) port.close().catch(() => {})
    }
    readContinuously(port, (bytes) => rx.push(bytes), lost)

    const hangupCheckMs = options.hangupCheckMs ?? 500
    if (hangupCheckMs > 0) {
      yield* Effect.acquireRelease(
        Effect.sync(() =>
          watchForHangup(port, hangupCheckMs, (error) =>
            lost(`the device hung up (${error.message})`, error),
          ),
        ),
        (watchdog) => Effect.sync(() => clearInterval(watchdog)),
      )
    }

    const levels = controlLineLevels(options)
    if (levels !== undefined) yield* applyControlLines(port, levels, link)

    const writes = serializedWrites(port)
    return {
      description: link,
      write: (bytes) => writeAndDrain(writes, rx, pendingWrites, link, bytes),
      received: rx.stream,
      isOpen: Effect.sync(() => rx.closedReason() === undefined && port.isOpen),
    } satisfies ByteLink
  })

/** The most bytes one read asks for. */
const READ_SIZE = 64 * 1024

/**
 * Read the port until it closes, handing on each chunk as it comes (a copy: the read buffer is
 * reused). A read that fails other than by the port's closing means the device is gone: `lost`.
 */
const readContinuously = (
  port: SerialBindingPort,
  push: (bytes: Uint8Array) => void,
  lost: (reason: string, error?: Error) => void,
): void => {
  const buffer = Buffer.allocUnsafe(READ_SIZE)
  const next = (): void => {
    if (!port.isOpen) return
    port.read(buffer, 0, READ_SIZE).then(
      ({ bytesRead }) => {
        if (bytesRead === 0) return lost("the port closed unexpectedly")
        push(new Uint8Array(buffer.subarray(0, bytesRead)))
        next()
      },
      (error: Error & { readonly canceled?: boolean }) => {
        if (error.canceled === true || !port.isOpen) return
        lost(`the device was disconnected (${error.message})`, error)
      },
    )
  }
  next()
}

/**
 * The port's writes one after another, as the binding requires, each followed by `tcdrain`: a
 * write completes once its bytes have left the host.
 */
const serializedWrites = (port: SerialBindingPort) => {
  let last: Promise<unknown> = Promise.resolve()
  return (bytes: Buffer): Promise<void> => {
    const done = last.then(() => port.write(bytes)).then(() => port.drain())
    last = done.catch(() => {})
    return done
  }
}

const writeAndDrain = (
  write: (bytes: Buffer) => Promise<void>,
  rx: ReceiveQueue,
  pendingWrites: Set<(error: LinkError) => void>,
  link: string,
  bytes: Uint8Array,
): Effect.Effect<void, LinkError> =>
  Effect.callback<void, LinkError>((resume) => {
    const closed = rx.closedReason()
    if (closed !== undefined) return resume(Effect.fail(closed))
    if (bytes.length === 0) return resume(Effect.void)
    let finished = false
    const finish = (error?: LinkError) => {
      if (finished) return
      finished = true
      pendingWrites.delete(finish)
      resume(error === undefined ? Effect.void : Effect.fail(error))
    }
    pendingWrites.add(finish)
    // Copy: the caller may reuse its buffer as soon as this effect is interrupted.
    write(Buffer.from(bytes)).then(
      () => finish(),
      (error: Error) =>
        finish(
          rx.closedReason() ??
            new LinkLostError({ link, reason: `write failed: ${error.message}`, cause: error }),
        ),
    )
    return Effect.sync(() => {
      finished = true
      pendingWrites.delete(finish)
    })
  })

/** Matches the errors a hung-up or vanished tty gives to an ioctl. */
const hangupError = /Input\/output error|No such device|Bad file descriptor/i

/**
 * Poll a cheap ioctl (get the baud rate) on the open port; call `onHangup` once it fails
 * the way a hung-up tty fails.
 */
const watchForHangup = (
  port: SerialBindingPort,
  intervalMs: number,
  onHangup: (error: Error) => void,
): ReturnType<typeof setInterval> => {
  let checking = false
  const timer = setInterval(() => {
    if (checking || !port.isOpen) return
    checking = true
    port.getBaudRate().then(
      () => {
        checking = false
      },
      (error: Error) => {
        checking = false
        if (!port.isOpen || !hangupError.test(error.message)) return
        clearInterval(timer)
        onHangup(error)
      },
    )
  }, intervalMs)
  timer.unref()
  return timer
}

const closePort = (port: SerialBindingPort, link: string, timeoutMs: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!port.isOpen) return Effect.void
    return Effect.promise(() => port.close().catch(() => {})).pipe(
      Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () =>
          Effect.logWarning(`${link}: the port did not close within ${timeoutMs} ms; giving up waiting`),
      }),
    )
  })

/**
 * A serial port in a browser (the Web Serial API, `navigator.serial`) as a `ByteLink`.
 *
 * The API's objects are described here by the members this link uses (no DOM types needed), so
 * tests can hand it fakes and other environments (a polyfill over WebUSB, Electron) their own.
 * Facts it relies on (the WICG Web Serial specification): `open({ baudRate })` rejects with
 * `InvalidStateError` when the port is already open and `NetworkError` when the OS cannot open
 * it; `readable` and `writable` exist while the port is open; a read that fails with a
 * non-fatal error (`BreakError`, `FramingError`, `ParityError`, `BufferOverrunError`) leaves a new
 * `readable` in its place, a fatal one (the device gone) leaves `null`; a port that goes away
 * fires `disconnect` (on the port, and on `navigator.serial` with the port as target);
 * `close()` rejects while a reader or writer holds the streams.
 */
import { Effect, type Scope } from "effect"
import { type ByteLink, makeReceiveQueue } from "../ByteLink.js"
import { type ControlLinePolicy, controlLineLevels } from "../ControlLines.js"
import { type LinkError, LinkLostError, LinkOpenError } from "../errors.js"

/**
 * A reader of a Web Serial port's `readable` (a `ReadableStreamDefaultReader<Uint8Array>`).
 *
 * @example
 * const reader: WebSerialReader = port.readable!.getReader()
 * @since 0.1.0
 */
export interface WebSerialReader {
  readonly read: () => Promise<{ readonly done: boolean; readonly value?: Uint8Array | undefined }>
  readonly cancel: (reason?: unknown) => Promise<void>
  readonly releaseLock: () => void
}

/**
 * A writer of a Web Serial port's `writable` (a `WritableStreamDefaultWriter<Uint8Array>`).
 *
 * @example
 * const writer: WebSerialWriter = port.writable!.getWriter()
 * @since 0.1.0
 */
export interface WebSerialWriter {
  readonly write: (chunk: Uint8Array) => Promise<void>
  readonly close: () => Promise<void>
  readonly abort: (reason?: unknown) => Promise<void>
  readonly releaseLock: () => void
}

/**
 * A Web Serial port (`SerialPort` in a browser), by the members Belay uses.
 *
 * @example
 * const port: WebSerialPort = await navigator.serial.requestPort()
 * @since 0.1.0
 */
export interface WebSerialPort {
  readonly open: (options: {
    readonly baudRate: number
    readonly bufferSize?: number
    readonly flowControl?: "none" | "hardware"
  }) => Promise<void>
  readonly close: () => Promise<void>
  readonly setSignals: (signals: {
    readonly dataTerminalReady?: boolean
    readonly requestToSend?: boolean
  }) => Promise<void>
  readonly readable: { readonly getReader: () => WebSerialReader } | null
  readonly writable: { readonly getWriter: () => WebSerialWriter } | null
  readonly getInfo?: () => { readonly usbVendorId?: number; readonly usbProductId?: number }
  readonly addEventListener?: (type: "disconnect", listener: (event: unknown) => void) => void
  readonly removeEventListener?: (type: "disconnect", listener: (event: unknown) => void) => void
}

/**
 * The browser's `navigator.serial`, by the members Belay uses.
 *
 * @example
 * const serial = (navigator as unknown as { serial: WebSerial }).serial
 * @since 0.1.0
 */
export interface WebSerial {
  readonly requestPort: (options?: {
    readonly filters?: ReadonlyArray<{ readonly usbVendorId?: number; readonly usbProductId?: number }>
  }) => Promise<WebSerialPort>
  readonly getPorts: () => Promise<ReadonlyArray<WebSerialPort>>
  readonly addEventListener?: (
    type: "disconnect",
    listener: (event: { readonly target?: unknown }) => void,
  ) => void
  readonly removeEventListener?: (
    type: "disconnect",
    listener: (event: { readonly target?: unknown }) => void,
  ) => void
}

/**
 * Options of {@link openWebSerialLink}.
 *
 * @example
 * const options: WebSerialLinkOptions = { port, baudRate: 115200, controlLines: "deassert" }
 * @since 0.1.0
 */
export interface WebSerialLinkOptions {
  /** The port, from {@link requestWebSerialPort} or `navigator.serial.getPorts()`. */
  readonly port: WebSerialPort
  /** Line speed; default 115200 (what MicroPython boards use). USB CDC boards ignore it. */
  readonly baudRate?: number
  /** DTR/RTS policy applied right after open (see `ControlLinePolicy`); default `"leave"`. */
  readonly controlLines?: ControlLinePolicy
  /** Explicit DTR level after open; overrides `controlLines` for DTR. */
  readonly dtr?: boolean
  /** Explicit RTS level after open; overrides `controlLines` for RTS. */
  readonly rts?: boolean
  /** The browser's read buffer in bytes; default 4096 (the API's default is 255). */
  readonly bufferSize?: number
  /** Where `disconnect` events of other ports come from; default `navigator.serial` when there is one. */
  readonly serial?: WebSerial
  /** Bound on opening the port; default 5000 ms. */
  readonly openTimeoutMs?: number
  /** Bound on closing the port when the scope closes; default 2000 ms. */
  readonly closeTimeoutMs?: number
  /** For messages: default `web-serial:<vendor>:<product>` from the port's USB identity. */
  readonly description?: string
}

/** `navigator.serial`, where the browser has it. */
const browserSerial = (): WebSerial | undefined =>
  (globalThis as { navigator?: { serial?: WebSerial } }).navigator?.serial

const hex4 = (n: number | undefined) => (n === undefined ? "?" : n.toString(16).padStart(4, "0"))

const describePort = (port: WebSerialPort): string => {
  const info = port.getInfo?.()
  return info?.usbVendorId === undefined
    ? "web-serial"
    : `web-serial:${hex4(info.usbVendorId)}:${hex4(info.usbProductId)}`
}

const errorText = (error: unknown) =>
  error instanceof Error
    ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}`
    : String(error)

const describeOpenFailure = (error: unknown): string => {
  const name = error instanceof Error ? error.name : ""
  if (name === "InvalidStateError")
    return `the port is already open (in this page: close the other link first): ${errorText(error)}`
  if (name === "NetworkError")
    return `the port could not be opened (in use by another program or tab, or unplugged): ${errorText(error)}`
  return errorText(error)
}

/** Read errors after which the port gives a new `readable` (bytes were lost, the port lives). */
const NON_FATAL_READ_ERRORS = new Set(["BreakError", "FramingError", "ParityError", "BufferOverrunError"])

/**
 * Ask the user for a serial port (the browser's chooser); must run from a user gesture (a click).
 * `filters` narrow the chooser to USB identities. Refused or dismissed: `LinkOpenError`.
 *
 * @example
 * button.onclick = () =>
 *   Effect.runPromise(requestWebSerialPort({ filters: [{ usbVendorId: 0x2e8a }] })) // a Raspberry Pi Pico
 * @since 0.1.0
 */
export const requestWebSerialPort = (
  options: {
    readonly filters?: ReadonlyArray<{ readonly usbVendorId?: number; readonly usbProductId?: number }>
    readonly serial?: WebSerial
  } = {},
): Effect.Effect<WebSerialPort, LinkOpenError> =>
  Effect.suspend(() => {
    const serial = options.serial ?? browserSerial()
    if (serial === undefined)
      return Effect.fail(
        new LinkOpenError({
          link: "web-serial",
          reason:
            "this browser has no Web Serial API (navigator.serial): use Chrome or Edge, over https or localhost",
        }),
      )
    return Effect.tryPromise({
      try: () => serial.requestPort(options.filters === undefined ? {} : { filters: options.filters }),
      catch: (cause) =>
        new LinkOpenError({
          link: "web-serial",
          reason:
            cause instanceof Error && cause.name === "NotFoundError"
              ? "no port was chosen"
              : cause instanceof Error && cause.name === "SecurityError"
                ? `the page may not ask for a port here (needs a user gesture, and https or localhost): ${errorText(cause)}`
                : errorText(cause),
          cause,
        }),
    })
  })

/**
 * Open a Web Serial port as a {@link ByteLink}, closed when the scope closes.
 *
 * The port opens at `baudRate`, then DTR/RTS are set as `controlLines` (and `dtr`/`rts`) say,
 * with `setSignals`. What the board sends is read as it comes; a write completes when the
 * browser took the bytes. A port that goes away (a `disconnect` event, or a read that fails for
 * good) fails `received` and every pending or later write with `LinkLostError`; a framing,
 * parity, break or overrun error (bytes lost, the port still there) is logged and reading goes
 * on, and the protocol layer's checks catch what was lost. Opening is bounded, and fails with
 * `LinkOpenError` (already open, in use, no port).
 *
 * @example
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const port = yield* requestWebSerialPort()
 *   const link = yield* openWebSerialLink({ port, baudRate: 115200, controlLines: "deassert" })
 *   yield* link.write(new TextEncoder().encode("\r\x03"))
 * }))
 * @since 0.1.0
 */
export const openWebSerialLink = (
  options: WebSerialLinkOptions,
): Effect.Effect<ByteLink, LinkOpenError, Scope.Scope> =>
  Effect.gen(function* () {
    const { port } = options
    const link = options.description ?? describePort(port)
    // The read loop runs outside any fiber: its warnings go to the caller's logger.
    const runWithCaller = Effect.runForkWith(yield* Effect.context<never>())
    const rx = yield* makeReceiveQueue(link)
    const pendingWrites = new Set<(error: LinkError) => void>()
    let closing = false
    let reader: WebSerialReader | undefined
    let writer: WebSerialWriter | undefined

    const linkDown = (reason: string, cause?: unknown) => {
      rx.fail(reason, cause)
      const error = rx.closedReason()
      if (error !== undefined) for (const fail of [...pendingWrites]) fail(error)
    }

    const openTimeoutMs = options.openTimeoutMs ?? 5000
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          port.open({ baudRate: options.baudRate ?? 115200, bufferSize: options.bufferSize ?? 4096 }),
        catch: (cause) => new LinkOpenError({ link, reason: describeOpenFailure(cause), cause }),
      }).pipe(
        Effect.timeoutOrElse({
          duration: openTimeoutMs,
          orElse: () =>
            Effect.fail(
              new LinkOpenError({ link, reason: `the port did not open within ${openTimeoutMs} ms` }),
            ),
        }),
      ),
      () =>
        Effect.gen(function* () {
          closing = true
          rx.end("the link was closed")
          const ended = rx.closedReason()
          if (ended !== undefined) for (const fail of [...pendingWrites]) fail(ended)
          yield* closePort(
            port,
            () => reader,
            () => writer,
            link,
            options.closeTimeoutMs ?? 2000,
          )
        }),
    )

    // Disconnects: on the port itself, and on `navigator.serial` for this port.
    const onPortDisconnect = () => {
      if (!closing) linkDown("the device was disconnected")
    }
    const onSerialDisconnect = (event: { readonly target?: unknown }) => {
      if (event.target === port) onPortDisconnect()
    }
    const serial = options.serial ?? browserSerial()
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        port.addEventListener?.("disconnect", onPortDisconnect)
        serial?.addEventListener?.("disconnect", onSerialDisconnect)
      }),
      () =>
        Effect.sync(() => {
          port.removeEventListener?.("disconnect", onPortDisconnect)
          serial?.removeEventListener?.("disconnect", onSerialDisconnect)
        }),
    )

    const levels = controlLineLevels(options)
    if (levels !== undefined)
      yield* Effect.tryPromise({
        try: () => port.setSignals({ dataTerminalReady: levels.dtr, requestToSend: levels.rts }),
        catch: (cause) =>
          new LinkOpenError({ link, reason: `could not set DTR/RTS: ${errorText(cause)}`, cause }),
      })

    if (port.writable === null || port.readable === null)
      return yield* new LinkOpenError({
        link,
        reason: "the port opened without its streams (was it unplugged?)",
      })
    writer = port.writable.getWriter()

    // The read loop: runs until the port closes or goes away, outside any fiber.
    const readLoop = async () => {
      for (;;) {
        const readable = port.readable
        if (readable === null) {
          if (!closing) linkDown("the port's input ended (the device is gone)")
          return
        }
        reader = readable.getReader()
        try {
          for (;;) {
            const { done, value } = await reader.read()
            if (done) break
            if (value !== undefined) rx.push(value)
          }
        } catch (error) {
          if (closing) return
          const name = error instanceof Error ? error.name : ""
          if (!NON_FATAL_READ_ERRORS.has(name)) {
            linkDown(`read failed: ${errorText(error)}`, error)
            return
          }
          // Bytes were lost; the port gives a new `readable`, read on from it.
          runWithCaller(Effect.logWarning(`${link}: ${errorText(error)}; bytes may have been lost`))
        } finally {
          try {
            reader.releaseLock()
          } catch {
            // Already released by a cancel.
          }
          reader = undefined
        }
        if (closing) return
        if (port.readable === readable) {
          // The stream ended without an error: the port was closed under the link.
          linkDown("the port's input ended")
          return
        }
      }
    }
    void readLoop()

    return {
      description: link,
      write: (bytes) =>
        Effect.callback<void, LinkError>((resume) => {
          const closed = rx.closedReason()
          if (closed !== undefined) return resume(Effect.fail(closed))
          if (bytes.length === 0 || writer === undefined) return resume(Effect.void)
          let finished = false
          const finish = (error?: LinkError) => {
            if (finished) return
            finished = true
            pendingWrites.delete(finish)
            resume(error === undefined ? Effect.void : Effect.fail(error))
          }
          pendingWrites.add(finish)
          // A copy: the caller may reuse its buffer once this effect is interrupted.
          writer.write(bytes.slice()).then(
            () => finish(),
            (error: unknown) =>
              finish(
                rx.closedReason() ??
                  new LinkLostError({ link, reason: `write failed: ${errorText(error)}`, cause: error }),
              ),
          )
          return Effect.sync(() => {
            finished = true
            pendingWrites.delete(finish)
          })
        }),
      received: rx.stream,
      isOpen: Effect.sync(() => rx.closedReason() === undefined),
    } satisfies ByteLink
  })

/** Release the streams (a port will not close while they are held), then close it, bounded. */
const closePort = (
  port: WebSerialPort,
  reader: () => WebSerialReader | undefined,
  writer: () => WebSerialWriter | undefined,
  link: string,
  timeoutMs: number,
): Effect.Effect<void> =>
  Effect.promise(async () => {
    const r = reader()
    if (r !== undefined) {
      await r.cancel().catch(() => {})
      try {
        r.releaseLock()
      } catch {
        // The read loop released it.
      }
    }
    const w = writer()
    if (w !== undefined) {
      await w.close().catch(() => w.abort().catch(() => {}))
      try {
        w.releaseLock()
      } catch {
        // Released already.
      }
    }
    await port.close().catch(() => {})
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeoutMs,
      orElse: () =>
        Effect.logWarning(`${link}: the port did not close within ${timeoutMs} ms; giving up waiting`),
    }),
  )

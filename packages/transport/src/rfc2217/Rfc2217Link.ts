import { Deferred, Effect, type Scope } from "effect"
import { type ByteLink, makeReceiveQueue } from "../ByteLink.js"
import { concatBytes } from "../Bytes.js"
import { LinkOpenError } from "../errors.js"
import { connectSocket, hostPort, type TcpEndpoint, watchSocket, writeSocket } from "../tcp/TcpSocket.js"
import {
  acknowledgedCommand,
  ComPortCommand,
  controlLineSettings,
  serialSettings,
  TelnetOptions,
} from "./Rfc2217Protocol.js"
import { encodeCommand, encodeData, type TelnetCommand, TelnetDecoder } from "./TelnetCodec.js"

/**
 * Options of {@link openRfc2217Link}.
 *
 * @example
 * const options: Rfc2217LinkOptions = { host: "lab-pi", port: 2217, baudRate: 115200, dtr: false, rts: false }
 * @since 0.1.0
 */
export interface Rfc2217LinkOptions extends TcpEndpoint {
  /** The remote port's line speed; default 115200. Data bits 8, no parity, 1 stop bit. */
  readonly baudRate?: number
  /** DTR level to set on the remote port; default: left as it is. */
  readonly dtr?: boolean
  /** RTS level to set on the remote port; default: left as it is. */
  readonly rts?: boolean
  /** Bound on the telnet negotiation and the server's answers to the port settings; default 5000 ms. */
  readonly negotiationTimeoutMs?: number
}

const DEFAULT_BAUD_RATE = 115200
/** Default bound on the negotiation: a server answers its options in one round trip. */
const DEFAULT_NEGOTIATION_TIMEOUT_MS = 5000
/** How long the client waits for the server to announce its options before it sends its own. */
const SERVER_ANNOUNCEMENT_MS = 100

const settingNames: Record<number, string> = {
  [ComPortCommand.setBaudRate]: "baud rate",
  [ComPortCommand.setDataSize]: "data size",
  [ComPortCommand.setParity]: "parity",
  [ComPortCommand.setStopSize]: "stop bits",
}

/**
 * Open a serial port served over telnet with RFC 2217's COM-PORT-OPTION (ser2net's
 * `telnet(rfc2217)` accepter, pyserial's `rfc2217://` servers) as a {@link ByteLink}.
 *
 * The link asks for binary mode both ways and suppress-go-ahead, offers COM-PORT-OPTION, then
 * sets the remote port to `baudRate` 8N1 and waits for the server to confirm each setting; DTR and
 * RTS are set when given. All of that is bounded (`negotiationTimeoutMs`); a server that refuses
 * COM-PORT-OPTION, or does not negotiate at all (a raw socket: use `openTcpLink`), fails with
 * `LinkOpenError`. Data is escaped both ways (0xFF doubled), telnet commands in the received
 * stream are answered or dropped and never reach `received`. Connecting and losing the
 * connection behave as `openTcpLink`.
 *
 * @example
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const link = yield* openRfc2217Link({ host: "127.0.0.1", port: 2217, baudRate: 115200 })
 *   yield* link.write(new TextEncoder().encode("\r\x03\x03\r\x01"))
 * }))
 * @since 0.1.0
 */
export const openRfc2217Link = (
  options: Rfc2217LinkOptions,
): Effect.Effect<ByteLink, LinkOpenError, Scope.Scope> =>
  Effect.gen(function* () {
    const where = hostPort(options.host, options.port)
    const link = `rfc2217:${where}`
    const baudRate = options.baudRate ?? DEFAULT_BAUD_RATE
    const timeoutMs = options.negotiationTimeoutMs ?? DEFAULT_NEGOTIATION_TIMEOUT_MS
    const rx = yield* makeReceiveQueue(link)
    const socket = yield* connectSocket(options, link)
    let closing = false
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closing = true
        rx.end("the link was closed")
      }),
    )

    const telnet = new TelnetOptions()
    const decoder = new TelnetDecoder()
    const settings = serialSettings(baudRate)
    /** The settings the server has not confirmed yet, by command code. */
    const unconfirmed = new Set(
      settings.flatMap((s) => (s._tag === "Subnegotiation" ? [s.payload[0] as number] : [])),
    )
    /** Completes once the port is configured, or fails when the server refuses COM-PORT-OPTION. */
    const ready = Deferred.makeUnsafe<void, LinkOpenError>()
    let settingsSent = false

    /** Commands go out one write per batch: the opening, or everything one received chunk calls for. */
    const send = (commands: ReadonlyArray<TelnetCommand>) => {
      if (commands.length > 0 && !socket.destroyed) socket.write(concatBytes(commands.map(encodeCommand)))
    }
    const settingsDue = (): TelnetCommand[] => {
      if (settingsSent || !telnet.comPortAccepted) return []
      settingsSent = true
      return [...settings, ...controlLineSettings({ dtr: options.dtr, rts: options.rts })]
    }
    let opened = false
    const open = () => {
      if (opened) return
      opened = true
      send(telnet.opening())
    }

    watchSocket(
      socket,
      rx,
      where,
      () => closing,
      (chunk) => {
        open()
        const out: TelnetCommand[] = []
        for (const event of decoder.feed(chunk)) {
          if (event._tag === "Data") {
            rx.push(event.bytes)
            continue
          }
          out.push(...telnet.answer(event))
          const confirmed = acknowledgedCommand(event)
          if (confirmed !== undefined) unconfirmed.delete(confirmed)
          if (telnet.comPortRefused) {
            Deferred.doneUnsafe(
              ready,
              Effect.fail(
                new LinkOpenError({
                  link,
                  reason: `${where} refused the COM-PORT-OPTION, so it cannot set the port's speed; if it serves the plain byte stream, use tcp:${where}`,
                }),
              ),
            )
          }
          out.push(...settingsDue())
          if (settingsSent && unconfirmed.size === 0) Deferred.doneUnsafe(ready, Effect.void)
        }
        send(out)
      },
    )
    // The connection breaking during the negotiation is an open failure (after `watchSocket` saw why).
    const closedDuringNegotiation = () =>
      Deferred.doneUnsafe(
        ready,
        Effect.fail(
          new LinkOpenError({
            link,
            reason: rx.closedReason()?.reason ?? `${where} closed the connection during the negotiation`,
          }),
        ),
      )
    socket.once("close", closedDuringNegotiation)
    if (socket.destroyed) closedDuringNegotiation()
    // Servers announce their options as a client connects (ser2net does, even to a client it then
    // turns away with "Port already in use"): the opening goes out once they have spoken, so that
    // a refusal is read before anything is written into a closing connection; after a short bound
    // for a server that waits for the client.
    yield* Effect.acquireRelease(
      Effect.sync(() => setTimeout(open, SERVER_ANNOUNCEMENT_MS)),
      (timer) => Effect.sync(() => clearTimeout(timer)),
    )

    yield* Deferred.await(ready).pipe(
      Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () =>
          Effect.fail(
            new LinkOpenError({
              link,
              reason: !telnet.comPortAccepted
                ? `${where} did not negotiate RFC 2217 within ${timeoutMs} ms (is it a telnet RFC 2217 server, such as ser2net's telnet(rfc2217)? For a plain byte stream use tcp:${where})`
                : `${where} did not confirm the port's ${[...unconfirmed].map((c) => settingNames[c] ?? `setting ${c}`).join(", ")} within ${timeoutMs} ms`,
            }),
          ),
      }),
      // A server that failed the negotiation gets no orderly goodbye to wait for.
      Effect.tapError(() => Effect.sync(() => socket.destroy())),
    )

    return {
      description: link,
      write: (bytes) => writeSocket(socket, rx, link, encodeData(bytes)),
      received: rx.stream,
      isOpen: Effect.sync(() => rx.closedReason() === undefined),
    } satisfies ByteLink
  })

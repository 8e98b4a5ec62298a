/**
 * The RFC 2217 side of a telnet connection, without I/O: which options a client asks for and
 * accepts, the answers it owes the server's option requests (a small form of RFC 1143's
 * "Q method": answer only when an option's state changes, so two peers never loop), and the
 * COM-PORT-OPTION subnegotiations that configure the remote serial port.
 */
import { DO, DONT, type TelnetCommand, type TelnetVerb, WILL, WONT } from "./TelnetCodec.js"

/** Telnet option: 8-bit data both ways (RFC 856). */
export const OPTION_BINARY = 0
/** Telnet option: no go-ahead signals (RFC 858). */
export const OPTION_SUPPRESS_GO_AHEAD = 3
/** Telnet option: COM-PORT-OPTION (RFC 2217). */
export const OPTION_COM_PORT = 44

/** COM-PORT-OPTION client commands; the server answers each with the same code plus 100. */
export const ComPortCommand = {
  setBaudRate: 1,
  setDataSize: 2,
  setParity: 3,
  setStopSize: 4,
  setControl: 5,
} as const

/** The server's answer code to a client command. */
export const SERVER_REPLY_OFFSET = 100

/** SET-PARITY value for no parity. */
const PARITY_NONE = 1
/** SET-STOPSIZE value for one stop bit. */
const STOP_BITS_ONE = 1
/** SET-CONTROL values for the modem lines. */
const CONTROL_DTR_ON = 8
const CONTROL_DTR_OFF = 9
const CONTROL_RTS_ON = 11
const CONTROL_RTS_OFF = 12

/** The options a client enables on its side (WILL) and wants the server to enable (DO). */
const WE_WILL = new Set([OPTION_BINARY, OPTION_SUPPRESS_GO_AHEAD, OPTION_COM_PORT])
const THEY_WILL = new Set([OPTION_BINARY, OPTION_SUPPRESS_GO_AHEAD])

type OptionState = "no" | "yes" | "wantYes"

const negotiation = (verb: TelnetVerb, option: number): TelnetCommand => ({
  _tag: "Negotiation",
  verb,
  option,
})

/**
 * The option state of both sides of one telnet connection, as a client of an RFC 2217 server.
 *
 * @example
 * const options = new TelnetOptions()
 * send(options.opening())
 * for (const command of commands) send(options.answer(command))
 */
export class TelnetOptions {
  private readonly us = new Map<number, OptionState>()
  private readonly them = new Map<number, OptionState>()

  /** What the client sends first: WILL and DO binary and suppress-go-ahead, WILL COM-PORT-OPTION. */
  opening(): TelnetCommand[] {
    const out: TelnetCommand[] = []
    for (const option of WE_WILL) {
      this.us.set(option, "wantYes")
      out.push(negotiation(WILL, option))
    }
    for (const option of THEY_WILL) {
      this.them.set(option, "wantYes")
      out.push(negotiation(DO, option))
    }
    return out
  }

  /** True once the server agreed to COM-PORT-OPTION (it sent DO). */
  get comPortAccepted(): boolean {
    return this.us.get(OPTION_COM_PORT) === "yes"
  }

  /** True once the server refused COM-PORT-OPTION (it sent DONT to our WILL). */
  get comPortRefused(): boolean {
    return this.us.get(OPTION_COM_PORT) === "no"
  }

  /** The answer owed to one command from the server (none for all but option negotiations). */
  answer(command: TelnetCommand): TelnetCommand[] {
    if (command._tag !== "Negotiation") return []
    const { verb, option } = command
    // DO/DONT are about our side of the option, WILL/WONT about theirs.
    const ours = verb === DO || verb === DONT
    const states = ours ? this.us : this.them
    const accepted = ours ? WE_WILL : THEY_WILL
    const [yes, no]: [TelnetVerb, TelnetVerb] = ours ? [WILL, WONT] : [DO, DONT]
    const state = states.get(option) ?? "no"
    if (verb === DO || verb === WILL) {
      if (state === "yes") return []
      if (state === "wantYes") {
        states.set(option, "yes")
        return []
      }
      if (!accepted.has(option)) return [negotiation(no, option)]
      states.set(option, "yes")
      return [negotiation(yes, option)]
    }
    // DONT / WONT.
    states.set(option, "no")
    return state === "yes" ? [negotiation(no, option)] : []
  }
}

const comPort = (code: number, payload: ReadonlyArray<number>): TelnetCommand => ({
  _tag: "Subnegotiation",
  option: OPTION_COM_PORT,
  payload: Uint8Array.from([code, ...payload]),
})

/**
 * The serial settings sent to the server: the baud rate and 8N1. Each is answered by the server
 * (the code plus 100), which is how the client knows the remote port took them.
 */
export const serialSettings = (baudRate: number): TelnetCommand[] => [
  comPort(ComPortCommand.setBaudRate, [
    (baudRate >>> 24) & 0xff,
    (baudRate >>> 16) & 0xff,
    (baudRate >>> 8) & 0xff,
    baudRate & 0xff,
  ]),
  comPort(ComPortCommand.setDataSize, [8]),
  comPort(ComPortCommand.setParity, [PARITY_NONE]),
  comPort(ComPortCommand.setStopSize, [STOP_BITS_ONE]),
]

/**
 * The modem-line commands for the levels wanted (a line left `undefined` is not touched).
 * Servers need not answer them (ser2net does not when the device has no modem lines).
 */
export const controlLineSettings = (levels: {
  readonly dtr: boolean | undefined
  readonly rts: boolean | undefined
}): TelnetCommand[] => [
  ...(levels.dtr === undefined
    ? []
    : [comPort(ComPortCommand.setControl, [levels.dtr ? CONTROL_DTR_ON : CONTROL_DTR_OFF])]),
  ...(levels.rts === undefined
    ? []
    : [comPort(ComPortCommand.setControl, [levels.rts ? CONTROL_RTS_ON : CONTROL_RTS_OFF])]),
]

/** The client command a server's COM-PORT-OPTION answer acknowledges, or `undefined`. */
export const acknowledgedCommand = (command: TelnetCommand): number | undefined => {
  if (command._tag !== "Subnegotiation" || command.option !== OPTION_COM_PORT) return undefined
  const code = command.payload[0]
  return code !== undefined && code > SERVER_REPLY_OFFSET ? code - SERVER_REPLY_OFFSET : undefined
}

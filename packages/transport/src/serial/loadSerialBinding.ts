import { Effect } from "effect"
import { LinkOpenError } from "../errors.js"

/**
 * What a serial link uses of a port opened through `@serialport/bindings-cpp` (its
 * `BindingPortInterface`): reads, writes and control lines straight on the binding, without
 * `serialport`'s stream around it (Node's stream modules alone take about 2 ms to load, on every
 * command that opens a board). Internal: never part of the public types.
 */
export interface SerialBindingPort {
  readonly isOpen: boolean
  close(): Promise<void>
  /** At least one byte; rejects with `canceled: true` once the port is closed. */
  read(buffer: Buffer, offset: number, length: number): Promise<{ readonly bytesRead: number }>
  /** Only one write at a time. */
  write(buffer: Buffer): Promise<void>
  drain(): Promise<void>
  set(flags: {
    readonly brk: boolean
    readonly cts: boolean
    readonly dsr: boolean
    readonly dtr: boolean
    readonly rts: boolean
  }): Promise<void>
  getBaudRate(): Promise<{ readonly baudRate: number }>
}

/** A port as the binding lists it. */
export interface SerialBindingPortInfo {
  readonly path: string
  readonly manufacturer?: string | undefined
  readonly serialNumber?: string | undefined
  readonly pnpId?: string | undefined
  readonly locationId?: string | undefined
  readonly productId?: string | undefined
  readonly vendorId?: string | undefined
}

/** The binding for this platform (`autoDetect()` of `@serialport/bindings-cpp`). */
export interface SerialBinding {
  open(options: {
    readonly path: string
    readonly baudRate: number
    readonly lock: boolean
    readonly hupcl: boolean
  }): Promise<SerialBindingPort>
  list(): Promise<ReadonlyArray<SerialBindingPortInfo>>
}

let loading: Promise<SerialBinding> | undefined

const isMissing = (cause: unknown, name: string): boolean => {
  const code = (cause as { code?: unknown } | undefined)?.code
  return (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    String((cause as { message?: unknown } | undefined)?.message).includes(name)
  )
}

const explainLoadFailure = (cause: unknown): string => {
  if (isMissing(cause, "serialport")) {
    return (
      "the optional peer dependency `@serialport/bindings-cpp` (v13) is not installed; " +
      "install it next to @belay/transport, e.g. `npm install @serialport/bindings-cpp@13` " +
      "(or `serialport@13`, which brings it)"
    )
  }
  const text = cause instanceof Error ? cause.message : String(cause)
  return (
    "the serial port binding @serialport/bindings-cpp could not be loaded (is it built for this " +
    `platform and Node.js version?): ${text}`
  )
}

/**
 * The binding: `@serialport/bindings-cpp` itself, or, where only `serialport` is installed (a
 * strict node_modules hides its dependencies), the binding `serialport` was built with.
 */
const importBinding = async (): Promise<SerialBinding> => {
  try {
    const { autoDetect } = await import("@serialport/bindings-cpp")
    return autoDetect() as unknown as SerialBinding
  } catch (cause) {
    if (!isMissing(cause, "@serialport/bindings-cpp")) throw cause
    const { SerialPort } = await import("serialport")
    return SerialPort.binding as unknown as SerialBinding
  }
}

/**
 * Load the serial port binding lazily, so that `@belay/transport` works without native code until
 * a serial link is actually opened. A failed load is retried on the next call.
 */
export const loadSerialBinding = (link: string): Effect.Effect<SerialBinding, LinkOpenError> =>
  Effect.tryPromise({
    try: () => {
      loading ??= importBinding()
      return loading
    },
    catch: (cause) => {
      loading = undefined
      return new LinkOpenError({ link, reason: explainLoadFailure(cause), cause })
    },
  })

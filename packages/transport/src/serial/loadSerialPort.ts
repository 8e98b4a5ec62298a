import { Effect } from "effect"
import { LinkOpenError } from "../errors.js"

/** The `serialport` module, loaded on first use. Internal: never part of the public types. */
export type SerialPortModule = typeof import("serialport")

let loading: Promise<SerialPortModule> | undefined

const explainLoadFailure = (cause: unknown): string => {
  const code = (cause as { code?: unknown } | undefined)?.code
  const text = cause instanceof Error ? cause.message : String(cause)
  if (code === "ERR_MODULE_NOT_FOUND" && /['"]serialport['"]/.test(text)) {
    return (
      "the optional peer dependency `serialport` (v13) is not installed; " +
      "install it next to @belay/transport, e.g. `npm install serialport@13` or `pnpm add serialport@13`"
    )
  }
  return (
    "the `serialport` package could not be loaded (is its native binding @serialport/bindings-cpp " +
    `built for this platform and Node.js version?): ${text}`
  )
}

/**
 * Import `serialport` lazily, so that `@belay/transport` works without native code until a
 * serial link is actually opened. A failed import is retried on the next call.
 */
export const loadSerialPort = (link: string): Effect.Effect<SerialPortModule, LinkOpenError> =>
  Effect.tryPromise({
    try: () => {
      loading ??= import("serialport")
      return loading
    },
    catch: (cause) => {
      loading = undefined
      return new LinkOpenError({ link, reason: explainLoadFailure(cause), cause })
    },
  })

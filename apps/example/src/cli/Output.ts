import type { PythonValue } from "@belay/transport"
import * as Effect from "effect/Effect"

/** A Python value as JSON: bytes as `{ "$bytes": base64 }`, big ints as strings, sets as arrays, maps as entries. */
export const toJson = (value: PythonValue): unknown => {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value)
  if (typeof value === "bigint") return value.toString()
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("base64") }
  if (Array.isArray(value)) return value.map(toJson)
  if (value instanceof Set) return [...value].map(toJson)
  if (value instanceof Map) return [...value].map(([k, v]) => [toJson(k), toJson(v)])
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]))
}

/**
 * The command's output. Every write to stdout goes through here: when the reader goes away (`belay
 * fs cat /big | head -c 10`), stdout fails with EPIPE, later writes are dropped, and the handler
 * given to {@link watchOutput} stops the work, quietly, instead of Node printing an unhandled
 * error's stack.
 */
let stdoutClosed = false
let stderrClosed = false

/** Write to stdout, unless its reader has gone. */
export const write = (chunk: string | Uint8Array): void => {
  if (!stdoutClosed) process.stdout.write(chunk)
}

/** Write a message to stderr, unless its reader has gone. */
export const writeError = (text: string): void => {
  if (!stderrClosed) process.stderr.write(text)
}

/**
 * {@link write} as an Effect that waits while stdout's buffer is full (a pipe read slowly), so
 * output that comes faster than it is read waits on the board's side of the link, bounded, not
 * in this process's memory.
 */
export const print = (chunk: string | Uint8Array): Effect.Effect<void> =>
  chunk.length > PRINT_STEP ? Effect.forEach(slices(chunk), printSlice, { discard: true }) : printSlice(chunk)

/** Output goes to stdout in pieces of at most this many characters, each after the last drained. */
const PRINT_STEP = 64 * 1024

const slices = (chunk: string | Uint8Array): Array<string | Uint8Array> => {
  const out: Array<string | Uint8Array> = []
  for (let at = 0; at < chunk.length; at += PRINT_STEP) out.push(chunk.slice(at, at + PRINT_STEP))
  return out
}

const printSlice = (chunk: string | Uint8Array): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (stdoutClosed || process.stdout.write(chunk)) return resume(Effect.void)
    const done = () => {
      process.stdout.off("drain", done)
      process.stdout.off("error", done)
      process.stdout.off("close", done)
      resume(Effect.void)
    }
    process.stdout.on("drain", done)
    process.stdout.on("error", done)
    process.stdout.on("close", done)
    return Effect.sync(() => {
      process.stdout.off("drain", done)
      process.stdout.off("error", done)
      process.stdout.off("close", done)
    })
  })

export const printJson = (value: unknown) => write(`${JSON.stringify(value)}\n`)

/**
 * Board text for the terminal: `\r\n` becomes `\n`, also when a chunk ends between the two.
 *
 * @example
 * const text = boardText(); text("a\r"); text("\nb") // "a", "\nb"
 */
export const boardText = () => {
  let pendingCr = false
  return (chunk: string): string => {
    let text = pendingCr ? `\r${chunk}` : chunk
    pendingCr = text.endsWith("\r")
    if (pendingCr) text = text.slice(0, -1)
    return text.replace(/\r\n/g, "\n")
  }
}

/**
 * Watch stdout and stderr for the rest of the process. When stdout fails (EPIPE: its reader
 * closed), `onClosed` runs once; later writes are dropped. A failing stderr only stops messages.
 * Returns `flush`, which resolves once what was written has reached stdout (or stdout failed):
 * its result says whether output was lost.
 */
export const watchOutput = (onClosed: (error: NodeJS.ErrnoException) => void) => {
  const closeStdout = (error: NodeJS.ErrnoException) => {
    if (stdoutClosed) return
    stdoutClosed = true
    onClosed(error)
  }
  process.stdout.on("error", closeStdout)
  process.stderr.on("error", () => {
    stderrClosed = true
  })
  return {
    /** Resolves true when all output reached stdout, false when some was lost. */
    flush: (): Promise<boolean> =>
      new Promise((resolve) => {
        if (stdoutClosed) return resolve(false)
        process.stdout.write("", (error) => {
          if (error) closeStdout(error)
          resolve(!stdoutClosed)
        })
      }),
    get closed() {
      return stdoutClosed
    },
  }
}

const formatBytes = (n: number) =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(2)} MB`

export { formatBytes }

/**
 * A progress bar on stderr when it is a terminal; silent otherwise.
 *
 * @example
 * const bar = progressBar("upload main.py"); bar.update(512, 2048); bar.done()
 */
export const progressBar = (label: string) => {
  const tty = process.stderr.isTTY === true
  const started = performance.now()
  let shown = false
  return {
    update: (done: number, total: number) => {
      if (!tty) return
      const width = 24
      const fraction = total > 0 ? Math.min(1, done / total) : 1
      const filled = Math.round(fraction * width)
      const seconds = (performance.now() - started) / 1000
      const rate = seconds > 0 ? done / seconds : 0
      writeError(
        `\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${Math.round(fraction * 100)}% ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s`,
      )
      shown = true
    },
    done: () => {
      if (tty && shown) writeError("\n")
    },
  }
}

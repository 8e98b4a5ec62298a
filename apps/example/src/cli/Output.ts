import type { PythonValue } from "@belay/transport"
import { monotonicMs } from "@belay/transport/internal"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

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
/** What {@link watchOutput} was given, called once when stdout fails. */
let onStdoutClosed: ((error: NodeJS.ErrnoException) => void) | undefined
/**
 * Node makes `process.stdout` (a socket, a terminal or a file stream) the first time it is read,
 * which costs a few milliseconds (measured: about 3 ms of a `belay exec "pass"`): it is read at the
 * first write, and watched for failure from then on, so a command that prints nothing never pays.
 */
let stdoutWatched = false
let stderrWatched = false

const closeStdout = (error: NodeJS.ErrnoException) => {
  if (stdoutClosed) return
  stdoutClosed = true
  onStdoutClosed?.(error)
}

/** `process.stdout`, watched for failure. */
const stdout = (): NodeJS.WriteStream => {
  if (!stdoutWatched) {
    stdoutWatched = true
    process.stdout.on("error", closeStdout)
  }
  return process.stdout
}

/** `process.stderr`, watched for failure. */
const stderr = (): NodeJS.WriteStream => {
  if (!stderrWatched) {
    stderrWatched = true
    process.stderr.on("error", () => {
      stderrClosed = true
    })
  }
  return process.stderr
}

/**
 * Watch stdout and stderr now: for a command line that may print through `console` (the
 * argument parser's help and errors) rather than through this module.
 */
export const watchStreams = (): void => {
  stdout()
  stderr()
}

/**
 * Where a command's output goes: the process's stdout and stderr, or, while a command runs on one
 * board of several (`--device a0,a1`, see `Pool.ts`), that board's share of them, its lines
 * prefixed with its key. Read from the fiber that writes, so every command writes as it always
 * did and its output lands where the board's run says.
 */
export interface OutputSink {
  readonly write: (chunk: string | Uint8Array) => void
  readonly print: (chunk: string | Uint8Array) => Effect.Effect<void>
  readonly writeError: (text: string) => void
}

/** The output of the fiber's board, when it runs on one board of several; else the process's. */
export const CurrentOutputSink = Context.Reference<OutputSink | undefined>("belay/cli/CurrentOutputSink", {
  defaultValue: () => undefined,
})

const boardSink = (): OutputSink | undefined => Fiber.getCurrent()?.getRef(CurrentOutputSink)

/** Write to stdout, unless its reader has gone. */
export const write = (chunk: string | Uint8Array): void => {
  const sink = boardSink()
  if (sink !== undefined) sink.write(chunk)
  else writeOut(chunk)
}

const writeOut = (chunk: string | Uint8Array): void => {
  if (!stdoutClosed && chunk.length > 0) stdout().write(chunk)
}

/** Write a message to stderr, unless its reader has gone. */
export const writeError = (text: string): void => {
  const sink = boardSink()
  if (sink !== undefined) sink.writeError(text)
  else writeErr(text)
}

const writeErr = (text: string): void => {
  if (!stderrClosed && text.length > 0) stderr().write(text)
}

/** Whether the fiber's output is a board's share of a run on several boards (no terminal tricks then). */
export const onOneBoardOfSeveral = (): boolean => boardSink() !== undefined

/**
 * {@link write} as an Effect that waits while stdout's buffer is full (a pipe read slowly), so
 * output that comes faster than it is read waits on the board's side of the link, bounded, not
 * in this process's memory.
 */
export const print = (chunk: string | Uint8Array): Effect.Effect<void> =>
  Effect.suspend(() => {
    const sink = boardSink()
    return sink !== undefined ? sink.print(chunk) : printOut(chunk)
  })

const printOut = (chunk: string | Uint8Array): Effect.Effect<void> =>
  chunk.length > PRINT_STEP ? Effect.forEach(slices(chunk), printSlice, { discard: true }) : printSlice(chunk)

/** The process's own stdout and stderr, whatever the fiber's board: what a board's share writes to. */
export const processOutput: OutputSink = { write: writeOut, print: printOut, writeError: writeErr }

/** Output goes to stdout in pieces of at most this many characters, each after the last drained. */
const PRINT_STEP = 64 * 1024

const slices = (chunk: string | Uint8Array): Array<string | Uint8Array> => {
  const out: Array<string | Uint8Array> = []
  for (let at = 0; at < chunk.length; at += PRINT_STEP) out.push(chunk.slice(at, at + PRINT_STEP))
  return out
}

const printSlice = (chunk: string | Uint8Array): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (stdoutClosed || chunk.length === 0) return resume(Effect.void)
    const out = stdout()
    if (out.write(chunk)) return resume(Effect.void)
    const done = () => {
      out.off("drain", done)
      out.off("error", done)
      out.off("close", done)
      resume(Effect.void)
    }
    out.on("drain", done)
    out.on("error", done)
    out.on("close", done)
    return Effect.sync(() => {
      out.off("drain", done)
      out.off("error", done)
      out.off("close", done)
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
  onStdoutClosed = onClosed
  return {
    /** Resolves true when all output reached stdout, false when some was lost. */
    flush: (): Promise<boolean> =>
      new Promise((resolve) => {
        if (stdoutClosed) return resolve(false)
        // Nothing was written: nothing to wait for.
        if (!stdoutWatched) return resolve(true)
        stdout().write("", (error) => {
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
  const tty = process.stderr.isTTY === true && !onOneBoardOfSeveral()
  const started = monotonicMs()
  let shown = false
  return {
    update: (done: number, total: number) => {
      if (!tty) return
      const width = 24
      const fraction = total > 0 ? Math.min(1, done / total) : 1
      const filled = Math.round(fraction * width)
      const seconds = (monotonicMs() - started) / 1000
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

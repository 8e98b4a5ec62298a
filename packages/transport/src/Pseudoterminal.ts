/**
 * Running a program on a pseudo-terminal for a process link (`pty: true`, the `exec-pty:`
 * connection): Node has none built in, so util-linux's `script` makes one, and a shell on it sets
 * it raw before it becomes the program.
 */
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"
import { Data } from "effect"

/**
 * A program was to run on a pseudo-terminal (`pty: true`, `exec-pty:`) where none can be made:
 * util-linux's `script` is not installed, or this is not Linux.
 *
 * @example
 * openProcessLink({ command: "ssh", args: ["-t", "pi"], pty: true }).pipe(
 *   Effect.catchTag("PtyUnavailableError", (e) => Console.error(e.message)),
 * )
 * @since 0.1.0
 */
export class PtyUnavailableError extends Data.TaggedError("PtyUnavailableError")<{
  readonly command: string
  readonly reason: string
}> {
  override get message() {
    return `cannot run ${this.command} on a pseudo-terminal: ${this.reason}`
  }
}

/**
 * What the pseudo-terminal's shell prints once the terminal is raw, just before it becomes the
 * program: with its pid, which is then the program's.
 */
export const PTY_READY = /<belay-pty-ready:(\d+)>/
/** Bound on the shell on the pseudo-terminal setting it raw (it runs `stty`, nothing else). */
export const PTY_READY_TIMEOUT_MS = 10_000

const shellQuote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`

export const isExecutable = (file: string) => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The first executable named `name` on `PATH`. */
export const onPath = (name: string): string | undefined =>
  (process.env.PATH ?? "")
    .split(delimiter)
    .map((dir) => join(dir, name))
    .find((file) => file !== name && isExecutable(file))

/**
 * `script` running `command args` on a new pseudo-terminal. The shell on it makes the terminal
 * raw (no echo, no line editing, no signals from Ctrl-C, no CR/LF translation either way), so
 * that every byte reaches the program unchanged, prints {@link PTY_READY}, then becomes the
 * program. Bytes written before that would meet a cooked terminal, hence the marker.
 */
export const throughScript = (
  script: string,
  options: { readonly command: string; readonly args?: ReadonlyArray<string> | undefined },
): { readonly command: string; readonly args: ReadonlyArray<string> } => {
  const program = [options.command, ...(options.args ?? [])].map(shellQuote).join(" ")
  const line = `stty raw -echo -iexten && printf '<belay-pty-ready:%d>' $$ && exec ${program}`
  // -q: no banner; -e: the program's exit code; -E never: no echo from the start; /dev/null: no typescript file.
  return { command: script, args: ["-q", "-e", "-E", "never", "-c", line, "/dev/null"] }
}

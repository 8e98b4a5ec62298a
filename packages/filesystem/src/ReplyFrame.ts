/**
 * Self-checking replies: the board prints each value as one `repr` line and ends with
 * `#<bytes>:<sum>` (byte count and 16-bit byte sum of the lines before it, newlines included);
 * the host checks that before parsing anything.
 * @internal
 */
import { Result } from "effect"
import { py, SCRATCH } from "./BoardDialect.js"
import { FRAME } from "./python/embedded.js"

/** `_bo(v)` replies `v`; `_bk` holds the frame's count and sum (see `python/frame.py`). */
const FRAME_HEAD = FRAME.code

/** The frame's last line: `#<bytes>:<sum>` of the lines before it. */
export const FRAME_TRAILER = "print('#%d:%d'%(_bk[0],_bk[1]))"

/** The reply line the board prints for an OSError caught inside a frame: `('OSError', errno)`. */
export const FRAMED_OS_ERROR = "OSError"

/** The statement replying a caught OSError (`SCRATCH`: `e` may be the person's, and Python deletes the name after the handler) inside a frame. */
export const REPLY_OS_ERROR = `_bo(('${FRAMED_OS_ERROR}',${SCRATCH}.args[0] if ${SCRATCH}.args else None))`

/** Indent every line of `code` by `n` spaces. */
const indent = (code: string, n: number): string =>
  code
    .split("\n")
    .map((line) => (line.length > 0 ? " ".repeat(n) + line : line))
    .join("\n")

/**
 * Wrap `body` so that its reply is self-checking: every value it replies with `_bo(v)` is one
 * `repr` line, and a last line `#<bytes>:<sum>` gives the byte count and 16-bit byte sum of the
 * lines before it (each with its newline), which the host checks before parsing anything. With
 * `catchOSError`, an OSError becomes the reply line `('OSError', errno)` inside the frame, so that
 * "no such file" is checked like any other answer.
 *
 * @example
 * framedReply("_bo(1)") // prints "1" then "#2:49"
 */
export const framedReply = (body: string, catchOSError = true): string =>
  [
    `${FRAME_HEAD}try:`,
    catchOSError
      ? indent(`try:\n${indent(body.trimEnd(), 1)}\nexcept OSError as ${SCRATCH}:\n ${REPLY_OS_ERROR}`, 1)
      : indent(body.trimEnd(), 1),
    ` ${FRAME_TRAILER}`,
    "finally:",
    ` del ${FRAME.defines.join(",")}`,
    "",
  ].join("\n")

/**
 * Helpers (their code, one after the other) and a call of them in a frame: the helpers are
 * deleted whatever happens, so nothing stays in the board's RAM.
 *
 * @example
 * framedCall([OS_IMPORT_HELPER, LIST_FLAT], "_bl()")
 */
export const framedCall = (
  helpers: ReadonlyArray<{ readonly code: string; readonly defines: ReadonlyArray<string> }>,
  call: string,
): string =>
  framedReply(
    `${helpers.map((h) => h.code).join("")}try:\n ${call}\nfinally:\n del ${helpers.flatMap((h) => h.defines).join(",")}\n`,
  )

/** Byte count and 16-bit sum of reply lines, as the board computes them for a frame. */
export const frameCheck = (lines: ReadonlyArray<Uint8Array>): readonly [number, number] => {
  let count = 0
  let sum = 0
  for (const line of lines) {
    count += line.length + 1
    for (const b of line) sum += b
    sum &= 0xffff
  }
  return [count, sum]
}

/** The constant reply `text` (ASCII, one line) in its frame, as a Python string literal. */
export const framedLiteral = (text: string): string => {
  const [count, sum] = frameCheck([new TextEncoder().encode(text)])
  return py(`${text}\n#${count}:${sum}`)
}

/** A statement printing the constant reply `text` (ASCII, one line) in its frame, checked like any other. */
export const framedConstant = (text: string): string => `print(${framedLiteral(text)})`

const TRAILER_LINE = /^#(\d+):(\d+)$/
const decoder = new TextDecoder()

/**
 * The lines of a framed reply (see {@link framedReply}), checked: every frame's byte count and
 * 16-bit sum must match what its trailer says, and nothing may follow the last frame. One damaged
 * byte (dropped, repeated, changed) anywhere in the reply makes this fail, never return other
 * lines. Empty lines are skipped (a repeated newline changes nothing), a `\r` before a newline
 * dropped.
 *
 * @example
 * unframeReply(new TextEncoder().encode("1\n#2:49\n")) // Result.succeed(["1"])
 */
export const unframeReply = (reply: Uint8Array): Result.Result<ReadonlyArray<string>, string> => {
  const lines: string[] = []
  let section: Uint8Array[] = []
  let frames = 0
  let start = 0
  while (start < reply.length) {
    let end = reply.indexOf(0x0a, start)
    if (end < 0) end = reply.length
    const line = reply.subarray(start, end > start && reply[end - 1] === 0x0d ? end - 1 : end)
    start = end + 1
    if (line.length === 0) continue
    const trailer = line[0] === 0x23 ? TRAILER_LINE.exec(decoder.decode(line)) : null
    if (trailer === null) {
      section.push(line)
      continue
    }
    const [count, sum] = frameCheck(section)
    if (count !== Number(trailer[1]) || sum !== Number(trailer[2])) {
      return Result.fail(
        `reply frame check failed: ${count}:${sum} received, ${trailer[1]}:${trailer[2]} sent`,
      )
    }
    for (const l of section) lines.push(decoder.decode(l))
    section = []
    frames++
  }
  if (section.length > 0) return Result.fail("reply cut short (lines after the last frame)")
  if (frames === 0) return Result.fail("no reply frame")
  return Result.succeed(lines)
}

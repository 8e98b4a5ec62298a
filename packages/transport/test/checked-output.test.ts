import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  buildCheckedRequest,
  checkedEvalRequest,
  checkedExecRequest,
  fromCheckedExchange,
  RESTORE_PRINT_REQUEST,
} from "../src/CheckedOutput.js"
import { CheckedReplyReader, plainStdoutFraming } from "../src/CheckedReplyReader.js"
import { stringCheckOf } from "../src/CheckedRequest.js"
import { PythonError } from "../src/errors.js"
import { parsePythonLiteral } from "../src/PythonLiteral.js"

// What the board side of a checked exchange (EXEC_RUNTIME) sends, written again here from its
// description so the reader is tested byte by byte; the virtual board's tests run the real one.

const utf8 = new TextEncoder()
const RS = "\x1e"
const US = "\x1f"
const bytesOf = (text: string) => Uint8Array.from(Buffer.from(text, "latin1"))
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
const utf8AsLatin1 = (text: string) => latin1(utf8.encode(text))

const escapePrint = (text: string) => {
  let out = text
  for (const c of ["\x10", "\x04", "\n", "\x1e", "\x1f"])
    out = out.split(c).join(`\x10${String.fromCharCode(c.charCodeAt(0) + 64)}`)
  return out
}

const sum16 = (bytes: Uint8Array) => bytes.reduce((a, b) => a + b, 0) & 0xffff

interface Reply {
  readonly nonce: string
  /** What the code prints: `print` calls (checked), or raw writes (`{ raw }`, not checked). */
  readonly output: ReadonlyArray<string | { readonly raw: string }>
  readonly value?: string
  readonly traceback?: string
}

/** The bytes a board sends for `reply` (latin1: one character a byte), and where stdout ends. */
const boardBytes = (reply: Reply): { readonly wire: string; readonly stdoutEnd: number } => {
  let wire = `${RS}${reply.nonce}S${US}`
  let frames = 0
  let total = 0
  let sum = 0
  for (const part of reply.output) {
    if (typeof part !== "string") {
      wire += part.raw
      continue
    }
    const b = utf8.encode(part)
    frames++
    total += b.length
    sum = (sum + sum16(b)) & 0xffff
    wire += `${RS}${utf8AsLatin1(escapePrint(part))}${US}${b.length}:${sum16(b)}${US}`
  }
  if (reply.value !== undefined) {
    const b = utf8.encode(reply.value)
    wire += `${RS}${reply.nonce}V${b.length}:${sum16(b)}:${utf8AsLatin1(reply.value)}${US}`
  }
  wire += `${RS}${reply.nonce}E${frames}:${total}:${sum}${US}`
  const stdoutEnd = wire.length
  return { wire: `${wire}\x04${reply.traceback ?? ""}\x04>`, stdoutEnd }
}

/** What the reader makes of `wire` delivered in `chunks`, read as the engine reads it. */
const read = (nonce: string, wire: string, chunks: ReadonlyArray<number> = [wire.length], lean = false) => {
  const reader = new CheckedReplyReader(nonce, undefined, lean)
  const all = bytesOf(wire)
  let buffer = new Uint8Array(0)
  let at = 0
  let offset = 0 // position of buffer[0] in the whole reply
  const output: Uint8Array[] = []
  const sizes = [...chunks]
  for (;;) {
    const more = at < all.length
    if (more) {
      const n = Math.max(1, sizes.shift() ?? all.length)
      const next = new Uint8Array(buffer.length + Math.min(n, all.length - at))
      next.set(buffer)
      next.set(all.subarray(at, at + n), buffer.length)
      at += n
      buffer = next
    }
    let scan = reader.scan(buffer)
    // The engine asks to settle once the line stays quiet with bytes held back.
    if (!scan.end && !more && scan.settleAfterMs !== undefined) scan = reader.settle(buffer)
    output.push(...reader.take())
    if (scan.end) {
      return {
        output: Buffer.concat(output).toString("utf8"),
        verdict: reader.verdict(),
        stdoutEnd: offset + scan.consumed,
      }
    }
    buffer = buffer.subarray(scan.consumed)
    offset += scan.consumed
    if (!more) return { output: Buffer.concat(output).toString("utf8"), verdict: undefined, stdoutEnd: -1 }
  }
}

const NONCE = "k3x9a0b1c2d4"
const expectedText = (reply: Reply) => reply.output.map((p) => (typeof p === "string" ? p : p.raw)).join("")

describe("checked requests", () => {
  it("quote the code as a checked string literal for the deployed runtime, the kind inside the check", () => {
    expect(checkedExecRequest("print(1)", NONCE)).toBe("_belay_e1('k3x9a0b1c2d4','xprint(1)',9,807)\n")
    expect(checkedEvalRequest("1+1", NONCE)).toBe("_belay_e1('k3x9a0b1c2d4','v1+1',4,259)\n")
  })

  it("bring the lean runtime inside the checked literal, so a damaged definition runs nothing", () => {
    const { request, codeLine } = buildCheckedRequest("eval", "1+1", NONCE, true)
    expect(
      request.startsWith("try:\n exec(([_belay_q for _belay_q in ['def _belay_e1(k,m,v=None,s=[0]):"),
    ).toBe(true)
    expect(request).toContain("\\n_belay_e1(\\'k3x9a0b1c2d4\\',3,(\\n1+1\\n))'")
    expect(request).toContain(
      "finally:\n if '_belay_e1' in globals():_belay_e1('k3x9a0b1c2d4',0);del _belay_e1\n",
    )
    expect(codeLine).toBe(7)
    expect(buildCheckedRequest("exec", "x", NONCE).codeLine).toBe(1)
  })

  it("restore print only as sent: no one damaged byte passes the check with other code (property)", () => {
    // Plain, `_belay_e1('',2)` with its digit changed would start an exchange and leave the
    // counting print in place. Checked: the damaged request either breaks the wrapper (a
    // SyntaxError or NameError before anything runs) or fails the check.
    const CHECK =
      /\[_belay_q for _belay_q in \[('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")\] if len\(_belay_q\)==(\d+) and sum\(bytes\(_belay_q,'utf-8'\)\)==(\d+)\] or \[_belay_request_damaged\]/
    const passes = (request: string): string | undefined => {
      const match = CHECK.exec(request)
      if (match === null) return undefined
      const parsed = parsePythonLiteral(match[1]!)
      if (Result.isFailure(parsed) || typeof parsed.success !== "string") return undefined
      const code = parsed.success
      const { length, sum } = stringCheckOf(code)
      return length === Number(match[2]) && sum === Number(match[3]) ? code : undefined
    }
    expect(passes(RESTORE_PRINT_REQUEST)).toBe("_belay_e1('',2)")
    fc.assert(
      fc.property(
        fc.constantFrom("drop", "duplicate", "change"),
        fc.nat(RESTORE_PRINT_REQUEST.length - 1),
        fc.integer({ min: 0x20, max: 0x7e }),
        (kind, at, into) => {
          const r = RESTORE_PRINT_REQUEST
          const damaged =
            kind === "drop"
              ? r.slice(0, at) + r.slice(at + 1)
              : kind === "duplicate"
                ? r.slice(0, at + 1) + r.slice(at)
                : r.slice(0, at) + String.fromCharCode(into) + r.slice(at + 1)
          const code = passes(damaged)
          if (code !== undefined) expect(code).toBe("_belay_e1('',2)")
        },
      ),
      { numRuns: 2000 },
    )
  })

  it("carry control bytes of the code inside the literal, never raw on the wire", () => {
    const request = checkedExecRequest('print("a")\n# \x04 \x03\nprint("b")', NONCE)
    expect(request).not.toMatch(/[\x00-\x09\x0b-\x1f]/)
    expect(request).toContain("\\x04")
  })
})

describe("the checked reply reader", () => {
  const reply: Reply = {
    nonce: NONCE,
    output: ["hello\n", "a\x04b\x1e\x1f\x10c\n", "é ✓\n", "", "no newline"],
  }

  it("gives back exactly what print wrote, control bytes and UTF-8 included", () => {
    const { wire, stdoutEnd } = boardBytes(reply)
    const result = read(NONCE, wire)
    expect(result.verdict).toEqual({ started: true, damage: undefined, value: undefined })
    expect(result.output).toBe(expectedText(reply))
    expect(result.stdoutEnd).toBe(stdoutEnd)
  })

  it("reads the same whatever the reply's chunks (every split point, and one byte at a time)", () => {
    const { wire, stdoutEnd } = boardBytes({ ...reply, value: "[1, 'x\\x04']" })
    for (let cut = 1; cut < wire.length; cut++) {
      const result = read(NONCE, wire, [cut, wire.length])
      expect(result.output).toBe(expectedText(reply))
      expect(result.verdict?.value).toBe("[1, 'x\\x04']")
      expect(result.stdoutEnd).toBe(stdoutEnd)
    }
    const bytewise = read(
      NONCE,
      wire,
      Array.from(wire, () => 1),
    )
    expect(bytewise.output).toBe(expectedText(reply))
    expect(bytewise.stdoutEnd).toBe(stdoutEnd)
  })

  it("passes on output written around print, a \\x04 in it included, and ends at the real end", () => {
    const tricky: Reply = {
      nonce: NONCE,
      output: [
        { raw: "A\x04\x04>" },
        "after\n",
        { raw: "\x04Traceback (most recent call last):\r\nX\x04>" },
        "end\n",
      ],
    }
    const { wire, stdoutEnd } = boardBytes(tricky)
    const result = read(NONCE, wire)
    expect(result.verdict?.damage).toBeUndefined()
    expect(result.output).toBe(expectedText(tricky))
    expect(result.stdoutEnd).toBe(stdoutEnd)
  })

  it("with the lean runtime, passes on a raw \\x1e as output, whatever the chunks", () => {
    // The lean runtime's prints reach the wire raw: a `\x1e` there is the code's output, shown to
    // be so by the next frame's `\x1e` (a micro:bit printing an executor-style frame failed
    // with "a frame was cut short").
    const raw: Reply = {
      nonce: NONCE,
      output: [{ raw: "\x1ebenchbench0:1:51:3\n" }, { raw: "x\x1e" }, { raw: "\x1e\x1e" }],
      value: "3",
    }
    const { wire, stdoutEnd } = boardBytes(raw)
    for (const size of [1, 2, 3, 5, 8, wire.length]) {
      const result = read(
        NONCE,
        wire,
        Array.from({ length: wire.length }, () => size),
        true,
      )
      expect(result.verdict).toEqual({ started: true, damage: undefined, value: "3" })
      expect(result.output).toBe(expectedText(raw))
      expect(result.stdoutEnd).toBe(stdoutEnd)
    }
  })

  it("with print frames, takes a raw \\x1e for a repeated marker: damage, never a changed text", () => {
    const raw: Reply = { nonce: NONCE, output: [{ raw: "\x1e" }, "checked\n"] }
    const result = read(NONCE, boardBytes(raw).wire)
    expect(result.verdict?.damage).toMatch(/marker inside a frame/)
  })

  it("with the lean runtime, never gives another value for any one damaged byte (property)", () => {
    const rawWrite = fc.record({ raw: fc.string({ unit: fc.constantFrom("a", "\n", "\x1e", "\x04", "J") }) })
    fc.assert(
      fc.property(
        fc.array(rawWrite, { maxLength: 4 }),
        fc.string({ unit: fc.constantFrom("1", "[", "]", "'", ",", "x") }),
        fc.nat(),
        fc.constantFrom("drop", "duplicate", "change"),
        fc.integer({ min: 1, max: 255 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 40 }),
        (output, value, where, kind, delta, chunks) => {
          const { wire, stdoutEnd } = boardBytes({ nonce: NONCE, output, value })
          const i = where % stdoutEnd
          const damaged =
            kind === "drop"
              ? wire.slice(0, i) + wire.slice(i + 1)
              : kind === "duplicate"
                ? wire.slice(0, i + 1) + wire.slice(i)
                : wire.slice(0, i) +
                  String.fromCharCode((wire.charCodeAt(i) + delta) & 0xff) +
                  wire.slice(i + 1)
          const result = read(NONCE, damaged, chunks, true)
          expect(result.verdict).toBeDefined()
          // Prints are not checked with the lean runtime; the value and the end are.
          if (
            result.verdict?.damage === undefined &&
            result.verdict?.started === true &&
            result.verdict.value !== undefined
          )
            expect(result.verdict.value).toBe(value)
        },
      ),
      { numRuns: 3000 },
    )
  })

  it("takes output imitating the board's end as output while more comes", () => {
    const forged: Reply = { nonce: NONCE, output: [{ raw: "\x04\x04>" }, { raw: "x" }] }
    const { wire, stdoutEnd } = boardBytes(forged)
    const result = read(NONCE, wire, [4, wire.length])
    expect(result.output).toBe("\x04\x04>x")
    expect(result.stdoutEnd).toBe(stdoutEnd)
  })

  it("ends at the first \\x04 when the code never started (the request was refused)", () => {
    const wire = "\x04Traceback (most recent call last):\r\nNameError: _belay_request_damaged\r\n\x04>"
    const result = read(NONCE, wire)
    expect(result.verdict).toEqual({ started: false, damage: undefined, value: undefined })
    expect(result.stdoutEnd).toBe(0)
  })

  it("finds the board's end when the end frame is missing, with a traceback or without", () => {
    const head = `${RS}${NONCE}S${US}`
    const withTraceback = `${head}\x04Traceback (most recent call last):\r\nMemoryError:\r\n\x04>`
    expect(read(NONCE, withTraceback).verdict?.damage).toMatch(/without its end frame/)
    const bare = `${head}\x04\x04>`
    const result = read(NONCE, bare)
    expect(result.verdict?.damage).toMatch(/without its end frame/)
    expect(result.stdoutEnd).toBe(head.length)
  })

  it("never gives other output or another value for any one damaged byte (property)", () => {
    const printed = fc.string({
      unit: fc.constantFrom("a", "1", " ", "\n", "\x04", "\x10", "\x1e", "\x1f", "é", "✓", "J", "P"),
    })
    fc.assert(
      fc.property(
        fc.array(printed, { minLength: 0, maxLength: 4 }),
        fc.option(fc.string({ unit: fc.constantFrom("1", "[", "]", "'", ",", " ", "x") }), {
          nil: undefined,
        }),
        fc.nat(),
        fc.constantFrom("drop", "duplicate", "change"),
        fc.integer({ min: 1, max: 255 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 40 }),
        (output, value, where, kind, delta, chunks) => {
          const reply: Reply =
            value === undefined ? { nonce: NONCE, output } : { nonce: NONCE, output, value }
          const { wire, stdoutEnd } = boardBytes(reply)
          const i = where % stdoutEnd // a fault in stdout (the traceback text is not checked)
          const damaged =
            kind === "drop"
              ? wire.slice(0, i) + wire.slice(i + 1)
              : kind === "duplicate"
                ? wire.slice(0, i + 1) + wire.slice(i)
                : wire.slice(0, i) +
                  String.fromCharCode((wire.charCodeAt(i) + delta) & 0xff) +
                  wire.slice(i + 1)
          const result = read(NONCE, damaged, chunks)
          // The end is always found (the engine never waits for ever) ...
          expect(result.verdict).toBeDefined()
          // ... and the result is what the board sent, or a damage the caller is told of. A fault
          // that hides the start frame reads as "never started" with no output (a resend).
          if (result.verdict?.damage === undefined && result.verdict?.started === true) {
            expect(result.output).toBe(expectedText(reply))
            expect(result.verdict.value).toBe(value)
          }
          if (result.verdict?.started === false && result.verdict.damage === undefined)
            expect(result.output).toBe("")
        },
      ),
      { numRuns: 4000 },
    )
  })
})

describe("plain framing", () => {
  it("ends stdout at the first \\x04", () => {
    expect(plainStdoutFraming.scan(bytesOf("ab\x04c"))).toEqual({ consumed: 2, end: true })
    expect(plainStdoutFraming.scan(bytesOf("abc"))).toEqual({ consumed: 3, end: false })
  })
})

describe("tracebacks of checked exchanges", () => {
  it("read as if the code had been sent plainly", () => {
    const error = new PythonError({
      exceptionType: "ZeroDivisionError",
      pythonMessage: "divide by zero",
      traceback:
        'Traceback (most recent call last):\r\n  File "<stdin>", line 2, in <module>\r\n  File "<string>", line 4, in <module>\r\n  File "<string>", line 2, in f\r\n  File "<string>", line 7, in _belay_print\r\nZeroDivisionError: divide by zero\r\n',
      stdout: "",
    })
    expect(fromCheckedExchange(error).traceback).toBe(
      'Traceback (most recent call last):\r\n  File "<stdin>", line 3, in <module>\r\n  File "<stdin>", line 1, in f\r\nZeroDivisionError: divide by zero\r\n',
    )
  })
})

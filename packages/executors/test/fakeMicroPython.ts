/**
 * A scripted board that understands the executors' board protocol (deploy, registry, guarded
 * calls, frames, generators, threads) well enough to test the host side byte by byte. Python
 * functions are played by JS functions; the board's RAM (defined names, registry, threads)
 * survives across connections until `reset()`, like a real board that a new host process opens.
 */

import { makeDeviceSessionManager } from "@belay/core"
import { frameProbeAnswer } from "@belay/core/internal"
import {
  makeDeviceCommunication,
  type PythonValue,
  parsePythonLiteral,
  type RawReplOptions,
  toPythonLiteral,
} from "@belay/transport"
import { type FakeRun, makeFakeBoard } from "@belay/transport/testing"
import { Effect, Result } from "effect"
import { encodeFrame } from "../src/Framing.js"

/** A checked frame as the board prints it (`print` ends lines with CR LF on the REPL). */
const frame = (nonce: string, tag: string, repr: string): string =>
  encodeFrame(nonce, tag, repr).replace(/\n$/, "\r\n")

export const probeAnswer = (threads: boolean) =>
  frameProbeAnswer(
    `{'impl': 'micropython', 'ver': '1.27.0', 'plat': 'fake', 'mach': 'fake board', 'mods': [${
      threads ? "'_thread', " : ""
    }'machine'], 'hash': [], 'os': ['listdir'], 'uid': None, 'free': 100000}`,
  )

export const fastProtocol: RawReplOptions = {
  replyTimeoutMs: 800,
  enterRawTimeoutMs: 1500,
  interruptTimeoutMs: 1000,
  drainQuietMs: 2,
  plainRawChunkDelayMs: 0,
  // A scripted board runs no Python: plain exec goes to it as it is.
  integrity: "unchecked",
}

/** What a fake Python function does when called. */
export type FakeOutcome =
  | { readonly value: unknown; readonly prints?: string }
  | { readonly raise: readonly [type: string, message: string]; readonly prints?: string }
  | { readonly hang: true; readonly prints?: string }

export type FakeThreadBehaviour = "stops" | "fails" | "ignores" | "finishes"

interface FakeThread {
  readonly name: string
  state: 0 | 1 | 2
  stop: boolean
}

const traceback = (type: string, message: string, depth: number, line = 1) => {
  let text = `Traceback (most recent call last):\r\n  File "<stdin>", line ${line}, in <module>\r\n`
  for (let i = 1; i < depth; i++) text += '  File "<stdin>", line 2, in f\r\n'
  return `${text}${type}: ${message}\r\n`
}

const wrapperTraceback = (type: string, message: string) =>
  `Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\n${type}: ${message}\r\n`

const LAMBDA_FORM =
  /^\(lambda _belay_q:exec\(_belay_q\) if len\(_belay_q\)==(\d+) and sum\(_belay_q\)==(\d+) else _belay_request_damaged\)\(b"((?:[^"\\]|\\.)*)"\)$/s
const RUNTIME_FORM = /^_belay_x\(b"((?:[^"\\]|\\.)*)",(\d+),(\d+)\)$/s

/** The bytes of a Python bytes literal body (the escapes `checkedRequest` writes). */
const literalBytes = (body: string): Uint8Array => {
  const parsed = parsePythonLiteral(`b"${body}"`)
  if (Result.isFailure(parsed) || !(parsed.success instanceof Uint8Array))
    throw new Error(`fake board: not a bytes literal body: ${body}`)
  return parsed.success
}

/** The code inside a checked request, and whether it arrived intact; undefined for plain code. */
export const openCheckedRequest = (
  request: string,
): { readonly form: "lambda" | "runtime"; readonly code: string; readonly intact: boolean } | undefined => {
  const lambda = LAMBDA_FORM.exec(request)
  const runtime = lambda === null ? RUNTIME_FORM.exec(request) : null
  if (lambda === null && runtime === null) return undefined
  const [length, sum, body] =
    lambda !== null ? [lambda[1]!, lambda[2]!, lambda[3]!] : [runtime![2]!, runtime![3]!, runtime![1]!]
  const bytes = literalBytes(body)
  const intact = bytes.length === Number(length) && bytes.reduce((a, b) => a + b, 0) === Number(sum)
  return { form: lambda !== null ? "lambda" : "runtime", code: new TextDecoder().decode(bytes), intact }
}

const parseArgs = (text: string): PythonValue[] => {
  const parsed = parsePythonLiteral(`[${text}]`)
  if (Result.isFailure(parsed)) throw new Error(`fake board: cannot parse arguments ${text}`)
  return parsed.success as PythonValue[]
}

export class FakeMicroPython {
  /** Names defined on the board (functions, helpers). */
  readonly defined = new Set<string>()
  /** How many times each name was defined (a reused function is not defined again). */
  readonly definitions = new Map<string, number>()
  registry: Map<string, string> | undefined
  readonly threads = new Map<string, FakeThread>()
  /** Plain code (setup, teardown, anything not a call) in the order it ran. */
  readonly plain: string[] = []
  readonly calls: string[] = []
  private callLine = 1
  /** Answer the next n exchanges with a compile-time SyntaxError, as when bytes are lost on the way. */
  garbleNext = 0
  /** Damage what the next calls print on the way back (a link fault after the board ran). */
  readonly damageNext: Array<(stdout: string) => string> = []

  constructor(
    readonly functions: Record<string, (...args: PythonValue[]) => FakeOutcome> = {},
    readonly generators: Record<
      string,
      (...args: PythonValue[]) => { items: unknown[]; hang?: boolean }
    > = {},
    readonly threadBehaviour: Record<string, FakeThreadBehaviour> = {},
    readonly onPlain: (code: string) => FakeRun = () => ({}),
  ) {}

  /** The board lost its RAM (soft reset, power cycle). */
  reset(): void {
    this.defined.clear()
    this.registry = undefined
    this.threads.clear()
  }

  /**
   * Run what the host sent. Checked requests (see `checkedRequest` in @belay/transport) are opened
   * and verified as the board would: a damaged one runs nothing and fails in the wrapper; the
   * code's own exceptions show the wrapper's frames and `<string>` frames, like `exec` on a board.
   */
  run(code: string): FakeRun {
    if (this.garbleNext > 0) {
      this.garbleNext--
      return {
        traceback:
          'Traceback (most recent call last):\r\n  File "<stdin>", line 1\r\nSyntaxError: invalid syntax\r\n',
      }
    }
    const checked = openCheckedRequest(code)
    if (checked === undefined) return this.runPlain(code)
    if (checked.form === "runtime" && !this.defined.has("_belay_x")) {
      return { traceback: wrapperTraceback("NameError", "name '_belay_x' isn't defined") }
    }
    if (!checked.intact) {
      return { traceback: wrapperTraceback("NameError", "name '_belay_request_damaged' isn't defined") }
    }
    const ran = this.runPlain(checked.code)
    if (!("traceback" in ran) || ran.traceback === undefined) return ran
    const frames =
      checked.form === "lambda"
        ? '  File "<stdin>", line 1, in <module>\r\n  File "<stdin>", line 1, in <lambda>\r\n'
        : '  File "<stdin>", line 1, in <module>\r\n  File "<string>", line 3, in _belay_x\r\n'
    return {
      ...ran,
      traceback: ran.traceback
        .replaceAll('File "<stdin>"', 'File "<string>"')
        .replace("Traceback (most recent call last):\r\n", `Traceback (most recent call last):\r\n${frames}`),
    }
  }

  private runPlain(code: string): FakeRun {
    const lines = code.split("\n")
    const out = ""
    let i = 0
    let isCallExchange = false
    // Definitions and the registry update come first.
    for (; i < lines.length; i++) {
      const line = lines[i]!
      const def = /^def (\w+)\(/.exec(line)
      if (def) this.define(def[1]!)
      if (line.startsWith("_belay_r=globals().get('_belay_r',{})")) {
        isCallExchange = true
        this.registry ??= new Map()
        for (const m of line.matchAll(/;_belay_r\['(\w+)'\]='(\w+)'/g)) this.registry.set(m[1]!, m[2]!)
        i++
        // Definitions under a registry check: only when the registry lacks that code.
        for (;;) {
          const ensure = /^if _belay_r\.get\('(\w+)'\)!='(\w+)':$/.exec(lines[i] ?? "")
          if (!ensure) break
          const [, key, hash] = ensure
          const missing = this.registry.get(key!) !== hash
          for (i++; i < lines.length && (lines[i] === "" || lines[i]!.startsWith(" ")); i++) {
            const inner = /^ def (\w+)\(/.exec(lines[i]!)
            if (missing && inner) this.define(inner[1]!)
          }
          if (missing) this.registry.set(key!, hash!)
        }
        break
      }
      if (/^(if _belay_r|_belay_o\('\\x1e|_belay_g=|_belay_ts\()/.test(line)) break
    }
    let body = lines.slice(i)
    this.callLine = i + 1
    const guard = /^if (.*):$/.exec(body[0] ?? "")
    if (guard) {
      const ok = [...guard[1]!.matchAll(/_belay_r\.get\('(\w+)'\)=='(\w+)'/g)].every(
        (m) => this.registry?.get(m[1]!) === m[2]!,
      )
      const elseAt = body.indexOf("else:")
      if (!ok) {
        const nonce = /\\x1f(\w{10})r:/.exec(body[elseAt + 2]!)![1]!
        const reg = Object.fromEntries(this.registry ?? new Map())
        return { stdout: encodeFrame(nonce, "r", toPythonLiteral(reg), "\x1f").replace("\n", "\r\n") }
      }
      body = body.slice(1, elseAt).map((l) => l.slice(1))
      this.callLine++
    }
    if (body.length === 0 || !/^(_belay_o\('\\x1e|_belay_g=|_belay_ts\()/.test(body[0]!)) {
      if (isCallExchange) throw new Error(`fake board: unexpected body ${body.join("\\n")}`)
      this.plain.push(code)
      return this.onPlain(code)
    }
    this.calls.push(body.join("\n"))
    const ran = this.runBody(body, out)
    const damage = this.damageNext.shift()
    return damage === undefined ? ran : { ...ran, stdout: damage(ran.stdout ?? "") }
  }

  private define(name: string): void {
    this.defined.add(name)
    this.definitions.set(name, (this.definitions.get(name) ?? 0) + 1)
  }

  private missing(name: string): FakeRun | undefined {
    return this.defined.has(name)
      ? undefined
      : { stdout: "", traceback: traceback("NameError", `name '${name}' isn't defined`, 1, this.callLine) }
  }

  private runBody(body: string[], out: string): FakeRun {
    const call = /^_belay_o\('\\x1e(\w+)',(\w+)\((.*)\)\)$/.exec(body[0]!)
    if (call) {
      const [, nonce, name, argText] = call
      const missing = this.missing("_belay_o") ?? this.missing(name!)
      if (missing) return missing
      const args = parseArgs(argText!)
      if (name === "_belay_tx") return { stdout: `${out}${frame(nonce!, "0", this.threadStatus(args))}` }
      const impl = this.functions[name!]
      if (!impl) throw new Error(`fake board: no JS function for ${name}`)
      const outcome = impl(...args)
      const prints = outcome.prints ?? ""
      if ("hang" in outcome) return { hang: true, stdout: out + prints }
      if ("raise" in outcome) {
        return {
          stdout: out + prints,
          traceback: traceback(outcome.raise[0], outcome.raise[1], 2, this.callLine),
        }
      }
      return { stdout: `${out}${prints}${frame(nonce!, "0", toPythonLiteral(outcome.value))}` }
    }
    const gen = /^_belay_g=(\w+)\((.*)\);_belay_n=0$/.exec(body[0]!)
    if (gen) {
      const [, name, argText] = gen
      const missing = this.missing("_belay_o") ?? this.missing(name!)
      if (missing) return missing
      const nonce = /\\x1e(\w+)'/.exec(body[2]!)![1]!
      const impl = this.generators[name!]
      if (!impl) throw new Error(`fake board: no JS generator for ${name}`)
      const { items, hang } = impl(...parseArgs(argText!))
      const frames = items.map((item, n) => frame(nonce, String(n), toPythonLiteral(item))).join("")
      return hang
        ? { hang: true, stdout: out + frames }
        : { stdout: out + frames + frame(nonce, "e", String(items.length)) }
    }
    const start = /^_belay_ts\('([^']*)',(\w+),\((.*)\),(.*)\)$/.exec(body[0]!)
    if (start) {
      const [, id, name] = start
      const missing = this.missing("_belay_ts") ?? this.missing(name!) ?? this.missing("_belay_o")
      if (missing) return missing
      this.threads.set(id!, { name: name!, state: 0, stop: false })
      const nonce = /^_belay_o\('\\x1e(\w+)',1\)$/.exec(body[1]!)![1]!
      return { stdout: `${out}${frame(nonce, "0", "1")}` }
    }
    throw new Error(`fake board: cannot run ${body.join("\\n")}`)
  }

  private threadStatus(args: PythonValue[]): string {
    const [id, stop] = args as [string, number, number]
    const thread = this.threads.get(id)
    if (!thread) return "(3, None)"
    if (stop) thread.stop = true
    const behaviour = this.threadBehaviour[thread.name] ?? "stops"
    if (behaviour === "fails") thread.state = 2
    else if (behaviour === "finishes" || (behaviour === "stops" && thread.stop)) thread.state = 1
    if (thread.state === 0) return "(0, None)"
    this.threads.delete(id)
    return thread.state === 1
      ? "(1, None)"
      : `(2, ('ValueError', 'sensor gone', ${toPythonLiteral(traceback("ValueError", "sensor gone", 2))}))`
  }
}

/** A connection to the fake board (a host process): protocol engine and session manager. */
export const connect = (model: FakeMicroPython, options: { threads?: boolean } = {}) =>
  Effect.gen(function* () {
    const board = yield* makeFakeBoard({
      run: (code) =>
        code.includes("_belay_probe") ? { stdout: probeAnswer(options.threads ?? true) } : model.run(code),
    })
    const device = yield* makeDeviceCommunication(board.link, fastProtocol)
    const manager = yield* makeDeviceSessionManager(device)
    // What the host asked the board to run: checked requests opened.
    const programs = () =>
      board.programs.filter((p) => !p.includes("_belay_probe")).map((p) => openCheckedRequest(p)?.code ?? p)
    return { board, device, manager, programs }
  })

/**
 * The performance ceiling of each board: the same operation (a trivial exec; a file upload) done
 * by a minimal loop that writes the protocol bytes straight to the `ByteLink` and scans the reply
 * bytes itself, with no library layers, in the same run as Belay's own call on the same link.
 * Belay's figures are reported as a fraction of that ceiling (target >= 0.9), and on the
 * pseudo-terminal board against mpremote's figures quoted in the issue (mpremote cannot be
 * installed here).
 */
import { type ByteLink, type DeviceCommunicationShape, makeDeviceCommunication } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { Effect, Exit, Fiber, References, Schema, Scope, Stream } from "effect"
import { type BenchContext, summarize, timeEach } from "../../../scripts/bench-kit.ts"
// Packages above virtual-device in the dependency graph, reached by path (bench only).
import { makeDeviceSessionManager } from "../../core/dist/index.js"
import { py, Task } from "../../executors/dist/index.js"
import { boardFileSystem } from "../../filesystem/dist/index.js"
import * as VirtualDevice from "../src/index.ts"

/** mpremote against the MicroPython unix build over a pseudo-terminal, as quoted in the issue. */
const MPREMOTE_EXEC_MS = 11.6
const MPREMOTE_UPLOAD_KBPS = 22

interface Board {
  readonly name: string
  readonly open: Effect.Effect<ByteLink, unknown, Scope.Scope>
  /** Bytes to upload, and how the benchmark names say it. */
  readonly uploadBytes: number
  /** Plain raw mode writes are paced on this board (the transport's default: 32 B per 3 ms). */
  readonly paced: boolean
  /** Try every upload variant (false: only the densest, where the line is the limit). */
  readonly allUploadVariants: boolean
}

const KB = 1024

const boards = (quick: boolean): Board[] => {
  const list: Board[] = [
    {
      name: "virtual",
      open: VirtualDevice.openVirtualBoard(),
      uploadBytes: quick ? 256 * KB : 1024 * KB,
      paced: false,
      allUploadVariants: true,
    },
    {
      name: "virtual@115200",
      open: VirtualDevice.openVirtualBoard({ bytesPerSecond: 11520 }),
      uploadBytes: quick ? 32 * KB : 256 * KB,
      paced: false,
      allUploadVariants: false,
    },
    {
      name: "virtual-pty",
      open: Effect.flatMap(VirtualDevice.openVirtualBoardPty(), (pty) => openSerialLink({ path: pty.path })),
      uploadBytes: quick ? 256 * KB : 1024 * KB,
      paced: false,
      allUploadVariants: true,
    },
  ]
  if (VirtualDevice.isQemuMicrobitAvailable()) {
    list.push({
      name: "qemu-microbit",
      open: Effect.flatMap(VirtualDevice.startQemuMicrobit(), (q) => openSerialLink({ path: q.ptyPath })),
      uploadBytes: 4 * KB,
      paced: true,
      allUploadVariants: false,
    })
  }
  // BELAY_CEILING_BOARDS=virtual,virtual-pty runs only those boards.
  const only = process.env.BELAY_CEILING_BOARDS?.split(",")
  return only ? list.filter((b) => only.includes(b.name)) : list
}

/** Random-looking bytes (incompressible, every byte value). */
const randomBytes = (n: number, seed = 11): Uint8Array => {
  const out = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

/** Adler-32, computed the same way by the board (see `CHECKSUM_CODE`). */
const adler32 = (data: Uint8Array): number => {
  let a = 1
  let b = 0
  for (const x of data) {
    a = (a + x) % 65521
    b = (b + a) % 65521
  }
  return b * 65536 + a
}

const enc = new TextEncoder()
const ascii = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
const CTRL_D = Uint8Array.of(0x04)
const RAW_PASTE_REQUEST = Uint8Array.of(0x05, 0x41, 0x01)

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/**
 * The ceiling's receive side: bytes from the link into one growing array, and one waiter that
 * re-checks its condition on every arrival. Nothing else.
 */
class Received {
  buf = new Uint8Array(1 << 16)
  len = 0
  private waiter: (() => void) | undefined

  push(chunk: Uint8Array): void {
    if (this.len + chunk.length > this.buf.length) {
      let size = this.buf.length * 2
      while (size < this.len + chunk.length) size *= 2
      const grown = new Uint8Array(size)
      grown.set(this.buf.subarray(0, this.len))
      this.buf = grown
    }
    this.buf.set(chunk, this.len)
    this.len += chunk.length
    this.waiter?.()
  }

  clear(): void {
    this.len = 0
  }

  indexOf(byte: number, from: number): number {
    const at = this.buf.subarray(from, this.len).indexOf(byte)
    return at < 0 ? -1 : at + from
  }

  until<A>(find: () => A | undefined, timeoutMs = 20_000): Promise<A> {
    const found = find()
    if (found !== undefined) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined
        reject(
          new Error(
            `ceiling loop: no reply in ${timeoutMs} ms; have ${JSON.stringify(ascii(this.buf.subarray(Math.max(0, this.len - 120), this.len)))}`,
          ),
        )
      }, timeoutMs)
      this.waiter = () => {
        const f = find()
        if (f === undefined) return
        clearTimeout(timer)
        this.waiter = undefined
        resolve(f)
      }
    })
  }
}

/** What one exec printed. */
interface Reply {
  readonly stdout: string
  readonly traceback: string
}

/**
 * From `from` (where the reply's `stdout \x04 traceback \x04 >` starts): the reply once it is
 * all in, else undefined.
 */
const replyEnd = (rx: Received, from: number): Reply | undefined => {
  if (from < 0 || from >= rx.len) return undefined
  const endOut = rx.indexOf(0x04, from)
  if (endOut < 0) return undefined
  const endTraceback = rx.indexOf(0x04, endOut + 1)
  if (endTraceback < 0 || endTraceback + 1 >= rx.len) return undefined
  if (rx.buf[endTraceback + 1] !== 0x3e) throw new Error("ceiling loop: no prompt after the reply")
  return {
    stdout: endOut === from ? "" : ascii(rx.buf.subarray(from, endOut)),
    traceback: endTraceback === endOut + 1 ? "" : ascii(rx.buf.subarray(endOut + 1, endTraceback)),
  }
}

/** The minimal protocol loops on one link. */
const minimalLoops = (link: ByteLink, rx: Received, paced: boolean) => {
  const write = (bytes: Uint8Array) => Effect.runPromise(link.write(bytes))
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  let window = 0

  const enterRaw = async () => {
    await write(enc.encode("\r\x03\x03"))
    await sleep(100)
    rx.clear()
    await write(enc.encode("\r\x01"))
    await rx.until(() =>
      ascii(rx.buf.subarray(0, rx.len)).includes("raw REPL; CTRL-B to exit\r\n>") ? true : undefined,
    )
    await sleep(50)
    rx.clear()
  }

  /** Ask for raw-paste once: its window, or 0 when the board does not take it. */
  const probeRawPaste = async (): Promise<number> => {
    rx.clear()
    await write(RAW_PASTE_REQUEST)
    const head = await rx.until(() => (rx.len >= 2 ? ascii(rx.buf.subarray(0, 2)) : undefined))
    if (head === "R\x01") {
      window = await rx.until(() => (rx.len >= 4 ? rx.buf[2]! | (rx.buf[3]! << 8) : undefined))
      await write(CTRL_D)
      await rx.until(() => {
        const echo = rx.indexOf(0x04, 4)
        return echo < 0 ? undefined : replyEnd(rx, echo + 1)
      })
      return window
    }
    // Refused (`R\x00>`) or an old board (the raw REPL banner again): back at the raw prompt.
    await rx.until(() => (ascii(rx.buf.subarray(0, rx.len)).endsWith(">") ? true : undefined))
    await sleep(50)
    return 0
  }

  /** Raw-paste exec; `pipelined` sends the request, the first window of code (and `\x04`) at once. */
  const rawPaste = async (code: Uint8Array, pipelined: boolean): Promise<Reply> => {
    rx.clear()
    let sent = 0
    if (pipelined) {
      sent = Math.min(window, code.length)
      await write(
        concat(RAW_PASTE_REQUEST, code.subarray(0, sent), sent === code.length ? CTRL_D : new Uint8Array(0)),
      )
    } else {
      await write(RAW_PASTE_REQUEST)
    }
    await rx.until(() => (rx.len >= 4 ? true : undefined))
    if (rx.buf[0] !== 0x52 || rx.buf[1] !== 0x01) throw new Error("ceiling loop: raw-paste refused")
    let at = 4
    if (!(pipelined && sent === code.length)) {
      let credit = window - sent
      while (sent < code.length) {
        while (at < rx.len && rx.buf[at] === 0x01) {
          credit += window
          at++
        }
        if (at < rx.len) throw new Error("ceiling loop: the board ended raw-paste data early")
        if (credit <= 0) {
          const from = at
          await rx.until(() => (rx.len > from ? true : undefined))
          continue
        }
        const n = Math.min(credit, code.length - sent)
        await write(code.subarray(sent, sent + n))
        sent += n
        credit -= n
      }
      await write(CTRL_D)
    }
    return rx.until(() => {
      let i = at
      while (i < rx.len && rx.buf[i] === 0x01) i++
      if (i >= rx.len) return undefined
      if (rx.buf[i] !== 0x04) throw new Error("ceiling loop: no end-of-data echo")
      return replyEnd(rx, i + 1)
    })
  }

  /** Plain raw exec: code and `\x04` (paced 32 B / 3 ms where the board needs it), then `OK`. */
  const plainRaw = async (code: Uint8Array): Promise<Reply> => {
    rx.clear()
    const all = concat(code, CTRL_D)
    if (paced) {
      for (let i = 0; i < all.length; i += 32) {
        if (i > 0) await sleep(3)
        await write(all.subarray(i, i + 32))
      }
    } else await write(all)
    return rx.until(() => {
      if (rx.len < 2) return undefined
      if (rx.buf[0] !== 0x4f || rx.buf[1] !== 0x4b) throw new Error("ceiling loop: no OK")
      return replyEnd(rx, 2)
    })
  }

  return {
    enterRaw,
    probeRawPaste,
    rawPaste,
    plainRaw,
    get window() {
      return window
    },
  }
}

type Loops = ReturnType<typeof minimalLoops>
type ExecVariant = { readonly label: string; readonly exec: (code: Uint8Array) => Promise<Reply> }

const execVariants = (loops: Loops): ExecVariant[] => [
  ...(loops.window > 0
    ? [
        { label: "raw-paste, two round trips", exec: (c: Uint8Array) => loops.rawPaste(c, false) },
        { label: "raw-paste, pipelined", exec: (c: Uint8Array) => loops.rawPaste(c, true) },
      ]
    : []),
  { label: "plain raw", exec: (c: Uint8Array) => loops.plainRaw(c) },
]

/** `b'...'` holding the bytes themselves, escaping what the raw REPL or the lexer treat specially. */
const rawLiteral = (data: Uint8Array): Uint8Array => {
  const out: number[] = [0x62, 0x27]
  for (const b of data) {
    if (b <= 4 || b === 10 || b === 13 || b === 39 || b === 92) {
      for (const c of enc.encode(`\\x${b.toString(16).padStart(2, "0")}`)) out.push(c)
    } else out.push(b)
  }
  out.push(0x27)
  return Uint8Array.from(out)
}

/** ASCII-only `b'...'` (`\xNN` escapes): for boards whose lexer or link is not 8-bit clean. */
const reprLiteral = (data: Uint8Array): Uint8Array => {
  let text = "b'"
  for (const b of data) {
    text +=
      b >= 0x20 && b < 0x7f && b !== 39 && b !== 92
        ? String.fromCharCode(b)
        : `\\x${b.toString(16).padStart(2, "0")}`
  }
  return enc.encode(`${text}'`)
}

const base64Expression = (data: Uint8Array): Uint8Array =>
  enc.encode(`a2b_base64(b'${Buffer.from(data).toString("base64")}')`)

interface UploadVariant {
  readonly label: string
  readonly chunk: number
  readonly setup: string
  readonly expression: (data: Uint8Array) => Uint8Array
  readonly protocol: "raw-paste, pipelined" | "plain raw"
}

const CHECKSUM_CODE = (name: string) =>
  `a=1\nb=0\nf=open('${name}','rb')\nwhile 1:\n d=f.read(256)\n if not d:break\n for x in d:\n  a=(a+x)%65521\n  b=(b+a)%65521\nf.close()\nprint(b*65536+a)\n`

/** Upload `data` with the minimal loop; bytes per second, after checking what landed. */
const ceilingUpload = async (loops: Loops, data: Uint8Array, variant: UploadVariant): Promise<number> => {
  const exec = async (code: Uint8Array) => {
    const reply =
      variant.protocol === "plain raw" ? await loops.plainRaw(code) : await loops.rawPaste(code, true)
    if (reply.traceback.length > 0) throw new Error(`ceiling upload (${variant.label}): ${reply.traceback}`)
    return reply.stdout
  }
  const name = "ceil.bin"
  const head = enc.encode("f.write(")
  const tail = enc.encode(")")
  const started = performance.now()
  await exec(enc.encode(`${variant.setup}f=open('${name}','wb')`))
  for (let at = 0; at < data.length; at += variant.chunk) {
    await exec(concat(head, variant.expression(data.subarray(at, at + variant.chunk)), tail))
  }
  await exec(enc.encode("f.close()"))
  const seconds = (performance.now() - started) / 1000
  // Outside the timing: what landed is what was sent.
  const sum = await exec(enc.encode(CHECKSUM_CODE(name)))
  await exec(enc.encode(`import os\nos.remove('${name}')`))
  if (Number(sum.trim()) !== adler32(data))
    throw new Error(`ceiling upload (${variant.label}): checksum differs`)
  return data.length / seconds
}
export default async function bench(ctx: BenchContext) {
  const record = (
    board: string,
    benchmark: string,
    value: number,
    unit: string,
    extra: { target?: string; met?: boolean; note?: string } = {},
  ) => ctx.record({ package: "virtual-device", benchmark, board, value, unit, ...extra })
  const fraction = (board: string, benchmark: string, value: number, note: string) =>
    record(board, benchmark, value, "fraction of ceiling", { target: ">= 0.9", met: value >= 0.9, note })

  const benchTask = Task.make({
    name: "ceiling_add",
    source: py`
      def ceiling_add(a, b):
          return a + b
    `,
    args: [Schema.Number, Schema.Number],
    result: Schema.Number,
  })
  // Ceiling and ours take turns on the same link, so that both see the same load.
  const rounds = ctx.quick ? 3 : 5
  const perRound = Math.ceil((ctx.quick ? 60 : 500) / rounds)

  for (const board of boards(ctx.quick)) {
    const scope = Effect.runSync(Scope.make())
    const runIn =
      (target: Scope.Scope) =>
      <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
        Effect.runPromise(
          Scope.provide(effect, target).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
        )
    const run = runIn(scope)
    try {
      const link = await run(board.open)
      const rx = new Received()
      const loops = minimalLoops(link, rx, board.paced)

      /** The ceiling's turn: its own reader on the link, the raw REPL entered by hand. */
      const ceilingTurn = async <A>(body: () => Promise<A>): Promise<A> => {
        const reader = Effect.runFork(
          Stream.runForEach(link.received, (chunk) => Effect.sync(() => rx.push(chunk))),
        )
        try {
          await loops.enterRaw()
          return await body()
        } finally {
          await Effect.runPromise(Fiber.interrupt(reader))
        }
      }
      /** Our turn: a connection, a session and a file system on the link, closed afterwards. */
      const oursTurn = async <A>(
        body: (
          device: DeviceCommunicationShape,
          call: () => Promise<number>,
          fs: ReturnType<typeof boardFileSystem>,
        ) => Promise<A>,
      ): Promise<A> => {
        const turn = Effect.runSync(Scope.make())
        const runTurn = runIn(turn)
        try {
          const device = await runTurn(
            makeDeviceCommunication(
              link,
              board.paced ? { integrity: "unchecked" } : { plainRawChunkDelayMs: 0, integrity: "unchecked" },
            ),
          )
          const manager = await runTurn(makeDeviceSessionManager(device))
          const session = await runTurn(manager.createSession())
          await runTurn(device.exec("pass"))
          return await body(device, () => runTurn(benchTask.call(session, 1, 2)), boardFileSystem(session))
        } finally {
          await Effect.runPromise(Scope.close(turn, Exit.void))
        }
      }

      const window = await ceilingTurn(() => loops.probeRawPaste())
      ctx.log(`${board.name}: raw-paste ${window > 0 ? `window ${window}` : "not supported"}`)

      // ---- trivial exec ----
      const pass = enc.encode("pass")
      const variants = execVariants(loops)
      const ceilingSamples = new Map<string, number[]>(variants.map((v) => [v.label, []]))
      const oursSamples: number[] = []
      const taskSamples: number[] = []
      let taskFailure: string | undefined
      for (let round = 0; round < rounds; round++) {
        const warmup = round === 0 ? 20 : 5
        await ceilingTurn(async () => {
          for (const variant of variants)
            ceilingSamples
              .get(variant.label)!
              .push(...(await timeEach(perRound, () => variant.exec(pass), warmup)))
        })
        await oursTurn(async (device, call) => {
          oursSamples.push(...(await timeEach(perRound, () => run(device.exec("pass")), warmup)))
          if (taskFailure !== undefined) return
          try {
            await call()
            taskSamples.push(...(await timeEach(perRound, call, warmup)))
          } catch (error) {
            taskFailure = error instanceof Error ? error.message : String(error)
            ctx.log(`${board.name}: the Task call failed, no task figures: ${taskFailure}`)
          }
        })
      }
      const execCeilings = variants.map((v) => ({
        label: v.label,
        ms: summarize(ceilingSamples.get(v.label)!).median,
      }))
      for (const c of execCeilings)
        record(board.name, `ceiling: trivial exec, ${c.label}`, c.ms, "ms (median)")
      const best = execCeilings.reduce((a, b) => (b.ms < a.ms ? b : a))
      const ours = summarize(oursSamples).median
      const task = summarize(taskSamples).median
      ctx.log(
        `${board.name}: exec ceiling ${execCeilings.map((c) => `${c.label} ${c.ms.toFixed(3)}`).join(", ")} ms; ours ${ours.toFixed(3)} ms; task ${task.toFixed(3)} ms`,
      )
      record(board.name, "ours: trivial exec (DeviceCommunication.exec)", ours, "ms (median)")
      fraction(
        board.name,
        "trivial exec: ceiling / ours",
        best.ms / ours,
        `ceiling ${best.ms.toFixed(3)} ms (${best.label}), ours ${ours.toFixed(3)} ms; medians of ${oursSamples.length} in ${rounds} alternating rounds`,
      )
      if (taskSamples.length > 0) {
        record(board.name, "ours: cached Task call", task, "ms (median)")
        fraction(
          board.name,
          "cached Task call: trivial-exec ceiling / ours",
          best.ms / task,
          "the call also encodes arguments, frames and decodes the result, and sends more bytes than `pass`",
        )
      }

      // ---- upload ----
      const data = randomBytes(board.uploadBytes)
      const sizeLabel =
        board.uploadBytes >= 1024 * KB
          ? `${board.uploadBytes / (1024 * KB)} MB`
          : `${board.uploadBytes / KB} KB`
      const uploadVariants: UploadVariant[] =
        board.name === "qemu-microbit"
          ? [
              {
                label: "repr literal, 128 B chunks, plain raw paced",
                chunk: 128,
                setup: "",
                expression: reprLiteral,
                protocol: "plain raw",
              },
            ]
          : [
              {
                label: "raw literal, 8 KB chunks, raw-paste",
                chunk: 8 * KB,
                setup: "",
                expression: rawLiteral,
                protocol: "raw-paste, pipelined",
              },
              ...(board.allUploadVariants
                ? ([
                    {
                      label: "raw literal, 32 KB chunks, raw-paste",
                      chunk: 32 * KB,
                      setup: "",
                      expression: rawLiteral,
                      protocol: "raw-paste, pipelined",
                    },
                    {
                      label: "base64, 24 KB chunks, raw-paste",
                      chunk: 24 * KB,
                      setup: "from binascii import a2b_base64\n",
                      expression: base64Expression,
                      protocol: "raw-paste, pipelined",
                    },
                    {
                      label: "raw literal, 32 KB chunks, plain raw unpaced (no flow control)",
                      chunk: 32 * KB,
                      setup: "",
                      expression: rawLiteral,
                      protocol: "plain raw",
                    },
                  ] satisfies UploadVariant[])
                : []),
            ]
      const uploadRounds = board.name === "virtual@115200" && !ctx.quick ? 1 : 2
      const ceilingRates = new Map<string, number>()
      const oursRates: number[] = []
      for (let round = 0; round < uploadRounds; round++) {
        await ceilingTurn(async () => {
          for (const variant of uploadVariants) {
            try {
              const rate = await ceilingUpload(loops, data, variant)
              ceilingRates.set(variant.label, Math.max(rate, ceilingRates.get(variant.label) ?? 0))
            } catch (error) {
              ctx.log(`${board.name}: ceiling upload "${variant.label}" failed: ${String(error)}`)
              await loops.enterRaw()
            }
          }
        })
        await oursTurn(async (_device, _call, fs) => {
          const t = performance.now()
          await run(fs.write("/ours.bin", data))
          oursRates.push(data.length / ((performance.now() - t) / 1000))
          await run(fs.remove("/ours.bin"))
        })
      }
      for (const [label, rate] of ceilingRates)
        record(board.name, `ceiling: upload ${sizeLabel}, ${label}`, rate / KB, "KB/s", {
          note: `best of ${uploadRounds}`,
        })
      const upload = Math.max(...oursRates)
      record(
        board.name,
        `ours: upload ${sizeLabel} (boardFileSystem.write, atomic, verified)`,
        upload / KB,
        "KB/s",
        {
          note: `best of ${uploadRounds}`,
        },
      )
      // The ceiling is the fastest flow-controlled (raw-paste) loop, or paced plain raw where the
      // board has no raw-paste: what is safe on a real board. Unpaced plain raw is shown apart.
      const safe = [...ceilingRates].filter(([label]) => !label.includes("no flow control"))
      if (safe.length > 0) {
        const [label, rate] = safe.reduce((a, b) => (b[1] > a[1] ? b : a))
        fraction(
          board.name,
          `upload ${sizeLabel}: ours / ceiling`,
          upload / rate,
          `ceiling ${(rate / KB).toFixed(0)} KB/s (${label})`,
        )
      }
      const unpaced = [...ceilingRates].find(([label]) => label.includes("no flow control"))
      if (unpaced)
        record(
          board.name,
          `upload ${sizeLabel}: ours / unpaced plain raw loop`,
          upload / unpaced[1],
          "fraction",
          {
            note: "no flow control: correct only where the board's input buffer is unbounded (the virtual board)",
          },
        )
      ctx.log(
        `${board.name}: upload ceiling ${[...ceilingRates].map(([l, r]) => `${l} ${(r / KB).toFixed(0)}`).join(", ")} KB/s; ours ${(upload / KB).toFixed(0)} KB/s`,
      )

      if (board.name === "virtual-pty") {
        const execTimes = MPREMOTE_EXEC_MS / ours
        const uploadTimes = upload / KB / MPREMOTE_UPLOAD_KBPS
        const versus = "x faster than mpremote (quoted figures, unix build)"
        record(board.name, `trivial exec: ${versus}`, execTimes, "x", {
          target: "> 30",
          met: execTimes > 30,
          note: `mpremote ${MPREMOTE_EXEC_MS} ms quoted in the issue; ours ${ours.toFixed(3)} ms`,
        })
        record(board.name, `trivial exec, the ceiling loop: ${versus}`, MPREMOTE_EXEC_MS / best.ms, "x", {
          note: "the most any client can reach on this board (a WebAssembly board behind socat), not the unix build",
        })
        record(board.name, `upload: ${versus}`, uploadTimes, "x", {
          target: "> 30",
          met: uploadTimes > 30,
          note: `mpremote ${MPREMOTE_UPLOAD_KBPS} KB/s quoted in the issue; ours ${(upload / KB).toFixed(0)} KB/s`,
        })
      }
    } catch (error) {
      ctx.log(
        `${board.name}: FAILED ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      )
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}

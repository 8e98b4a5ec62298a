import { Effect, type Scope } from "effect"
import { type ByteLink, makeReceiveQueue } from "../ByteLink.js"
import { LinkClosedError } from "../errors.js"

/** What running one piece of code on the fake board does. */
export type FakeRun =
  | { readonly stdout?: string | Uint8Array; readonly traceback?: string }
  /** Runs until Ctrl-C, printing `stdout` first. */
  | { readonly hang: true; readonly stdout?: string; readonly ignoreInterrupt?: boolean }

/** Points in an exchange where a test can make the board misbehave. */
export type FakeBoardPhase =
  | "interrupt"
  | "enter-raw"
  | "raw-paste-negotiate"
  | "raw-paste-data"
  | "raw-ok"
  | "stdout"
  | "traceback"
  | "prompt"
  | "soft-reset"

/**
 * Settings of the scripted board.
 *
 * @example
 * const board = yield* makeFakeBoard({ run: (code) => ({ stdout: "2\r\n" }) })
 */
export interface FakeBoardOptions {
  /** How the board answers `\x05A\x01`: take raw-paste, refuse it (`R\x00`), or not know it (old firmware). */
  readonly rawPaste?: "accept" | "refuse" | "old"
  /** Raw-paste flow-control window (the board grants two at start). Default 128. */
  readonly rawPasteWindow?: number
  /**
   * What the board does with raw-paste data beyond what it granted (two windows at the start,
   * one more for each `\x01` it sent before the write that carries the byte; a grant sent while
   * a write is being read counts from the next write, since the host cannot have seen it):
   * `"drop"` (default) loses the byte, as a small UART buffer does, and counts it in
   * `rawPasteOverruns`; `"fail"` fails the host's write with a defect, loudly.
   */
  readonly rawPasteOverrun?: "drop" | "fail"
  readonly softRebootBanner?: string
  /** Executes code. Default: echoes nothing and succeeds. */
  readonly run?: (code: string) => FakeRun
  /** How each reply is cut into chunks before delivery. Default: one chunk. */
  readonly chunking?: (reply: Uint8Array) => ReadonlyArray<Uint8Array>
  /** Bytes the board sends as soon as the link opens (noise, a boot banner). */
  readonly onOpen?: Uint8Array
  /** Called when the board enters a phase; return a fault to inject at that point. */
  readonly fault?: (phase: FakeBoardPhase, exchange: number) => FakeFault | undefined
  /** Answer `\x04` during raw-paste data early, as a board does on a syntax error before the end. */
  readonly abortRawPasteAfter?: number
}

/** A misbehaviour at a phase: the board goes silent, disconnects, resets, or sends noise. */
export type FakeFault =
  | { readonly _tag: "stall" }
  | { readonly _tag: "disconnect" }
  | { readonly _tag: "reset"; readonly kind: "soft" | "hard" }
  | { readonly _tag: "garbage"; readonly bytes: Uint8Array }

/** The test's handle on the fake board. */
export interface FakeBoard {
  readonly link: ByteLink
  /** Every byte the host wrote, in order. */
  readonly written: () => Uint8Array
  /** Code received per exchange, in order. */
  readonly programs: ReadonlyArray<string>
  /** Interrupts (Ctrl-C) received while code was running. */
  readonly interrupts: () => number
  /** Raw-paste bytes the host sent beyond the granted window (lost, or failed loudly). */
  readonly rawPasteOverruns: () => number
  /** Make the board send bytes on its own. */
  readonly emit: (bytes: Uint8Array | string) => void
  /** Pull the plug. */
  readonly disconnect: () => void
}

const enc = new TextEncoder()
const bytesOf = (s: string | Uint8Array) => (typeof s === "string" ? enc.encode(s) : s)
const BANNER =
  'MicroPython v1.27.0 on 2026-01-01; fake board with test CPU\r\nType "help()" for more information.\r\n'

/**
 * A scripted MicroPython board behind a `ByteLink`, for byte-level tests of the protocol engine:
 * it follows pyexec's raw REPL state machine and lets a test cut replies at any byte boundary,
 * inject noise, resets, stalls and disconnects at chosen phases.
 *
 * @example
 * const board = yield* makeFakeBoard({ run: () => ({ stdout: "hi\r\n" }) })
 * const comm = yield* makeDeviceCommunication(board.link)
 * yield* comm.exec("print('hi')") // "hi\r\n"
 */
export const makeFakeBoard = (options: FakeBoardOptions = {}): Effect.Effect<FakeBoard, never, Scope.Scope> =>
  Effect.gen(function* () {
    const description = "fake"
    const rx = yield* makeReceiveQueue(description)
    yield* Effect.addFinalizer(() => Effect.sync(() => rx.end("closed")))
    const written: number[] = []
    const programs: string[] = []
    const window = options.rawPasteWindow ?? 128
    let mode: "friendly" | "raw" | "paste" | "running" | "dead" | "stalled" = "friendly"
    let line: number[] = []
    let pasteRemain = 0
    let pasteCount = 0
    // Raw-paste flow control as the host sees it: bytes it may still send, and grants sent
    // during the current write (usable from the next one).
    let pasteAllowance = 0
    let pendingGrant = 0
    let overruns = 0
    let overrunMessage: string | undefined
    let running: Extract<FakeRun, { hang: true }> | undefined
    let interrupts = 0
    let exchange = 0
    let swallowUntilEnd = false

    const deliver = (bytes: Uint8Array) => {
      if (bytes.length === 0 || mode === "dead") return
      const chunks = options.chunking ? options.chunking(bytes) : [bytes]
      for (const chunk of chunks) rx.push(chunk)
    }
    const send = (s: string | Uint8Array) => deliver(bytesOf(s))

    /** Apply a fault for this phase; true when the exchange must stop here. */
    const faultAt = (phase: FakeBoardPhase): boolean => {
      const fault = options.fault?.(phase, exchange)
      if (fault === undefined) return false
      switch (fault._tag) {
        case "garbage":
          send(fault.bytes)
          return false
        case "stall":
          mode = "stalled"
          return true
        case "disconnect":
          mode = "dead"
          rx.fail("fake board unplugged")
          return true
        case "reset":
          if (fault.kind === "soft") {
            mode = "raw"
            send(`${options.softRebootBanner ?? "MPY: soft reboot"}\r\nraw REPL; CTRL-B to exit\r\n>`)
          } else {
            mode = "friendly"
            send(`\r\n${BANNER}>>> `)
          }
          line = []
          return true
      }
    }

    const runCode = (code: string, viaPaste: boolean) => {
      programs.push(code)
      exchange++
      if (!viaPaste) {
        if (faultAt("raw-ok")) return
        send("OK")
      }
      const result = options.run ? options.run(code) : {}
      if ("hang" in result) {
        mode = "running"
        running = result
        if (faultAt("stdout")) return
        if (result.stdout) send(result.stdout)
        return
      }
      if (faultAt("stdout")) return
      send(result.stdout ?? "")
      send("\x04")
      if (faultAt("traceback")) return
      send(`${result.traceback ?? ""}\x04`)
      if (faultAt("prompt")) return
      send(">")
      mode = "raw"
    }

    const onByte = (b: number) => {
      switch (mode) {
        case "dead":
        case "stalled":
          return
        case "running":
          if (b === 0x03 && !running?.ignoreInterrupt) {
            interrupts++
            running = undefined
            mode = "raw"
            send(
              '\x04Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\nKeyboardInterrupt: \r\n\x04>',
            )
          }
          return
        case "friendly":
          if (b === 0x01) {
            if (faultAt("enter-raw")) return
            mode = "raw"
            line = []
            send("\r\nraw REPL; CTRL-B to exit\r\n>")
          } else if (b === 0x03) {
            if (faultAt("interrupt")) return
            send("\r\nKeyboardInterrupt\r\n>>> ")
          } else if (b === 0x0d) send("\r\n>>> ")
          else if (b === 0x04) {
            send(`${options.softRebootBanner ?? "MPY: soft reboot"}\r\n${BANNER}>>> `)
          } else send(Uint8Array.of(b))
          return
        case "paste": {
          if (b === 0x03) {
            // As MicroPython's reader of raw-paste data: Ctrl-C ends the data, and the
            // KeyboardInterrupt it raises stops the compilation, so none of the code runs.
            send("\x04\x04KeyboardInterrupt: \r\n\x04>")
            mode = "raw"
            line = []
            return
          }
          if (b === 0x04) {
            send("\x04")
            mode = "raw"
            runCode(new TextDecoder().decode(Uint8Array.from(line)), true)
            line = []
            return
          }
          if (pasteAllowance === 0) {
            // Beyond the window the board granted: a small receive buffer loses it.
            overruns++
            overrunMessage ??= `raw-paste overrun: the host sent more code than the ${window}-byte windows it was granted`
            return
          }
          pasteAllowance--
          line.push(b)
          pasteCount++
          if (options.abortRawPasteAfter !== undefined && pasteCount === options.abortRawPasteAfter) {
            // Like a SyntaxError found while reading: end early, then swallow input until \x04.
            send("\x04")
            mode = "raw"
            line = []
            swallowUntilEnd = true
            return
          }
          if (--pasteRemain === 0) {
            send("\x01")
            pendingGrant += window
            pasteRemain = window
          }
          return
        }
        case "raw":
          if (swallowUntilEnd) {
            if (b === 0x04 || b === 0x03) {
              swallowUntilEnd = false
              exchange++
              send(
                '\x04Traceback (most recent call last):\r\n  File "<stdin>", line 2\r\nSyntaxError: invalid syntax\r\n\x04>',
              )
            }
            return
          }
          if (b === 0x01) {
            if (line.length === 2 && line[0] === 0x05) {
              const command = line[1]
              line = []
              if (faultAt("raw-paste-negotiate")) return
              if (options.rawPaste === "refuse" || command !== 0x41) {
                send("R\x00>")
              } else if (options.rawPaste === "old") {
                send("raw REPL; CTRL-B to exit\r\n>")
              } else {
                send(Uint8Array.of(0x52, 0x01, window & 0xff, window >> 8, 0x01))
                mode = "paste"
                pasteRemain = window
                pasteCount = 0
                // The window announced, and the first 0x01: a host that knows the window may
                // send the first one with the request (pipelining).
                pasteAllowance = 2 * window
                pendingGrant = 0
                if (faultAt("raw-paste-data")) return
              }
              return
            }
            if (faultAt("enter-raw")) return
            line = []
            send("raw REPL; CTRL-B to exit\r\n>")
          } else if (b === 0x02) {
            mode = "friendly"
            line = []
            send(`\r\n${BANNER}>>> `)
          } else if (b === 0x03) {
            if (faultAt("interrupt")) return
            line = []
          } else if (b === 0x04) {
            if (line.length === 0) {
              if (faultAt("soft-reset")) return
              send(`OK\r\n${options.softRebootBanner ?? "MPY: soft reboot"}\r\nraw REPL; CTRL-B to exit\r\n>`)
              return
            }
            const code = new TextDecoder().decode(Uint8Array.from(line))
            line = []
            runCode(code, false)
          } else line.push(b)
          return
      }
    }
    if (options.onOpen) deliver(options.onOpen)

    const link: ByteLink = {
      description,
      write: (bytes) =>
        Effect.suspend(() => {
          const closed = rx.closedReason()
          if (closed !== undefined) {
            return Effect.fail(
              closed._tag === "LinkLostError"
                ? closed
                : new LinkClosedError({ link: description, reason: "closed" }),
            )
          }
          for (const b of bytes) {
            written.push(b)
            onByte(b)
          }
          // Grants sent while this write was read are seen by the host's next write.
          pasteAllowance += pendingGrant
          pendingGrant = 0
          if (overrunMessage !== undefined && options.rawPasteOverrun === "fail") {
            const message = overrunMessage
            overrunMessage = undefined
            return Effect.die(new Error(message))
          }
          return Effect.void
        }),
      received: rx.stream,
      isOpen: Effect.sync(() => rx.closedReason() === undefined),
    }

    return {
      link,
      written: () => Uint8Array.from(written),
      programs,
      interrupts: () => interrupts,
      rawPasteOverruns: () => overruns,
      emit: (bytes) => rx.push(bytesOf(bytes)),
      disconnect: () => {
        mode = "dead"
        rx.fail("fake board unplugged")
      },
    } satisfies FakeBoard
  })

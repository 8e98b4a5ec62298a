/**
 * The firmware of the virtual board: MicroPython's REPLs (friendly, raw, raw-paste), soft and
 * hard resets, boot.py/main.py, Ctrl-C, in front of an interpreter that runs in a worker
 * thread. The REPL logic follows MicroPython's `pyexec.c` and `readline.c` (observable bytes),
 * because the WebAssembly build cannot read the serial line while code runs.
 *
 * Plain Promise-based so that the pty script can use it without Effect; `openVirtualBoard`
 * wraps it as a `ByteLink`.
 *
 * Longer than most modules here on purpose: it is one state machine (the REPL modes and the
 * transitions between them on each received byte), read best as one; the worker, the flash
 * store, the receive queue and pacing already live in modules of their own.
 *
 * @internal
 */
import { boardUniqueId as platformUniqueId } from "#platform"
import { ByteQueue } from "./ByteQueue.js"
import { FlashStore } from "./flash.js"
import { acquireInterpreter, type ExecResult, type InterpreterWorker, WorkerGone } from "./interpreter.js"
import { type ResolvedOptions, resolveOptions, type VirtualBoardOptions } from "./options.js"
import { Pacer } from "./pacing.js"
import type { BoardInfo, ExecMode } from "./WorkerMessages.js"

const CTRL_A = 0x01
const CTRL_B = 0x02
const CTRL_C = 0x03
const CTRL_D = 0x04
const CTRL_E = 0x05
/** `PYEXEC_FORCED_EXIT`: leave the REPL for a soft reset. */
const FORCED_EXIT = 0x100
/** Keep at most this much worker output queued on a speed-limited line (like a UART FIFO). */
const OUTPUT_BACKLOG = 256
/** Not a byte: what a waiting read gets when an auto-reload (CircuitPython) wakes it. */
const RELOAD_SIGNAL = -1
/** CircuitPython's `line_clear`: erase the terminal's line, cursor to its start. */
const LINE_CLEAR = "\x1b[2K\x1b[0G"
/** The files CircuitPython runs after a reset, the first one found. */
const CODE_FILES = ["code.txt", "code.py", "main.py", "main.txt"]
/** What a board playing CircuitPython says it is (`sys.implementation._machine`). */
const CIRCUITPYTHON_MACHINE = "Belay virtual board with webassembly"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The running REPL loop was cut short by a hard reset or by closing the board. */
class Abandoned extends Error {
  constructor() {
    super("abandoned")
  }
}

/**
 * Statistics of a board, for tests and diagnostics.
 *
 * @example
 * const { hardResets, rawPasteOverflow } = board.stats
 * @since 0.1.0
 */
export interface VirtualBoardStats {
  /** Bytes dropped because the host sent more raw-paste data than the window allowed. */
  readonly rawPasteOverflow: number
  /** Hard resets so far (Ctrl-C that did not stop the code, crashes, explicit resets). */
  readonly hardResets: number
  /** Soft resets so far. */
  readonly softResets: number
  /** Ctrl-C requests that arrived while code was running. */
  readonly interrupts: number
  /** `os.sync()` calls (a board playing CircuitPython). */
  readonly syncs: number
}

/**
 * Callbacks of a board.
 *
 * @example
 * const callbacks: VirtualBoardCallbacks = { onOutput: (b) => rx.push(b), onFatal: (r) => rx.fail(r) }
 * @since 0.1.0
 */
export interface VirtualBoardCallbacks {
  /** Bytes the board sends on its serial line. */
  readonly onOutput: (bytes: Uint8Array) => void
  /** The board can no longer run (no interpreter could be started). */
  readonly onFatal?: (reason: string) => void
}

/**
 * A MicroPython board in this process. Prefer `openVirtualBoard` (a scoped `ByteLink`);
 * this class is the plain-Promise core.
 *
 * @example
 * const board = await VirtualBoard.open({}, { onOutput: (b) => process.stdout.write(b) })
 * await board.write(new TextEncoder().encode("\x01print(1)\x04"))
 * await board.close()
 * @since 0.1.0
 */
export class VirtualBoard {
  private readonly opts: ResolvedOptions
  private readonly flash: FlashStore
  private readonly input = new ByteQueue()
  private readonly toHost: Pacer
  private readonly fromHost: Pacer
  private interp: InterpreterWorker | undefined
  private info: BoardInfo = { version: "MicroPython", machine: "virtual" }
  private mode: "friendly" | "raw" = "friendly"
  private executing = false
  private pasteCredit: number | undefined
  private interruptTimer: ReturnType<typeof setTimeout> | undefined
  private epoch = 0
  private closed = false
  /** The RTC, as milliseconds added to the host's clock: kept across resets, 0 at power-on. */
  private rtcOffsetMs = 0
  private readonly uniqueId: string
  private readonly counters = { rawPasteOverflow: 0, hardResets: 0, softResets: 0, interrupts: 0, syncs: 0 }
  /** CircuitPython: code sees the flash read-only (until boot.py remounts it; again at power-on). */
  private codeReadOnly = true
  /** CircuitPython: what the supervisor does now (an auto-reload waits while the REPL runs). */
  private phase: "boot" | "code" | "waiting" | "repl" = "repl"
  /** CircuitPython: a file written over USB asks for a reload. */
  private reloadRequested = false
  /** CircuitPython: the running code.py is being stopped for an auto-reload (no traceback). */
  private stoppingForReload = false
  /** Output is dropped (CircuitPython's boot.py writes to boot_out.txt, not the serial line). */
  private muted = false
  /** The current interpreter has run code since it started (else it is as fresh as a new one). */
  private interpUsed = false
  /** The current interpreter was started to run boot.py. */
  private interpBooting = false
  /** The traceback of the last code that raised, for CircuitPython's status bar. */
  private lastTraceback: string | undefined

  private constructor(
    options: ResolvedOptions,
    private readonly callbacks: VirtualBoardCallbacks,
  ) {
    this.opts = options
    this.flash =
      options.flashDir === undefined ? FlashStore.inMemory() : FlashStore.inDirectory(options.flashDir)
    this.uniqueId = boardUniqueId(options.flashDir)
    this.toHost = new Pacer(
      options.bytesPerSecond,
      (bytes) => {
        if (!this.closed) this.callbacks.onOutput(bytes)
      },
      5,
      true,
    )
    this.toHost.onDrain = () => this.pumpOutput()
    this.fromHost = new Pacer(options.bytesPerSecond, (bytes) => this.receive(bytes))
    this.codeReadOnly = !(options.circuitPython?.writable ?? true)
  }

  /**
   * Power on a board: start its interpreter, then run the firmware (the boot banner is the
   * first output). Rejects if the interpreter cannot start.
   *
   * @example
   * const board = await VirtualBoard.open({ rawPasteWindow: 128 }, { onOutput: (b) => process.stdout.write(b) })
   * await board.write(new TextEncoder().encode("\r\x01"))
   */
  static async open(
    options: VirtualBoardOptions | undefined,
    callbacks: VirtualBoardCallbacks,
  ): Promise<VirtualBoard> {
    const board = new VirtualBoard(resolveOptions(options), callbacks)
    await board.startInterpreter(board.epoch)
    void board.run(board.epoch)
    return board
  }

  /** Send bytes to the board; resolves once the (speed-limited) line has delivered them. */
  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.resolve()
    return this.fromHost.push(bytes.slice())
  }

  /** Press the reset button: the interpreter is replaced and the board boots again. */
  hardReset(): void {
    if (this.closed) return
    this.counters.hardResets++
    this.epoch++
    const epoch = this.epoch
    this.abandon()
    void this.run(epoch, "power-on")
  }

  /**
   * Soft reset, as running code calling `machine.soft_reset()` or Ctrl-D at the prompt does:
   * whatever runs stops, RAM state is gone (a new interpreter), the board prints the soft-reboot
   * line, runs boot.py (and main.py in the friendly REPL), and comes back in the REPL it was in.
   * The flash stays; files written by code that was still running are lost, as with `hardReset`.
   */
  softReset(): void {
    if (this.closed) return
    this.epoch++
    const epoch = this.epoch
    this.abandon()
    void this.run(epoch, "soft-reset")
  }

  /** Power off: stop the interpreter; nothing more is sent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.epoch++
    const interp = this.abandon()
    this.toHost.close()
    this.fromHost.close()
    await interp?.terminate()
  }

  get stats(): VirtualBoardStats {
    return { ...this.counters }
  }

  /** The files on the board's flash (a copy), by absolute path. */
  files(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>()
    for (const entry of this.flash.snapshot())
      if (entry.kind === "file") out.set(entry.path, entry.data.slice())
    return out
  }

  /** A file on the flash, as the firmware's WebREPL file transfer reads it; `undefined` if there is none. */
  readFile(path: string): Uint8Array | undefined {
    return this.flash.read(path)?.slice()
  }

  /**
   * Write a file on the flash from outside the running code, as the firmware's WebREPL file
   * transfer does: the code sees it from its next execution on. Throws when the folder it goes in
   * does not exist or the path is a folder (the firmware's `open` raising OSError).
   */
  writeFile(path: string, data: Uint8Array): void {
    const parent = path.slice(0, path.lastIndexOf("/"))
    const parentIsDir =
      parent === "" || this.flash.snapshot().some((e) => e.path === parent && e.kind === "dir")
    if (
      !path.startsWith("/") ||
      !parentIsDir ||
      (this.flash.has(path) && this.flash.read(path) === undefined)
    )
      throw new Error(`OSError: [Errno 2] ENOENT: ${path}`)
    const changes = [{ op: "write", path, data: data.slice() }] as const
    this.flash.apply(changes)
    this.interp?.applyFlash(changes)
  }

  /**
   * CircuitPython only: a computer writes a file through the board's CIRCUITPY drive. The flash
   * changes, and the board auto-reloads as CircuitPython does: running code.py is stopped
   * (`Code stopped by auto-reload. Reloading soon.`), the board at its `Press any key` wait
   * reloads; both print `soft reboot` and run code.py again. While a REPL runs, auto-reload waits:
   * nothing is printed and the REPL goes on (code sees the new file). Throws when the board is not
   * playing CircuitPython, when boot.py made the flash writable by code (the drive is then
   * read-only to the computer), and as `writeFile` does.
   */
  usbWrite(path: string, data: Uint8Array): void {
    if (this.opts.circuitPython === undefined)
      throw new Error("only a board playing CircuitPython has a CIRCUITPY drive")
    if (!this.codeReadOnly)
      throw new Error(
        "the CIRCUITPY drive is read-only to the computer: boot.py remounted the flash for code",
      )
    this.writeFile(path, data)
    if (this.closed || this.phase === "repl" || this.phase === "boot") return
    this.reloadRequested = true
    if (this.phase === "code" && this.executing) {
      this.stoppingForReload = true
      this.interrupt()
    } else if (this.phase === "waiting") this.input.signal(RELOAD_SIGNAL)
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  private abandon(): InterpreterWorker | undefined {
    this.clearInterruptTimer()
    this.executing = false
    this.pasteCredit = undefined
    this.input.abort(new Abandoned())
    const interp = this.interp
    this.interp = undefined
    if (interp !== undefined) {
      interp.onDeath = () => {}
      interp.onOutput = () => {}
      void interp.terminate()
    }
    return interp
  }

  /** Await something of the current run; a hard reset or close in the meantime abandons it. */
  private async step<A>(epoch: number, promise: Promise<A>): Promise<A> {
    try {
      const value = await promise
      if (epoch !== this.epoch) throw new Abandoned()
      return value
    } catch (error) {
      if (epoch !== this.epoch) throw new Abandoned()
      throw error
    }
  }

  private emit(data: string | Uint8Array) {
    const bytes = typeof data === "string" ? encoder.encode(data) : data
    void this.toHost.push(bytes)
  }

  /** Move the interpreter's output to the line, no more than the line can hold. */
  private pumpOutput(all = false) {
    const interp = this.interp
    if (interp === undefined) return
    for (;;) {
      const room =
        all || this.opts.bytesPerSecond === undefined ? Infinity : OUTPUT_BACKLOG - this.toHost.backlog
      if (room <= 0) return
      const bytes = interp.readOutput(room)
      if (bytes.length === 0) return
      if (!this.muted) this.emit(bytes)
    }
  }

  private nextByte(epoch: number): Promise<number> {
    return this.step(epoch, this.input.next())
  }

  /** Bytes arriving from the host (after the line's speed limit). */
  private receive(bytes: Uint8Array) {
    if (this.closed) return
    const interp = this.interp
    if (this.executing && interp !== undefined) {
      // While code runs, Ctrl-C interrupts it and everything else is its stdin.
      let from = 0
      for (let i = 0; i <= bytes.length; i++) {
        if (i === bytes.length || bytes[i] === CTRL_C) {
          if (i > from) interp.pushStdin(bytes.subarray(from, i))
          if (i < bytes.length) {
            this.interrupt()
            // CircuitPython's USB serial drops what it holds when the interrupt character comes.
            if (this.opts.circuitPython !== undefined) return
          }
          from = i + 1
        }
      }
      return
    }
    if (this.pasteCredit !== undefined) {
      // Raw-paste data: the host may have at most the announced window(s) in flight; what comes
      // beyond that overflows the board's buffer and is lost, as on a real UART.
      const accepted: number[] = []
      for (let i = 0; i < bytes.length; i++) {
        const byte = bytes[i]!
        if (byte === CTRL_C || byte === CTRL_D) {
          this.pasteCredit = undefined
          this.input.push(Uint8Array.from(accepted))
          this.input.push(bytes.subarray(i))
          return
        }
        if (this.pasteCredit > 0) {
          this.pasteCredit--
          accepted.push(byte)
        } else {
          this.counters.rawPasteOverflow++
        }
      }
      this.input.push(Uint8Array.from(accepted))
      return
    }
    this.input.push(bytes)
  }

  private interrupt() {
    const interp = this.interp
    if (interp === undefined) return
    this.counters.interrupts++
    interp.interrupt()
    if (this.interruptTimer === undefined) {
      const epoch = this.epoch
      this.interruptTimer = setTimeout(() => {
        this.interruptTimer = undefined
        if (epoch === this.epoch && this.executing) this.hardReset()
      }, this.opts.interruptTimeoutMs)
    }
  }

  private clearInterruptTimer() {
    if (this.interruptTimer !== undefined) clearTimeout(this.interruptTimer)
    this.interruptTimer = undefined
  }

  private async startInterpreter(epoch: number, booting = false) {
    const interp = await this.step(
      epoch,
      acquireInterpreter({ keepSpare: true, assets: this.opts.assets, maximumPages: this.opts.memoryPages }),
    )
    if (epoch !== this.epoch) {
      void interp.terminate()
      throw new Abandoned()
    }
    this.interp = interp
    this.interpUsed = false
    this.interpBooting = booting
    interp.onOutput = () => this.pumpOutput()
    interp.onDeath = () => {
      if (this.interp === interp && !this.closed) this.hardReset()
    }
    interp.onRtc = (offsetMs) => {
      if (this.interp === interp) this.rtcOffsetMs = offsetMs
    }
    interp.onRemount = (readOnly) => {
      if (this.interp === interp) this.codeReadOnly = readOnly
    }
    interp.onSynced = () => {
      this.counters.syncs++
    }
    interp.onReset = (changes) => {
      if (this.interp !== interp || this.closed) return
      // machine.reset(): what the code printed and wrote before stays, then the board boots again.
      this.flash.apply(changes)
      this.pumpOutput(true)
      this.hardReset()
    }
    const machine = { rtcOffsetMs: this.rtcOffsetMs, uniqueId: this.uniqueId }
    const cp = this.opts.circuitPython
    const circuitPython =
      cp === undefined
        ? undefined
        : { version: cp.version, machine: CIRCUITPYTHON_MACHINE, readOnly: this.codeReadOnly, booting }
    this.info = await this.step(
      epoch,
      interp.start(this.flash.snapshot(), this.opts.flashSize, machine, circuitPython),
    )
  }

  /**
   * A new interpreter in place of the current one (the VM's RAM is gone). One that has run nothing
   * since it started is kept: it is as fresh as a new one (CircuitPython starts a VM for code.py,
   * then one for each REPL entered, often with nothing run in between).
   */
  private async freshInterpreter(epoch: number, booting = false) {
    if (this.interp !== undefined && !this.interpUsed && this.interpBooting === booting) return
    const old = this.interp
    this.interp = undefined
    void old?.terminate()
    await this.startInterpreter(epoch, booting)
  }

  // -------------------------------------------------------------------------------------------
  // The firmware: main.c's soft-reset loop

  /**
   * `start`: `"booted"` when the interpreter was just started by `open`, `"power-on"` after a hard
   * reset, `"soft-reset"` when cut short by `softReset` (the REPL mode is kept, as in main.c).
   */
  private async run(epoch: number, start: "booted" | "power-on" | "soft-reset" = "booted") {
    if (this.opts.circuitPython !== undefined) return this.runCircuitPython(epoch, start)
    try {
      if (start === "soft-reset") {
        this.counters.softResets++
        this.emit(`${this.opts.softRebootBanner}${this.opts.lineEnding}`)
      } else this.mode = "friendly"
      let fresh = start === "booted"
      for (;;) {
        if (!fresh) {
          const old = this.interp
          this.interp = undefined
          void old?.terminate()
          await this.startInterpreter(epoch)
        }
        fresh = false
        let ret = await this.runFileIfExists(epoch, "boot.py")
        if (!(ret & FORCED_EXIT) && this.mode === "friendly")
          ret = await this.runFileIfExists(epoch, "main.py")
        if (!(ret & FORCED_EXIT)) {
          for (;;) {
            ret = this.inRawMode() ? await this.rawRepl(epoch) : await this.friendlyRepl(epoch)
            if (ret !== 0) break
          }
        }
        this.counters.softResets++
        this.emit(`${this.opts.softRebootBanner}${this.opts.lineEnding}`)
      }
    } catch (error) {
      if (error instanceof Abandoned || epoch !== this.epoch || this.closed) return
      // The interpreter could not be started again: the board is dead.
      const reason = error instanceof Error ? error.message : String(error)
      this.callbacks.onFatal?.(reason)
    }
  }

  /**
   * CircuitPython's main.c: boot.py once per power-on (in a VM of its own, its output going to
   * boot_out.txt), then the loop: after each soft reboot code.py in the friendly REPL (also in the
   * raw REPL before 7.1), then `Press any key`; each time a REPL is entered (also from the other
   * REPL) a fresh VM.
   */
  private async runCircuitPython(epoch: number, start: "booted" | "power-on" | "soft-reset") {
    const cp = this.opts.circuitPython!
    const codeInRawRepl = cp.major < 7 || (cp.major === 7 && cp.minor < 1)
    try {
      let fresh = start === "booted"
      let announce = start === "soft-reset"
      if (start !== "soft-reset") {
        this.mode = "friendly"
        this.codeReadOnly = !cp.writable
        this.emit(LINE_CLEAR)
        if (this.flash.read("/boot.py") !== undefined) {
          await this.freshInterpreter(epoch, true)
          this.phase = "boot"
          this.muted = true
          try {
            await this.runFileIfExists(epoch, "boot.py")
          } finally {
            this.muted = false
          }
          fresh = false
        }
      }
      let exit = FORCED_EXIT
      let skipRepl = true
      for (;;) {
        if (!skipRepl) {
          if (!fresh) await this.freshInterpreter(epoch)
          fresh = false
          this.phase = "repl"
          if (this.inRawMode()) exit = await this.rawRepl(epoch)
          else {
            // The status bar is suspended in the raw REPL only.
            this.statusBar("REPL")
            exit = await this.friendlyRepl(epoch)
            this.statusBar("Done")
          }
        }
        skipRepl = false
        if (exit & FORCED_EXIT) {
          if (announce) {
            this.counters.softResets++
            this.emit(`${this.opts.softRebootBanner}${this.opts.lineEnding}`)
          }
          announce = true
          if (this.mode === "friendly" || codeInRawRepl) {
            if (!fresh) await this.freshInterpreter(epoch)
            fresh = false
            skipRepl = await this.runCodePy(epoch)
          }
        }
      }
    } catch (error) {
      if (error instanceof Abandoned || epoch !== this.epoch || this.closed) return
      const reason = error instanceof Error ? error.message : String(error)
      this.callbacks.onFatal?.(reason)
    }
  }

  /**
   * CircuitPython's `run_code_py`: the first of code.txt, code.py, main.py, main.txt, then the wait
   * for a key. True when the board reloads (Ctrl-D, or a file written over USB) rather than
   * entering the REPL.
   */
  private async runCodePy(epoch: number): Promise<boolean> {
    this.phase = "code"
    this.reloadRequested = false
    this.emit(
      `\r\n${LINE_CLEAR}Auto-reload is on. Simply save files over USB to run them or enter REPL to disable.\r\n`,
    )
    const name = CODE_FILES.find((file) => this.flash.read(`/${file}`) !== undefined)
    if (name !== undefined) {
      this.emit(`${LINE_CLEAR}${name} output:\r\n`)
      this.statusBar(name)
      await this.execute(epoch, encoder.encode(name), "path", false)
      this.statusBar(this.stoppingForReload ? "Done" : failedAt(this.lastTraceback))
    }
    if (this.stoppingForReload) {
      this.stoppingForReload = false
      this.reloadRequested = false
      this.emit("\r\nCode stopped by auto-reload. Reloading soon.\r\n")
      return true
    }
    this.emit("\r\nCode done running.\r\n")
    this.phase = "waiting"
    this.emit("\r\nPress any key to enter the REPL. Use CTRL-D to reload.\r\n")
    for (;;) {
      if (this.reloadRequested) {
        this.reloadRequested = false
        return true
      }
      const c = await this.nextByte(epoch)
      if (c !== RELOAD_SIGNAL) return c === CTRL_D
    }
  }

  /**
   * CircuitPython's status bar on the serial console: the terminal's title set with an OSC
   * sequence, `🐍<what runs> | <version>`, when what runs changes (not in the raw REPL).
   */
  private statusBar(running: string) {
    this.emit(`\x1b]0;🐍${running} | ${this.opts.circuitPython?.version}\x1b\\`)
  }

  private inRawMode(): boolean {
    return this.mode === "raw"
  }

  private async runFileIfExists(epoch: number, name: string): Promise<number> {
    if (this.flash.read(`/${name}`) === undefined) return 0
    return this.execute(epoch, encoder.encode(name), "path", false)
  }

  /** `parse_compile_execute`: run code, stream its output, print EOF markers in raw modes. */
  private async execute(epoch: number, code: Uint8Array, mode: ExecMode, printEof: boolean): Promise<number> {
    const interp = this.interp
    if (interp === undefined) throw new Abandoned()
    // What is already in the receive buffer is the code's stdin from now on.
    const buffered = this.input.takeAll()
    if (buffered.length > 0) interp.pushStdin(buffered)
    this.executing = true
    this.interpUsed = true
    let result: ExecResult
    try {
      result = await this.step(epoch, interp.exec(mode, code))
    } catch (error) {
      if (error instanceof WorkerGone && epoch === this.epoch) {
        this.hardReset()
        throw new Abandoned()
      }
      throw error
    } finally {
      if (epoch === this.epoch) {
        this.executing = false
        this.clearInterruptTimer()
      }
    }
    this.flash.apply(result.changes)
    this.input.unshift(interp.takeStdinLeftover())
    this.pumpOutput(true)
    const outcome = result.outcome
    if (outcome.kind === "crash") {
      this.hardReset()
      throw new Abandoned()
    }
    if (printEof) this.emit("\x04")
    let ret = 0
    this.lastTraceback = outcome.kind === "exception" ? outcome.traceback : undefined
    // Code stopped for an auto-reload (CircuitPython) shows no traceback.
    if (outcome.kind === "exception" && !this.stoppingForReload) this.emit(outcome.traceback)
    // CircuitPython's SystemExit ends the code and nothing more (no soft reset).
    if (outcome.kind === "exit" && this.opts.circuitPython === undefined) ret = FORCED_EXIT
    if (printEof) this.emit("\x04")
    return ret
  }

  // -------------------------------------------------------------------------------------------
  // Raw REPL

  private async rawRepl(epoch: number): Promise<number> {
    const le = this.opts.lineEnding
    for (;;) {
      // raw_repl_reset
      this.emit(`raw REPL; CTRL-B to exit${le}`)
      let line: number[] = []
      this.emit(">")
      let reset = false
      while (!reset) {
        const c = await this.nextByte(epoch)
        if (c === CTRL_A) {
          if (this.opts.firmware === "modern" && line.length === 2 && line[0] === CTRL_E) {
            const ret = await this.rawPaste(epoch, line[1]!)
            if (ret & FORCED_EXIT) return ret
            line = []
            this.emit(">")
            continue
          }
          reset = true
        } else if (c === CTRL_B) {
          this.emit("\r\n")
          this.mode = "friendly"
          return 0
        } else if (c === CTRL_C) {
          line = []
        } else if (c === CTRL_D) {
          this.emit("OK")
          if (line.length === 0) {
            this.emit("\r\n")
            return FORCED_EXIT
          }
          const ret = await this.execute(epoch, Uint8Array.from(line), "file", true)
          if (ret & FORCED_EXIT) return ret
          line = []
          this.emit(">")
        } else {
          line.push(c)
          // Gather the rest of what is buffered without a round trip per byte.
          for (let b = this.input.tryNext(); b !== undefined; b = this.input.tryNext()) {
            if (b <= CTRL_E) {
              this.input.unshift(Uint8Array.of(b))
              break
            }
            line.push(b)
          }
        }
      }
    }
  }

  /** `\x05` + command + `\x01` at the raw prompt. */
  private async rawPaste(epoch: number, command: number): Promise<number> {
    if (command !== 0x41 || !this.opts.rawPaste) {
      this.emit("R\x00")
      return 0
    }
    const window = this.opts.rawPasteWindow
    // Code that came with the request, before any grant (a host that knows the window sends the
    // first one at once): it takes its share of the first two windows, and what goes beyond
    // them is lost like the rest.
    let early = this.input.countUntil((b) => b === CTRL_C || b === CTRL_D)
    let earlyRoom = 2 * window
    this.emit("R\x01")
    // The window size says one window is free; the 0x01 says a second one is.
    this.emit(Uint8Array.of(window & 0xff, window >> 8, 0x01))
    this.pasteCredit = Math.max(0, 2 * window - early)
    const code: number[] = []
    let remain = window
    for (;;) {
      const c = await this.nextByte(epoch)
      if (c === CTRL_C || c === CTRL_D) {
        this.pasteCredit = undefined
        this.emit("\x04")
        if (c === CTRL_C) {
          // KeyboardInterrupt while reading the code: no traceback entries.
          this.emit("\x04KeyboardInterrupt: \r\n\x04")
          return 0
        }
        break
      }
      if (early > 0) {
        early--
        if (earlyRoom === 0) {
          this.counters.rawPasteOverflow++
          continue
        }
        earlyRoom--
      }
      code.push(c)
      if (--remain === 0) {
        remain = window
        if (this.pasteCredit !== undefined) this.pasteCredit += window
        this.emit("\x01")
      }
    }
    return this.execute(epoch, Uint8Array.from(code), "file", true)
  }

  // -------------------------------------------------------------------------------------------
  // Friendly REPL

  private banner() {
    const le = this.opts.lineEnding
    const cp = this.opts.circuitPython
    if (cp !== undefined) {
      // No `Type "help()"` line; a line break before the version.
      this.emit(`\r\nAdafruit CircuitPython ${cp.version} on 2025-01-01; ${CIRCUITPYTHON_MACHINE}${le}`)
      return
    }
    this.emit(`${this.info.version}; ${this.info.machine}${le}Type "help()" for more information.${le}`)
  }

  private async friendlyRepl(epoch: number): Promise<number> {
    this.banner()
    for (;;) {
      const first = await this.readline(epoch, [], ">>> ")
      if (first.ctrl === CTRL_A) {
        this.emit("\r\n")
        this.mode = "raw"
        return 0
      }
      if (first.ctrl === CTRL_B) {
        this.emit("\r\n")
        this.banner()
        continue
      }
      if (first.ctrl === CTRL_C) {
        this.emit("\r\n")
        continue
      }
      if (first.ctrl === CTRL_D) {
        this.emit("\r\n")
        return FORCED_EXIT
      }
      if (first.ctrl === CTRL_E) {
        const pasted = await this.pasteMode(epoch)
        if (pasted === undefined) continue
        const ret = await this.execute(epoch, pasted, "file", false)
        if (ret & FORCED_EXIT) return ret
        continue
      }
      const line = first.line
      if (line.length === 0) continue
      let cancelled = false
      while (continueWithInput(line)) {
        line.push(0x0a)
        const more = await this.readline(epoch, line, "... ")
        if (more.ctrl === CTRL_C) {
          this.emit("\r\n")
          cancelled = true
          break
        }
        if (more.ctrl === CTRL_D) break
      }
      if (cancelled) continue
      const ret = await this.execute(epoch, Uint8Array.from(line), "single", false)
      if (ret & FORCED_EXIT) return ret
    }
  }

  /** Ctrl-E: echo everything, `=== ` after each line, until Ctrl-D (run) or Ctrl-C (cancel). */
  private async pasteMode(epoch: number): Promise<Uint8Array | undefined> {
    this.emit("\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
    const text: number[] = []
    for (;;) {
      const c = await this.nextByte(epoch)
      if (c === CTRL_C) {
        this.emit("\r\n")
        return undefined
      }
      if (c === CTRL_D) {
        this.emit("\r\n")
        return Uint8Array.from(text)
      }
      text.push(c)
      this.emit(c === 0x0d ? "\r\n=== " : Uint8Array.of(c))
    }
  }

  /**
   * `readline`: edit one line appended to `buffer` (which holds earlier lines of a compound
   * statement). Returns a control character when it arrives on an empty line (Ctrl-C always).
   */
  private async readline(
    epoch: number,
    buffer: number[],
    prompt: string,
  ): Promise<{ ctrl: number | undefined; line: number[] }> {
    const start = buffer.length
    this.emit(prompt)
    autoIndent(buffer, (s) => this.emit(s))
    let inEscape = 0
    for (;;) {
      const c = await this.nextByte(epoch)
      if (inEscape > 0) {
        // Swallow VT100 sequences (arrows, Home/End): no history or cursor movement here.
        if (inEscape === 1) inEscape = c === 0x5b || c === 0x4f ? 2 : 0
        else if (c >= 0x40 && c <= 0x7e) inEscape = 0
        continue
      }
      const empty = buffer.length === start
      if (c === CTRL_C) return { ctrl: c, line: buffer }
      if (c === CTRL_A || c === CTRL_B || c === CTRL_D || c === CTRL_E) {
        if (empty) return { ctrl: c, line: buffer }
        continue
      }
      if (c === 0x0d) {
        this.emit("\r\n")
        return { ctrl: undefined, line: buffer }
      }
      if (c === 0x1b) {
        inEscape = 1
        continue
      }
      if (c === 0x08 || c === 0x7f) {
        if (empty) continue
        let spaces = 0
        for (let i = start; i < buffer.length; i++) {
          if (buffer[i] !== 0x20) {
            spaces = 0
            break
          }
          spaces++
        }
        const n = spaces >= 4 ? 4 : 1
        buffer.length -= n
        this.emit(`${"\b".repeat(n)}\x1b[K`)
        continue
      }
      if (c >= 0x20) {
        buffer.push(c)
        this.emit(Uint8Array.of(c))
      }
    }
  }
}

/** What CircuitPython's status bar says after code ran: `Done`, or `<line>@<file> <exception>`. */
const failedAt = (traceback: string | undefined): string => {
  if (traceback === undefined) return "Done"
  const frames = [...traceback.matchAll(/File "([^"]+)", line (\d+)/g)]
  const last = frames.at(-1)
  const type = /^(\w+)/m.exec(traceback.trimEnd().split(/\r?\n/).at(-1) ?? "")?.[1] ?? "Exception"
  return last === undefined ? "Done" : `${last[2]}@${last[1]} ${type}`
}

/** Bytes of `machine.unique_id()`, as a board's flash chip gives. */
const UNIQUE_ID_BYTES = 8

/**
 * `machine.unique_id()` of a board: derived from its flash folder, so that the board that keeps
 * its files there keeps its id between processes; random for a board whose flash is in memory.
 */
const boardUniqueId = (flashDir: string | undefined): string => platformUniqueId(flashDir, UNIQUE_ID_BYTES)

/** `mp_repl_continue_with_input`: does this (possibly multi-line) input need more lines? */
export const continueWithInput = (input: ReadonlyArray<number>): boolean => {
  const text = decoder.decode(Uint8Array.from(input))
  if (text.length === 0) return false
  const startsCompound =
    text.startsWith("@") || /^(if|while|for|try|with|def|class|async)\b/.test(text.replace(/^\s+/, ""))
  let paren = 0
  let quote: "" | "'" | '"' | "'''" | '"""' = ""
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (quote === "") {
      if (ch === "#") {
        while (i < text.length && text[i] !== "\n") i++
      } else if (ch === "'" || ch === '"') {
        const triple = text.startsWith(ch.repeat(3), i)
        quote = triple ? (ch.repeat(3) as "'''" | '"""') : ch
        if (triple) i += 2
      } else if (ch === "(" || ch === "[" || ch === "{") {
        paren++
      } else if (ch === ")" || ch === "]" || ch === "}") {
        paren--
      }
    } else if (ch === "\\") {
      i++
    } else if (quote.length === 3 ? text.startsWith(quote, i) : ch === quote) {
      if (quote.length === 3) i += 2
      quote = ""
    } else if (ch === "\n" && quote.length === 1) {
      quote = ""
    }
  }
  if (quote.length === 3) return true
  if (paren > 0 && quote === "") return true
  if (text.endsWith("\\")) return true
  return startsCompound && !text.endsWith("\n")
}

/** `readline_auto_indent`: indent a continuation line like the one before (more after `:`). */
const autoIndent = (buffer: number[], echo: (text: string) => void) => {
  const len = buffer.length
  if (len < 2 || buffer[len - 1] !== 0x0a) return
  let i = len - 1
  while (i > 0 && buffer[i - 1] !== 0x0a) i--
  let j = i
  while (j < len && buffer[j] === 0x20) j++
  if (i > 0 && j + 1 === len) {
    // The previous line is all spaces: stop indenting when the one before it is too.
    for (let k = i - 1; k > 0; k--) {
      if (buffer[k - 1] === 0x0a) return
      if (buffer[k - 1] !== 0x20) break
    }
  }
  let n = Math.floor((j - i) / 4)
  if (buffer[len - 2] === 0x3a) n++
  for (; n > 0; n--) {
    buffer.push(0x20, 0x20, 0x20, 0x20)
    echo("    ")
  }
}

/**
 * The host side of an interpreter worker: starts it, runs code, interrupts it, streams its
 * output, and keeps one worker on standby, warming up, so that opening a board or resetting one
 * does not wait for the thread to start.
 *
 * @internal
 */
import { loadPatchedMicroPython, spawnInterpreterThread } from "#platform"
import type { InterpreterThread, VirtualBoardAssets } from "./platform/types.js"
import {
  type BoardInfo,
  type CircuitPythonState,
  CTRL_WORDS,
  Ctrl,
  type ExecMode,
  type ExecOutcome,
  type FlashChange,
  type FlashEntry,
  type HostMessage,
  IN_RING_SIZE,
  type InterruptAddresses,
  KBD_TRACEBACK_OFFSET,
  type MachineState,
  OUT_RING_SIZE,
  type WorkerData,
  type WorkerMessage,
} from "./WorkerMessages.js"
import { compiledMicroPython, interruptAddresses, rememberCompiledMicroPython } from "./wasm.js"

/** A worker that died or was terminated while something waited on it. */
export class WorkerGone extends Error {
  constructor(reason: string) {
    super(reason)
    this.name = "WorkerGone"
  }
}

export class InterpreterWorker {
  private readonly ctrl: Int32Array
  private readonly inRing: Uint8Array
  private readonly outRing: Uint8Array
  private readonly heap: Int32Array
  private addresses: InterruptAddresses | undefined
  private gone: string | undefined
  private loaded: Promise<void>
  private starting: { resolve: (info: BoardInfo) => void; reject: (e: Error) => void } | undefined
  private running: { seq: number; resolve: (r: ExecResult) => void; reject: (e: Error) => void } | undefined
  private seq = 0

  /** Called when the worker has output in its ring (drain with `readOutput`). */
  onOutput: () => void = () => {}
  /** Called once if the worker dies on its own. */
  onDeath: (reason: string) => void = () => {}
  /** Called when running code sets the RTC, with the new offset from the host's clock. */
  onRtc: (offsetMs: number) => void = () => {}
  /** Called when running code calls `machine.reset()`, with what it wrote to the flash before. */
  onReset: (changes: ReadonlyArray<FlashChange>) => void = () => {}
  /** Called when boot.py remounts the flash (CircuitPython), with whether code now sees it read-only. */
  onRemount: (readOnly: boolean) => void = () => {}
  /** Called when code calls `os.sync()` (CircuitPython). */
  onSynced: () => void = () => {}

  private constructor(
    private readonly worker: InterpreterThread,
    data: WorkerData,
  ) {
    this.ctrl = new Int32Array(data.ctrl)
    this.inRing = new Uint8Array(data.inRing)
    this.outRing = new Uint8Array(data.outRing)
    this.heap = new Int32Array(data.memory.buffer)
    this.addresses = data.interruptAddresses
    this.loaded = new Promise((resolve, reject) => {
      const onMessage = (message: WorkerMessage) => this.handle(message, resolve)
      worker.onMessage(onMessage)
      worker.onError((error) => this.die(`worker error: ${error.message}`, reject))
      worker.onExit((code) => this.die(`worker exited (${code})`, reject))
    })
    this.loaded.catch(() => {})
  }

  /**
   * Start a worker thread and wait until its interpreter is instantiated (not yet started). For a
   * standby, the thread does not keep the process alive until it is wanted.
   */
  static async spawn(
    standby?: Standby,
    assets?: VirtualBoardAssets,
    maximumPages?: number,
  ): Promise<InterpreterWorker> {
    const wasm = await loadPatchedMicroPython(assets)
    const data: WorkerData = {
      module: compiledMicroPython() ?? wasm.bytes,
      memory: new WebAssembly.Memory({
        initial: wasm.initialPages,
        // Fewer pages than the module declares is allowed: an imported memory's maximum may be lower.
        maximum: Math.max(wasm.initialPages, Math.min(wasm.maximumPages, maximumPages ?? wasm.maximumPages)),
        shared: true,
      }),
      ctrl: new SharedArrayBuffer(CTRL_WORDS * 4),
      inRing: new SharedArrayBuffer(IN_RING_SIZE),
      outRing: new SharedArrayBuffer(OUT_RING_SIZE),
      interruptAddresses: interruptAddresses.get(),
    }
    const worker = spawnInterpreterThread(data, assets)
    if (standby !== undefined) {
      standby.thread = worker
      if (!standby.wanted) worker.unref()
    }
    const interpreter = new InterpreterWorker(worker, data)
    await interpreter.loaded
    return interpreter
  }

  /** Whether Ctrl-C can raise KeyboardInterrupt in this build (else only a hard reset helps). */
  get canInterrupt(): boolean {
    return this.addresses !== undefined
  }

  get alive(): boolean {
    return this.gone === undefined
  }

  /** Keep the process alive for this worker (a board uses it) or not (a spare). */
  setRef(ref: boolean) {
    if (ref) this.worker.ref()
    else this.worker.unref()
  }

  private handle(message: WorkerMessage, loaded: () => void) {
    switch (message.type) {
      case "loaded":
        this.addresses = message.interruptAddresses
        interruptAddresses.set(message.interruptAddresses)
        if (message.compiled !== undefined) rememberCompiledMicroPython(message.compiled)
        loaded()
        return
      case "started": {
        const starting = this.starting
        this.starting = undefined
        starting?.resolve(message.info)
        return
      }
      case "out":
        // Cleared before the ring is read: a byte written after this is signalled again.
        Atomics.store(this.ctrl, Ctrl.outSignal, 0)
        this.onOutput()
        return
      case "done": {
        const running = this.running
        if (running === undefined || running.seq !== message.seq) return
        this.running = undefined
        running.resolve({ outcome: message.outcome, changes: message.changes })
        return
      }
      case "rtc":
        this.onRtc(message.offsetMs)
        return
      case "reset":
        this.onReset(message.changes)
        return
      case "remount":
        this.onRemount(message.readOnly)
        return
      case "synced":
        this.onSynced()
        return
      case "fatal": {
        const error = new WorkerGone(`interpreter failed: ${message.message}`)
        const starting = this.starting
        this.starting = undefined
        starting?.reject(error)
        const running = this.running
        this.running = undefined
        running?.reject(error)
        return
      }
    }
  }

  private die(reason: string, rejectLoad: (e: Error) => void) {
    if (this.gone !== undefined) return
    this.gone = reason
    const error = new WorkerGone(reason)
    rejectLoad(error)
    this.starting?.reject(error)
    this.starting = undefined
    this.running?.reject(error)
    this.running = undefined
    this.onDeath(reason)
  }

  /** Populate the flash, import `machine`, run the board set-up, and learn the banner text. */
  start(
    files: ReadonlyArray<FlashEntry>,
    flashSize: number,
    machine: MachineState,
    circuitPython?: CircuitPythonState,
  ): Promise<BoardInfo> {
    if (this.gone !== undefined) return Promise.reject(new WorkerGone(this.gone))
    return new Promise((resolve, reject) => {
      this.starting = { resolve, reject }
      const message: HostMessage = { type: "start", files, flashSize, machine, circuitPython }
      this.worker.postMessage(message)
    })
  }

  /** Run code; output streams through `onOutput` meanwhile. One execution at a time. */
  exec(mode: ExecMode, code: Uint8Array): Promise<ExecResult> {
    if (this.gone !== undefined) return Promise.reject(new WorkerGone(this.gone))
    if (this.running !== undefined) return Promise.reject(new Error("interpreter is busy"))
    const seq = ++this.seq
    return new Promise((resolve, reject) => {
      this.running = { seq, resolve, reject }
      this.worker.postMessage({ type: "exec", seq, mode, code })
    })
  }

  /** Write files from outside the code (WebREPL's file transfer); applied before the next execution. */
  applyFlash(changes: ReadonlyArray<FlashChange>): void {
    if (this.gone === undefined) this.worker.postMessage({ type: "flash", changes })
  }

  get busy(): boolean {
    return this.running !== undefined
  }

  private lock() {
    while (Atomics.compareExchange(this.ctrl, Ctrl.lock, 0, 1) !== 0) {
      // the worker holds it for a few instructions
    }
  }

  private wake() {
    Atomics.add(this.ctrl, Ctrl.wake, 1)
    Atomics.notify(this.ctrl, Ctrl.wake)
  }

  /** Ctrl-C: raise KeyboardInterrupt in the running code (it takes effect at its next jump). */
  interrupt() {
    const running = this.running
    if (running === undefined || this.gone !== undefined) return
    this.lock()
    Atomics.store(this.ctrl, Ctrl.interrupt, running.seq)
    const addresses = this.addresses
    if (addresses !== undefined && Atomics.load(this.ctrl, Ctrl.running) === running.seq) {
      Atomics.store(this.heap, (addresses.kbdException + KBD_TRACEBACK_OFFSET) >> 2, 0)
      Atomics.store(this.heap, addresses.pendingException >> 2, addresses.kbdException)
      Atomics.store(this.heap, addresses.schedState >> 2, addresses.schedPending)
    }
    Atomics.store(this.ctrl, Ctrl.lock, 0)
    this.wake()
  }

  /** Offer bytes to the running code's stdin; returns how many fit in the UART buffer. */
  pushStdin(bytes: Uint8Array): number {
    const read = Atomics.load(this.ctrl, Ctrl.inRead)
    let write = Atomics.load(this.ctrl, Ctrl.inWrite)
    let n = 0
    for (const byte of bytes) {
      if (((write - read) | 0) >= IN_RING_SIZE) break
      this.inRing[write & (IN_RING_SIZE - 1)] = byte
      write = (write + 1) | 0
      n++
    }
    Atomics.store(this.ctrl, Ctrl.inWrite, write)
    this.wake()
    return n
  }

  /** After an execution: what the code did not read from stdin (the REPL gets it next). */
  takeStdinLeftover(): Uint8Array {
    const read = Atomics.load(this.ctrl, Ctrl.inRead)
    const write = Atomics.load(this.ctrl, Ctrl.inWrite)
    const out: number[] = []
    for (let r = read; r !== write; r = (r + 1) | 0) out.push(this.inRing[r & (IN_RING_SIZE - 1)]!)
    Atomics.store(this.ctrl, Ctrl.inRead, write)
    return Uint8Array.from(out)
  }

  /** Take up to `max` bytes of output from the ring. */
  readOutput(max = Number.POSITIVE_INFINITY): Uint8Array {
    const write = Atomics.load(this.ctrl, Ctrl.outWrite)
    let read = Atomics.load(this.ctrl, Ctrl.outRead)
    const available = (write - read) | 0
    const n = Math.min(available, max)
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) {
      out[i] = this.outRing[read & (OUT_RING_SIZE - 1)]!
      read = (read + 1) | 0
    }
    Atomics.store(this.ctrl, Ctrl.outRead, read)
    Atomics.notify(this.ctrl, Ctrl.outRead)
    return out
  }

  get outputPending(): number {
    return (Atomics.load(this.ctrl, Ctrl.outWrite) - Atomics.load(this.ctrl, Ctrl.outRead)) | 0
  }

  async terminate(): Promise<void> {
    if (this.gone === undefined) this.gone = "terminated"
    const error = new WorkerGone("terminated")
    this.starting?.reject(error)
    this.starting = undefined
    this.running?.reject(error)
    this.running = undefined
    await this.worker.terminate()
  }
}

export interface ExecResult {
  readonly outcome: ExecOutcome
  readonly changes: ReadonlyArray<FlashChange>
}

// ---------------------------------------------------------------------------------------------
// One interpreter on standby: warmed up in the background, taken by the next board that starts.
// A process asks for one before it opens a board (`warmUpVirtualBoard`, so the thread starts while
// the rest loads), and gets one kept as a spare once it has started an interpreter before (it
// opens boards or resets them, and will again). Not after the first start: a process that opens
// one board and never resets it (a command line's `exec`) would pay a second interpreter's
// start-up in CPU time.

/** An interpreter starting in the background; its thread keeps the process alive once wanted. */
interface Standby {
  readonly ready: Promise<InterpreterWorker>
  /** The thread, once started (after the WebAssembly module is compiled). */
  thread: InterpreterThread | undefined
  /** Taken by a board: its thread must keep the process alive. */
  wanted: boolean
}

let standby: Standby | undefined
/** Interpreters handed to boards by this process. */
let acquired = 0

/** Start an interpreter on standby, unless one is already. */
export const warmStandby = (assets?: VirtualBoardAssets): void => {
  if (standby !== undefined) return
  const next: { -readonly [K in keyof Standby]: Standby[K] } = {
    ready: undefined as unknown as Promise<InterpreterWorker>,
    thread: undefined,
    wanted: false,
  }
  next.ready = InterpreterWorker.spawn(next, assets)
  next.ready.then(
    (w) => {
      if (!next.wanted) w.setRef(false)
    },
    () => {},
  )
  standby = next
}

/**
 * A loaded interpreter worker for a board: the one on standby if there is one; from the second
 * on, a new one goes on standby for the next caller. A board with a memory bound of its own
 * (`maximumPages`) gets an interpreter of its own: the standby's memory has the default bound.
 */
export const acquireInterpreter = async (options: {
  readonly keepSpare: boolean
  readonly assets?: VirtualBoardAssets | undefined
  readonly maximumPages?: number | undefined
}): Promise<InterpreterWorker> => {
  const bounded = options.maximumPages !== undefined
  const taken = bounded ? undefined : standby
  if (!bounded) standby = undefined
  let worker: InterpreterWorker | undefined
  if (taken !== undefined) {
    // Wanted now: while it finishes loading, it keeps the process alive.
    taken.wanted = true
    taken.thread?.ref()
    try {
      worker = await taken.ready
      if (!worker.alive) worker = undefined
    } catch {
      worker = undefined
    }
  }
  worker ??= await InterpreterWorker.spawn(undefined, options.assets, options.maximumPages)
  worker.setRef(true)
  acquired++
  // A spare has the default bound: no use to a bounded board's resets.
  if (options.keepSpare && !bounded && acquired > 1) warmStandby(options.assets)
  return worker
}

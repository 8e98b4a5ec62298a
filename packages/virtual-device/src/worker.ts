/**
 * The interpreter thread of a virtual board: one MicroPython WebAssembly instance per worker.
 *
 * The host instantiates nothing here; it passes a compiled module whose memory is imported and
 * shared, so that it can raise KeyboardInterrupt while this thread is busy in Python. This file
 * runs from the built `dist/worker.js`: as a `worker_threads` Worker in Node, as a module `Worker`
 * in a browser (bundled, `@belay/virtual-device/worker`); the platform (`#platform`) gives it its
 * start data, its channel to the host and the MicroPython loader.
 *
 * Over 400 lines because it is one thread's program: interrupts, the stdio rings, time, the flash
 * mirror and the `machine` module's host side all work on the same interpreter instance, memory
 * and control words; the Python it runs lives in `boardPython.ts` and `machinePython.ts`.
 *
 * @internal
 */

import type { EmscriptenModule, MicroPython } from "@micropython/micropython-webassembly-pyscript"
import { workerChannel } from "#platform"
import { BOARD_PYTHON } from "./boardPython.js"
import { CIRCUITPYTHON_PYTHON } from "./circuitPythonBoard.js"
import { MACHINE_PYTHON } from "./machinePython.js"
import {
  type CircuitPythonState,
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

const FLASH_ROOT = "/flash"
/** Where `machine.py` is written outside the flash, to be imported once before the flash is mounted. */
const MODULES_DIR = "/vboard-modules"
/** How long each wait lasts while the worker waits to be terminated after `machine.reset()`. */
const RESET_WAIT_MS = 50

const channel = await workerChannel()
const data: WorkerData = channel.data
const ctrl = new Int32Array(data.ctrl)
const inRing = new Uint8Array(data.inRing)
const outRing = new Uint8Array(data.outRing)
const memory = data.memory

const post = (message: WorkerMessage) => channel.post(message)

let currentSeq = 0
let addresses: InterruptAddresses | undefined = data.interruptAddresses

// ---------------------------------------------------------------------------------------------
// Interrupts: the pending-exception words of the interpreter, guarded by the shared spin lock.

const lock = () => {
  while (Atomics.compareExchange(ctrl, Ctrl.lock, 0, 1) !== 0) {
    // the host holds it for a few instructions
  }
}
const unlock = () => {
  Atomics.store(ctrl, Ctrl.lock, 0)
}
const heap32 = () => new Int32Array(memory.buffer)

const clearPendingInterrupt = () => {
  if (addresses === undefined) return
  const heap = heap32()
  if (Atomics.load(heap, addresses.pendingException >> 2) === addresses.kbdException) {
    // sched_state stays as it is: the VM resets it the next time it looks.
    Atomics.store(heap, addresses.pendingException >> 2, 0)
  }
}
const raiseInterrupt = () => {
  if (addresses === undefined) return
  const heap = heap32()
  // Like mp_sched_keyboard_interrupt: a fresh traceback for the (static) exception object.
  Atomics.store(heap, (addresses.kbdException + KBD_TRACEBACK_OFFSET) >> 2, 0)
  Atomics.store(heap, addresses.pendingException >> 2, addresses.kbdException)
  Atomics.store(heap, addresses.schedState >> 2, addresses.schedPending)
}
const interruptRequested = () => currentSeq !== 0 && Atomics.load(ctrl, Ctrl.interrupt) === currentSeq

/**
 * Find the interrupt words by diffing memory around one call of `mp_sched_keyboard_interrupt`.
 * They are static variables, below the C heap: the diff looks below a block just taken from the
 * heap first (the stack, the static data and the interpreter's own heap, about 1.3 MB, against
 * the whole memory's 16 MB: about 25 ms saved per board start), and at the whole memory only if
 * that finds nothing.
 */
const findInterruptAddresses = (module: EmscriptenModule): InterruptAddresses | undefined => {
  const words = heap32().length
  const probe = module._malloc(4)
  module._free(probe)
  const limit = probe > 0 ? Math.min(words, Math.ceil(probe / 4)) : words
  return (
    diffAroundInterrupt(module, limit) ?? (limit < words ? diffAroundInterrupt(module, words) : undefined)
  )
}

/** One interrupt scheduled and undone, with the words below `limit` that it changed. */
const diffAroundInterrupt = (module: EmscriptenModule, limit: number): InterruptAddresses | undefined => {
  const before = heap32().slice(0, limit)
  module._mp_sched_keyboard_interrupt()
  const after = heap32()
  const changed: Array<{ index: number; from: number; to: number }> = []
  for (let i = 0; i < limit; i++) {
    if (before[i] !== after[i]) {
      changed.push({ index: i, from: before[i]!, to: after[i]! })
      if (changed.length > 2) break
    }
  }
  // Undone, whatever was found: the board must not start with a KeyboardInterrupt pending.
  for (const c of changed) after[c.index] = c.from
  const exc = changed.find((c) => c.from === 0 && c.to !== 0)
  const sched = changed.find((c) => c !== exc && c.to !== c.from)
  if (changed.length !== 2 || exc === undefined || sched === undefined) return undefined
  return {
    pendingException: exc.index * 4,
    kbdException: exc.to,
    schedState: sched.index * 4,
    schedPending: sched.to,
  }
}

// ---------------------------------------------------------------------------------------------
// stdout: a ring shared with the host, `\n` cooked to `\r\n` like a board's UART output.

let capture: number[] | undefined
let outWrite = Atomics.load(ctrl, Ctrl.outWrite)

const putRaw = (byte: number) => {
  if (capture !== undefined) {
    capture.push(byte)
    return
  }
  for (;;) {
    const read = Atomics.load(ctrl, Ctrl.outRead)
    if (((outWrite - read) | 0) < OUT_RING_SIZE) break
    // Full: the host drains at the link's speed. Make sure it knows there is data, then wait.
    signalOut()
    Atomics.wait(ctrl, Ctrl.outRead, read, 100)
  }
  outRing[outWrite & (OUT_RING_SIZE - 1)] = byte
  outWrite = (outWrite + 1) | 0
  Atomics.store(ctrl, Ctrl.outWrite, outWrite)
  signalOut()
}
/**
 * Tell the host there is output, unless a message saying so is still on its way. Posting whenever
 * the host had drained the ring meant one message per byte or so in a printing loop (the host
 * often drains between two bytes), queued faster than the host took them.
 */
const signalOut = () => {
  if (Atomics.compareExchange(ctrl, Ctrl.outSignal, 0, 1) === 0) post({ type: "out" })
}
const putByte = (byte: number) => {
  if (byte === 10) putRaw(13)
  putRaw(byte)
}
const writeOut = (bytes: Uint8Array) => {
  for (const b of bytes) putByte(b)
}

// stdin: a ring the host fills with what arrives on the serial line while code runs.
let inRead = Atomics.load(ctrl, Ctrl.inRead)
const readIn = (): number | null => {
  for (;;) {
    const write = Atomics.load(ctrl, Ctrl.inWrite)
    if (write !== inRead) {
      const byte = inRing[inRead & (IN_RING_SIZE - 1)]!
      inRead = (inRead + 1) | 0
      Atomics.store(ctrl, Ctrl.inRead, inRead)
      return byte
    }
    if (currentSeq === 0 || interruptRequested()) return null
    const wake = Atomics.load(ctrl, Ctrl.wake)
    if (Atomics.load(ctrl, Ctrl.inWrite) !== write) continue
    Atomics.wait(ctrl, Ctrl.wake, wake, 1000)
  }
}

// ---------------------------------------------------------------------------------------------
// Time: the port's sleep is a busy loop on ticks_ms. Sleep the thread instead of spinning, and
// jump the clock forward on an interrupt so that a long built-in sleep ends.

let tickOffset = 0
let lastTick = 0
let sameTickCalls = 0
let jumpedFor = 0
const wrapTicks = (original: () => number) => () => {
  if (interruptRequested() && jumpedFor !== currentSeq) {
    jumpedFor = currentSeq
    tickOffset += 0x40000000
  }
  const now = (original() + tickOffset) | 0
  if (now === lastTick) {
    if (++sameTickCalls > 50 && currentSeq !== 0) {
      Atomics.wait(ctrl, Ctrl.wake, Atomics.load(ctrl, Ctrl.wake), 1)
    }
  } else {
    lastTick = now
    sameTickCalls = 0
  }
  return now
}

// ---------------------------------------------------------------------------------------------
// Loading the interpreter with the host's module and shared memory.

type Imports = Record<string, Record<string, unknown>>
/** The host's compiled module, or this worker's own compilation of the bytes it was given. */
const compiledHere = data.module instanceof Uint8Array ? await WebAssembly.compile(data.module) : undefined
const wasmModule = compiledHere ?? (data.module as WebAssembly.Module)
const originalInstantiate = WebAssembly.instantiate
const patchedInstantiate = async (_source: unknown, imports?: Imports) => {
  const env = { ...(imports?.env ?? {}) }
  env.memory = memory
  if (typeof env.mp_js_ticks_ms === "function")
    env.mp_js_ticks_ms = wrapTicks(env.mp_js_ticks_ms as () => number)
  const instance = await originalInstantiate(wasmModule, { ...imports, env } as WebAssembly.Imports)
  return { instance, module: wasmModule }
}
;(WebAssembly as { instantiate: unknown }).instantiate = patchedInstantiate
// A browser's loader compiles as the bytes stream in: the shared module is used there too.
;(WebAssembly as unknown as { instantiateStreaming: unknown }).instantiateStreaming = (
  _source: unknown,
  imports?: Imports,
) => patchedInstantiate(undefined, imports)

// The port collects garbage only when the code it runs returns (its `gc_collect` cannot scan a
// WebAssembly stack): a program that runs on and allocates grows the linear memory to its maximum,
// then fails with MemoryError. Emscripten reports each refused growth on the console too, lines
// that would reach a person's terminal ahead of the MemoryError that says it all.
const consoleError = console.error
console.error = (...args: unknown[]) => {
  if (typeof args[0] === "string" && /^(growMemory: Attempted|Failed to grow the heap)/.test(args[0])) return
  consoleError(...args)
}

const { loadMicroPython } = await channel.loadMicroPython()
const mp: MicroPython = await loadMicroPython({
  linebuffer: false,
  stdin: readIn,
  stdout: writeOut,
  stderr: writeOut,
})
const M = mp._module
if (addresses === undefined) addresses = findInterruptAddresses(M)

const decoder = new TextDecoder()
const encoder = new TextEncoder()

/** Run source bytes as a module in `__main__`, like `runPython` but byte-exact. */
const runBytes = (code: Uint8Array): ExecOutcome => {
  const buf = M._malloc(code.length + 1)
  const u8 = new Uint8Array(memory.buffer)
  u8.set(code, buf)
  u8[buf + code.length] = 0
  const value = M._malloc(12)
  try {
    M.ccall("mp_js_do_exec", "number", ["pointer", "number", "pointer"], [buf, code.length, value])
    const heap = heap32()
    if (heap[value >> 2] !== -1) return { kind: "ok" }
    const length = heap[(value + 4) >> 2]!
    const pointer = heap[(value + 8) >> 2]!
    const text = decoder.decode(new Uint8Array(memory.buffer).slice(pointer, pointer + length))
    M._free(pointer)
    const split = text.indexOf("\x04")
    const type = split < 0 ? "Exception" : text.slice(0, split)
    const traceback = split < 0 ? text : text.slice(split + 1)
    return type === "SystemExit" ? { kind: "exit" } : { kind: "exception", type, traceback }
  } finally {
    M._free(buf)
    M._free(value)
  }
}

/** Make a traceback look like the board's: no frames of our own helpers, `\r\n` endings. */
const boardTraceback = (traceback: string, dropFirstFrame: boolean): string => {
  const lines = traceback.split("\n")
  const kept: string[] = []
  let droppedFirst = !dropFirstFrame
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.startsWith('  File "')) {
      if (!droppedFirst) {
        droppedFirst = true
        continue
      }
      if (line.startsWith('  File "<board>"')) continue
    }
    kept.push(line)
  }
  return kept.join("\r\n")
}

const pyString = (text: string) => JSON.stringify(text)

/** Check that writing the interrupt words really raises KeyboardInterrupt in a running loop. */
const interruptWorks = (): boolean => {
  if (addresses === undefined) return false
  currentSeq = -1
  raiseInterrupt()
  const outcome = runBytes(encoder.encode("[0 for _ in range(100000)]"))
  currentSeq = 0
  clearPendingInterrupt()
  return outcome.kind === "exception" && outcome.type === "KeyboardInterrupt"
}
if (!interruptWorks()) addresses = undefined

// ---------------------------------------------------------------------------------------------
// The host side of the `machine` module: the RTC offset the board keeps, and the reset button.

mp.registerJsModule("_vboard_host", {
  rtc_set: (offsetMs: string) => post({ type: "rtc", offsetMs: Number(offsetMs) }),
  reset: () => {
    // What the code wrote so far stays on the flash; then this thread waits for its end, as a
    // board's CPU stops: the host terminates the worker and boots a new interpreter.
    post({ type: "reset", changes: syncFlash() })
    for (;;) Atomics.wait(ctrl, Ctrl.wake, Atomics.load(ctrl, Ctrl.wake), RESET_WAIT_MS)
  },
  remount: (readOnly: string) => post({ type: "remount", readOnly: readOnly === "1" }),
  synced: () => post({ type: "synced" }),
})

// ---------------------------------------------------------------------------------------------
// The flash: a MEMFS directory mounted at `/` by BOARD_PYTHON, mirrored on the host.

let flashState = new Map<string, Uint8Array | "dir">()

const scanFlash = (): Map<string, Uint8Array | "dir"> => {
  const found = new Map<string, Uint8Array | "dir">()
  const walk = (dir: string, boardDir: string) => {
    for (const name of mp.FS.readdir(dir)) {
      if (name === "." || name === "..") continue
      const full = `${dir}/${name}`
      const boardPath = `${boardDir}${name}`
      if (mp.FS.isDir(mp.FS.stat(full).mode)) {
        found.set(boardPath, "dir")
        walk(full, `${boardPath}/`)
      } else {
        found.set(boardPath, mp.FS.readFile(full))
      }
    }
  }
  walk(FLASH_ROOT, "/")
  return found
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const syncFlash = (): FlashChange[] => {
  const next = scanFlash()
  const changes: FlashChange[] = []
  for (const [path, before] of flashState) {
    const now = next.get(path)
    if (now === undefined || (before === "dir") !== (now === "dir")) changes.push({ op: "delete", path })
  }
  for (const [path, now] of next) {
    const before = flashState.get(path)
    if (now === "dir") {
      if (before !== "dir") changes.push({ op: "mkdir", path })
    } else if (before === undefined || before === "dir" || !sameBytes(before, now)) {
      changes.push({ op: "write", path, data: now })
    }
  }
  flashState = next
  return changes
}

/** Files written from outside the code: into the flash, and into what the next sync compares with. */
const applyFlash = (changes: ReadonlyArray<FlashChange>) => {
  for (const change of changes) {
    if (change.op !== "write") continue
    mp.FS.writeFile(`${FLASH_ROOT}${change.path}`, change.data)
    flashState.set(change.path, change.data)
  }
}

/** Import `machine` from outside the flash, before BOARD_PYTHON mounts the flash over `/`. */
const importMachine = (state: MachineState) => {
  mp.FS.mkdir(MODULES_DIR)
  mp.FS.writeFile(
    `${MODULES_DIR}/machine.py`,
    MACHINE_PYTHON.replace("%RTC_OFFSET_MS%", String(Math.round(state.rtcOffsetMs))).replace(
      "%UNIQUE_ID%",
      pyString(state.uniqueId),
    ),
  )
  const imported = runBytes(
    encoder.encode(
      `import sys\nsys.path.insert(0, ${pyString(MODULES_DIR)})\nimport machine\nsys.path.pop(0)\nsys.modules["umachine"] = machine\ndel machine.__file__\ndel machine, sys`,
    ),
  )
  if (imported.kind !== "ok") throw new Error(`machine module failed: ${JSON.stringify(imported)}`)
}

/** CircuitPython's face over BOARD_PYTHON, its placeholders filled. */
const circuitPythonSource = (state: CircuitPythonState): string => {
  const version = state.version.split(".").map(Number)
  return CIRCUITPYTHON_PYTHON.replace("%CP_VERSION%", `(${version.join(", ")})`)
    .replace("%CP_VERSION_TEXT%", pyString(state.version))
    .replace("%CP_MACHINE%", pyString(state.machine))
    .replace("%CP_READONLY%", state.readOnly ? "True" : "False")
    .replace("%CP_BOOTING%", state.booting ? "True" : "False")
}

const start = (
  files: ReadonlyArray<FlashEntry>,
  flashSize: number,
  machineState: MachineState,
  circuitPython: CircuitPythonState | undefined,
) => {
  importMachine(machineState)
  mp.FS.mkdir(FLASH_ROOT)
  const sorted = [...files].sort((a, b) => a.path.split("/").length - b.path.split("/").length)
  for (const entry of sorted) {
    const full = `${FLASH_ROOT}${entry.path}`
    if (entry.kind === "dir") mp.FS.mkdir(full)
    else mp.FS.writeFile(full, entry.data)
    flashState.set(entry.path, entry.kind === "dir" ? "dir" : entry.data)
  }
  const source =
    BOARD_PYTHON.replace("%ROOT%", pyString(FLASH_ROOT)).replace("%SIZE%", String(flashSize)) +
    (circuitPython === undefined ? "" : circuitPythonSource(circuitPython))
  capture = []
  const init = runBytes(
    encoder.encode(`exec(compile(${pyString(source)}, "<board>", "exec"), {"__name__": "_vboard_init"})`),
  )
  if (init.kind !== "ok") throw new Error(`board init failed: ${JSON.stringify(init)}`)
  capture = []
  runBytes(encoder.encode("__import__('_vboard').info()"))
  const [version = "MicroPython", machine = "unknown"] = decoder
    .decode(new Uint8Array(capture))
    .split(/\r?\n/)
  capture = undefined
  post({ type: "started", info: { version, machine } })
}

const exec = (seq: number, mode: ExecMode, code: Uint8Array) => {
  lock()
  Atomics.store(ctrl, Ctrl.running, seq)
  clearPendingInterrupt()
  if (Atomics.load(ctrl, Ctrl.interrupt) === seq) raiseInterrupt()
  unlock()
  currentSeq = seq
  let outcome: ExecOutcome
  try {
    if (mode === "file") {
      outcome = runBytes(code)
    } else {
      const helper = mode === "single" ? "single" : "path"
      outcome = runBytes(encoder.encode(`__import__('_vboard').${helper}(${pyString(decoder.decode(code))})`))
    }
    if (outcome.kind === "exception") {
      outcome = { ...outcome, traceback: boardTraceback(outcome.traceback, mode !== "file") }
    }
  } catch (error) {
    outcome = { kind: "crash", message: error instanceof Error ? error.message.slice(0, 500) : String(error) }
  }
  currentSeq = 0
  lock()
  Atomics.store(ctrl, Ctrl.running, 0)
  clearPendingInterrupt()
  unlock()
  let changes: FlashChange[] = []
  if (outcome.kind !== "crash") {
    try {
      changes = syncFlash()
    } catch {
      changes = []
    }
  }
  post({ type: "done", seq, outcome, changes })
}

channel.onMessage((received) => {
  const message = received as HostMessage
  try {
    if (message.type === "start")
      start(message.files, message.flashSize, message.machine, message.circuitPython)
    else if (message.type === "flash") applyFlash(message.changes)
    else exec(message.seq, message.mode, message.code)
  } catch (error) {
    post({ type: "fatal", message: error instanceof Error ? error.message.slice(0, 500) : String(error) })
  }
})

post({ type: "loaded", interruptAddresses: addresses, compiled: compiledHere })

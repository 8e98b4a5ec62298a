/**
 * MicroPython's WebAssembly, with its memory turned into a shared, imported one so that the host
 * thread can write the interpreter's pending-exception word (Ctrl-C) while the worker thread is
 * busy running Python: patched once per process (the bytes come from the platform, `#platform`), compiled by the first worker thread (which
 * starts at once, without waiting for the host to compile it) and shared with the ones after.
 *
 * @internal
 */
import type { InterruptAddresses } from "./WorkerMessages.js"

/** At most 1 GiB of linear memory per board (the npm build allows 2 GiB). */
export const MAX_PAGES = 16384

const readLeb = (bytes: Uint8Array, at: number): { value: number; next: number } => {
  let value = 0
  let scale = 1
  let p = at
  for (;;) {
    const byte = bytes[p++]
    if (byte === undefined) throw new Error("truncated LEB128 in micropython.wasm")
    value += (byte & 0x7f) * scale
    scale *= 128
    if ((byte & 0x80) === 0) return { value, next: p }
  }
}

const leb = (value: number): number[] => {
  const out: number[] = []
  let v = value
  do {
    let byte = v & 0x7f
    v = Math.floor(v / 128)
    if (v !== 0) byte |= 0x80
    out.push(byte)
  } while (v !== 0)
  return out
}

const name = (text: string): number[] => {
  const bytes = Array.from(new TextEncoder().encode(text))
  return [...leb(bytes.length), ...bytes]
}

/**
 * Rewrite a WebAssembly binary whose single memory is defined inside the module into one that
 * imports `env.memory` as shared memory with the same limits. Everything else is unchanged;
 * the export of `memory` keeps working because imported memories take index 0.
 */
export const importSharedMemory = (
  wasm: Uint8Array,
  maximumPages: number,
): { bytes: Uint8Array; initialPages: number; maximumPages: number } => {
  const sections: Array<{ id: number; start: number; end: number }> = []
  let p = 8
  while (p < wasm.length) {
    const id = wasm[p]!
    const size = readLeb(wasm, p + 1)
    sections.push({ id, start: size.next, end: size.next + size.value })
    p = size.next + size.value
  }
  const memorySection = sections.find((s) => s.id === 5)
  const importSection = sections.find((s) => s.id === 2)
  if (memorySection === undefined || importSection === undefined) {
    throw new Error("micropython.wasm has no memory or import section")
  }
  const count = readLeb(wasm, memorySection.start)
  if (count.value !== 1) throw new Error("micropython.wasm defines more than one memory")
  const flags = wasm[count.next]!
  const min = readLeb(wasm, count.next + 1)
  const max = flags & 1 ? readLeb(wasm, min.next).value : 65536
  const initialPages = min.value
  const maxPages = Math.max(initialPages, Math.min(max, maximumPages))

  const imports = readLeb(wasm, importSection.start)
  const memoryImport = [...name("env"), ...name("memory"), 0x02, 0x03, ...leb(initialPages), ...leb(maxPages)]
  const importBody = [
    ...leb(imports.value + 1),
    ...wasm.subarray(imports.next, importSection.end),
    ...memoryImport,
  ]

  const parts: number[][] = [Array.from(wasm.subarray(0, 8))]
  for (const section of sections) {
    if (section.id === 5) continue
    if (section.id === 2) {
      parts.push([2, ...leb(importBody.length)], importBody)
      continue
    }
    const body = wasm.subarray(section.start, section.end)
    parts.push([section.id, ...leb(body.length)], Array.from(body))
  }
  const total = parts.reduce((n, part) => n + part.length, 0)
  const bytes = new Uint8Array(total)
  let at = 0
  for (const part of parts) {
    bytes.set(part, at)
    at += part.length
  }
  return { bytes, initialPages, maximumPages: maxPages }
}

let compiled: WebAssembly.Module | undefined

/** The compiled module, once a thread has compiled it (then threads started after share it). */
export const compiledMicroPython = (): WebAssembly.Module | undefined => compiled

/** Keep the module a thread compiled, for the threads started after it. */
export const rememberCompiledMicroPython = (module: WebAssembly.Module): void => {
  compiled ??= module
}

let knownAddresses: InterruptAddresses | undefined

/** Interrupt addresses are fixed by the binary: learn them from the first worker, reuse after. */
export const interruptAddresses = {
  get: (): InterruptAddresses | undefined => knownAddresses,
  set: (addresses: InterruptAddresses | undefined) => {
    knownAddresses ??= addresses
  },
}

import type { PythonValue } from "@belay/transport"

/** A Python value as JSON: bytes as `{ "$bytes": base64 }`, big ints as strings, sets as arrays, maps as entries. */
export const toJson = (value: PythonValue): unknown => {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value)
  if (typeof value === "bigint") return value.toString()
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("base64") }
  if (Array.isArray(value)) return value.map(toJson)
  if (value instanceof Set) return [...value].map(toJson)
  if (value instanceof Map) return [...value].map(([k, v]) => [toJson(k), toJson(v)])
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]))
}

export const printJson = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`)

const formatBytes = (n: number) =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(2)} MB`

export { formatBytes }

/**
 * A progress bar on stderr when it is a terminal; silent otherwise.
 *
 * @example
 * const bar = progressBar("upload main.py"); bar.update(512, 2048); bar.done()
 */
export const progressBar = (label: string) => {
  const tty = process.stderr.isTTY === true
  const started = performance.now()
  let shown = false
  return {
    update: (done: number, total: number) => {
      if (!tty) return
      const width = 24
      const fraction = total > 0 ? Math.min(1, done / total) : 1
      const filled = Math.round(fraction * width)
      const seconds = (performance.now() - started) / 1000
      const rate = seconds > 0 ? done / seconds : 0
      process.stderr.write(
        `\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${Math.round(fraction * 100)}% ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s`,
      )
      shown = true
    },
    done: () => {
      if (tty && shown) process.stderr.write("\n")
    },
  }
}

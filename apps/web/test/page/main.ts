/**
 * The test page's script: opens a board (the in-page virtual board through its worker, or a
 * WebREPL board over the browser's WebSocket), runs code and a typed task in a Belay session, and
 * reports what came back, in the page (for the screenshot) and to the test (`window.belay`).
 */
import { makeDeviceSessionManager } from "@belay/core"
import { py, Task } from "@belay/executors"
import { boardFileSystem } from "@belay/filesystem"
import { type ByteLink, type DeviceCommunicationShape, makeDeviceCommunication } from "@belay/transport"
import { openBrowserWebReplLink } from "@belay/transport/webrepl-browser"
import { openVirtualBoard } from "@belay/virtual-device/browser"
import { Effect, Redacted, Schema, type Scope } from "effect"

const log = (line: string) => {
  const pre = document.getElementById("log")!
  pre.textContent += `${line}\n`
}
const status = (text: string) => {
  document.getElementById("status")!.textContent = text
}

const add = Task.make({
  name: "add",
  source: py`
    def add(a, b):
        return a + b
  `,
  args: [Schema.Number, Schema.Number],
  result: Schema.Number,
})

/** What a run reports to the test. */
export interface RunReport {
  readonly link: string
  readonly printed: string
  readonly sum: number
  readonly platform: string
  readonly sessionsAfter: number
  readonly openMs: number
  readonly execRoundTripMs: number
  /** A verified upload of `uploadBytes` random bytes and their download: the same bytes back? */
  readonly roundTrip?: {
    readonly uploadBytes: number
    readonly uploadMs: number
    readonly downloadMs: number
    readonly same: boolean
    readonly hash: string
  }
}

/** Write `size` random bytes (verified by the board's hash), read them back, compare. */
const fileRoundTrip = (session: Parameters<typeof boardFileSystem>[0], name: string, size: number) =>
  Effect.gen(function* () {
    const fs = boardFileSystem(session)
    const data = new Uint8Array(size)
    for (let at = 0; at < size; at += 65536) crypto.getRandomValues(data.subarray(at, at + 65536))
    let started = performance.now()
    yield* fs.write("/roundtrip.bin", data)
    const uploadMs = performance.now() - started
    started = performance.now()
    const back = yield* fs.readBytes("/roundtrip.bin")
    const downloadMs = performance.now() - started
    const same = back.length === data.length && back.every((b, i) => b === data[i])
    const hash = (yield* fs.hash("/roundtrip.bin")).digest
    log(
      `${name}: ${size / 1024} KB verified upload ${uploadMs.toFixed(0)} ms, download ${downloadMs.toFixed(0)} ms, same bytes: ${same}`,
    )
    return { uploadBytes: size, uploadMs, downloadMs, same, hash }
  })

const run = (
  name: string,
  open: Effect.Effect<ByteLink, unknown, Scope.Scope>,
  uploadBytes?: number,
): Promise<RunReport> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        status(`${name}: opening…`)
        const opening = performance.now()
        const link = yield* open
        const device: DeviceCommunicationShape = yield* makeDeviceCommunication(link)
        const manager = yield* makeDeviceSessionManager(device)
        const openMs = performance.now() - opening
        log(`${name}: ${link.description} open in ${openMs.toFixed(0)} ms`)
        const result = yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            const printed = yield* session.device.exec("print(1+1)")
            log(`${name}: exec("print(1+1)") → ${JSON.stringify(printed)}`)
            const sum = yield* add.call(session, 2, 3)
            log(`${name}: add(2, 3) → ${sum}`)
            const platform = (yield* session.device.exec("import sys\nprint(sys.platform)")).trim()
            const rounds = 20
            const started = performance.now()
            for (let i = 0; i < rounds; i++) yield* session.device.exec("print(1+1)")
            const execRoundTripMs = (performance.now() - started) / rounds
            log(`${name}: exec round trip ${execRoundTripMs.toFixed(2)} ms (mean of ${rounds})`)
            const roundTrip =
              uploadBytes === undefined ? undefined : yield* fileRoundTrip(session, name, uploadBytes)
            return {
              printed,
              sum,
              platform,
              execRoundTripMs,
              ...(roundTrip === undefined ? {} : { roundTrip }),
            }
          }),
        )
        const sessionsAfter = (yield* manager.sessionStats).activeSessionCount
        log(`${name}: session ended, ${sessionsAfter} session(s) left`)
        status(`${name}: done`)
        return { link: link.description, ...result, sessionsAfter, openMs }
      }),
    ),
  ).catch((error: unknown) => {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    log(`${name}: failed: ${text}`)
    status(`${name}: failed`)
    throw error
  })

declare global {
  interface Window {
    belay: {
      readonly virtual: () => Promise<RunReport>
      readonly webRepl: (url: string, password: string) => Promise<RunReport>
    }
  }
}

window.belay = {
  virtual: () =>
    run(
      "virtual",
      openVirtualBoard({
        assets: { worker: "/worker.js", micropython: "/micropython.mjs", wasm: "/micropython.wasm" },
      }),
      256 * 1024,
    ),
  webRepl: (url, password) =>
    run("webrepl", openBrowserWebReplLink({ url, password: Redacted.make(password) })),
}
status("ready")
